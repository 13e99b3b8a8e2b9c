// Shared by every kernel file of exp_native: the namespace, the parameter layouts (params.gen.h,
// generated from params.json: p[conv_p::in_h] and so on) and small helpers. The kernels work in
// place on the wasm heap: JS passes the heap's ArrayBuffer and byte offsets into it.
#pragma once
#include <omp.h>

#include <cstddef>
#include <cstdint>

#include "params.gen.h"

namespace exp_native {

// Below this many elements an element-wise pass runs on the calling thread: waking the OpenMP team
// costs more than the work (and far more when another process holds the other core).
constexpr size_t kParallelMin = 1 << 15;

// The float array at the byte offset p[i] of the heap.
inline float *f32_at(uint8_t *heap, const double *p, int i) {
  return reinterpret_cast<float *>(heap + static_cast<size_t>(p[i]));
}
// The same, or nullptr where the offset is negative (an optional input left out).
inline float *f32_opt(uint8_t *heap, const double *p, int i) {
  return p[i] >= 0 ? f32_at(heap, p, i) : nullptr;
}

}  // namespace exp_native
