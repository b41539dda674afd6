// 2-D convolution, NHWC, stride 1, no dilation: forward (and so the input gradient, a forward
// convolution with the flipped filter) and filter gradient. 3x3 ones go by Winograd (winograd.cc)
// where it pays; the rest directly on a zero-padded copy of the input, with register tiles.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_helpers.h"
#include "kernels.h"
#include "thread_sums.h"
#include "winograd.h"

namespace fewshot {
namespace {

// out[n,oh,ow,co] = bias[co] + sum_{kh,kw,ci} xp[n, oh+kh, ow+kw, ci] * w[kh,kw,ci,co] on a padded
// input. Register tiles: PB output pixels x COB channels of accumulators (PB * COB / 8 AVX2
// registers), each weight row segment loaded once for PB pixels.
template <int COB, int PB>
void conv_forward_t(const float* xp, int n_img, int hp, int wp, int cin, const float* w, int kh_n, int kw_n,
                    const float* bias, float* out, int oh_n, int ow_n, int cout) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < n_img; n++) {
    for (int oh = 0; oh < oh_n; oh++) {
      float* orow = out + (((size_t)n * oh_n + oh) * ow_n) * cout;
      for (int ow0 = 0; ow0 < ow_n; ow0 += PB) {
        const int last = std::min(PB, ow_n - ow0) - 1;
        for (int co0 = 0; co0 < cout; co0 += COB) {
          float acc[PB][COB];
          for (int p = 0; p < PB; p++)
            for (int co = 0; co < COB; co++) acc[p][co] = bias ? bias[co0 + co] : 0.0f;
          for (int kh = 0; kh < kh_n; kh++) {
            const float* xrow = xp + (((size_t)n * hp + oh + kh) * wp + ow0) * cin;
            for (int kw = 0; kw < kw_n; kw++) {
              const float* wt = w + ((size_t)(kh * kw_n + kw) * cin) * cout + co0;
              const float* xs = xrow + (size_t)kw * cin;
              for (int ci = 0; ci < cin; ci++) {
                const float* wr = wt + (size_t)ci * cout;
                for (int p = 0; p < PB; p++) {
                  // Pixels past the row's end repeat the last one (computed, not stored): no branch.
                  const float a = xs[(size_t)std::min(p, last) * cin + ci];
#pragma omp simd
                  for (int co = 0; co < COB; co++) acc[p][co] += a * wr[co];
                }
              }
            }
          }
          for (int p = 0; p <= last; p++)
            std::memcpy(orow + (size_t)(ow0 + p) * cout + co0, acc[p], sizeof(float) * COB);
        }
      }
    }
  }
}

// conv_forward_t for channel blocks of V x 8, tap by tap: the output row is the accumulator, so one
// tap's weight panel (Cin x 8V floats) stays in L1 while every pixel block of the row uses it.
template <int V, int PB>
void conv_forward_rows(const float* xp, int n_img, int hp, int wp, int cin, const float* w, int kh_n, int kw_n,
                       const float* bias, float* out, int oh_n, int ow_n, int cout) {
  constexpr int COB = 8 * V;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < n_img; n++) {
    for (int oh = 0; oh < oh_n; oh++) {
      float* orow = out + (((size_t)n * oh_n + oh) * ow_n) * cout;
      for (int ow = 0; ow < ow_n; ow++)
        for (int co = 0; co < cout; co++) orow[(size_t)ow * cout + co] = bias ? bias[co] : 0.0f;
      for (int co0 = 0; co0 < cout; co0 += COB)
        for (int kh = 0; kh < kh_n; kh++)
          for (int kw = 0; kw < kw_n; kw++) {
            const float* wt = w + ((size_t)(kh * kw_n + kw) * cin) * cout + co0;
            const float* xs = xp + (((size_t)n * hp + oh + kh) * wp + kw) * cin;
            for (int ow0 = 0; ow0 < ow_n; ow0 += PB) {
              const int last = std::min(PB, ow_n - ow0) - 1;
              v8 acc[PB][V];
              const float* xp_[PB];
              for (int p = 0; p < PB; p++) {
                const int q = ow0 + std::min(p, last);
                xp_[p] = xs + (size_t)q * cin;
                for (int j = 0; j < V; j++) acc[p][j] = *(const v8*)(orow + (size_t)q * cout + co0 + 8 * j);
              }
              for (int ci = 0; ci < cin; ci++) {
                v8 wv[V];
                for (int j = 0; j < V; j++) wv[j] = *(const v8*)(wt + (size_t)ci * cout + 8 * j);
                for (int p = 0; p < PB; p++) {
                  const float a = xp_[p][ci];
                  for (int j = 0; j < V; j++) acc[p][j] += a * wv[j];
                }
              }
              for (int p = 0; p <= last; p++)
                for (int j = 0; j < V; j++) *(v8*)(orow + (size_t)(ow0 + p) * cout + co0 + 8 * j) = acc[p][j];
            }
          }
    }
  }
}

void conv_forward(const float* xp, int n_img, int hp, int wp, int cin, const float* w, int kh_n, int kw_n,
                  const float* bias, float* out, int oh_n, int ow_n, int cout) {
  if (cout % 16 == 0)
    return conv_forward_rows<2, 6>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
  if (cout % 8 == 0)
    return conv_forward_rows<1, 12>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
  return conv_forward_t<1, 8>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
}

// dw[kh,kw,ci,co] = sum_{n,oh,ow} xp[n, oh+kh, ow+kw, ci] * dy[n,oh,ow,co]: a GEMM (9*Cin x pixels)
// x (pixels x Cout). Each thread takes chunks of PC pixels into its own copy of dw; register tiles
// of KB input channels x COB output channels accumulate over the chunk; the copies are added last
// (ThreadSums).
template <int COB, int KB>
void conv_filter_grad_t(const float* xp, int n_img, int hp, int wp, int cin, const float* dy, int oh_n, int ow_n,
                        int kh_n, int kw_n, float* dw, int cout) {
  constexpr int PC = 128;
  const size_t wsize = (size_t)kh_n * kw_n * cin * cout;
  ThreadSums<float> sums(wsize);
  const long pixels = (long)n_img * oh_n * ow_n;
#pragma omp parallel
  {
    float* mine = sums.mine();
    const float* xs[PC];
#pragma omp for schedule(static)
    for (long p0 = 0; p0 < pixels; p0 += PC) {
      const int pc = (int)std::min<long>(PC, pixels - p0);
      for (int p = 0; p < pc; p++) {
        const long q = p0 + p;
        const int n = (int)(q / ((long)oh_n * ow_n)), rem = (int)(q % ((long)oh_n * ow_n));
        xs[p] = xp + (((size_t)n * hp + rem / ow_n) * wp + rem % ow_n) * cin;
      }
      const float* d0 = dy + (size_t)p0 * cout;
      for (int kh = 0; kh < kh_n; kh++)
        for (int kw = 0; kw < kw_n; kw++) {
          const size_t off = ((size_t)kh * wp + kw) * cin;
          float* wt = mine + ((size_t)(kh * kw_n + kw) * cin) * cout;
          for (int ci0 = 0; ci0 < cin; ci0 += KB) {
            const int lastk = std::min(KB, cin - ci0) - 1;
            for (int co0 = 0; co0 < cout; co0 += COB) {
              float acc[KB][COB] = {};
              for (int p = 0; p < pc; p++) {
                const float* d = d0 + (size_t)p * cout + co0;
                const float* x = xs[p] + off + ci0;
                for (int k = 0; k < KB; k++) {
                  const float a = x[std::min(k, lastk)];
#pragma omp simd
                  for (int co = 0; co < COB; co++) acc[k][co] += a * d[co];
                }
              }
              for (int k = 0; k <= lastk; k++) {
                float* wr = wt + (size_t)(ci0 + k) * cout + co0;
                for (int co = 0; co < COB; co++) wr[co] += acc[k][co];
              }
            }
          }
        }
    }
  }
#pragma omp parallel for
  for (size_t i = 0; i < wsize; i++) dw[i] = sums.total(i);
}

void conv_filter_grad(const float* xp, int n_img, int hp, int wp, int cin, const float* dy, int oh_n, int ow_n,
                      int kh_n, int kw_n, float* dw, int cout) {
  if (cout % 16 == 0) return conv_filter_grad_t<16, 6>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
  if (cout % 8 == 0) return conv_filter_grad_t<8, 12>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
  return conv_filter_grad_t<1, 8>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
}

// Whether a convolution goes by Winograd: 3x3, stride 1 (the output is the padded input less 2).
bool use_winograd(const ConvParams& p) {
  return winograd_fits(p.kh, p.kw, p.cin, p.cout, p.outHeight, p.outWidth) && p.outHeight == padded_height(p) - 2 &&
         p.outWidth == padded_width(p) - 2;
}

WinogradDims winograd_dims(const ConvParams& p) {
  return {p.n, p.h, p.w, p.cin, p.padTop, p.padLeft, p.cout, p.outHeight, p.outWidth};
}

}  // namespace

void conv2d(const ConvParams& p, const float* x, const float* filter, const float* bias, float* out) {
  if (use_winograd(p)) return winograd_forward(x, winograd_dims(p), filter, bias, out);  // x in place: no padded copy
  const std::vector<float> xp = pad_input(x, p);
  conv_forward(xp.data(), p.n, padded_height(p), padded_width(p), p.cin, filter, p.kh, p.kw, bias, out, p.outHeight,
               p.outWidth, p.cout);
}

void conv2d_filter_grad(const ConvParams& p, const float* x, const float* dy, float* dw) {
  if (use_winograd(p)) return winograd_filter_grad(x, winograd_dims(p), dy, dw);
  const std::vector<float> xp = pad_input(x, p);
  conv_filter_grad(xp.data(), p.n, padded_height(p), padded_width(p), p.cin, dy, p.outHeight, p.outWidth, p.kh, p.kw,
                   dw, p.cout);
}

}  // namespace fewshot
