// Native kernels for the wasm backend, on float32 arrays in the wasm heap, with OpenMP threads and
// the host's SIMD (built with -march=native at install): 2-D convolution (NHWC, stride 1, no
// dilation) forward, filter gradient and input gradient (3x3 ones by Winograd, winograd.cc);
// max-pool gradient; the batch norm -> ReLU -> 2x2 max-pool of a Conv-4 block, forward (training
// and inference) and backward; and a first block whole, its convolution recomputed in every pass.
// See src/kernels/native.ts.
#include <node_api.h>
#include "winograd.h"
#include "protonet.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Dims { int n, h, w, c; };

// std::max by value: std::max's reference arguments kept GCC from vectorising the pooling loops.
inline float fmax2(float a, float b) { return a < b ? b : a; }

// out = max(0, max over the 2x2 window of gamma * xhat + beta); x0, x1: the window's two rows.
inline void pool_window(const float* x0, const float* x1, int c, const float* gamma, const float* beta, float* out) {
  #pragma omp simd
  for (int ch = 0; ch < c; ch++) {
    const float g = gamma[ch], b = beta[ch];
    const float m = fmax2(fmax2(x0[ch] * g + b, x0[c + ch] * g + b), fmax2(x1[ch] * g + b, x1[c + ch] * g + b));
    out[ch] = fmax2(m, 0.0f);
  }
}

// Copies x [n,h,w,c] into a zero-padded [n, h+ph, w+pw, c] buffer, so that the inner loops need
// no bounds checks.
std::vector<float> pad_input(const float* x, Dims d, int top, int bottom, int left, int right) {
  const int hp = d.h + top + bottom, wp = d.w + left + right;
  std::vector<float> out((size_t)d.n * hp * wp * d.c, 0.0f);
  #pragma omp parallel for collapse(2)
  for (int n = 0; n < d.n; n++)
    for (int h = 0; h < d.h; h++)
      std::memcpy(&out[(((size_t)n * hp + h + top) * wp + left) * d.c], &x[(((size_t)n * d.h + h) * d.w) * d.c],
                  sizeof(float) * d.w * d.c);
  return out;
}

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
          for (int p = 0; p <= last; p++) std::memcpy(orow + (size_t)(ow0 + p) * cout + co0, acc[p], sizeof(float) * COB);
        }
      }
    }
  }
}

// 8 floats in one AVX register (GCC vector extension; aligned(4): unaligned loads are fine).
typedef float v8 __attribute__((vector_size(32), aligned(4)));

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
  if (cout % 16 == 0) return conv_forward_rows<2, 6>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
  if (cout % 8 == 0) return conv_forward_rows<1, 12>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
  return conv_forward_t<1, 8>(xp, n_img, hp, wp, cin, w, kh_n, kw_n, bias, out, oh_n, ow_n, cout);
}

// dw[kh,kw,ci,co] = sum_{n,oh,ow} xp[n, oh+kh, ow+kw, ci] * dy[n,oh,ow,co]: a GEMM (9*Cin x pixels)
// x (pixels x Cout). Each thread takes chunks of PC pixels into its own copy of dw; register tiles
// of KB input channels x COB output channels accumulate over the chunk; the copies are added last.
template <int COB, int KB>
void conv_filter_grad_t(const float* xp, int n_img, int hp, int wp, int cin, const float* dy, int oh_n, int ow_n,
                        int kh_n, int kw_n, float* dw, int cout) {
  constexpr int PC = 128;
  const size_t wsize = (size_t)kh_n * kw_n * cin * cout;
  const int threads = omp_get_max_threads();
  std::vector<float> partial((size_t)threads * wsize, 0.0f);
  const long pixels = (long)n_img * oh_n * ow_n;
  #pragma omp parallel
  {
    float* mine = &partial[(size_t)omp_get_thread_num() * wsize];
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
  for (size_t i = 0; i < wsize; i++) {
    float s = 0.0f;
    for (int t = 0; t < threads; t++) s += partial[(size_t)t * wsize + i];
    dw[i] = s;
  }
}

void conv_filter_grad(const float* xp, int n_img, int hp, int wp, int cin, const float* dy, int oh_n, int ow_n,
                      int kh_n, int kw_n, float* dw, int cout) {
  if (cout % 16 == 0) return conv_filter_grad_t<16, 6>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
  if (cout % 8 == 0) return conv_filter_grad_t<8, 12>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
  return conv_filter_grad_t<1, 8>(xp, n_img, hp, wp, cin, dy, oh_n, ow_n, kh_n, kw_n, dw, cout);
}

// dx of a max-pool: each window's dy goes to its first maximum (as tfjs's cpu backend does);
// images in parallel (overlapping windows of one image add into the same dx).
void max_pool_grad(const float* x, const float* dy, float* dx, int n_img, int h, int w, int c, int oh_n, int ow_n,
                   int fh, int fw, int sh, int sw, int top, int left) {
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
              if (xs[ch] > best[ch]) { best[ch] = xs[ch]; at[ch] = base + ch; }
          }
        const float* d = dy + (((size_t)n * oh_n + oh) * ow_n + ow) * c;
        for (int ch = 0; ch < c; ch++) if (at[ch] >= 0) dxn[at[ch]] += d[ch];
      }
  }
}

// ---- Batch norm -> ReLU -> 2x2 max-pool (stride 2, valid), the rest of a Conv-4 block ----
// Per-channel loops innermost (NHWC), images x rows across threads; sums in double.

// s1[c] = sum (z - center[c]), s2[c] = sum (z - center[c])^2 over every pixel.
void channel_moments(const float* z, long pixels, int c, const float* center, float* s1, float* s2) {
  const int threads = omp_get_max_threads();
  std::vector<double> part((size_t)threads * 2 * c, 0.0);
  #pragma omp parallel
  {
    double* a = &part[(size_t)omp_get_thread_num() * 2 * c];
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
    double x = 0, y = 0;
    for (int t = 0; t < threads; t++) { x += part[(size_t)t * 2 * c + ch]; y += part[(size_t)t * 2 * c + c + ch]; }
    s1[ch] = (float)x;
    s2[ch] = (float)y;
  }
}

// xhat = (z - mean) * inv_std; y = maxpool2x2(relu(gamma * xhat + beta)). Without xhat (inference,
// with the moving statistics), one pass over the pooling windows only.
void bn_relu_pool(const float* z, int n_img, int h, int w, int c, const float* mean, const float* inv_std,
                  const float* gamma, const float* beta, float* xhat, float* y) {
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

// The gradient at the batch-norm output, d = relu'(a) * maxpool'(dy) with a = gamma * xhat + beta
// recomputed: each 2x2 window's dy goes to its first maximum (as tfjs's MaxPoolGrad), kept where
// a > 0. Writes the window's four d values for every channel (branch-free, so it vectorises).
inline void bn_grad_window(const float* x0, const float* x1, int c, const float* gamma, const float* beta,
                           const float* g, float* d0, float* d1, float* d2, float* d3) {
  #pragma omp simd
  for (int ch = 0; ch < c; ch++) {
    const float a0 = x0[ch] * gamma[ch] + beta[ch], a1 = x0[c + ch] * gamma[ch] + beta[ch];
    const float a2 = x1[ch] * gamma[ch] + beta[ch], a3 = x1[c + ch] * gamma[ch] + beta[ch];
    const bool b1 = a1 > a0;
    const float m01 = b1 ? a1 : a0;
    const bool b3 = a3 > a2;
    const float m23 = b3 ? a3 : a2;
    const bool hi = m23 > m01;  // the first maximum: the top pair wins ties
    const float m = hi ? m23 : m01;
    const float gv = g[ch];  // read unconditionally: a conditional read became a (slow) masked load
    const float v = m > 0.0f ? gv : 0.0f;
    // Multiplied by 0 or 1, not selected: GCC made the selects masked stores, slow on this CPU.
    d0[ch] = v * (float)(!hi & !b1);
    d1[ch] = v * (float)(!hi & b1);
    d2[ch] = v * (float)(hi & !b3);
    d3[ch] = v * (float)(hi & b3);
  }
}

// dbeta[c] = sum d, dgamma[c] = sum d * xhat (double partial sums per thread, then added).
void bn_grad_sums(const float* xhat, int n_img, int h, int w, int c, const float* gamma, const float* beta,
                  const float* dy, float* dbeta, float* dgamma) {
  const int threads = omp_get_max_threads(), oh_n = h / 2, ow_n = w / 2;
  std::vector<double> part((size_t)threads * 2 * c, 0.0);
  #pragma omp parallel
  {
    double* sb = &part[(size_t)omp_get_thread_num() * 2 * c];
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
    double x = 0, y = 0;
    for (int t = 0; t < threads; t++) { x += part[(size_t)t * 2 * c + ch]; y += part[(size_t)t * 2 * c + c + ch]; }
    dbeta[ch] = (float)x;
    dgamma[ch] = (float)y;
  }
}

// dz = scale * (d - xhat * m_gamma - m_beta), scale = gamma * inv_std, m_* = the sums / pixels.
// Pixels outside every window (an odd last row or column) have d = 0.
void bn_grad_input(const float* xhat, int n_img, int h, int w, int c, const float* gamma, const float* beta,
                   const float* dy, const float* m_beta, const float* m_gamma, const float* scale, float* dz) {
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

// ---- The first block, its convolution recomputed ----
// A block fed with images has few input channels, so its convolution costs 9 * cin multiply-adds
// per output: less than reading a stored output back. Every pass below recomputes it from the
// padded images, 2x2 pooling window by window, and the block stores neither its conv output nor its
// normalised output: it reads its input and writes its pooled output (or its filter gradient).

struct InputBlock {
  std::vector<float> xp;  // the images, zero-padded
  int n_img, h, w, hp, wp, cin, kh_n, kw_n, cout;
  const float* wt;        // [kh, kw, cin, cout]
  const float* bias;      // [cout]
  int taps() const { return kh_n * kw_n * cin; }
};

// dims: [n, h, w, cin, kh, kw, cout, top, bottom, left, right] ('same' padding, stride 1).
InputBlock input_block(const float* x, const int* v, const float* wt, const float* bias) {
  const Dims d{v[0], v[1], v[2], v[3]};
  return {pad_input(x, d, v[7], v[8], v[9], v[10]), d.n, d.h, d.w, d.h + v[7] + v[8], d.w + v[9] + v[10],
          d.c, v[4], v[5], v[6], wt, bias};
}

// The conv outputs of row r of image n, z[col * cout + co], four pixels and V x 8 channels at a
// time: the four share each weight load (past the row's end the last pixel repeats, not stored).
template <int V>
void conv_row(const InputBlock& b, int n, int r, float* z) {
  const size_t rs = (size_t)b.wp * b.cin;
  const int kwcin = b.kw_n * b.cin;
  const float* row = b.xp.data() + ((size_t)n * b.hp + r) * rs;
  for (int c0 = 0; c0 < b.w; c0 += 4) {
    const int last = std::min(4, b.w - c0) - 1;
    const float* xs[4];
    for (int q = 0; q < 4; q++) xs[q] = row + (size_t)(c0 + std::min(q, last)) * b.cin;
    for (int co0 = 0; co0 < b.cout; co0 += 8 * V) {
      v8 acc[4][V];
      for (int j = 0; j < V; j++)
        for (int q = 0; q < 4; q++) acc[q][j] = *(const v8*)(b.bias + co0 + 8 * j);
      for (int kh = 0; kh < b.kh_n; kh++) {
        const float* wr = b.wt + (size_t)kh * kwcin * b.cout + co0;
        for (int t = 0; t < kwcin; t++) {
          v8 wv[V];
          for (int j = 0; j < V; j++) wv[j] = *(const v8*)(wr + (size_t)t * b.cout + 8 * j);
          for (int q = 0; q < 4; q++) {
            const float a = xs[q][kh * rs + t];
            for (int j = 0; j < V; j++) acc[q][j] += a * wv[j];
          }
        }
      }
      for (int q = 0; q <= last; q++)
        for (int j = 0; j < V; j++) *(v8*)(z + (size_t)(c0 + q) * b.cout + co0 + 8 * j) = acc[q][j];
    }
  }
}

// A thread's buffers for one row pair: [2][w][cout] each.
struct RowPair {
  int n, r0, rows;   // image, first row, 2 (a row of pooling windows) or 1 (an odd last row)
  float *z, *xhat, *d;
};

// Runs f(pair) over the row pairs of every image, images x row pairs across threads, with the
// pair's conv outputs z computed, and xhat = (z - mean) * inv_std when mean is given.
template <class F>
void each_row_pair(const InputBlock& b, const float* mean, const float* inv_std, F f) {
  const int pairs = (b.h + 1) / 2, c = b.cout;
  const size_t size = 2 * (size_t)b.w * c;
  #pragma omp parallel
  {
    std::vector<float> buf(3 * size);
    #pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < b.n_img; n++)
      for (int rp = 0; rp < pairs; rp++) {
        RowPair p{n, 2 * rp, std::min(2, b.h - 2 * rp), buf.data(), buf.data() + size, buf.data() + 2 * size};
        for (int k = 0; k < p.rows; k++) {
          float* zk = p.z + (size_t)k * b.w * c;
          if (c % 16 == 0) conv_row<2>(b, n, p.r0 + k, zk); else conv_row<1>(b, n, p.r0 + k, zk);
        }
        if (mean)
          for (size_t i = 0; i < (size_t)p.rows * b.w * c; i += c)
            #pragma omp simd
            for (int ch = 0; ch < c; ch++) p.xhat[i + ch] = (p.z[i + ch] - mean[ch]) * inv_std[ch];
        f(p);
      }
  }
}

// Per-thread double accumulators of `size` values, added up into out (as float) at the end;
// each row pair's float sums (a few hundred terms) are added in once.
struct ThreadSums {
  size_t size;
  std::vector<double> part;
  explicit ThreadSums(size_t size) : size(size), part((size_t)omp_get_max_threads() * size, 0.0) {}
  double* mine() { return &part[(size_t)omp_get_thread_num() * size]; }
  void add(const float* v) {
    double* a = mine();
    for (size_t i = 0; i < size; i++) a[i] += v[i];
  }
  std::vector<double> totals() const {
    std::vector<double> out(size, 0.0);
    for (size_t t = 0; t < part.size() / size; t++)
      for (size_t i = 0; i < size; i++) out[i] += part[t * size + i];
    return out;
  }
  void total(float* out, size_t offset, size_t count) const {
    const std::vector<double> all = totals();
    for (size_t i = 0; i < count; i++) out[i] = (float)all[offset + i];
  }
};

// Per-channel sums of u and of u * v over `pixels` pixels of c channels, in float.
void pair_sums(const float* u, const float* v, size_t pixels, int c, float* s) {
  std::fill(s, s + 2 * c, 0.0f);
  for (size_t p = 0; p < pixels; p++)
    #pragma omp simd
    for (int ch = 0; ch < c; ch++) {
      s[ch] += u[p * c + ch];
      s[c + ch] += u[p * c + ch] * v[p * c + ch];
    }
}

// The batch mean and (biased) variance of the conv output in one pass: z and z^2 summed in double
// (z^2 of a float is exact there), so E[z^2] - E[z]^2 loses nothing float32 would keep, unless
// the mean is some 10^4 standard deviations from zero.
void input_block_moments(const InputBlock& b, float* mean, float* variance) {
  const int c = b.cout;
  ThreadSums sums(2 * c);
  each_row_pair(b, nullptr, nullptr, [&](const RowPair& p) {
    double* a = sums.mine();
    for (size_t q = 0; q < (size_t)p.rows * b.w; q++)
      #pragma omp simd
      for (int ch = 0; ch < c; ch++) {
        const double z = p.z[q * c + ch];
        a[ch] += z;
        a[c + ch] += z * z;
      }
  });
  const std::vector<double> s = sums.totals();
  const double n = (double)b.n_img * b.h * b.w;
  for (int ch = 0; ch < c; ch++) {
    const double m = s[ch] / n;
    mean[ch] = (float)m;
    variance[ch] = (float)std::max(0.0, s[c + ch] / n - m * m);
  }
}

// y = maxpool2x2(relu(gamma * xhat + beta)), as bn_relu_pool.
void input_block_forward(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma,
                         const float* beta, float* y) {
  const int oh_n = b.h / 2, ow_n = b.w / 2, c = b.cout;
  each_row_pair(b, mean, inv_std, [&](const RowPair& p) {
    if (p.rows < 2) return;
    for (int ow = 0; ow < ow_n; ow++) {
      float* out = y + (((size_t)p.n * oh_n + p.r0 / 2) * ow_n + ow) * c;
      const float* x0 = p.xhat + (size_t)2 * ow * c;
      pool_window(x0, x0 + (size_t)b.w * c, c, gamma, beta, out);
    }
  });
}

// The gradient at the batch-norm output of a row pair, d [2][w][cout] (bn_grad_window; zero
// where no pooling window covers a pixel).
void pair_d(const InputBlock& b, const RowPair& p, const float* gamma, const float* beta, const float* dy) {
  const int c = b.cout, ow_n = b.w / 2;
  std::fill(p.d, p.d + (size_t)p.rows * b.w * c, 0.0f);
  if (p.rows < 2) return;
  for (int ow = 0; ow < ow_n; ow++) {
    const size_t i0 = (size_t)2 * ow * c, i1 = i0 + (size_t)b.w * c;
    const float* g = dy + (((size_t)p.n * (b.h / 2) + p.r0 / 2) * ow_n + ow) * c;
    bn_grad_window(p.xhat + i0, p.xhat + i1, c, gamma, beta, g, p.d + i0, p.d + i0 + c, p.d + i1, p.d + i1 + c);
  }
}

// dbeta = sum d, dgamma = sum d * xhat, as bn_grad_sums.
void input_block_grad_sums(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma,
                           const float* beta, const float* dy, float* dbeta, float* dgamma) {
  const int c = b.cout;
  ThreadSums sums(2 * c);
  std::vector<float> pair((size_t)omp_get_max_threads() * 2 * c);
  each_row_pair(b, mean, inv_std, [&](const RowPair& p) {
    pair_d(b, p, gamma, beta, dy);
    float* s = &pair[(size_t)omp_get_thread_num() * 2 * c];
    pair_sums(p.d, p.xhat, (size_t)p.rows * b.w, c, s);
    sums.add(s);
  });
  sums.total(dbeta, 0, c);
  sums.total(dgamma, c, c);
}

// s[co] = sum over a row pair's pixels of one tap's input * dz[pixel, co], V x 8 channels at a time
// (V independent accumulators).
template <int V>
void tap_grad(const float* xt, size_t rs, int cin, int w, int rows, const float* dz, int c, float* s) {
  for (int co0 = 0; co0 < c; co0 += 8 * V) {
    v8 acc[V] = {};
    for (int row = 0; row < rows; row++)
      for (int col = 0; col < w; col++) {
        const float a = xt[row * rs + (size_t)col * cin];
        const float* d = dz + ((size_t)row * w + col) * c + co0;
        for (int j = 0; j < V; j++) acc[j] += a * *(const v8*)(d + 8 * j);
      }
    for (int j = 0; j < V; j++) *(v8*)(s + co0 + 8 * j) = acc[j];
  }
}

// With dz = scale * (d - xhat * m_gamma - m_beta) (as bn_grad_input): dw[tap, co] = sum over
// pixels of xp[pixel's tap] * dz[co] (tap by tap, 8 to 64 channels of accumulators).
void input_block_grad(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma,
                      const float* beta, const float* dy, const float* m_beta, const float* m_gamma,
                      const float* scale, float* dw) {
  const int c = b.cout, taps = b.taps(), kwcin = b.kw_n * b.cin;
  const size_t rs = (size_t)b.wp * b.cin, wsize = (size_t)taps * c;
  ThreadSums sums(wsize);
  std::vector<float> pair((size_t)omp_get_max_threads() * wsize);
  each_row_pair(b, mean, inv_std, [&](const RowPair& p) {
    pair_d(b, p, gamma, beta, dy);
    const size_t pixels = (size_t)p.rows * b.w;
    float* dz = p.d;  // in place
    for (size_t i = 0; i < pixels * c; i += c)
      #pragma omp simd
      for (int ch = 0; ch < c; ch++) dz[i + ch] = scale[ch] * (dz[i + ch] - p.xhat[i + ch] * m_gamma[ch] - m_beta[ch]);
    float* s = &pair[(size_t)omp_get_thread_num() * wsize];
    const float* x0 = b.xp.data() + ((size_t)p.n * b.hp + p.r0) * rs;
    for (int t = 0; t < taps; t++) {
      const float* xt = x0 + (size_t)(t / kwcin) * rs + t % kwcin;  // the tap's input at pixel (r0, 0)
      float* st = s + (size_t)t * c;
      if (c % 64 == 0) tap_grad<8>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else if (c % 32 == 0) tap_grad<4>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else if (c % 16 == 0) tap_grad<2>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else tap_grad<1>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
    }
    sums.add(s);
  });
  sums.total(dw, 0, wsize);
}

// ---- RKD-A (src/losses/rkd.ts) from the centred Gram matrices of student and teacher ----
// At vertex i: dot_ijk = G_jk - a_ij - a_ik (a_ij = G_ij - G_ii / 2), r_ij = 1 / |x_j - x_i| (0 at
// j = i or a repeated point), cos = dot r_ij r_ik. Returns sum over (i, j, k) of huber(cos_s - cos_t)
// and, unscaled, the gradient with respect to the student's Gram matrix as rkd.ts's bounded path
// writes it: dgram (N x N, not symmetrised) and ddiag (N). Vertices across threads, statically (every
// vertex costs the same; a dynamic schedule would make the sums depend on timing); per-thread
// partial dgram, added last in thread order: the same numbers on every run with the same threads.
void rkd_angle(const float* gs, const float* gt, int n, double* loss, float* dgram, float* ddiag) {
  const int threads = omp_get_max_threads();
  std::vector<float> part((size_t)threads * n * n, 0.0f), diag_part((size_t)threads * n, 0.0f);
  std::vector<double> loss_part(threads, 0.0);
  #pragma omp parallel
  {
    const int tid = omp_get_thread_num();
    float* dg = &part[(size_t)tid * n * n];
    float* dd = &diag_part[(size_t)tid * n];
    std::vector<float> as(n), at(n), rs(n), rt(n), rows(n), q(n);
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
      for (int j = 0; j < n; j++) {
        const float* gsj = gs + (size_t)j * n;
        const float* gtj = gt + (size_t)j * n;
        float* dgj = dg + (size_t)j * n;
        const float asj = as[j], atj = at[j], rsj = rs[j], rtj = rt[j];
        float hsum = 0.0f, gcos = 0.0f, l = 0.0f;
        #pragma omp simd reduction(+ : hsum, gcos, l)
        for (int k = 0; k < n; k++) {
          const float rr = rsj * rs[k];
          const float cs = (gsj[k] - asj - as[k]) * rr;
          const float ct = (gtj[k] - atj - at[k]) * (rtj * rt[k]);
          const float gap = cs - ct, a = std::fabs(gap), m = a < 1.0f ? a : 1.0f;
          l += 0.5f * m * m + (a - m);
          const float g = gap < -1.0f ? -1.0f : (gap > 1.0f ? 1.0f : gap);  // huber'(gap)
          const float h = g * rr;
          dgj[k] += h;
          hsum += h;
          gcos += g * cs;
        }
        lsum += l;
        q[j] = -rsj * rsj * gcos;
        rows[j] = hsum + q[j];
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
    loss_part[tid] = lsum;
  }
  *loss = 0;
  for (int t = 0; t < threads; t++) *loss += loss_part[t];
  #pragma omp parallel for schedule(static)
  for (long e = 0; e < (long)n * n; e++) {
    float v = 0.0f;
    for (int t = 0; t < threads; t++) v += part[(size_t)t * n * n + e];
    dgram[e] = v;
  }
  for (int j = 0; j < n; j++) {
    float v = 0.0f;
    for (int t = 0; t < threads; t++) v += diag_part[(size_t)t * n + j];
    ddiag[j] = v;
  }
}

// ---- N-API glue ----
//
// Every entry point checks its arguments before touching memory: the dims array has the expected
// length and no negative entry, and every array holds exactly the floats its dims imply. A mismatch
// throws a RangeError naming the kernel and the argument (never a read or write out of bounds).

struct Call {
  napi_env env;
  const char* kernel;
  std::vector<napi_value> a;
  bool ok = true;

  Call(napi_env e, napi_callback_info info, const char* name, size_t argc) : env(e), kernel(name), a(argc) {
    size_t got = argc;
    napi_get_cb_info(env, info, &got, a.data(), nullptr, nullptr);
    if (got != argc) fail("expected " + std::to_string(argc) + " arguments, got " + std::to_string(got));
  }

  void fail(const std::string& what) {
    if (!ok) return;
    ok = false;
    napi_throw_range_error(env, nullptr, (std::string(kernel) + ": " + what).c_str());
  }

  // The ints of the array argument `i`, exactly `count` of them, none negative.
  std::vector<int> dims(size_t i, uint32_t count) {
    std::vector<int> out(count, 0);
    uint32_t length = 0;
    if (!ok) return out;
    if (napi_get_array_length(env, a[i], &length) != napi_ok || length != count) {
      fail("dims: expected " + std::to_string(count) + " ints, got " + std::to_string(length));
      return out;
    }
    for (uint32_t k = 0; k < count; k++) {
      napi_value e;
      napi_get_element(env, a[i], k, &e);
      if (napi_get_value_int32(env, e, &out[k]) != napi_ok || out[k] < 0) fail("dims[" + std::to_string(k) + "] is not a non-negative int");
    }
    return out;
  }

  // A Float32Array argument of exactly `want` floats (or null, when `optional`).
  float* floats_of(napi_value v, const char* name, size_t want, bool optional = false) {
    if (!ok) return nullptr;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (optional && (t == napi_null || t == napi_undefined)) return nullptr;
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float32_array) {
      fail(std::string(name) + " is not a Float32Array");
      return nullptr;
    }
    if (length != want) {
      fail(std::string(name) + " holds " + std::to_string(length) + " floats, its dims need " + std::to_string(want));
      return nullptr;
    }
    return static_cast<float*>(data);
  }
  float* floats(size_t i, const char* name, size_t want, bool optional = false) { return floats_of(a[i], name, want, optional); }

  // An Int32Array argument of exactly `want` ints, each in [0, bound).
  int32_t* ints(size_t i, const char* name, size_t want, int bound) {
    if (!ok) return nullptr;
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    if (napi_get_typedarray_info(env, a[i], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_int32_array) {
      fail(std::string(name) + " is not an Int32Array");
      return nullptr;
    }
    if (length != want) {
      fail(std::string(name) + " holds " + std::to_string(length) + " ints, its dims need " + std::to_string(want));
      return nullptr;
    }
    int32_t* v = static_cast<int32_t*>(data);
    for (size_t k = 0; k < length; k++) {
      if (v[k] < 0 || v[k] >= bound) {
        fail(std::string(name) + "[" + std::to_string(k) + "] = " + std::to_string(v[k]) + " is not a row of the embeddings");
        return nullptr;
      }
    }
    return v;
  }

  // Element `k` of the array argument `i` (the [arrays...] convention).
  napi_value element(size_t i, uint32_t k) {
    napi_value e = nullptr;
    uint32_t length = 0;
    napi_get_array_length(env, a[i], &length);
    if (k >= length) fail("expected at least " + std::to_string(k + 1) + " arrays");
    else napi_get_element(env, a[i], k, &e);
    return e;
  }
};

size_t prod(std::initializer_list<int> dims) {
  size_t p = 1;
  for (int d : dims) p *= (size_t)d;
  return p;
}

// Whether a convolution goes by Winograd: 3x3, stride 1 (the output is the padded input less 2).
bool winograd(const fewshot::WinogradDims& d, int kh, int kw, int bottom, int right) {
  return fewshot::winograd_fits(kh, kw, d.cin, d.cout, d.oh, d.ow) && d.oh == d.h + d.top + bottom - 2 &&
         d.ow == d.w + d.left + right - 2;
}

// A convolution's dims, [n,h,w,cin, kh,kw,cout, oh,ow, top,bottom,left,right], checked for consistency:
// the output is the padded input less the kernel, plus one (stride 1).
std::vector<int> conv_dims(Call& c, size_t i) {
  std::vector<int> v = c.dims(i, 13);
  if (c.ok && (v[7] != v[1] + v[9] + v[10] - v[4] + 1 || v[8] != v[2] + v[11] + v[12] - v[5] + 1)) {
    c.fail("output size does not follow from input, kernel and padding (stride 1)");
  }
  return v;
}

// conv2d(x, w, bias|null, out, [n,h,w,cin, kh,kw,cout, oh,ow, top,bottom,left,right])
napi_value Conv2d(napi_env env, napi_callback_info info) {
  Call c(env, info, "conv2d", 5);
  const std::vector<int> v = conv_dims(c, 4);
  const float* x = c.floats(0, "x", prod({v[0], v[1], v[2], v[3]}));
  const float* w = c.floats(1, "filter", prod({v[4], v[5], v[3], v[6]}));
  const float* bias = c.floats(2, "bias", (size_t)v[6], true);
  float* out = c.floats(3, "out", prod({v[0], v[7], v[8], v[6]}));
  if (!c.ok) return nullptr;
  const Dims d{v[0], v[1], v[2], v[3]};
  const fewshot::WinogradDims wd{d.n, d.h, d.w, d.c, v[9], v[11], v[6], v[7], v[8]};
  if (winograd(wd, v[4], v[5], v[10], v[12])) {  // reads x in place: no padded copy
    fewshot::winograd_forward(x, wd, w, bias, out);
    return nullptr;
  }
  std::vector<float> xp = pad_input(x, d, v[9], v[10], v[11], v[12]);
  conv_forward(xp.data(), d.n, d.h + v[9] + v[10], d.w + v[11] + v[12], d.c, w, v[4], v[5], bias, out, v[7], v[8], v[6]);
  return nullptr;
}

// filterGrad(x, dy, dw, [n,h,w,cin, kh,kw,cout, oh,ow, top,bottom,left,right])
napi_value FilterGrad(napi_env env, napi_callback_info info) {
  Call c(env, info, "filterGrad", 4);
  const std::vector<int> v = conv_dims(c, 3);
  const float* x = c.floats(0, "x", prod({v[0], v[1], v[2], v[3]}));
  const float* dy = c.floats(1, "dy", prod({v[0], v[7], v[8], v[6]}));
  float* dw = c.floats(2, "dw", prod({v[4], v[5], v[3], v[6]}));
  if (!c.ok) return nullptr;
  const Dims d{v[0], v[1], v[2], v[3]};
  const fewshot::WinogradDims wd{d.n, d.h, d.w, d.c, v[9], v[11], v[6], v[7], v[8]};
  if (winograd(wd, v[4], v[5], v[10], v[12])) {
    fewshot::winograd_filter_grad(x, wd, dy, dw);
    return nullptr;
  }
  std::vector<float> xp = pad_input(x, d, v[9], v[10], v[11], v[12]);
  conv_filter_grad(xp.data(), d.n, d.h + v[9] + v[10], d.w + v[11] + v[12], d.c, dy, v[7], v[8], v[4], v[5], dw, v[6]);
  return nullptr;
}

// maxPoolGrad(x, dy, dx, [n,h,w,c, oh,ow, fh,fw, sh,sw, top,left])
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  Call c(env, info, "maxPoolGrad", 4);
  const std::vector<int> v = c.dims(3, 12);
  const float* x = c.floats(0, "x", prod({v[0], v[1], v[2], v[3]}));
  const float* dy = c.floats(1, "dy", prod({v[0], v[4], v[5], v[3]}));
  float* dx = c.floats(2, "dx", prod({v[0], v[1], v[2], v[3]}));
  if (c.ok) max_pool_grad(x, dy, dx, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]);
  return nullptr;
}

// channelMoments(z, [pixels, c], center, s1, s2)
napi_value ChannelMoments(napi_env env, napi_callback_info info) {
  Call c(env, info, "channelMoments", 5);
  const std::vector<int> d = c.dims(1, 2);
  const float* z = c.floats(0, "z", prod({d[0], d[1]}));
  const float* center = c.floats(2, "center", d[1]);
  float *s1 = c.floats(3, "s1", d[1]), *s2 = c.floats(4, "s2", d[1]);
  if (c.ok) channel_moments(z, d[0], d[1], center, s1, s2);
  return nullptr;
}

// bnReluPool(z, [n,h,w,c], mean, invStd, gamma, beta, xhat|null, y)
napi_value BnReluPool(napi_env env, napi_callback_info info) {
  Call c(env, info, "bnReluPool", 8);
  const std::vector<int> d = c.dims(1, 4);
  const size_t full = prod({d[0], d[1], d[2], d[3]});
  const float* z = c.floats(0, "z", full);
  const float *mean = c.floats(2, "mean", d[3]), *inv = c.floats(3, "invStd", d[3]);
  const float *g = c.floats(4, "gamma", d[3]), *b = c.floats(5, "beta", d[3]);
  float* xhat = c.floats(6, "xhat", full, true);
  float* y = c.floats(7, "y", prod({d[0], d[1] / 2, d[2] / 2, d[3]}));
  if (c.ok) bn_relu_pool(z, d[0], d[1], d[2], d[3], mean, inv, g, b, xhat, y);
  return nullptr;
}

// bnGradSums(xhat, [n,h,w,c], gamma, beta, dy, dbeta, dgamma)
napi_value BnGradSums(napi_env env, napi_callback_info info) {
  Call c(env, info, "bnGradSums", 7);
  const std::vector<int> d = c.dims(1, 4);
  const float* xhat = c.floats(0, "xhat", prod({d[0], d[1], d[2], d[3]}));
  const float *g = c.floats(2, "gamma", d[3]), *b = c.floats(3, "beta", d[3]);
  const float* dy = c.floats(4, "dy", prod({d[0], d[1] / 2, d[2] / 2, d[3]}));
  float *db = c.floats(5, "dBeta", d[3]), *dg = c.floats(6, "dGamma", d[3]);
  if (c.ok) bn_grad_sums(xhat, d[0], d[1], d[2], d[3], g, b, dy, db, dg);
  return nullptr;
}

// bnGradInput(xhat, [n,h,w,c], gamma, beta, dy, mBeta, mGamma, scale, dz)
napi_value BnGradInput(napi_env env, napi_callback_info info) {
  Call c(env, info, "bnGradInput", 9);
  const std::vector<int> d = c.dims(1, 4);
  const size_t full = prod({d[0], d[1], d[2], d[3]});
  const float* xhat = c.floats(0, "xhat", full);
  const float *g = c.floats(2, "gamma", d[3]), *b = c.floats(3, "beta", d[3]);
  const float* dy = c.floats(4, "dy", prod({d[0], d[1] / 2, d[2] / 2, d[3]}));
  const float *mb = c.floats(5, "mBeta", d[3]), *mg = c.floats(6, "mGamma", d[3]), *sc = c.floats(7, "scale", d[3]);
  float* dz = c.floats(8, "dz", full);
  if (c.ok) bn_grad_input(xhat, d[0], d[1], d[2], d[3], g, b, dy, mb, mg, sc, dz);
  return nullptr;
}

// The first block's kernels, called as f([arrays...], [n,h,w,cin, kh,kw,cout, top,bottom,left,right]):
// the arrays by name, each checked against the dims ('c' = cout floats, 'p' = the pooled output).
struct InputBlockCall {
  Call c;
  std::vector<int> v;
  std::vector<float*> t;
  InputBlockCall(napi_env env, napi_callback_info info, const char* kernel, std::initializer_list<const char*> names)
      : c(env, info, kernel, 2) {
    v = c.dims(1, 11);
    const int oh = v[1] + v[7] + v[8] - v[4] + 1, ow = v[2] + v[9] + v[10] - v[5] + 1;
    if (c.ok && (oh != v[1] || ow != v[2])) c.fail("the first block's padding must keep the image size");
    uint32_t k = 0;
    for (const char* name : names) {
      const std::string n(name);
      const size_t want = n == "x" ? prod({v[0], v[1], v[2], v[3]})
                        : n == "kernel" || n == "dw" ? prod({v[4], v[5], v[3], v[6]})
                        : n == "dy" || n == "y" ? prod({v[0], oh / 2, ow / 2, v[6]})
                        : (size_t)v[6];  // per-channel vectors
      t.push_back(c.ok ? c.floats_of(c.element(0, k), name, want) : nullptr);
      k++;
    }
  }
  InputBlock block() { return input_block(t[0], v.data(), t[1], t[2]); }
};

napi_value InputBlockMoments(napi_env env, napi_callback_info info) {
  InputBlockCall k(env, info, "inputBlockMoments", {"x", "kernel", "bias", "mean", "variance"});
  if (k.c.ok) input_block_moments(k.block(), k.t[3], k.t[4]);
  return nullptr;
}

napi_value InputBlockForward(napi_env env, napi_callback_info info) {
  InputBlockCall k(env, info, "inputBlockForward", {"x", "kernel", "bias", "mean", "invStd", "gamma", "beta", "y"});
  if (k.c.ok) input_block_forward(k.block(), k.t[3], k.t[4], k.t[5], k.t[6], k.t[7]);
  return nullptr;
}

napi_value InputBlockGradSums(napi_env env, napi_callback_info info) {
  InputBlockCall k(env, info, "inputBlockGradSums", {"x", "kernel", "bias", "mean", "invStd", "gamma", "beta", "dy", "dBeta", "dGamma"});
  if (k.c.ok) input_block_grad_sums(k.block(), k.t[3], k.t[4], k.t[5], k.t[6], k.t[7], k.t[8], k.t[9]);
  return nullptr;
}

napi_value InputBlockGrad(napi_env env, napi_callback_info info) {
  InputBlockCall k(env, info, "inputBlockGrad",
                   {"x", "kernel", "bias", "mean", "invStd", "gamma", "beta", "dy", "mBeta", "mGamma", "scale", "dw"});
  if (k.c.ok) input_block_grad(k.block(), k.t[3], k.t[4], k.t[5], k.t[6], k.t[7], k.t[8], k.t[9], k.t[10], k.t[11]);
  return nullptr;
}

// rkdAngle([gs, gt, loss (1 float), dgram, ddiag], [n]): Gram matrices of student and teacher.
napi_value RkdAngle(napi_env env, napi_callback_info info) {
  Call c(env, info, "rkdAngle", 2);
  const int n = c.dims(1, 1)[0];
  const size_t nn = prod({n, n});
  float* gs = c.floats_of(c.element(0, 0), "gs", nn);
  float* gt = c.floats_of(c.element(0, 1), "gt", nn);
  float* loss = c.floats_of(c.element(0, 2), "loss", 1);
  float* dgram = c.floats_of(c.element(0, 3), "dgram", nn);
  float* ddiag = c.floats_of(c.element(0, 4), "ddiag", n);
  if (!c.ok) return nullptr;
  double sum = 0;
  rkd_angle(gs, gt, n, &sum, dgram, ddiag);
  loss[0] = (float)sum;
  return nullptr;
}

// protoLogits(emb, supportRows, queryRows, out, [rows, dim, n, way, shot, query]): see protonet.h.
napi_value ProtoLogits(napi_env env, napi_callback_info info) {
  Call c(env, info, "protoLogits", 5);
  const std::vector<int> v = c.dims(4, 6);
  const int rows = v[0], dim = v[1], n = v[2], way = v[3], shot = v[4], query = v[5];
  if (c.ok && (way < 1 || shot < 1 || query < 1)) c.fail("way, shot and query must be positive");
  const float* emb = c.floats(0, "emb", prod({rows, dim}));
  const int32_t* support = c.ints(1, "supportRows", prod({n, way, shot}), rows);
  const int32_t* query_rows = c.ints(2, "queryRows", prod({n, way, query}), rows);
  float* out = c.floats(3, "out", prod({n, way, query, way}));
  if (c.ok) fewshot::proto_logits(emb, dim, support, query_rows, n, way, shot, query, out);
  return nullptr;
}

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, omp_get_max_threads(), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"filterGrad", nullptr, FilterGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"channelMoments", nullptr, ChannelMoments, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnReluPool", nullptr, BnReluPool, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnGradSums", nullptr, BnGradSums, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnGradInput", nullptr, BnGradInput, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"inputBlockMoments", nullptr, InputBlockMoments, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"inputBlockForward", nullptr, InputBlockForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"inputBlockGradSums", nullptr, InputBlockGradSums, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"inputBlockGrad", nullptr, InputBlockGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"rkdAngle", nullptr, RkdAngle, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"protoLogits", nullptr, ProtoLogits, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
