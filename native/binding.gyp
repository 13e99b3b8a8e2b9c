{
  "targets": [
    {
      "target_name": "exp_native",
      "sources": ["addon.cc", "conv.cc", "matmul.cc", "pool.cc", "reduce.cc", "batchnorm.cc", "elementwise.cc", "optim.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
