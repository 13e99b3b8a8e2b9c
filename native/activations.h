// The activations exp's kernels apply inside another pass: the element-wise swish/relu6 kernels
// (elementwise.cc) and batch normalisation's fused forms (batchnorm.cc). One definition each of
// the value and of dL/dz, with tfjs' semantics, and one dispatch from the runtime code to the
// compile-time one, so every loop stays branch-free and vectorizes.
#pragma once
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common.h"

namespace exp_native {

enum Act { kNone = 0, kRelu = 1, kRelu6 = 2, kSwish = 3 };

// relu: NaN stays NaN (NaN < 0 is false), as tfjs' relu; relu6: tfjs layers' min(relu(z), 6), NaN
// staying NaN the same way; swish: z * sigmoid(z) as z / (1 + e^-z).
template <int A>
inline float act_fwd(float z) {
  if (A == kRelu) return z < 0.f ? 0.f : z;
  if (A == kRelu6) {
    const float lo = z < 0.f ? 0.f : z;
    return lo > 6.f ? 6.f : lo;
  }
  if (A == kSwish) return z / (1.f + exp_vec(-z));
  return z;
}

// dL/dz from dL/dy, tfjs' gradients: relu where z > 0, relu6 where 0 < z < 6, swish
// s * (1 + z * (1 - s)) with s = sigmoid(z). dy times a 0/1 mask rather than a select, so that
// dy * 0 keeps tfjs' signed zero.
template <int A>
inline float act_grad(float z, float dy) {
  if (A == kRelu) return dy * static_cast<float>(z > 0.f);
  if (A == kRelu6) return dy * static_cast<float>((z > 0.f) & (z < 6.f));
  if (A == kSwish) {
    const float s = 1.f / (1.f + exp_vec(-z));
    return dy * (s * (1.f + z * (1.f - s)));
  }
  return dy;
}

// f(std::integral_constant<int, A>{}) for the runtime activation code `act` (an Act value).
template <class F>
void with_act(int act, F &&f) {
  switch (act) {
    case kNone: return f(std::integral_constant<int, kNone>{});
    case kRelu: return f(std::integral_constant<int, kRelu>{});
    case kRelu6: return f(std::integral_constant<int, kRelu6>{});
    case kSwish: return f(std::integral_constant<int, kSwish>{});
    default: throw std::invalid_argument("unknown activation " + std::to_string(act));
  }
}

}  // namespace exp_native
