// What the oneDNN kernel files (conv.cc, matmul.cc, pool.cc) share: the engine and stream, one
// scratch buffer, fused activations as post-ops and the primitive-cache key. Activations stay NHWC
// and filters stay in tfjs' [kh, kw, in/groups, out] layout (memory descriptors with explicit
// strides describe them); only the filter is reordered, when oneDNN prefers a blocked layout for
// it. Primitive creation costs milliseconds, so primitives are cached by shape.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"

namespace exp_native {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

inline engine &eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
inline stream &strm() {
  static stream s(eng());
  return s;
}

// One scratch buffer for every primitive (scratchpad_mode::user): calls run one at a time.
inline std::vector<uint8_t> g_scratch;
inline void *scratch(const memory::desc &d) {
  size_t n = d.get_size();
  if (g_scratch.size() < n) g_scratch.resize(n);
  return g_scratch.data();
}

// Activations fused as oneDNN post-ops; codes as native/params.json's conv.act.
enum Act { kNone = 0, kRelu = 1, kRelu6 = 2, kLeaky = 3, kSigmoid = 4, kElu = 5 };

inline primitive_attr make_attr(int act, float alpha) {
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  if (act != kNone) {
    post_ops po;
    switch (act) {
      case kRelu: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
      case kRelu6: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
      case kLeaky: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
      case kSigmoid: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
      case kElu: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
      default: throw std::runtime_error("unknown activation code");
    }
    attr.set_post_ops(po);
  }
  return attr;
}

// A primitive-cache key: the bytes of the first `count` parameters (shape and attributes; the
// layouts put the offsets after them).
inline std::string key_of(const double *p, int count) {
  std::string k(reinterpret_cast<const char *>(p), sizeof(double) * count);
  return k;
}

}  // namespace exp_native
