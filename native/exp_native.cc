// exp_native: oneDNN convolutions and matrix products for tfjs tensors that live on the wasm heap.
// JS passes the heap's ArrayBuffer and byte offsets, so inputs are read and outputs written in
// place; nothing is copied across the boundary. Activations stay NHWC and filters stay in tfjs'
// [kh, kw, in/groups, out] layout (memory descriptors with explicit strides describe them); only
// the filter is reordered, when oneDNN prefers a blocked layout for it. Primitive creation costs
// milliseconds, so primitives are cached by shape. Plain Node-API (node_api.h): no extra packages.
#include <node_api.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

engine &eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream &strm() {
  static stream s(eng());
  return s;
}

// One scratch buffer for every primitive (scratchpad_mode::user): calls run one at a time.
std::vector<uint8_t> g_scratch;
void *scratch(const memory::desc &d) {
  size_t n = d.get_size();
  if (g_scratch.size() < n) g_scratch.resize(n);
  return g_scratch.data();
}

// Below this many elements an element-wise pass runs on the calling thread: waking the OpenMP team
// costs more than the work (and far more when another process holds the other core).
constexpr size_t kParallelMin = 1 << 15;

// Activations fused as oneDNN post-ops; codes shared with native.ts.
enum Act { kNone = 0, kRelu = 1, kRelu6 = 2, kLeaky = 3, kSigmoid = 4, kElu = 5 };

primitive_attr make_attr(int act, float alpha) {
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

// ---- convolution ---------------------------------------------------------------------------
// Parameter vector from JS (doubles), in this order:
enum P {
  pKind, pN, pIH, pIW, pIC, pOH, pOW, pOC, pKH, pKW, pSH, pSW, pDH, pDW, pPT, pPL, pPB, pPR,
  pGroups, pAct, pAlpha, pX, pW, pB, pY, pCount
};
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

std::string key_of(const double *p, int count) {
  std::string k(reinterpret_cast<const char *>(p), sizeof(double) * count);
  return k;
}

Conv &conv_for(const double *p) {
  std::string key = key_of(p, pX);  // shape and attributes, not the offsets
  key.push_back(p[pB] >= 0 ? 'b' : '-');
  auto it = g_convs.find(key);
  if (it != g_convs.end()) return *it->second;

  auto I = [&](P i) { return static_cast<memory::dim>(p[i]); };
  const memory::dim n = I(pN), ih = I(pIH), iw = I(pIW), ic = I(pIC), oh = I(pOH), ow = I(pOW),
                    oc = I(pOC), kh = I(pKH), kw = I(pKW), g = I(pGroups);
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
  memory::dims strides{I(pSH), I(pSW)}, dil{I(pDH) - 1, I(pDW) - 1};
  memory::dims pl{I(pPT), I(pPL)}, pr{I(pPB), I(pPR)};
  const int kind = static_cast<int>(p[pKind]);
  const bool has_bias = p[pB] >= 0;
  memory::desc none;

  primitive_attr plain = make_attr(kNone, 0.f);
  convolution_forward::desc fwd_d(
      kind == kFwd ? prop_kind::forward_inference : prop_kind::forward_training,
      algorithm::convolution_direct, c->x, w_any, has_bias ? c->b : none, c->y, strides, dil, pl, pr);
  if (kind == kFwd) {
    auto pd = convolution_forward::primitive_desc(
        fwd_d, make_attr(static_cast<int>(p[pAct]), static_cast<float>(p[pAlpha])), eng());
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

void run_conv(uint8_t *heap, const double *p) {
  Conv &c = conv_for(p);
  auto at = [&](P i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  const int kind = static_cast<int>(p[pKind]);
  memory x(c.x, eng(), at(pX)), w(c.w, eng(), at(pW)), y(c.y, eng(), at(pY));
  memory wi = c.needs_reorder ? memory(c.wi, eng(), c.wbuf.data()) : w;
  memory sp(c.scratch_md, eng(), scratch(c.scratch_md));
  if (c.needs_reorder && kind != kBwdWeights) c.wreorder.execute(strm(), w, wi);
  if (kind == kFwd) {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, wi},
                                         {DNNL_ARG_DST, y}, {DNNL_ARG_SCRATCHPAD, sp}};
    if (p[pB] >= 0) args.emplace(DNNL_ARG_BIAS, memory(c.b, eng(), at(pB)));
    c.prim.execute(strm(), args);
  } else if (kind == kBwdData) {
    c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, y}, {DNNL_ARG_WEIGHTS, wi},
                            {DNNL_ARG_DIFF_SRC, x}, {DNNL_ARG_SCRATCHPAD, sp}});
  } else {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, y},
                                         {DNNL_ARG_DIFF_WEIGHTS, wi}, {DNNL_ARG_SCRATCHPAD, sp}};
    if (p[pB] >= 0) args.emplace(DNNL_ARG_DIFF_BIAS, memory(c.b, eng(), at(pB)));
    c.prim.execute(strm(), args);
    if (c.needs_reorder) c.wreorder.execute(strm(), wi, w);
  }
  strm().wait();
}

// ---- matrix product ------------------------------------------------------------------------
// c[batch, m, n] = act(a[batch|1, m, k] @ b[batch|1, k, n] + bias[n]); transposes by strides.
enum M { mBA, mBB, mM, mK, mN, mTA, mTB, mAct, mAlpha, mA, mB, mBias, mC, mCount };

struct Mm {
  memory::desc a, b, bias, c, scratch_md;
  primitive prim;
};
std::unordered_map<std::string, std::unique_ptr<Mm>> g_mms;

Mm &mm_for(const double *p) {
  std::string key = key_of(p, mA);
  key.push_back(p[mBias] >= 0 ? 'b' : '-');
  auto it = g_mms.find(key);
  if (it != g_mms.end()) return *it->second;
  auto I = [&](M i) { return static_cast<memory::dim>(p[i]); };
  const memory::dim ba = I(mBA), bb = I(mBB), m = I(mM), k = I(mK), n = I(mN);
  auto e = std::make_unique<Mm>();
  e->a = p[mTA] ? memory::desc({ba, m, k}, dt::f32, memory::dims{m * k, 1, m})
                : memory::desc({ba, m, k}, dt::f32, memory::dims{m * k, k, 1});
  e->b = p[mTB] ? memory::desc({bb, k, n}, dt::f32, memory::dims{k * n, 1, k})
                : memory::desc({bb, k, n}, dt::f32, memory::dims{k * n, n, 1});
  e->c = memory::desc({ba > bb ? ba : bb, m, n}, dt::f32, tag::abc);
  e->bias = memory::desc({1, 1, n}, dt::f32, tag::abc);
  memory::desc none;
  matmul::desc d(e->a, e->b, p[mBias] >= 0 ? e->bias : none, e->c);
  auto pd = matmul::primitive_desc(
      d, make_attr(static_cast<int>(p[mAct]), static_cast<float>(p[mAlpha])), eng());
  e->scratch_md = pd.scratchpad_desc();
  e->prim = matmul(pd);
  Mm &ref = *e;
  g_mms.emplace(std::move(key), std::move(e));
  return ref;
}

void run_matmul(uint8_t *heap, const double *p) {
  Mm &e = mm_for(p);
  auto at = [&](M i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  memory sp(e.scratch_md, eng(), scratch(e.scratch_md));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(e.a, eng(), at(mA))},
                                       {DNNL_ARG_WEIGHTS, memory(e.b, eng(), at(mB))},
                                       {DNNL_ARG_DST, memory(e.c, eng(), at(mC))},
                                       {DNNL_ARG_SCRATCHPAD, sp}};
  if (p[mBias] >= 0) args.emplace(DNNL_ARG_BIAS, memory(e.bias, eng(), at(mBias)));
  e.prim.execute(strm(), args);
  strm().wait();
}

// ---- max pooling ---------------------------------------------------------------------------
// tfjs' MaxPoolGrad gets (dy, x, y) but oneDNN's backward needs the forward's workspace (where
// each max came from), so the gradient reruns the forward (cheap next to the convolutions).
enum Q { qKind, qN, qIH, qIW, qC, qOH, qOW, qKH, qKW, qSH, qSW, qPT, qPL, qPB, qPR, qX, qY, qDX, qCount };

struct Pool {
  memory::desc x, y, ws, fwd_scratch, bwd_scratch;
  primitive fwd, bwd;
  std::vector<float> ybuf;
  std::vector<uint8_t> wsbuf;
};
std::unordered_map<std::string, std::unique_ptr<Pool>> g_pools;

Pool &pool_for(const double *p) {
  std::string key = key_of(p, qX);
  auto it = g_pools.find(key);
  if (it != g_pools.end()) return *it->second;
  auto I = [&](Q i) { return static_cast<memory::dim>(p[i]); };
  auto e = std::make_unique<Pool>();
  e->x = memory::desc({I(qN), I(qC), I(qIH), I(qIW)}, dt::f32, tag::nhwc);
  e->y = memory::desc({I(qN), I(qC), I(qOH), I(qOW)}, dt::f32, tag::nhwc);
  memory::dims strides{I(qSH), I(qSW)}, kernel{I(qKH), I(qKW)}, pl{I(qPT), I(qPL)}, pr{I(qPB), I(qPR)};
  const bool grad = p[qKind] != 0;
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

void run_pool(uint8_t *heap, const double *p) {
  Pool &e = pool_for(p);
  auto at = [&](Q i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  memory x(e.x, eng(), at(qX));
  memory sp(e.fwd_scratch, eng(), scratch(e.fwd_scratch));
  if (p[qKind] == 0) {
    e.fwd.execute(strm(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, memory(e.y, eng(), at(qY))},
                           {DNNL_ARG_SCRATCHPAD, sp}});
  } else {
    memory ws(e.ws, eng(), e.wsbuf.data());
    e.fwd.execute(strm(), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, memory(e.y, eng(), e.ybuf.data())},
                           {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_SCRATCHPAD, sp}});
    memory bsp(e.bwd_scratch, eng(), scratch(e.bwd_scratch));
    e.bwd.execute(strm(), {{DNNL_ARG_DIFF_DST, memory(e.y, eng(), at(qY))},
                           {DNNL_ARG_DIFF_SRC, memory(e.x, eng(), at(qDX))},
                           {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_SCRATCHPAD, bsp}});
  }
  strm().wait();
}

// ---- tile ----------------------------------------------------------------------------------
// tfjs' batch-norm gradient tiles [1,1,1,C] statistics to the activation's full shape; wasm's
// Tile indexes element by element. Here: the source once, then doubling memcpy of whole blocks.
// params: [rank, xOff, outOff, shape[0..rank), reps[0..rank)] (rank <= 6).
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

void run_tile(uint8_t *heap, const double *p) {
  const int rank = static_cast<int>(p[0]);
  if (rank < 1 || rank > 6) throw std::runtime_error("tile: rank must be 1..6");
  const double *shape = p + 3, *reps = p + 3 + rank;
  size_t inner_src[6], inner_dst[6];
  size_t a = 1, b = 1;
  for (int d = rank - 1; d >= 0; --d) {
    inner_src[d] = a;
    inner_dst[d] = b;
    a *= static_cast<size_t>(shape[d]);
    b *= static_cast<size_t>(shape[d] * reps[d]);
  }
  tile_dim(reinterpret_cast<const float *>(heap + static_cast<size_t>(p[1])),
           reinterpret_cast<float *>(heap + static_cast<size_t>(p[2])), shape, reps, rank, 0,
           inner_src, inner_dst);
}

// ---- reductions and batch normalisation ------------------------------------------------------
// tfjs computes the batch-norm statistics and their gradients with Sum/Mean over the N, H, W axes
// of NHWC tensors, which wasm reduces on one thread after transposing. Here the tensor is seen as
// [outer, inner]: reducing the leading axes gives out[inner], the trailing ones out[outer]. Each
// thread sums a fixed block of rows in double, and the partial sums are added in thread order, so
// results are bit-identical for a given thread count.
// params: [mode (0 sum, 1 mean), leading (1: reduce leading axes, 0: trailing), outer, inner, x, out]
void run_reduce(uint8_t *heap, const double *p) {
  const bool mean = p[0] != 0, leading = p[1] != 0;
  const size_t outer = static_cast<size_t>(p[2]), inner = static_cast<size_t>(p[3]);
  const float *x = reinterpret_cast<const float *>(heap + static_cast<size_t>(p[4]));
  float *out = reinterpret_cast<float *>(heap + static_cast<size_t>(p[5]));
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
      const float *row = x + r * inner;
      for (size_t c = 0; c < inner; ++c) acc[c] += row[c];
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
// params: [mean, outer, mid, inner, x, out]
void run_reduce_middle(uint8_t *heap, const double *p) {
  const bool mean = p[0] != 0;
  const size_t outer = static_cast<size_t>(p[1]), mid = static_cast<size_t>(p[2]), inner = static_cast<size_t>(p[3]);
  const float *x = reinterpret_cast<const float *>(heap + static_cast<size_t>(p[4]));
  float *out = reinterpret_cast<float *>(heap + static_cast<size_t>(p[5]));
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
        const float *row = base + m * inner;
        for (size_t c = 0; c < len; ++c) acc[c] += row[c];
      }
      for (size_t c = 0; c < len; ++c) out[o * inner + c0 + c] = static_cast<float>(acc[c] * scale);
    }
  }
}

// y = (x - mean[c]) * scale[c] / sqrt(variance[c] + eps) + offset[c] over the last axis (size
// channels); scale and offset optional (offset < 0).
// params: [rows, channels, eps, x, mean, variance, offset, scale, y]
void run_batch_norm(uint8_t *heap, const double *p) {
  const size_t rows = static_cast<size_t>(p[0]), ch = static_cast<size_t>(p[1]);
  const float eps = static_cast<float>(p[2]);
  auto f = [&](int i) {
    return p[i] >= 0 ? reinterpret_cast<float *>(heap + static_cast<size_t>(p[i])) : nullptr;
  };
  const float *x = f(3), *mu = f(4), *var = f(5), *off = f(6), *sc = f(7);
  float *y = f(8);
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

// ---- batch normalisation in training, forward and gradient ------------------------------------
// A batch-norm layer in training normalises x [rows, C] (NHWC seen as rows of C) with the batch's
// own statistics. tfjs builds that from moments (Mean, SquaredDifference, Mean) and FusedBatchNorm,
// and differentiates the chain op by op: about twenty kernels and as many passes over the
// activation per layer and step. Here: forward = one pass for the statistics + one to normalise;
// gradient = one pass for the per-channel sums of dy and dy * (x - mean) + one for dx. Sums are in
// double, per thread over a fixed block of rows, added in thread order: bit-identical results for
// a given thread count.

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

// y = (x - mean) / sqrt(var + eps) * gamma + beta with mean and (biased) variance of the batch,
// which are outputs too (the layer's moving averages). gamma / beta optional (offset < 0).
// params: [rows, channels, eps, x, gamma, beta, y, mean, variance]
void run_batch_norm_train(uint8_t *heap, const double *p) {
  const size_t rows = static_cast<size_t>(p[0]), ch = static_cast<size_t>(p[1]);
  const double eps = p[2];
  auto f = [&](int i) {
    return p[i] >= 0 ? reinterpret_cast<float *>(heap + static_cast<size_t>(p[i])) : nullptr;
  };
  const float *x = f(3), *gamma = f(4), *beta = f(5);
  float *y = f(6), *mean = f(7), *var = f(8);
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
// params: [rows, channels, eps, dy, x, mean, variance, gamma, dx, dgamma, dbeta] (gamma optional)
void run_batch_norm_grad(uint8_t *heap, const double *p) {
  const size_t rows = static_cast<size_t>(p[0]), ch = static_cast<size_t>(p[1]);
  const double eps = p[2];
  auto f = [&](int i) {
    return p[i] >= 0 ? reinterpret_cast<float *>(heap + static_cast<size_t>(p[i])) : nullptr;
  };
  const float *dy = f(3), *x = f(4), *mean = f(5), *var = f(6), *gamma = f(7);
  float *dx = f(8), *dgamma = f(9), *dbeta = f(10);
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

// ---- element-wise binary ops -----------------------------------------------------------------
// The batch-norm and ReLU gradients are chains of Multiply/RealDiv/Add/Sub over whole NHWC
// activations, often against a per-channel [C] (or [1,1,1,C]) operand or a scalar; wasm runs them
// on one thread through its general broadcasting loop. Here each operand is full (mode 0, same
// layout as the output), a scalar (1) or per channel of the last axis (2). Each thread writes a
// fixed block of the output (whole rows of C when an operand is per channel): no reductions, so
// results do not depend on the thread count. Mode 3: per (batch, channel), an [N,1,..,1,C] operand
// of an [N,..,C] output (squeeze-excitation's scale and its gradient), `mid` rows of C per batch.
// params: [op (0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 minimum, 6 maximum), n, C, aMode,
//          bMode, a, b, out, mid]
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

void run_binary(uint8_t *heap, const double *p) {
  const int op = static_cast<int>(p[0]);
  const size_t n = static_cast<size_t>(p[1]), ch = static_cast<size_t>(p[2]);
  const int am = static_cast<int>(p[3]), bm = static_cast<int>(p[4]);
  const size_t mid = static_cast<size_t>(p[8]);
  if ((am >= 2 || bm >= 2) && (ch == 0 || n % ch != 0)) throw std::runtime_error("binary: bad channels");
  if ((am == 3 || bm == 3) && (mid == 0 || (n / ch) % mid != 0)) throw std::runtime_error("binary: bad rows per batch");
  const float *a = reinterpret_cast<const float *>(heap + static_cast<size_t>(p[5]));
  const float *b = reinterpret_cast<const float *>(heap + static_cast<size_t>(p[6]));
  float *o = reinterpret_cast<float *>(heap + static_cast<size_t>(p[7]));
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

// ---- Adam update -----------------------------------------------------------------------------
// exp's fused Adam/AdamW step for one parameter (kernels/adam.ts): the same float32 operations
// as the optimizer's op chain (optimizers.ts), one pass over w, g, m, v instead of about twelve
// kernels each reading and writing whole tensors. Each thread owns a fixed block: no reductions.
// params: [n, b1, 1-b1, b2, 1-b2, sqrt(bc2), eps, lr/bc1, wdMode (0 none, 1 L2, 2 decoupled),
//          wdFactor (wd, or 1 - lr*wd), w, g, m, v, wOut, mOut, vOut]
void run_adam(uint8_t *heap, const double *p) {
  const size_t n = static_cast<size_t>(p[0]);
  const float b1 = static_cast<float>(p[1]), c1 = static_cast<float>(p[2]);
  const float b2 = static_cast<float>(p[3]), c2 = static_cast<float>(p[4]);
  const float sbc2 = static_cast<float>(p[5]), eps = static_cast<float>(p[6]);
  const float step = static_cast<float>(p[7]);
  const int wd_mode = static_cast<int>(p[8]);
  const float wdf = static_cast<float>(p[9]);
  auto at = [&](int i) { return reinterpret_cast<float *>(heap + static_cast<size_t>(p[i])); };
  const float *w = at(10), *g = at(11), *m = at(12), *v = at(13);
  float *wo = at(14), *mo = at(15), *vo = at(16);
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
    for (size_t i = i0; i < i1; ++i) {
      float wi = w[i], gi = g[i];
      if (wd_mode == 2) wi = wi * wdf;
      else if (wd_mode == 1) gi = gi + wi * wdf;
      const float mi = m[i] * b1 + gi * c1;
      const float vi = v[i] * b2 + (gi * gi) * c2;
      const float denom = std::sqrt(vi) / sbc2 + eps;
      mo[i] = mi;
      vo[i] = vi;
      wo[i] = wi - (mi / denom) * step;
    }
  }
}

// ---- swish (SiLU) -----------------------------------------------------------------------------
// exp's fused swish (kernels/swish.ts): y = x * sigmoid(x) forward, dx = dy * s * (1 + x * (1 - s))
// backward, one pass each instead of Sigmoid + Multiply and their gradients' five element-wise
// kernels. Fixed blocks per thread: no reductions.
// Also relu6 (kind 1, tfjs layers' min(relu(x), 6)): y = clip(x, 0, 6), dx = dy where 0 < x < 6.
// params: [grad (0/1), n, x, dy (or -1), out, kind (0 swish, 1 relu6)]
void run_relu6(const float *x, const float *dy, float *o, size_t n, bool grad) {
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
    if (grad) {
      for (size_t i = i0; i < i1; ++i) o[i] = dy[i] * (x[i] > 0.f && x[i] < 6.f ? 1.f : 0.f);  // -0 as tfjs
    } else {
      for (size_t i = i0; i < i1; ++i) o[i] = x[i] != x[i] ? x[i] : std::min(std::max(x[i], 0.f), 6.f);
    }
  }
}

void run_swish(uint8_t *heap, const double *p) {
  const bool grad = p[0] != 0;
  const size_t n = static_cast<size_t>(p[1]);
  const float *x = reinterpret_cast<const float *>(heap + static_cast<size_t>(p[2]));
  const float *dy = grad ? reinterpret_cast<const float *>(heap + static_cast<size_t>(p[3])) : nullptr;
  float *o = reinterpret_cast<float *>(heap + static_cast<size_t>(p[4]));
  if (p[5] == 1) return run_relu6(x, dy, o, n, grad);
#pragma omp parallel if (n >= kParallelMin)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
    if (grad) {
      for (size_t i = i0; i < i1; ++i) {
        const float xi = x[i], s = 1.f / (1.f + std::exp(-xi));
        o[i] = dy[i] * (s * (1.f + xi * (1.f - s)));
      }
    } else {
      for (size_t i = i0; i < i1; ++i) {
        const float xi = x[i];
        o[i] = xi / (1.f + std::exp(-xi));
      }
    }
  }
}

// ---- Node-API glue -------------------------------------------------------------------------
// Every entry point takes (heap: ArrayBuffer, params: Float64Array) and returns undefined.
using Runner = void (*)(uint8_t *, const double *);

napi_value call(napi_env env, napi_callback_info info, Runner run, size_t count, const char *name) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void *heap = nullptr;
  size_t heap_len = 0;
  napi_typedarray_type type;
  size_t len = 0;
  void *params = nullptr;
  if (argc < 2 || napi_get_arraybuffer_info(env, argv[0], &heap, &heap_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &len, &params, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || (count ? len != count : len < 3)) {
    std::string msg = std::string(name) + "(heap: ArrayBuffer, params: Float64Array[" +
                      std::to_string(count) + "]) called with wrong arguments";
    napi_throw_type_error(env, nullptr, msg.c_str());
    return nullptr;
  }
  try {
    run(static_cast<uint8_t *>(heap), static_cast<const double *>(params));
  } catch (const dnnl::error &e) {
    std::string msg = std::string(name) + ": oneDNN: " + e.what();
    napi_throw_error(env, nullptr, msg.c_str());
  } catch (const std::exception &e) {
    std::string msg = std::string(name) + ": " + e.what();
    napi_throw_error(env, nullptr, msg.c_str());
  }
  return nullptr;
}

napi_value Conv2d(napi_env env, napi_callback_info info) {
  return call(env, info, run_conv, pCount, "conv");
}
napi_value MatMul(napi_env env, napi_callback_info info) {
  return call(env, info, run_matmul, mCount, "matmul");
}
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return call(env, info, run_pool, qCount, "maxPool");
}
napi_value Tile(napi_env env, napi_callback_info info) {
  return call(env, info, run_tile, 0, "tile");
}

napi_value Reduce(napi_env env, napi_callback_info info) {
  return call(env, info, run_reduce, 6, "reduce");
}
napi_value ReduceMiddle(napi_env env, napi_callback_info info) {
  return call(env, info, run_reduce_middle, 6, "reduceMiddle");
}
napi_value BatchNorm(napi_env env, napi_callback_info info) {
  return call(env, info, run_batch_norm, 9, "batchNorm");
}
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return call(env, info, run_batch_norm_train, 9, "batchNormTrain");
}
napi_value BatchNormGrad(napi_env env, napi_callback_info info) {
  return call(env, info, run_batch_norm_grad, 11, "batchNormGrad");
}
napi_value Binary(napi_env env, napi_callback_info info) {
  return call(env, info, run_binary, 9, "binary");
}

napi_value Adam(napi_env env, napi_callback_info info) {
  return call(env, info, run_adam, 17, "adam");
}

napi_value Swish(napi_env env, napi_callback_info info) {
  return call(env, info, run_swish, 6, "swish");
}

napi_value Init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } exported[] = {
      {"conv", Conv2d},       {"matmul", MatMul},        {"maxPool", MaxPool},
      {"tile", Tile},         {"reduce", Reduce},        {"batchNorm", BatchNorm},
      {"batchNormTrain", BatchNormTrain}, {"batchNormGrad", BatchNormGrad}, {"binary", Binary},
      {"adam", Adam},         {"reduceMiddle", ReduceMiddle}, {"swish", Swish},
  };
  napi_value f, v;
  for (const auto &e : exported) {
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &f);
    napi_set_named_property(env, exports, e.name, f);
  }
  const dnnl_version_t *ver = dnnl_version();
  std::string s = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." +
                  std::to_string(ver->patch);
  napi_create_string_utf8(env, s.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "onednnVersion", v);
  napi_create_int32(env, omp_get_max_threads(), &v);
  napi_set_named_property(env, exports, "threads", v);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
