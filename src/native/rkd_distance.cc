// RKD-D (src/losses/rkd.ts) from the centred Gram matrices of student and teacher (rkd_gram.h),
// value and gradient in two passes over the pairs.
//
// n2_ij = G_ii + G_jj - 2 G_ij, d_ij = n2_ij^1/2 (1e-6 where n2 <= 1e-12, as rkd.ts's
// pairwiseDistances; 0 at i = j), mu = sum d / (N (N - 1)), psi = d / mu. Returns the mean over the
// N^2 pairs of huber(psi_s - psi_t) and its gradient with respect to the student's Gram matrix in
// rkd_gram.h's form. With g = huber'(gap) and S = sum g d_s (mu_s depends on every d_s):
//   dL/dd_ij = (g_ij / mu - S / (mu^2 N (N - 1))) / N^2,   q_ij = dL/dn2_ij = dL/dd_ij / (2 d_ij),
//   dgram = -2 q (q is symmetric), ddiag_i = 2 sum_j q_ij.
// N^2 work, a few milliseconds at N = 600: one thread, sums in double.
#include <cmath>
#include <vector>

#include "kernels.h"
#include "rkd_gram.h"

namespace fewshot {
namespace {

constexpr float kFloor = 1e-12f;  // rkd.ts: sqrt(max(n2, 1e-12))

// Distances [n, n] from the Gram matrix g; returns their mean over the N (N - 1) pairs.
double distances(int n, const float* g, float* d) {
  double sum = 0;
  for (int i = 0; i < n; i++) {
    const float* gi = g + (size_t)i * n;
    float* di = d + (size_t)i * n;
    const float gii = gi[i];
    float row = 0.0f;
    for (int j = 0; j < n; j++) {
      const float n2 = gii + g[(size_t)j * n + j] - 2.0f * gi[j];
      di[j] = j == i ? 0.0f : std::sqrt(n2 > kFloor ? n2 : kFloor);
      row += di[j];
    }
    sum += row;  // by rows, then over rows, as rkd.ts
  }
  return sum / ((double)n * (n - 1));
}

void distance_from_gram(int n, const float* gs, const float* gt, float* loss, float* dgram, float* ddiag) {
  const size_t nn = (size_t)n * n;
  std::vector<float> ds(nn), dt(nn);
  const double mu_s = distances(n, gs, ds.data()), mu_t = distances(n, gt, dt.data());
  const float inv_s = (float)(1.0 / mu_s), inv_t = (float)(1.0 / mu_t);
  // Pass 1: the loss, huber'(gap) (kept in dgram) and S.
  double lsum = 0, s = 0;
  for (int i = 0; i < n; i++) {
    const float *dsi = ds.data() + (size_t)i * n, *dti = dt.data() + (size_t)i * n;
    float* gi = dgram + (size_t)i * n;
    float l = 0.0f, sg = 0.0f;
    for (int j = 0; j < n; j++) {
      const float gap = dsi[j] * inv_s - dti[j] * inv_t, a = std::fabs(gap), m = a < 1.0f ? a : 1.0f;
      l += 0.5f * m * m + (a - m);
      gi[j] = gap < -1.0f ? -1.0f : (gap > 1.0f ? 1.0f : gap);
      sg += gi[j] * dsi[j];
    }
    lsum += l;
    s += sg;
  }
  loss[0] = (float)(lsum / nn);
  // Pass 2: q through d = n2^1/2 (no gradient where the floor is taken, nor on the diagonal).
  const float c1 = (float)(1.0 / (mu_s * nn)), c2 = (float)(s / (mu_s * mu_s * n * (n - 1.0) * nn));
  for (int i = 0; i < n; i++) {
    const float* dsi = ds.data() + (size_t)i * n;
    float* gi = dgram + (size_t)i * n;
    float rowsum = 0.0f;
    for (int j = 0; j < n; j++) {
      const float q = (j != i && dsi[j] * dsi[j] > kFloor) ? (gi[j] * c1 - c2) / (2.0f * dsi[j]) : 0.0f;
      gi[j] = -2.0f * q;
      rowsum += q;
    }
    ddiag[i] = 2.0f * rowsum;
  }
}

}  // namespace

void rkd_distance(const RkdParams& p, const float* s, const float* t, float* loss, float* ds) {
  rkd_from_gram(p, distance_from_gram, s, t, loss, ds);
}

}  // namespace fewshot
