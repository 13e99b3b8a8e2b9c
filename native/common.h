// Shared by every kernel file of exp_native: the namespace, the parameter layouts (params.gen.h,
// generated from params.json: p[conv_p::in_h] and so on) and small helpers. The kernels work in
// place on the wasm heap: JS passes the heap's ArrayBuffer and byte offsets into it.
#pragma once
#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "params.gen.h"

namespace exp_native {

// Below this many elements an element-wise pass runs on the calling thread: waking the OpenMP team
// costs more than the work (and far more when another process holds the other core).
constexpr size_t kParallelMin = 1 << 15;

// A function compiled three times, for AVX-512, AVX2 with FMA (Haswell's set) and the x86-64
// baseline (SSE2), the best one for this CPU chosen when the addon loads (GCC's function
// multi-versioning through ifunc). For compute-bound loops; memory-bound ones gain nothing over
// SSE2. Elsewhere: one plain version. The AVX versions fuse multiply-adds, so their results can
// differ from the baseline's (and each other's) in the last bit, as oneDNN's kernels differ by
// instruction set; on one CPU every call gives the same bits wherever a value sits in the array.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EXP_SIMD_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define EXP_SIMD_CLONES
#endif

// e^v, branch-free so that `#pragma omp simd` loops vectorize it (glibc's expf is a scalar call
// with branches for its special cases, and slow ones for underflow). Range reduction
// v = n ln2 + r, |r| <= ln2 / 2, then a degree-7 Taylor-like minimax polynomial (Cephes' expf
// coefficients): relative error under 2e-7 (1-2 ulp; 1.2e-7 measured over [-6, 6]). v is clamped to
// [-87.3, 88.3], where e^v and 2^n are normal floats: e^-87.3 ~ 1.2e-38 stands for anything smaller
// (as 0 would: 1 + e^v is 1 in float), e^88.3 ~ 2.1e38 for anything larger. NaN stays
// NaN. The vector body and the scalar tail compile to the same operations, so a value's result
// does not depend on where it sits in the array. (GCC vectorizes the clamps' selects only with
// -fno-trapping-math: binding.gyp sets it.)
inline float exp_vec(float v) {
  v = v < -87.3f ? -87.3f : v;
  v = v > 88.3f ? 88.3f : v;
  const float shift = 12582912.f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  const float n = (v * 1.44269504088896341f + shift) - shift;
  float r = v - n * 0.693359375f;  // ln2 split in two so that n * ln2 is exact in the first part
  r = r - n * -2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  q = q * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return q * scale;
}

// The float array at the byte offset p[i] of the heap.
inline float *f32_at(uint8_t *heap, const double *p, int i) {
  return reinterpret_cast<float *>(heap + static_cast<size_t>(p[i]));
}
// The same, or nullptr where the offset is negative (an optional input left out).
inline float *f32_opt(uint8_t *heap, const double *p, int i) {
  return p[i] >= 0 ? f32_at(heap, p, i) : nullptr;
}

}  // namespace exp_native
