// exp_native: oneDNN convolutions and matrix products, and exp's own element-wise, reduction,
// batch-norm and optimizer kernels, for tfjs tensors that live on the wasm heap. JS passes the
// heap's ArrayBuffer and byte offsets, so inputs are read and outputs written in place; nothing is
// copied across the boundary. Plain Node-API (node_api.h): no extra packages.
//
// This file is the Node-API glue. The entry points, their runners and their parameter layouts
// come from one table, native/params.json (generated into params.gen.h: kLayouts); the kernels
// live by family in conv.cc, matmul.cc, pool.cc, reduce.cc, batchnorm.cc, elementwise.cc and
// optim.cc. The table is exported as `layouts` too, so src/model/kernels/native.ts can refuse a
// build whose layouts are not the ones it packs.
#include <malloc.h>
#include <node_api.h>

#include <cstdlib>

#include <exception>
#include <string>

#include "onednn.h"

namespace exp_native {
namespace {

// The number of values entry point `l` reads from p[0..len) (scalars, then arrays whose lengths
// are scalars), or -1 where those lengths are not sensible.
long expected_length(const Layout &l, const double *p, size_t len) {
  if (len < static_cast<size_t>(l.count)) return l.count;
  long n = l.count;
  for (int a = 0; a < l.arrays; ++a) {
    const double k = p[l.array_lengths[a]];
    if (!(k >= 0 && k <= static_cast<double>(len))) return -1;
    n += static_cast<long>(k);
  }
  return n;
}

// Every entry point: (heap: ArrayBuffer, params: Float64Array) -> undefined; `data` is its Layout.
napi_value call(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  const Layout &l = *static_cast<const Layout *>(data);
  void *heap = nullptr;
  size_t heap_len = 0;
  napi_typedarray_type type;
  size_t len = 0;
  void *params = nullptr;
  const bool ok = argc >= 2 && napi_get_arraybuffer_info(env, argv[0], &heap, &heap_len) == napi_ok &&
                  napi_get_typedarray_info(env, argv[1], &type, &len, &params, nullptr, nullptr) == napi_ok &&
                  type == napi_float64_array;
  const long want = ok ? expected_length(l, static_cast<const double *>(params), len) : l.count;
  if (!ok || want < 0 || len != static_cast<size_t>(want)) {
    std::string shape = std::to_string(l.count);
    for (int a = 0; a < l.arrays; ++a) shape += std::string(" + ") + l.names[l.count + a];
    std::string msg = std::string(l.entry) + "(heap: ArrayBuffer, params: Float64Array[" + shape +
                      "]) called with wrong arguments";
    if (ok) msg += " (" + std::to_string(len) + " parameters)";
    napi_throw_type_error(env, nullptr, msg.c_str());
    return nullptr;
  }
  try {
    l.run(static_cast<uint8_t *>(heap), static_cast<const double *>(params));
  } catch (const dnnl::error &e) {
    std::string msg = std::string(l.entry) + ": oneDNN: " + e.what();
    napi_throw_error(env, nullptr, msg.c_str());
  } catch (const std::exception &e) {
    std::string msg = std::string(l.entry) + ": " + e.what();
    napi_throw_error(env, nullptr, msg.c_str());
  }
  return nullptr;
}

// glibc serves blocks over 128 KiB with fresh mmaps and unmaps them on free, so the scratch and
// reorder buffers oneDNN allocates per call (megabytes each) page-fault in anew every training step:
// 10-20k faults and 0.1-0.2 s of system time per se_resnext50 step at 112 px. Keeping such blocks
// in the heap and not trimming it lets freed buffers be reused. A user's own MALLOC_* settings win.
void keep_large_blocks() {
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 256 << 20);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

napi_value Init(napi_env env, napi_value exports) {
  keep_large_blocks();
  napi_value f, v, layouts, names, name;
  napi_create_object(env, &layouts);
  for (const Layout &l : kLayouts) {
    napi_create_function(env, l.entry, NAPI_AUTO_LENGTH, call, const_cast<Layout *>(&l), &f);
    napi_set_named_property(env, exports, l.entry, f);
    napi_create_array_with_length(env, static_cast<size_t>(l.names_count), &names);
    for (int i = 0; i < l.names_count; ++i) {
      napi_create_string_utf8(env, l.names[i], NAPI_AUTO_LENGTH, &name);
      napi_set_element(env, names, static_cast<uint32_t>(i), name);
    }
    napi_set_named_property(env, layouts, l.entry, names);
  }
  napi_set_named_property(env, exports, "layouts", layouts);
  const dnnl_version_t *ver = dnnl_version();
  std::string s = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." +
                  std::to_string(ver->patch);
  napi_create_string_utf8(env, s.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "onednnVersion", v);
  napi_create_int32(env, omp_get_max_threads(), &v);
  napi_set_named_property(env, exports, "threads", v);
  return exports;
}

}  // namespace
}  // namespace exp_native

NAPI_MODULE(NODE_GYP_MODULE_NAME, exp_native::Init)
