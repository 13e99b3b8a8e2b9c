{
  "targets": [
    {
      "target_name": "exp_jpeg",
      "sources": ["exp_jpeg.cc"],
      "cflags_cc": ["-std=c++17", "-O3"],
      "libraries": ["-ljpeg"]
    }
  ]
}
