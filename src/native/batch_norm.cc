// Batch norm -> ReLU -> 2x2 max-pool (stride 2, valid), the rest of a Conv-4 block after its
// convolution: the per-channel moments, the forward (training and inference), and the backward in
// two passes (the reductions, then the conv output's gradient), each recomputing the pooling's
// routing instead of storing it. Per-channel loops innermost (NHWC), images x rows across threads;
// sums in double.
#include <omp.h>

#include <vector>

#include "bn_window.h"
#include "kernels.h"
#include "thread_sums.h"

namespace fewshot {

void channel_moments(const BatchNormParams& params, const float* z, const float* center, float* s1, float* s2) {
  const long pixels = (long)params.n * params.h * params.w;
  const int c = params.c;
  ThreadSums<double> sums(2 * (size_t)c);
#pragma omp parallel
  {
    double* a = sums.mine();
    double* b = a + c;
#pragma omp for schedule(static)
    for (long p = 0; p < pixels; p++) {
      const float* zp = z + (size_t)p * c;
      for (int ch = 0; ch < c; ch++) {
        const double d = (double)zp[ch] - center[ch];
        a[ch] += d;
        b[ch] += d * d;
      }
    }
  }
  for (int ch = 0; ch < c; ch++) {
    s1[ch] = (float)sums.total(ch);
    s2[ch] = (float)sums.total(c + ch);
  }
}

void bn_relu_pool(const BatchNormParams& p, const float* z, const float* mean, const float* inv_std, const float* gamma,
                  const float* beta, float* xhat, float* y) {
  const int n_img = p.n, h = p.h, w = p.w, c = p.c;
  const int oh_n = h / 2, ow_n = w / 2;
  if (xhat) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
      for (int r = 0; r < h; r++) {
        const size_t row = ((size_t)n * h + r) * w * c;
        for (int col = 0; col < w; col++)
#pragma omp simd
          for (int ch = 0; ch < c; ch++) {
            const size_t i = row + (size_t)col * c + ch;
            xhat[i] = (z[i] - mean[ch]) * inv_std[ch];
          }
      }
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < n_img; n++)
    for (int oh = 0; oh < oh_n; oh++)
      for (int ow = 0; ow < ow_n; ow++) {
        float* out = y + (((size_t)n * oh_n + oh) * ow_n + ow) * c;
        const size_t i0 = (((size_t)n * h + 2 * oh) * w + 2 * ow) * c, i1 = i0 + (size_t)w * c;
        if (xhat) {
          pool_window(xhat + i0, xhat + i1, c, gamma, beta, out);
        } else {
#pragma omp simd
          for (int ch = 0; ch < c; ch++) {
            const float g = gamma[ch], b = beta[ch], m = mean[ch], s = inv_std[ch];
            const float a = fmax2(fmax2(((z[i0 + ch] - m) * s) * g + b, ((z[i0 + c + ch] - m) * s) * g + b),
                                  fmax2(((z[i1 + ch] - m) * s) * g + b, ((z[i1 + c + ch] - m) * s) * g + b));
            out[ch] = fmax2(a, 0.0f);
          }
        }
      }
}

void bn_grad_sums(const BatchNormParams& p, const float* xhat, const float* gamma, const float* beta, const float* dy,
                  float* dbeta, float* dgamma) {
  const int n_img = p.n, h = p.h, w = p.w, c = p.c;
  const int oh_n = h / 2, ow_n = w / 2;
  ThreadSums<double> sums(2 * (size_t)c);
#pragma omp parallel
  {
    double* sb = sums.mine();
    double* sg = sb + c;
    std::vector<float> d(4 * (size_t)c);
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
      for (int oh = 0; oh < oh_n; oh++)
        for (int ow = 0; ow < ow_n; ow++) {
          const float* x0 = xhat + (((size_t)n * h + 2 * oh) * w + 2 * ow) * c;
          const float* x1 = x0 + (size_t)w * c;
          const float* g = dy + (((size_t)n * oh_n + oh) * ow_n + ow) * c;
          bn_grad_window(x0, x1, c, gamma, beta, g, &d[0], &d[c], &d[2 * c], &d[3 * c]);
          const float* xs[4] = {x0, x0 + c, x1, x1 + c};
          for (int k = 0; k < 4; k++)
#pragma omp simd
            for (int ch = 0; ch < c; ch++) {
              sb[ch] += d[k * c + ch];
              sg[ch] += (double)d[k * c + ch] * xs[k][ch];
            }
        }
  }
  for (int ch = 0; ch < c; ch++) {
    dbeta[ch] = (float)sums.total(ch);
    dgamma[ch] = (float)sums.total(c + ch);
  }
}

// Pixels outside every window (an odd last row or column) have d = 0.
void bn_grad_input(const BatchNormParams& p, const float* xhat, const float* gamma, const float* beta, const float* dy,
                   const float* m_beta, const float* m_gamma, const float* scale, float* dz) {
  const int n_img = p.n, h = p.h, w = p.w, c = p.c;
  const int oh_n = h / 2, ow_n = w / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < n_img; n++)
    for (int r = 0; r < h; r++) {
      const size_t row = ((size_t)n * h + r) * w * c;
      for (size_t i = row; i < row + (size_t)w * c; i += c)
#pragma omp simd
        for (int ch = 0; ch < c; ch++) dz[i + ch] = -scale[ch] * (xhat[i + ch] * m_gamma[ch] + m_beta[ch]);
    }
#pragma omp parallel
  {
    std::vector<float> d(4 * (size_t)c);
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < n_img; n++)
      for (int oh = 0; oh < oh_n; oh++)
        for (int ow = 0; ow < ow_n; ow++) {
          const size_t i0 = (((size_t)n * h + 2 * oh) * w + 2 * ow) * c;
          const float* g = dy + (((size_t)n * oh_n + oh) * ow_n + ow) * c;
          bn_grad_window(xhat + i0, xhat + i0 + (size_t)w * c, c, gamma, beta, g, &d[0], &d[c], &d[2 * c], &d[3 * c]);
          float* zs[4] = {dz + i0, dz + i0 + c, dz + i0 + (size_t)w * c, dz + i0 + (size_t)w * c + c};
          for (int k = 0; k < 4; k++)
#pragma omp simd
            for (int ch = 0; ch < c; ch++) zs[k][ch] += scale[ch] * d[k * c + ch];
        }
  }
}

}  // namespace fewshot
