{
  "targets": [
    {
      "target_name": "exp_native",
      "sources": ["addon.cc", "conv.cc", "matmul.cc", "pool.cc", "reduce.cc", "batchnorm.cc", "elementwise.cc", "optim.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      # -fno-trapping-math: no program here reads floating-point exception flags, and with it GCC
      # vectorizes loops that hold selects (exp_vec's clamps in common.h). Values do not change.
      # -fno-math-errno: sqrt becomes the instruction (errno is never read here); same values.
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-fopenmp", "-fno-trapping-math", "-fno-math-errno"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
