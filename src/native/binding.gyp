{
  "targets": [
    {
      "target_name": "fewshot_native",
      "sources": ["binding.cc", "conv.cc", "winograd.cc", "pool.cc", "batch_norm.cc", "input_block.cc", "rkd_gram.cc", "rkd_angle.cc", "rkd_distance.cc", "protonet.cc"],
      "cflags_cc": ["-O3", "<!(node -p \"process.env.FEWSHOT_NATIVE_MARCH_FLAG || '-march=x86-64-v3'\")", "-fopenmp", "-ffp-contract=fast", "-fno-trapping-math"],
      "ldflags": ["-fopenmp"]
    }
  ]
}
