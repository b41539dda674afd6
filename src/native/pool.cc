// The max-pool's gradient (the pooling itself is tfjs's wasm kernel).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"

namespace fewshot {

// Each window's dy goes to its first maximum (as tfjs's cpu backend does); images in parallel
// (overlapping windows of one image add into the same dx).
void max_pool_grad(const PoolParams& p, const float* x, const float* dy, float* dx) {
  const int n_img = p.n, h = p.h, w = p.w, c = p.c, oh_n = p.outHeight, ow_n = p.outWidth;
  const int fh = p.filterHeight, fw = p.filterWidth, sh = p.strideHeight, sw = p.strideWidth;
  const int top = p.padTop, left = p.padLeft;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < n_img; n++) {
    std::vector<float> best(c);
    std::vector<long> at(c);
    float* dxn = dx + (size_t)n * h * w * c;
    std::fill(dxn, dxn + (size_t)h * w * c, 0.0f);
    for (int oh = 0; oh < oh_n; oh++)
      for (int ow = 0; ow < ow_n; ow++) {
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(at.begin(), at.end(), -1L);
        const int r0 = oh * sh - top, c0 = ow * sw - left;
        for (int r = std::max(r0, 0); r < std::min(h, r0 + fh); r++)
          for (int col = std::max(c0, 0); col < std::min(w, c0 + fw); col++) {
            const long base = ((long)r * w + col) * c;
            const float* xs = x + (size_t)n * h * w * c + base;
            for (int ch = 0; ch < c; ch++)
              if (xs[ch] > best[ch]) {
                best[ch] = xs[ch];
                at[ch] = base + ch;
              }
          }
        const float* d = dy + (((size_t)n * oh_n + oh) * ow_n + ow) * c;
        for (int ch = 0; ch < c; ch++)
          if (at[ch] >= 0) dxn[at[ch]] += d[ch];
      }
  }
}

}  // namespace fewshot
