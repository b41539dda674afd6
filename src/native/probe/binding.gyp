{
  "targets": [
    {
      "target_name": "fewshot_cpu",
      "sources": ["../cpu.cc"],
      "cflags_cc": ["-O2"],
      "conditions": [["target_arch=='x64'", { "cflags_cc": ["-march=x86-64", "-mtune=generic"] }]]
    }
  ]
}
