// exp_native's batch normalisation: the inference form (batch_norm_p, tfjs' FusedBatchNorm) and
// exp's fused training forward (batch_norm_train_p) and gradient (batch_norm_grad_p), each with an
// optional relu, relu6 or swish applied in the same pass.
#include <algorithm>
#include <cmath>
#include <vector>

#include "activations.h"
#include "common.h"

namespace exp_native {

// ---- activations fused into the normalisation -------------------------------------------------
// A batch-norm layer followed by relu, relu6 or swish (most of them in every backbone) applies the
// activation in the same pass: one read and one write of the activation instead of two each. The
// gradient recomputes the normalised value z from x and the saved statistics (the same float
// operations as the forward, so the same z) instead of saving it.
namespace {

// y[r, c] = act(x[r, c] * a[c] + b[c]) for rows [r0, r1); compiled per instruction set for swish's
// exp (EXP_SIMD_CLONES), a plain loop otherwise.
template <int A>
EXP_SIMD_CLONES void affine_rows(const float *__restrict x, const float *__restrict a,
                                 const float *__restrict b, float *__restrict y, size_t r0, size_t r1,
                                 size_t ch) {
  for (size_t r = r0; r < r1; ++r) {
    const float *xr = x + r * ch;
    float *yr = y + r * ch;
#pragma omp simd
    for (size_t c = 0; c < ch; ++c) yr[c] = act_fwd<A>(xr[c] * a[c] + b[c]);
  }
}

template <int A>
void affine_act(const float *x, const float *a, const float *b, float *y, size_t rows, size_t ch) {
#pragma omp parallel if (rows * ch >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    affine_rows<A>(x, a, b, y, rows * t / nt, rows * (t + 1) / nt, ch);
  }
}

void affine_act(int act, const float *x, const float *a, const float *b, float *y, size_t rows, size_t ch) {
  with_act(act, [&](auto A) { affine_act<decltype(A)::value>(x, a, b, y, rows, ch); });
}

// The normalisation as z = x * a[c] + b[c] from float statistics: a = gamma / sqrt(var + eps),
// b = beta - mean * a (computed in double, rounded once). The forward in training and its gradient
// both use it, from the same float mean and variance, so the gradient's z is the forward's.
void bn_affine(size_t ch, const float *mean, const float *var, const float *gamma, const float *beta,
               double eps, float *a, float *b) {
  for (size_t c = 0; c < ch; ++c) {
    const double scale = (gamma ? gamma[c] : 1.0) / std::sqrt(static_cast<double>(var[c]) + eps);
    a[c] = static_cast<float>(scale);
    b[c] = static_cast<float>((beta ? beta[c] : 0.0) - static_cast<double>(mean[c]) * scale);
  }
}

}  // namespace

// y = act((x - mean[c]) * scale[c] / sqrt(variance[c] + eps) + offset[c]) over the last axis (size
// channels); scale and offset optional (offset < 0). tfjs' FusedBatchNorm is act 0; exp's layers
// send their activation (kernels/batch-norm-train.ts).
// params: batch_norm_p.
void run_batch_norm(uint8_t *heap, const double *p) {
  namespace P = batch_norm_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const int act = static_cast<int>(p[P::act]);
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *x = f(P::x), *mu = f(P::mean), *var = f(P::variance), *off = f(P::offset), *sc = f(P::scale);
  float *y = f(P::y);
  std::vector<float> a(ch), b(ch);
  // tfjs' FusedBatchNorm computes in float: (x - mean) * (scale / sqrt(var + eps)) + offset
  const float eps = static_cast<float>(p[P::eps]);
  for (size_t c = 0; c < ch; ++c) {
    a[c] = (sc ? sc[c] : 1.f) / std::sqrt(var[c] + eps);
    b[c] = (off ? off[c] : 0.f) - mu[c] * a[c];
  }
  affine_act(act, x, a.data(), b.data(), y, rows, ch);
}

// ---- in training, forward and gradient ---------------------------------------------------------
// A batch-norm layer in training normalises x [rows, C] (NHWC seen as rows of C) with the batch's
// own statistics. tfjs builds that from moments (Mean, SquaredDifference, Mean) and FusedBatchNorm,
// and differentiates the chain op by op: about twenty kernels and as many passes over the
// activation per layer and step. Here: forward = one pass for the statistics + one to normalise;
// gradient = one pass for the per-channel sums of dy and dy * (x - mean) + one for dx. Sums are in
// double, per thread over a fixed block of rows, added in thread order: bit-identical results for
// a given thread count.

namespace {

// Per-channel sums over rows of f(r, c) into out[k * ch + c] for k < K (double), K functions.
template <int K, class F>
void channel_sums(size_t rows, size_t ch, double *out, F f) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(threads) * K * ch, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const size_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double *acc = part.data() + static_cast<size_t>(t) * K * ch;
    for (size_t r = r0; r < r1; ++r) f(r, acc);
  }
  for (size_t i = 0; i < K * ch; ++i) {
    double s = 0;
    for (int t = 0; t < threads; ++t) s += part[static_cast<size_t>(t) * K * ch + i];
    out[i] = s;
  }
}

// One row of the statistics pass: per-channel sums of x and x^2 (double). Per instruction set: at
// SSE2's two doubles per instruction the conversions and adds set the pace, not the loads.
EXP_SIMD_CLONES void stats_row(const float *__restrict xr, double *__restrict s1, double *__restrict s2,
                               size_t ch) {
#pragma omp simd
  for (size_t c = 0; c < ch; ++c) {
    const double v = xr[c];
    s1[c] += v;
    s2[c] += v * v;
  }
}

}  // namespace

// y = act((x - mean) / sqrt(var + eps) * gamma + beta) with mean and (biased) variance of the
// batch, which are outputs too (the layer's moving averages). gamma / beta optional (offset < 0).
// params: batch_norm_train_p.
void run_batch_norm_train(uint8_t *heap, const double *p) {
  namespace P = batch_norm_train_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const double eps = p[P::eps];
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *x = f(P::x), *gamma = f(P::gamma), *beta = f(P::beta);
  float *y = f(P::y), *mean = f(P::mean), *var = f(P::variance);
  std::vector<double> sums(2 * ch);
  channel_sums<2>(rows, ch, sums.data(), [&](size_t r, double *acc) { stats_row(x + r * ch, acc, acc + ch, ch); });
  for (size_t c = 0; c < ch; ++c) {
    const double m = sums[c] / static_cast<double>(rows);
    const double v = std::max(0.0, sums[ch + c] / static_cast<double>(rows) - m * m);
    mean[c] = static_cast<float>(m);
    var[c] = static_cast<float>(v);
  }
  std::vector<float> a(ch), b(ch);
  bn_affine(ch, mean, var, gamma, beta, eps, a.data(), b.data());
  affine_act(static_cast<int>(p[P::act]), x, a.data(), b.data(), y, rows, ch);
}

// Gradient of run_batch_norm_train's y = act(z) through x (mean and variance included), gamma and
// beta: with g = dL/dz (dy through the activation, z recomputed as the forward did),
//   dbeta = sum g, dgamma = sum g * xhat, dx = gamma * rstd * (g - dbeta / M - xhat * dgamma / M)
// with xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), M = rows. With an activation the first
// pass writes g into dx and the second overwrites it in place.
// params: batch_norm_grad_p (gamma optional; beta only read with an activation).
namespace {

// One row of the gradient's first pass: g = dL/dz (into gr with an activation), and the
// per-channel sums of g and g * (x - mean) into s1, s2. Per instruction set for swish's exp.
template <int A>
EXP_SIMD_CLONES void grad_sums_row(const float *__restrict dr, const float *__restrict xr,
                                   const float *__restrict za, const float *__restrict zb,
                                   const float *__restrict mean, float *__restrict gr,
                                   double *__restrict s1, double *__restrict s2, size_t ch) {
#pragma omp simd
  for (size_t c = 0; c < ch; ++c) {
    const float g = act_grad<A>(xr[c] * za[c] + zb[c], dr[c]);
    if (A != kNone) gr[c] = g;
    const double d = g;
    s1[c] += d;
    s2[c] += d * (static_cast<double>(xr[c]) - mean[c]);
  }
}

// The second pass over one row: dx = a * (g - b - (x - m) * k); o may be g itself.
void grad_dx_row(const float *gr, const float *__restrict xr, const float *__restrict a,
                 const float *__restrict b, const float *__restrict k, const float *__restrict m,
                 float *o, size_t ch) {
#pragma omp simd
  for (size_t c = 0; c < ch; ++c) o[c] = a[c] * (gr[c] - b[c] - (xr[c] - m[c]) * k[c]);
}

template <int A>
void batch_norm_grad(size_t rows, size_t ch, double eps, const float *dy, const float *x,
                     const float *mean, const float *var, const float *gamma, const float *beta,
                     float *dx, float *dgamma, float *dbeta) {
  std::vector<float> za(ch), zb(ch);
  if (A != kNone) bn_affine(ch, mean, var, gamma, beta, eps, za.data(), zb.data());
  std::vector<double> sums(2 * ch);
  channel_sums<2>(rows, ch, sums.data(), [&](size_t r, double *acc) {
    grad_sums_row<A>(dy + r * ch, x + r * ch, za.data(), zb.data(), mean, dx + r * ch, acc, acc + ch, ch);
  });
  const float *g = A != kNone ? dx : dy;
  std::vector<float> a(ch), b(ch), k(ch), m(ch);
  const double inv = 1.0 / static_cast<double>(rows);
  for (size_t c = 0; c < ch; ++c) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    const double gm = gamma ? gamma[c] : 1.0;
    dbeta[c] = static_cast<float>(sums[c]);
    dgamma[c] = static_cast<float>(sums[ch + c] * rstd);
    a[c] = static_cast<float>(gm * rstd);
    b[c] = static_cast<float>(sums[c] * inv);
    k[c] = static_cast<float>(sums[ch + c] * inv * rstd * rstd);
    m[c] = mean[c];
  }
#pragma omp parallel for schedule(static)
  for (long r = 0; r < static_cast<long>(rows); ++r) {
    grad_dx_row(g + r * ch, x + r * ch, a.data(), b.data(), k.data(), m.data(), dx + r * ch, ch);
  }
}

}  // namespace

void run_batch_norm_grad(uint8_t *heap, const double *p) {
  namespace P = batch_norm_grad_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const double eps = p[P::eps];
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *dy = f(P::dy), *x = f(P::x), *mean = f(P::mean), *var = f(P::variance), *gamma = f(P::gamma);
  const float *beta = f(P::beta);
  float *dx = f(P::dx), *dgamma = f(P::dgamma), *dbeta = f(P::dbeta);
  with_act(static_cast<int>(p[P::act]), [&](auto A) {
    batch_norm_grad<decltype(A)::value>(rows, ch, eps, dy, x, mean, var, gamma, beta, dx, dgamma, dbeta);
  });
}

}  // namespace exp_native
