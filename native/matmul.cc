// exp_native's matrix product (matmul_p in params.gen.h) on oneDNN:
// c[batch, m, n] = act(a[batch|1, m, k] @ b[batch|1, k, n] + bias[n]); transposes by strides.
#include <memory>
#include <string>
#include <unordered_map>

#include "onednn.h"

namespace exp_native {
namespace {

namespace P = matmul_p;

struct Mm {
  memory::desc a, b, bias, c, scratch_md;
  primitive prim;
};
std::unordered_map<std::string, std::unique_ptr<Mm>> g_mms;

Mm &mm_for(const double *p) {
  std::string key = key_of(p, P::a);
  key.push_back(p[P::bias] >= 0 ? 'b' : '-');
  auto it = g_mms.find(key);
  if (it != g_mms.end()) return *it->second;
  auto I = [&](int i) { return static_cast<memory::dim>(p[i]); };
  const memory::dim ba = I(P::batch_a), bb = I(P::batch_b), m = I(P::m), k = I(P::k), n = I(P::n);
  auto e = std::make_unique<Mm>();
  e->a = p[P::transpose_a] ? memory::desc({ba, m, k}, dt::f32, memory::dims{m * k, 1, m})
                           : memory::desc({ba, m, k}, dt::f32, memory::dims{m * k, k, 1});
  e->b = p[P::transpose_b] ? memory::desc({bb, k, n}, dt::f32, memory::dims{k * n, 1, k})
                           : memory::desc({bb, k, n}, dt::f32, memory::dims{k * n, n, 1});
  e->c = memory::desc({ba > bb ? ba : bb, m, n}, dt::f32, tag::abc);
  e->bias = memory::desc({1, 1, n}, dt::f32, tag::abc);
  memory::desc none;
  matmul::desc d(e->a, e->b, p[P::bias] >= 0 ? e->bias : none, e->c);
  auto pd = matmul::primitive_desc(
      d, make_attr(static_cast<int>(p[P::act]), static_cast<float>(p[P::alpha])), eng());
  e->scratch_md = pd.scratchpad_desc();
  e->prim = matmul(pd);
  Mm &ref = *e;
  g_mms.emplace(std::move(key), std::move(e));
  return ref;
}

}  // namespace

void run_matmul(uint8_t *heap, const double *p) {
  Mm &e = mm_for(p);
  auto at = [&](int i) { return static_cast<void *>(heap + static_cast<size_t>(p[i])); };
  memory sp(e.scratch_md, eng(), scratch(e.scratch_md));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(e.a, eng(), at(P::a))},
                                       {DNNL_ARG_WEIGHTS, memory(e.b, eng(), at(P::b))},
                                       {DNNL_ARG_DST, memory(e.c, eng(), at(P::c))},
                                       {DNNL_ARG_SCRATCHPAD, sp}};
  if (p[P::bias] >= 0) args.emplace(DNNL_ARG_BIAS, memory(e.bias, eng(), at(P::bias)));
  e.prim.execute(strm(), args);
  strm().wait();
}

}  // namespace exp_native
