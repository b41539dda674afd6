// Prototypical-network logits for src/native/conv.cc; see protonet.cc.
#pragma once
#include <cstdint>

namespace fewshot {

// For each of n episodes of `way` classes, `shot` support and `query` query rows per class (rows of
// emb [*, dim], class-major): out [n, way * query, way] = minus the squared distance from each query
// to each class mean of the support.
void proto_logits(const float* emb, int dim, const int32_t* support_rows, const int32_t* query_rows,
                  int n, int way, int shot, int query, float* out);

}  // namespace fewshot
