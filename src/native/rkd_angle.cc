// RKD-A (src/losses/rkd.ts) from the centred Gram matrices of student and teacher (rkd_gram.h),
// value and gradient in one pass over every triplet.
//
// At vertex i: dot_ijk = G_jk - a_ij - a_ik (a_ij = G_ij - G_ii / 2), r_ij = 1 / |x_j - x_i| (0 at
// j = i or a repeated point), cos = dot r_ij r_ik. Returns sum over (i, j, k) of huber(cos_s - cos_t)
// and, unscaled, the gradient with respect to the student's Gram matrix as rkd.ts's bounded path
// writes it: dgram (N x N, not symmetrised) and ddiag (N). Vertices across threads, statically (every
// vertex costs the same; a dynamic schedule would make the sums depend on timing); per-thread
// partial dgram, added last in thread order (ThreadSums): the same numbers on every run with the
// same threads.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "rkd_gram.h"
#include "thread_sums.h"

namespace fewshot {

namespace {

void angle_from_gram(int n, const float* gs, const float* gt, float* loss, float* dgram, float* ddiag) {
  ThreadSums<float> dgram_sums((size_t)n * n), ddiag_sums(n);
  ThreadSums<double> loss_sums(1);
#pragma omp parallel
  {
    float* dg = dgram_sums.mine();
    float* dd = ddiag_sums.mine();
    std::vector<float> as(n), at(n), rs(n), rt(n), rows(n), q(n), hk(n), gk(n);
    double lsum = 0;
#pragma omp for schedule(static)
    for (int i = 0; i < n; i++) {
      const float* gsi = gs + (size_t)i * n;
      const float* gti = gt + (size_t)i * n;
      for (int j = 0; j < n; j++) {
        as[j] = gsi[j] - 0.5f * gsi[i];
        at[j] = gti[j] - 0.5f * gti[i];
        const float ns = gs[(size_t)j * n + j] - 2.0f * as[j], nt = gt[(size_t)j * n + j] - 2.0f * at[j];
        rs[j] = (j != i && ns > 0.0f) ? 1.0f / std::sqrt(ns) : 0.0f;
        rt[j] = (j != i && nt > 0.0f) ? 1.0f / std::sqrt(nt) : 0.0f;
      }
      // cos_ijk is symmetric in j and k: each pair {j, k} is computed once, at k > j (its twin's
      // sums go to hk[k], gk[k]; its dG entry counts twice, since only dG + dG^T is ever used), and
      // k = j once on its own.
      std::fill(hk.begin(), hk.end(), 0.0f);
      std::fill(gk.begin(), gk.end(), 0.0f);
      for (int j = 0; j < n; j++) {
        const float* gsj = gs + (size_t)j * n;
        const float* gtj = gt + (size_t)j * n;
        float* dgj = dg + (size_t)j * n;
        const float asj = as[j], atj = at[j], rsj = rs[j], rtj = rt[j];
        float hsum = 0.0f, gcos = 0.0f, l = 0.0f;
#pragma omp simd reduction(+ : hsum, gcos, l) simdlen(16)
        for (int k = j + 1; k < n; k++) {
          const float rr = rsj * rs[k];
          const float cs = (gsj[k] - asj - as[k]) * rr;
          const float ct = (gtj[k] - atj - at[k]) * (rtj * rt[k]);
          const float gap = cs - ct, a = std::fabs(gap), m = a < 1.0f ? a : 1.0f;
          l += 0.5f * m * m + (a - m);
          const float g = gap < -1.0f ? -1.0f : (gap > 1.0f ? 1.0f : gap);  // huber'(gap)
          const float h = g * rr, gc = g * cs;
          dgj[k] += 2.0f * h;
          hsum += h;
          hk[k] += h;
          gcos += gc;
          gk[k] += gc;
        }
        // k = j: cos = |x_j - x_i|^2 r_ij^2, 1 (or 0 where r_ij = 0).
        const float rr = rsj * rsj;
        const float cs = (gsj[j] - 2.0f * asj) * rr, ct = (gtj[j] - 2.0f * atj) * (rtj * rtj);
        const float gap = cs - ct, a = std::fabs(gap), m = a < 1.0f ? a : 1.0f;
        const float g = gap < -1.0f ? -1.0f : (gap > 1.0f ? 1.0f : gap);
        dgj[j] += g * rr;
        lsum += 2.0 * l + (0.5f * m * m + (a - m));
        q[j] = -rsj * rsj * (gcos + gk[j] + g * cs);
        rows[j] = hsum + hk[j] + g * rr + q[j];
      }
      // dG_ij -= 2 rows_ij, dDiag_i += sum_j rows_ij, dDiag_j += q_ij (rkd.ts, backward).
      float rowsum = 0.0f;
      for (int j = 0; j < n; j++) {
        dg[(size_t)i * n + j] -= 2.0f * rows[j];
        rowsum += rows[j];
        dd[j] += q[j];
      }
      dd[i] += rowsum;
    }
    *loss_sums.mine() = lsum;
  }
  loss[0] = (float)loss_sums.total(0);  // summed in double, then rounded once
#pragma omp parallel for schedule(static)
  for (long e = 0; e < (long)n * n; e++) dgram[e] = dgram_sums.total(e);
  for (int j = 0; j < n; j++) ddiag[j] = ddiag_sums.total(j);
}

}  // namespace

void rkd_angle(const RkdParams& p, const float* s, const float* t, float* loss, float* ds) {
  rkd_from_gram(p, angle_from_gram, s, t, loss, ds);
}

}  // namespace fewshot
