{
  "targets": [
    {
      "target_name": "exp_native",
      "sources": ["exp_native.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
