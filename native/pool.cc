// exp_native's max pooling (max_pool_p in params.gen.h) on oneDNN, NHWC. tfjs' MaxPoolGrad gets
// (dy, x, y) but oneDNN's backward needs the forward's workspace (where each max came from), so the
// gradient reruns the forward (cheap next to the convolutions).
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onednn.h"

namespace exp_native {
namespace {

namespace P = max_pool_p;

struct Pool {
  memory::desc x, y, ws, fwd_scratch, bwd_scratch;
  primitive fwd, bwd;
  std::vector<float> ybuf;
  std::vector<uint8_t> wsbuf;
};
std::unordered_map<std::string, std::unique_ptr<Pool>> g_pools;

Pool &pool_for(const double *p) {
  std::string key = key_of(p, P::x);
  auto it = g_pools.find(key);
  if (it != g_pools.end()) return *it->second;
  auto I = [&](int i) { return static_cast<memory::dim>(p[i]); };
  auto e = std::make_unique<Pool>();
  e->x = memory::desc({I(P::batch), I(P::channels), I(P::in_h), I(P::in_w)}, dt::f32, tag::nhwc);
  e->y = memory::desc({I(P::batch), I(P::channels), I(P::out_h), I(P::out_w)}, dt::f32, tag::nhwc);
  memory::dims strides{I(P::stride_h), I(P::stride_w)}, kernel{I(P::filter_h), I(P::filter_w)};
  memory::dims pl{I(P::pad_top), I(P::pad_left)}, pr{I(P::pad_bottom), I(P::pad_right)};
  const bool grad = p[P::grad] != 0;
  primitive_attr attr = make_attr(kNone, 0.f);
  pooling_forward::desc fd(grad ? prop_kind::forward_training : prop_kind::forward_inference,
                           algorithm::pooling_max, e->x, e->y, strides, kernel, pl, pr);
  auto fpd = pooling_forward::primitive_desc(fd, attr, eng());
  e->fwd = pooling_forward(fpd);
  e->fwd_scratch = fpd.scratchpad_desc();
  if (grad) {
    e->ws = fpd.workspace_desc();
    e->wsbuf.resize(e->ws.get_size() + 1);
    e->ybuf.resize(e->y.get_size() / sizeof(float) + 1);
    pooling_backward::desc bd(algorithm::pooling_max, e->x, e->y, strides, kernel, pl, pr);
    auto bpd = pooling_backward::primitive_desc(bd, attr, eng(), fpd);
    e->bwd = pooling_backward(bpd);
    e->bwd_scratch = bpd.scratchpad_desc();
  }
  Pool &ref = *e;
  g_pools.emplace(std::move(key), std::move(e));
  return ref;
}

}  // namespace

void run_max_pool(uint8_t *heap, const double *p) {
  Pool &e = pool_for(p);
  auto at = [&](int i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  memory x(e.x, eng(), at(P::x));
  memory sp(e.fwd_scratch, eng(), scratch(e.fwd_scratch));
  if (p[P::grad] == 0) {
    e.fwd.execute(strm(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, memory(e.y, eng(), at(P::y))},
                           {DNNL_ARG_SCRATCHPAD, sp}});
  } else {
    memory ws(e.ws, eng(), e.wsbuf.data());
    e.fwd.execute(strm(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, memory(e.y, eng(), e.ybuf.data())},
                           {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_SCRATCHPAD, sp}});
    memory bsp(e.bwd_scratch, eng(), scratch(e.bwd_scratch));
    e.bwd.execute(strm(), {{DNNL_ARG_DIFF_DST, memory(e.y, eng(), at(P::y))},
                           {DNNL_ARG_DIFF_SRC, memory(e.x, eng(), at(P::dx))},
                           {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_SCRATCHPAD, bsp}});
  }
  strm().wait();
}

}  // namespace exp_native
