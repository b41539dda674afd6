// Prototypical-network logits (src/eval/evaluate.ts), float for float what the wasm kernels compute
// for src/losses/protonet.ts: a class mean sums its shots in order then divides by shot (wasm's
// Mean); a distance sums (q - p)^2 over the dimensions in order (Sub, Square, Sum). Vectorised across
// classes only, never across a sum, and without fused multiply-adds (binding.gyp asks for them
// elsewhere), so that evaluation gives the same accuracies on either path.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <cstddef>
#include <vector>

#include "kernels.h"

namespace fewshot {

void proto_logits(const ProtoLogitsParams& p, const float* emb, const int32_t* support_rows, const int32_t* query_rows,
                  float* out) {
  const int dim = p.dim, n = p.n, way = p.way, shot = p.shot, query = p.query;
  // Prototypes transposed, [dim][way], so that the class loop below is contiguous.
  std::vector<float> protos((size_t)dim * way), acc(way);
  const int q_n = way * query;
  for (int e = 0; e < n; e++) {
    for (int c = 0; c < way; c++) {
      const int32_t* rows = support_rows + ((size_t)e * way + c) * shot;
      for (int d = 0; d < dim; d++) {
        float s = 0.0f;
        for (int k = 0; k < shot; k++) s += emb[(size_t)rows[k] * dim + d];
        protos[(size_t)d * way + c] = s / (float)shot;
      }
    }
    for (int q = 0; q < q_n; q++) {
      const float* x = emb + (size_t)query_rows[(size_t)e * q_n + q] * dim;
      for (int c = 0; c < way; c++) acc[c] = 0.0f;
      for (int d = 0; d < dim; d++) {
        const float xd = x[d];
        const float* p = &protos[(size_t)d * way];
        for (int c = 0; c < way; c++) {
          const float t = xd - p[c];
          acc[c] += t * t;
        }
      }
      float* o = out + ((size_t)e * q_n + q) * way;
      for (int c = 0; c < way; c++) o[c] = -acc[c];
    }
  }
}

}  // namespace fewshot
