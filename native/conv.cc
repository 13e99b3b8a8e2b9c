// exp_native's convolutions (conv_p in params.gen.h): forward with fused bias and activation,
// backward data, backward weights; plain, depthwise and grouped, on oneDNN.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onednn.h"

namespace exp_native {
namespace {

namespace P = conv_p;

// the values of P::kind
enum Kind { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };

struct Conv {
  memory::desc x, w, b, y;   // user layouts: NHWC, tfjs filter, [oc]
  memory::desc wi;           // the filter layout the primitive wants (== w when no reorder)
  primitive prim;
  memory::desc scratch_md;
  dnnl::reorder wreorder;    // w -> wi (forward, backward data) or wi -> w (backward weights)
  bool needs_reorder = false;
  std::vector<float> wbuf;   // holds the filter in layout wi
};

std::unordered_map<std::string, std::unique_ptr<Conv>> g_convs;

Conv &conv_for(const double *p) {
  std::string key = key_of(p, P::x);  // shape and attributes, not the offsets
  key.push_back(p[P::bias] >= 0 ? 'b' : '-');
  auto it = g_convs.find(key);
  if (it != g_convs.end()) return *it->second;

  auto I = [&](int i) { return static_cast<memory::dim>(p[i]); };
  const memory::dim n = I(P::batch), ih = I(P::in_h), iw = I(P::in_w), ic = I(P::in_c),
                    oh = I(P::out_h), ow = I(P::out_w), oc = I(P::out_c), kh = I(P::filter_h),
                    kw = I(P::filter_w), g = I(P::groups);
  const memory::dim icg = ic / g, ocg = oc / g;
  auto c = std::make_unique<Conv>();
  c->x = memory::desc({n, ic, ih, iw}, dt::f32, tag::nhwc);
  c->y = memory::desc({n, oc, oh, ow}, dt::f32, tag::nhwc);
  c->b = memory::desc({oc}, dt::f32, tag::a);
  // tfjs filter [kh][kw][icg][oc], output channel = group * ocg + o (also depthwise [kh][kw][c][m])
  if (g == 1) {
    c->w = memory::desc({oc, ic, kh, kw}, dt::f32, memory::dims{1, oc, kw * ic * oc, ic * oc});
  } else {
    c->w = memory::desc({g, ocg, icg, kh, kw}, dt::f32,
                        memory::dims{ocg, 1, oc, kw * icg * oc, icg * oc});
  }
  memory::desc w_any = g == 1 ? memory::desc({oc, ic, kh, kw}, dt::f32, tag::any)
                              : memory::desc({g, ocg, icg, kh, kw}, dt::f32, tag::any);
  memory::dims strides{I(P::stride_h), I(P::stride_w)};
  memory::dims dil{I(P::dilation_h) - 1, I(P::dilation_w) - 1};
  memory::dims pl{I(P::pad_top), I(P::pad_left)}, pr{I(P::pad_bottom), I(P::pad_right)};
  const int kind = static_cast<int>(p[P::kind]);
  const bool has_bias = p[P::bias] >= 0;
  memory::desc none;

  primitive_attr plain = make_attr(kNone, 0.f);
  convolution_forward::desc fwd_d(
      kind == kFwd ? prop_kind::forward_inference : prop_kind::forward_training,
      algorithm::convolution_direct, c->x, w_any, has_bias ? c->b : none, c->y, strides, dil, pl, pr);
  if (kind == kFwd) {
    auto pd = convolution_forward::primitive_desc(
        fwd_d, make_attr(static_cast<int>(p[P::act]), static_cast<float>(p[P::alpha])), eng());
    c->wi = pd.weights_desc();
    c->scratch_md = pd.scratchpad_desc();
    c->prim = convolution_forward(pd);
  } else if (kind == kBwdData) {
    auto hint = convolution_forward::primitive_desc(fwd_d, plain, eng());
    convolution_backward_data::desc d(algorithm::convolution_direct, c->x, w_any, c->y, strides,
                                      dil, pl, pr);
    auto pd = convolution_backward_data::primitive_desc(d, plain, eng(), hint);
    c->wi = pd.weights_desc();
    c->scratch_md = pd.scratchpad_desc();
    c->prim = convolution_backward_data(pd);
  } else {
    auto hint = convolution_forward::primitive_desc(fwd_d, plain, eng());
    convolution_backward_weights::desc d(algorithm::convolution_direct, c->x, w_any,
                                         has_bias ? c->b : none, c->y, strides, dil, pl, pr);
    auto pd = convolution_backward_weights::primitive_desc(d, plain, eng(), hint);
    c->wi = pd.diff_weights_desc();
    c->scratch_md = pd.scratchpad_desc();
    c->prim = convolution_backward_weights(pd);
  }
  if (c->wi != c->w) {
    c->needs_reorder = true;
    c->wbuf.resize(c->wi.get_size() / sizeof(float) + 1);
    c->wreorder = kind == kBwdWeights ? reorder(reorder::primitive_desc(eng(), c->wi, eng(), c->w))
                                     : reorder(reorder::primitive_desc(eng(), c->w, eng(), c->wi));
  }
  Conv &ref = *c;
  g_convs.emplace(std::move(key), std::move(c));
  return ref;
}

}  // namespace

void run_conv(uint8_t *heap, const double *p) {
  Conv &c = conv_for(p);
  auto at = [&](int i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  const int kind = static_cast<int>(p[P::kind]);
  memory x(c.x, eng(), at(P::x)), w(c.w, eng(), at(P::w)), y(c.y, eng(), at(P::y));
  memory wi = c.needs_reorder ? memory(c.wi, eng(), c.wbuf.data()) : w;
  memory sp(c.scratch_md, eng(), scratch(c.scratch_md));
  if (c.needs_reorder && kind != kBwdWeights) c.wreorder.execute(strm(), w, wi);
  if (kind == kFwd) {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, wi},
                                         {DNNL_ARG_DST, y}, {DNNL_ARG_SCRATCHPAD, sp}};
    if (p[P::bias] >= 0) args.emplace(DNNL_ARG_BIAS, memory(c.b, eng(), at(P::bias)));
    c.prim.execute(strm(), args);
  } else if (kind == kBwdData) {
    c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, y}, {DNNL_ARG_WEIGHTS, wi},
                            {DNNL_ARG_DIFF_SRC, x}, {DNNL_ARG_SCRATCHPAD, sp}});
  } else {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, y},
                                         {DNNL_ARG_DIFF_WEIGHTS, wi}, {DNNL_ARG_SCRATCHPAD, sp}};
    if (p[P::bias] >= 0) args.emplace(DNNL_ARG_DIFF_BIAS, memory(c.b, eng(), at(P::bias)));
    c.prim.execute(strm(), args);
    if (c.needs_reorder) c.wreorder.execute(strm(), wi, w);
  }
  strm().wait();
}

}  // namespace exp_native
