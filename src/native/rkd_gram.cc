// Centred Gram matrices and the way back from a Gram gradient (rkd_gram.h): N^2 D multiply-adds each
// way, rows across threads. The same arithmetic as rkd-gram.ts's tfjs ops, in one pass each.
#include "rkd_gram.h"

#include <omp.h>

#include <cstddef>
#include <vector>

namespace fewshot {
namespace {

// c = x - mean(x) [n, d] (the mean summed in double) and g = c c^T [n, n].
void centred_gram(int n, int d, const float* x, float* c, float* g) {
  std::vector<double> mean(d, 0.0);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < d; k++) mean[k] += x[(size_t)i * d + k];
  for (int i = 0; i < n; i++)
    for (int k = 0; k < d; k++) c[(size_t)i * d + k] = x[(size_t)i * d + k] - (float)(mean[k] / n);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    const float* ci = c + (size_t)i * d;
    for (int j = 0; j < n; j++) {
      const float* cj = c + (size_t)j * d;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int k = 0; k < d; k++) dot += ci[k] * cj[k];
      g[(size_t)i * n + j] = dot;
    }
  }
}

// dx = dc - mean(dc), dc = (dgram + dgram^T + 2 diag(ddiag)) c: the gradient through G = c c^T and the centring.
void gram_to_input(int n, int d, const float* c, const float* dgram, const float* ddiag, float* dx) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    float* dxi = dx + (size_t)i * d;
    for (int k = 0; k < d; k++) dxi[k] = 2.0f * ddiag[i] * c[(size_t)i * d + k];
    for (int j = 0; j < n; j++) {
      const float m = dgram[(size_t)i * n + j] + dgram[(size_t)j * n + i];
      const float* cj = c + (size_t)j * d;
#pragma omp simd
      for (int k = 0; k < d; k++) dxi[k] += m * cj[k];
    }
  }
  std::vector<double> mean(d, 0.0);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < d; k++) mean[k] += dx[(size_t)i * d + k];
  for (int i = 0; i < n; i++)
    for (int k = 0; k < d; k++) dx[(size_t)i * d + k] -= (float)(mean[k] / n);
}

}  // namespace

void rkd_from_gram(const RkdParams& p, GramLoss f, const float* s, const float* t, float* loss, float* ds) {
  const int n = p.n;
  std::vector<float> cs((size_t)n * p.dimS), ct((size_t)n * p.dimT), gs((size_t)n * n), gt((size_t)n * n);
  centred_gram(n, p.dimS, s, cs.data(), gs.data());
  centred_gram(n, p.dimT, t, ct.data(), gt.data());
  std::vector<float> dgram((size_t)n * n), ddiag(n);
  f(n, gs.data(), gt.data(), loss, dgram.data(), ddiag.data());
  gram_to_input(n, p.dimS, cs.data(), dgram.data(), ddiag.data(), ds);
}

}  // namespace fewshot
