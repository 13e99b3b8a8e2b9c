// exp_native's optimizer steps: the fused Adam/AdamW update (adam_p).
#include <cmath>

#include "common.h"

namespace exp_native {

// ---- Adam update -----------------------------------------------------------------------------
// exp's fused Adam/AdamW step for one parameter (kernels/adam.ts): the same float32 operations
// as the optimizer's op chain (optimizers.ts), one pass over w, g, m, v instead of about twelve
// kernels each reading and writing whole tensors. Each thread owns a fixed block: no reductions.
// params: adam_p (wd_mode 0 none, 1 L2, 2 decoupled; wd_factor wd, or 1 - lr*wd).
namespace {

// One thread's block, per weight-decay mode so that the loop has no branch and vectorizes
// (`omp simd`: each element is read before it is written, so outputs may alias inputs).
template <int WD>
void adam_block(const float *w, const float *g, const float *m, const float *v, float *wo, float *mo,
                float *vo, size_t i0, size_t i1, float b1, float c1, float b2, float c2, float sbc2,
                float eps, float step, float wdf) {
#pragma omp simd
  for (size_t i = i0; i < i1; ++i) {
    float wi = w[i], gi = g[i];
    if (WD == 2) wi = wi * wdf;
    if (WD == 1) gi = gi + wi * wdf;
    const float mi = m[i] * b1 + gi * c1;
    const float vi = v[i] * b2 + (gi * gi) * c2;
    const float denom = std::sqrt(vi) / sbc2 + eps;
    mo[i] = mi;
    vo[i] = vi;
    wo[i] = wi - (mi / denom) * step;
  }
}

}  // namespace

void run_adam(uint8_t *heap, const double *p) {
  namespace P = adam_p;
  const size_t n = static_cast<size_t>(p[P::n]);
  const float b1 = static_cast<float>(p[P::b1]), c1 = static_cast<float>(p[P::c1]);
  const float b2 = static_cast<float>(p[P::b2]), c2 = static_cast<float>(p[P::c2]);
  const float sbc2 = static_cast<float>(p[P::sqrt_bc2]), eps = static_cast<float>(p[P::eps]);
  const float step = static_cast<float>(p[P::step]);
  const int wd_mode = static_cast<int>(p[P::wd_mode]);
  const float wdf = static_cast<float>(p[P::wd_factor]);
  auto at = [&](int i) { return f32_at(heap, p, i); };
  const float *w = at(P::w), *g = at(P::g), *m = at(P::m), *v = at(P::v);
  float *wo = at(P::w_out), *mo = at(P::m_out), *vo = at(P::v_out);
  auto block = wd_mode == 2 ? adam_block<2> : wd_mode == 1 ? adam_block<1> : adam_block<0>;
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    block(w, g, m, v, wo, mo, vo, n * t / nt, n * (t + 1) / nt, b1, c1, b2, c2, sbc2, eps, step, wdf);
  }
}

}  // namespace exp_native
