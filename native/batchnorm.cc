// exp_native's batch normalisation: the inference form (batch_norm_p, tfjs' FusedBatchNorm) and
// exp's fused training forward (batch_norm_train_p) and gradient (batch_norm_grad_p).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"

namespace exp_native {

// y = (x - mean[c]) * scale[c] / sqrt(variance[c] + eps) + offset[c] over the last axis (size
// channels); scale and offset optional (offset < 0).
// params: batch_norm_p.
void run_batch_norm(uint8_t *heap, const double *p) {
  namespace P = batch_norm_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const float eps = static_cast<float>(p[P::eps]);
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *x = f(P::x), *mu = f(P::mean), *var = f(P::variance), *off = f(P::offset), *sc = f(P::scale);
  float *y = f(P::y);
  std::vector<float> a(ch), m(ch), b(ch);
  for (size_t c = 0; c < ch; ++c) {
    a[c] = (sc ? sc[c] : 1.f) / std::sqrt(var[c] + eps);
    m[c] = mu[c];
    b[c] = off ? off[c] : 0.f;
  }
#pragma omp parallel for schedule(static)
  for (long r = 0; r < static_cast<long>(rows); ++r) {
    const float *xr = x + r * ch;
    float *yr = y + r * ch;
    for (size_t c = 0; c < ch; ++c) yr[c] = (xr[c] - m[c]) * a[c] + b[c];
  }
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

}  // namespace

// y = (x - mean) / sqrt(var + eps) * gamma + beta with mean and (biased) variance of the batch,
// which are outputs too (the layer's moving averages). gamma / beta optional (offset < 0).
// params: batch_norm_train_p.
void run_batch_norm_train(uint8_t *heap, const double *p) {
  namespace P = batch_norm_train_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const double eps = p[P::eps];
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *x = f(P::x), *gamma = f(P::gamma), *beta = f(P::beta);
  float *y = f(P::y), *mean = f(P::mean), *var = f(P::variance);
  std::vector<double> sums(2 * ch);
  channel_sums<2>(rows, ch, sums.data(), [&](size_t r, double *acc) {
    const float *xr = x + r * ch;
    double *s1 = acc, *s2 = acc + ch;
#pragma omp simd
    for (size_t c = 0; c < ch; ++c) {
      const double v = xr[c];
      s1[c] += v;
      s2[c] += v * v;
    }
  });
  std::vector<float> a(ch), b(ch);
  for (size_t c = 0; c < ch; ++c) {
    const double m = sums[c] / static_cast<double>(rows);
    const double v = std::max(0.0, sums[ch + c] / static_cast<double>(rows) - m * m);
    mean[c] = static_cast<float>(m);
    var[c] = static_cast<float>(v);
    const double scale = (gamma ? gamma[c] : 1.0) / std::sqrt(v + eps);
    a[c] = static_cast<float>(scale);
    b[c] = static_cast<float>((beta ? beta[c] : 0.0) - m * scale);
  }
#pragma omp parallel for schedule(static)
  for (long r = 0; r < static_cast<long>(rows); ++r) {
    const float *xr = x + r * ch;
    float *yr = y + r * ch;
#pragma omp simd
    for (size_t c = 0; c < ch; ++c) yr[c] = xr[c] * a[c] + b[c];
  }
}

// Gradient of run_batch_norm_train's y through x (mean and variance included), gamma and beta:
//   dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * rstd * (dy - dbeta / M - xhat * dgamma / M)
// with xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), M = rows.
// params: batch_norm_grad_p (gamma optional).
void run_batch_norm_grad(uint8_t *heap, const double *p) {
  namespace P = batch_norm_grad_p;
  const size_t rows = static_cast<size_t>(p[P::rows]), ch = static_cast<size_t>(p[P::channels]);
  const double eps = p[P::eps];
  auto f = [&](int i) { return f32_opt(heap, p, i); };
  const float *dy = f(P::dy), *x = f(P::x), *mean = f(P::mean), *var = f(P::variance), *gamma = f(P::gamma);
  float *dx = f(P::dx), *dgamma = f(P::dgamma), *dbeta = f(P::dbeta);
  std::vector<double> sums(2 * ch);
  channel_sums<2>(rows, ch, sums.data(), [&](size_t r, double *acc) {
    const float *dr = dy + r * ch, *xr = x + r * ch;
    double *s1 = acc, *s2 = acc + ch;
#pragma omp simd
    for (size_t c = 0; c < ch; ++c) {
      const double d = dr[c];
      s1[c] += d;
      s2[c] += d * (static_cast<double>(xr[c]) - mean[c]);
    }
  });
  std::vector<float> a(ch), b(ch), k(ch), m(ch);
  const double inv = 1.0 / static_cast<double>(rows);
  for (size_t c = 0; c < ch; ++c) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    const double g = gamma ? gamma[c] : 1.0;
    dbeta[c] = static_cast<float>(sums[c]);
    dgamma[c] = static_cast<float>(sums[ch + c] * rstd);
    // dx = a * (dy - b - (x - mean) * k)
    a[c] = static_cast<float>(g * rstd);
    b[c] = static_cast<float>(sums[c] * inv);
    k[c] = static_cast<float>(sums[ch + c] * inv * rstd * rstd);
    m[c] = mean[c];
  }
#pragma omp parallel for schedule(static)
  for (long r = 0; r < static_cast<long>(rows); ++r) {
    const float *dr = dy + r * ch, *xr = x + r * ch;
    float *o = dx + r * ch;
#pragma omp simd
    for (size_t c = 0; c < ch; ++c) o[c] = a[c] * (dr[c] - b[c] - (xr[c] - m[c]) * k[c]);
  }
}

}  // namespace exp_native
