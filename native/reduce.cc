// exp_native's reductions: Sum/Mean over leading, trailing (reduce_p) or middle axes
// (reduce_middle_p), summed in double.
#include <algorithm>
#include <vector>

#include "common.h"

namespace exp_native {

namespace {

// acc[c] += row[c] for c < n, in double. Memory-bound in principle, but at SSE2's two doubles per
// instruction the conversions and adds, not the loads, set the pace: built per instruction set.
EXP_SIMD_CLONES
void add_row_f64(double *__restrict acc, const float *__restrict row, size_t n) {
#pragma omp simd
  for (size_t c = 0; c < n; ++c) acc[c] += row[c];
}

}  // namespace

// tfjs computes the batch-norm statistics and their gradients with Sum/Mean over the N, H, W axes
// of NHWC tensors, which wasm reduces on one thread after transposing. Here the tensor is seen as
// [outer, inner]: reducing the leading axes gives out[inner], the trailing ones out[outer]. Each
// thread sums a fixed block of rows in double, and the partial sums are added in thread order, so
// results are bit-identical for a given thread count.
// params: reduce_p (leading 1: reduce the leading axes, 0: the trailing ones).
void run_reduce(uint8_t *heap, const double *p) {
  namespace P = reduce_p;
  const bool mean = p[P::mean] != 0, leading = p[P::leading] != 0;
  const size_t outer = static_cast<size_t>(p[P::outer]), inner = static_cast<size_t>(p[P::inner]);
  const float *x = f32_at(heap, p, P::x);
  float *out = f32_at(heap, p, P::out);
  if (!leading) {
    const double scale = mean ? 1.0 / static_cast<double>(inner) : 1.0;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < static_cast<long>(outer); ++r) {
      const float *row = x + r * inner;
      double acc = 0;
      for (size_t c = 0; c < inner; ++c) acc += row[c];
      out[r] = static_cast<float>(acc * scale);
    }
    return;
  }
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(threads) * inner, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const size_t r0 = outer * t / nt, r1 = outer * (t + 1) / nt;
    double *acc = part.data() + static_cast<size_t>(t) * inner;
    for (size_t r = r0; r < r1; ++r) {
      add_row_f64(acc, x + r * inner, inner);
    }
  }
  const double scale = mean ? 1.0 / static_cast<double>(outer) : 1.0;
  for (size_t c = 0; c < inner; ++c) {
    double s = 0;
    for (int t = 0; t < threads; ++t) s += part[static_cast<size_t>(t) * inner + c];
    out[c] = static_cast<float>(s * scale);
  }
}

// Sum/Mean of x [outer, mid, inner] over mid -> [outer, inner] (NHWC over H and W: global average
// pooling and squeeze-excitation's gradient). Each thread owns whole outer rows (static split), each
// sum runs over mid in order: the same result at any thread count.
// params: reduce_middle_p.
void run_reduce_middle(uint8_t *heap, const double *p) {
  namespace P = reduce_middle_p;
  const bool mean = p[P::mean] != 0;
  const size_t outer = static_cast<size_t>(p[P::outer]), mid = static_cast<size_t>(p[P::mid]);
  const size_t inner = static_cast<size_t>(p[P::inner]);
  const float *x = f32_at(heap, p, P::x);
  float *out = f32_at(heap, p, P::out);
  const double scale = mean ? 1.0 / static_cast<double>(mid) : 1.0;
  // split over (outer, inner blocks) so that batch 1 still uses every thread
  const size_t block = 64, blocks = (inner + block - 1) / block;
#pragma omp parallel if (outer * mid * inner >= kParallelMin)
  {
    std::vector<double> acc(block);
#pragma omp for schedule(static)
    for (long job = 0; job < static_cast<long>(outer * blocks); ++job) {
      const size_t o = static_cast<size_t>(job) / blocks, c0 = (static_cast<size_t>(job) % blocks) * block;
      const size_t len = std::min(block, inner - c0);
      std::fill(acc.begin(), acc.begin() + len, 0.0);
      const float *base = x + o * mid * inner + c0;
      for (size_t m = 0; m < mid; ++m) {
        add_row_f64(acc.data(), base + m * inner, len);
      }
      for (size_t c = 0; c < len; ++c) out[o * inner + c0 + c] = static_cast<float>(acc[c] * scale);
    }
  }
}

}  // namespace exp_native
