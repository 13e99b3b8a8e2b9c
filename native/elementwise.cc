// exp_native's element-wise kernels: tile (tile_p), the binary ops (binary_p) and the fused swish
// and relu6 (swish_p). Plain loops on OpenMP; each thread writes a fixed block: no reductions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "activations.h"
#include "common.h"

namespace exp_native {

// ---- tile ----------------------------------------------------------------------------------
// tfjs' batch-norm gradient tiles [1,1,1,C] statistics to the activation's full shape; wasm's
// Tile indexes element by element. Here: the source once, then doubling memcpy of whole blocks.
// params: tile_p (rank <= 6; the arrays shape[rank], reps[rank] after the scalars).
namespace {

void tile_dim(const float *src, float *dst, const double *shape, const double *reps, int rank,
              int d, size_t *inner_src, size_t *inner_dst) {
  const size_t s = static_cast<size_t>(shape[d]), r = static_cast<size_t>(reps[d]);
  if (d == rank - 1) {
    for (size_t i = 0; i < s; ++i) dst[i] = src[i];
  } else {
    for (size_t i = 0; i < s; ++i)
      tile_dim(src + i * inner_src[d], dst + i * inner_dst[d], shape, reps, rank, d + 1, inner_src,
               inner_dst);
  }
  const size_t block = s * inner_dst[d];  // one copy of this dimension, already tiled inside
  for (size_t done = 1; done < r;) {
    const size_t n = done * 2 <= r ? done : r - done;
    std::memcpy(dst + done * block, dst, n * block * sizeof(float));
    done += n;
  }
}

}  // namespace

void run_tile(uint8_t *heap, const double *p) {
  namespace P = tile_p;
  const int rank = static_cast<int>(p[P::rank]);
  if (rank < 1 || rank > 6) throw std::runtime_error("tile: rank must be 1..6");
  const double *shape = p + P::count, *reps = shape + rank;
  size_t inner_src[6], inner_dst[6];
  size_t a = 1, b = 1;
  for (int d = rank - 1; d >= 0; --d) {
    inner_src[d] = a;
    inner_dst[d] = b;
    a *= static_cast<size_t>(shape[d]);
    b *= static_cast<size_t>(shape[d] * reps[d]);
  }
  tile_dim(f32_at(heap, p, P::x), f32_at(heap, p, P::out), shape, reps, rank, 0, inner_src, inner_dst);
}

// ---- element-wise binary ops -----------------------------------------------------------------
// The batch-norm and ReLU gradients are chains of Multiply/RealDiv/Add/Sub over whole NHWC
// activations, often against a per-channel [C] (or [1,1,1,C]) operand or a scalar; wasm runs them
// on one thread through its general broadcasting loop. Here each operand is full (mode 0, same
// layout as the output), a scalar (1) or per channel of the last axis (2). Each thread writes a
// fixed block of the output (whole rows of C when an operand is per channel): no reductions, so
// results do not depend on the thread count. Mode 3: per (batch, channel), an [N,1,..,1,C] operand
// of an [N,..,C] output (squeeze-excitation's scale and its gradient), `mid` rows of C per batch.
// params: binary_p (op: 0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 minimum, 6 maximum).
namespace {

template <int AM, int BM, class F>
void binary_loop(const float *a, const float *b, float *o, size_t n, size_t ch, size_t mid, F f) {
  constexpr bool rows_of_c = AM >= 2 || BM >= 2;
#pragma omp parallel
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    if (rows_of_c) {
      const size_t rows = n / ch, r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
      for (size_t r = r0; r < r1; ++r) {
        const size_t base = r * ch, bc = (r / mid) * ch;  // bc: the row's (batch, channel) block
        const float *ar = AM == 0 ? a + base : AM == 3 ? a + bc : a;
        const float *br = BM == 0 ? b + base : BM == 3 ? b + bc : b;
        float *orow = o + base;
#pragma omp simd
        for (size_t c = 0; c < ch; ++c) orow[c] = f(AM == 1 ? ar[0] : ar[c], BM == 1 ? br[0] : br[c]);
      }
    } else {
      const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
#pragma omp simd
      for (size_t i = i0; i < i1; ++i) o[i] = f(AM == 0 ? a[i] : a[0], BM == 0 ? b[i] : b[0]);
    }
  }
}

template <int AM, class F>
void binary_b(int bm, const float *a, const float *b, float *o, size_t n, size_t ch, size_t mid, F f) {
  switch (bm) {
    case 0: return binary_loop<AM, 0>(a, b, o, n, ch, mid, f);
    case 1: return binary_loop<AM, 1>(a, b, o, n, ch, mid, f);
    case 2: return binary_loop<AM, 2>(a, b, o, n, ch, mid, f);
    case 3: return binary_loop<AM, 3>(a, b, o, n, ch, mid, f);
    default: throw std::runtime_error("binary: bad operand mode");
  }
}

template <class F>
void binary_op(int am, int bm, const float *a, const float *b, float *o, size_t n, size_t ch, size_t mid, F f) {
  switch (am) {
    case 0: return binary_b<0>(bm, a, b, o, n, ch, mid, f);
    case 1: return binary_b<1>(bm, a, b, o, n, ch, mid, f);
    case 2: return binary_b<2>(bm, a, b, o, n, ch, mid, f);
    case 3: return binary_b<3>(bm, a, b, o, n, ch, mid, f);
    default: throw std::runtime_error("binary: bad operand mode");
  }
}

}  // namespace

void run_binary(uint8_t *heap, const double *p) {
  namespace P = binary_p;
  const int op = static_cast<int>(p[P::op]);
  const size_t n = static_cast<size_t>(p[P::n]), ch = static_cast<size_t>(p[P::channels]);
  const int am = static_cast<int>(p[P::a_mode]), bm = static_cast<int>(p[P::b_mode]);
  const size_t mid = static_cast<size_t>(p[P::mid]);
  if ((am >= 2 || bm >= 2) && (ch == 0 || n % ch != 0)) throw std::runtime_error("binary: bad channels");
  if ((am == 3 || bm == 3) && (mid == 0 || (n / ch) % mid != 0)) throw std::runtime_error("binary: bad rows per batch");
  const float *a = f32_at(heap, p, P::a), *b = f32_at(heap, p, P::b);
  float *o = f32_at(heap, p, P::out);
  switch (op) {
    case 0: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x + y; });
    case 1: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x - y; });
    case 2: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x * y; });
    case 3: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x / y; });
    case 4: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return (x - y) * (x - y); });
    // NaN propagates as in tfjs' Minimum/Maximum
    case 5: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x != x || y != y ? x + y : std::min(x, y); });
    case 6: return binary_op(am, bm, a, b, o, n, ch, mid, [](float x, float y) { return x != x || y != y ? x + y : std::max(x, y); });
    default: throw std::runtime_error("binary: unknown op");
  }
}

// ---- swish (SiLU) -----------------------------------------------------------------------------
// exp's fused swish (kernels/swish.ts): y = x * sigmoid(x) forward, dx = dy * s * (1 + x * (1 - s))
// backward, one pass each instead of Sigmoid + Multiply and their gradients' five element-wise
// kernels. Fixed blocks per thread: no reductions.
// Also relu6 (kind 1, tfjs layers' min(relu(x), 6)): y = clip(x, 0, 6), dx = dy where 0 < x < 6.
// params: swish_p.
namespace {

// One thread's block [i0, i1) of activation A's value (grad false) or gradient. Compiled per
// instruction set (EXP_SIMD_CLONES): swish's exp_vec is compute-bound, about 4x faster on AVX-512
// than glibc's scalar expf; relu6 is memory-bound and the same at any width.
template <int A>
EXP_SIMD_CLONES void act_block(const float *__restrict x, const float *__restrict dy,
                               float *__restrict o, size_t i0, size_t i1, bool grad) {
  if (grad) {
#pragma omp simd
    for (size_t i = i0; i < i1; ++i) o[i] = act_grad<A>(x[i], dy[i]);
  } else {
#pragma omp simd
    for (size_t i = i0; i < i1; ++i) o[i] = act_fwd<A>(x[i]);
  }
}

template <int A>
void run_act(const float *x, const float *dy, float *o, size_t n, bool grad) {
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    act_block<A>(x, dy, o, n * t / nt, n * (t + 1) / nt, grad);
  }
}

}  // namespace

void run_swish(uint8_t *heap, const double *p) {
  namespace P = swish_p;
  const bool grad = p[P::grad] != 0;
  const size_t n = static_cast<size_t>(p[P::n]);
  const float *x = f32_at(heap, p, P::x);
  const float *dy = grad ? f32_at(heap, p, P::dy) : nullptr;
  float *o = f32_at(heap, p, P::out);
  if (p[P::kind] == 1) return run_act<kRelu6>(x, dy, o, n, grad);
  run_act<kSwish>(x, dy, o, n, grad);
}

}  // namespace exp_native

// ---- the end of a residual block ------------------------------------------------------------
// exp's fused y = relu(x * s + r) (kernels/residual.ts): x and r [N,H,W,C], s [N,1,1,C] or
// absent. Forward one pass; the gradient one pass for g = dy * step(y) (r's gradient, and x's
// without s), dx = g * s and ds[n,c] = sum over the image of float32(g * x), summed in double in
// pixel order as native's Sum over the middle axes does. The float32 products and sums are the
// composite's (Multiply, Add, Relu / Step, Multiply, Multiply, Sum) one by one, so the values are
// the same bit for bit. Each thread writes whole images (ds) or a fixed block: no reductions
// across threads. params: residual_p.
namespace exp_native {
namespace {

// tfjs' Step (alpha 0), the mask of exp's Relu gradient (kernels/relu-grad.ts): NaN stays NaN, so a
// diverged activation is not hidden by a zero gradient (activations.h's act_grad<kRelu>, the mask
// batch norm's fused ReLU uses, turns it into 0)
inline float step_of(float y) { return y != y ? y : (y > 0.f ? 1.f : 0.f); }

void residual_forward(const float *x, const float *s, const float *r, float *y, size_t n, size_t ch,
                      size_t mid) {
  const size_t rows = n / ch;
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (size_t row = r0; row < r1; ++row) {
      const size_t base = row * ch;
      const float *xr = x + base, *rr = r + base;
      float *yr = y + base;
      if (s) {
        const float *sr = s + (row / mid) * ch;
#pragma omp simd
        for (size_t c = 0; c < ch; ++c) {
          const float xs = xr[c] * sr[c];  // rounded to float32 before the sum, as Multiply's output
          yr[c] = act_fwd<kRelu>(xs + rr[c]);
        }
      } else {
#pragma omp simd
        for (size_t c = 0; c < ch; ++c) yr[c] = act_fwd<kRelu>(xr[c] + rr[c]);
      }
    }
  }
}

void residual_backward(const float *dy, const float *y, const float *x, const float *s, float *g,
                       float *dx, float *ds, size_t n, size_t ch, size_t mid) {
  const size_t images = n / (ch * mid);
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    std::vector<double> acc(s ? ch : 0);
    if (s) {
      // whole images per thread: each ds[n, :] is one thread's sum over that image, in pixel order
      for (size_t b = images * t / nt; b < images * (t + 1) / nt; ++b) {
        std::fill(acc.begin(), acc.end(), 0.0);
        const float *sr = s + b * ch;
        for (size_t p = 0; p < mid; ++p) {
          const size_t base = (b * mid + p) * ch;
#pragma omp simd
          for (size_t c = 0; c < ch; ++c) {
            const float gi = dy[base + c] * step_of(y[base + c]);
            g[base + c] = gi;
            dx[base + c] = gi * sr[c];
            const float gx = gi * x[base + c];
            acc[c] += gx;
          }
        }
        for (size_t c = 0; c < ch; ++c) ds[b * ch + c] = static_cast<float>(acc[c]);
      }
    } else {
      const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
#pragma omp simd
      for (size_t i = i0; i < i1; ++i) g[i] = dy[i] * step_of(y[i]);
    }
  }
}

}  // namespace

void run_residual(uint8_t *heap, const double *p) {
  namespace P = residual_p;
  const bool grad = p[P::grad] != 0, scaled = p[P::s] >= 0;
  const size_t n = static_cast<size_t>(p[P::n]), ch = static_cast<size_t>(p[P::channels]);
  const size_t mid = static_cast<size_t>(p[P::mid]);
  if (ch == 0 || mid == 0 || n % (ch * mid) != 0) throw std::runtime_error("residual: bad shape");
  const float *s = scaled ? f32_at(heap, p, P::s) : nullptr;
  if (!grad) {
    residual_forward(f32_at(heap, p, P::x), s, f32_at(heap, p, P::r), f32_at(heap, p, P::y), n, ch, mid);
    return;
  }
  residual_backward(f32_at(heap, p, P::dy), f32_at(heap, p, P::y), scaled ? f32_at(heap, p, P::x) : nullptr, s,
                    f32_at(heap, p, P::dr), scaled ? f32_at(heap, p, P::dx) : nullptr,
                    scaled ? f32_at(heap, p, P::ds) : nullptr, n, ch, mid);
}

}  // namespace exp_native
