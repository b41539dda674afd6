{
  "targets": [{
    "target_name": "fewshot_native",
    "sources": ["conv.cc", "winograd.cc"],
    "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-ffp-contract=fast"],
    "ldflags": ["-fopenmp"]
  }]
}
