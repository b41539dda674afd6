// The first block of a Conv-4 whole (conv -> batch norm -> ReLU -> 2x2 max-pool), its convolution
// recomputed. A block fed with images has few input channels, so its convolution costs 9 * cin multiply-adds
// per output: less than reading a stored output back. Every pass below recomputes it from the
// padded images, 2x2 pooling window by window, and the block stores neither its conv output nor its
// normalised output: it reads its input and writes its pooled output (or its filter gradient).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "bn_window.h"
#include "conv_helpers.h"
#include "kernels.h"
#include "thread_sums.h"

namespace fewshot {
namespace {

struct InputBlock {
  std::vector<float> xp;  // the images, zero-padded
  int n_img, h, w, hp, wp, cin, kh_n, kw_n, cout;
  const float* wt;    // [kh, kw, cin, cout]
  const float* bias;  // [cout]
  int taps() const { return kh_n * kw_n * cin; }
};

// ('same' padding, stride 1: binding.cc checks.)
InputBlock input_block(const ConvParams& p, const float* x, const float* kernel, const float* bias) {
  return {pad_input(x, p), p.n, p.h, p.w, padded_height(p), padded_width(p), p.cin, p.kh, p.kw, p.cout, kernel, bias};
}

// The conv outputs of row r of image n, z[col * cout + co], Q pixels and V registers of L channels
// at a time: the Q pixels share each weight load (past the row's end the last pixel repeats, not
// stored). Each output is the same chain of multiply-adds whatever the tile.
template <int L, int Q, int V>
void conv_row(const InputBlock& b, int n, int r, float* z) {
  typedef typename Lanes<L>::vec Vec;
  const size_t rs = (size_t)b.wp * b.cin;
  const int kwcin = b.kw_n * b.cin;
  const float* row = b.xp.data() + ((size_t)n * b.hp + r) * rs;
  for (int c0 = 0; c0 < b.w; c0 += Q) {
    const int last = std::min(Q, b.w - c0) - 1;
    const float* xs[Q];
    for (int q = 0; q < Q; q++) xs[q] = row + (size_t)(c0 + std::min(q, last)) * b.cin;
    for (int co0 = 0; co0 < b.cout; co0 += L * V) {
      Vec acc[Q][V];
      for (int j = 0; j < V; j++)
        for (int q = 0; q < Q; q++) acc[q][j] = *(const Vec*)(b.bias + co0 + L * j);
      for (int kh = 0; kh < b.kh_n; kh++) {
        const float* wr = b.wt + (size_t)kh * kwcin * b.cout + co0;
        for (int t = 0; t < kwcin; t++) {
          Vec wv[V];
          for (int j = 0; j < V; j++) wv[j] = *(const Vec*)(wr + (size_t)t * b.cout + L * j);
          for (int q = 0; q < Q; q++) {
            const float a = xs[q][kh * rs + t];
            for (int j = 0; j < V; j++) acc[q][j] += a * wv[j];
          }
        }
      }
      for (int q = 0; q <= last; q++)
        for (int j = 0; j < V; j++) *(Vec*)(z + (size_t)(c0 + q) * b.cout + co0 + L * j) = acc[q][j];
    }
  }
}

// conv_row's widest tile for c channels (a multiple of 8): AVX-512's 32 registers hold 8 x 32.
void conv_row_any(const InputBlock& b, int n, int r, int c, float* z) {
  if constexpr (kLanes == 16)
    if (c % 32 == 0) return conv_row<16, 8, 2>(b, n, r, z);
  if (c % 16 == 0) conv_row<8, 4, 2>(b, n, r, z);
  else conv_row<8, 4, 1>(b, n, r, z);
}

// A thread's buffers for one row pair: [2][w][cout] each.
struct RowPair {
  int n, r0, rows;  // image, first row, 2 (a row of pooling windows) or 1 (an odd last row)
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
          conv_row_any(b, n, p.r0 + k, c, zk);
        }
        if (mean)
          for (size_t i = 0; i < (size_t)p.rows * b.w * c; i += c)
#pragma omp simd
            for (int ch = 0; ch < c; ch++) p.xhat[i + ch] = (p.z[i + ch] - mean[ch]) * inv_std[ch];
        f(p);
      }
  }
}

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
void moments(const InputBlock& b, float* mean, float* variance) {
  const int c = b.cout;
  ThreadSums<double> sums(2 * (size_t)c);
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
  const double n = (double)b.n_img * b.h * b.w;
  for (int ch = 0; ch < c; ch++) {
    const double m = sums.total(ch) / n;
    mean[ch] = (float)m;
    variance[ch] = (float)std::max(0.0, sums.total(c + ch) / n - m * m);
  }
}

// y = maxpool2x2(relu(gamma * xhat + beta)), as bn_relu_pool.
void forward(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma, const float* beta,
             float* y) {
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
void grad_sums(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma, const float* beta,
               const float* dy, float* dbeta, float* dgamma) {
  const int c = b.cout;
  ThreadSums<double> sums(2 * (size_t)c);
  std::vector<float> pair((size_t)omp_get_max_threads() * 2 * c);
  each_row_pair(b, mean, inv_std, [&](const RowPair& p) {
    pair_d(b, p, gamma, beta, dy);
    float* s = &pair[(size_t)omp_get_thread_num() * 2 * c];
    pair_sums(p.d, p.xhat, (size_t)p.rows * b.w, c, s);
    sums.add(s);
  });
  for (int ch = 0; ch < c; ch++) {
    dbeta[ch] = (float)sums.total(ch);
    dgamma[ch] = (float)sums.total(c + ch);
  }
}

// s[co] = sum over a row pair's pixels of one tap's input * dz[pixel, co], V registers of L channels
// at a time (V independent accumulators).
template <int L, int V>
void tap_grad(const float* xt, size_t rs, int cin, int w, int rows, const float* dz, int c, float* s) {
  typedef typename Lanes<L>::vec Vec;
  for (int co0 = 0; co0 < c; co0 += L * V) {
    Vec acc[V] = {};
    for (int row = 0; row < rows; row++)
      for (int col = 0; col < w; col++) {
        const float a = xt[row * rs + (size_t)col * cin];
        const float* d = dz + ((size_t)row * w + col) * c + co0;
        for (int j = 0; j < V; j++) acc[j] += a * *(const Vec*)(d + L * j);
      }
    for (int j = 0; j < V; j++) *(Vec*)(s + co0 + L * j) = acc[j];
  }
}

// With dz = scale * (d - xhat * m_gamma - m_beta) (as bn_grad_input): dw[tap, co] = sum over
// pixels of xp[pixel's tap] * dz[co] (tap by tap, 8 to 64 channels of accumulators).
void kernel_grad(const InputBlock& b, const float* mean, const float* inv_std, const float* gamma, const float* beta,
                 const float* dy, const float* m_beta, const float* m_gamma, const float* scale, float* dw) {
  const int c = b.cout, taps = b.taps(), kwcin = b.kw_n * b.cin;
  const size_t rs = (size_t)b.wp * b.cin, wsize = (size_t)taps * c;
  ThreadSums<double> sums(wsize);
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
      if (c % 64 == 0) tap_grad<kLanes, 64 / kLanes>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else if (c % 32 == 0) tap_grad<8, 4>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else if (c % 16 == 0) tap_grad<8, 2>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
      else tap_grad<8, 1>(xt, rs, b.cin, b.w, p.rows, dz, c, st);
    }
    sums.add(s);
  });
  for (size_t i = 0; i < wsize; i++) dw[i] = (float)sums.total(i);
}

}  // namespace

void input_block_moments(const ConvParams& p, const float* x, const float* kernel, const float* bias, float* mean,
                         float* variance) {
  moments(input_block(p, x, kernel, bias), mean, variance);
}

void input_block_forward(const ConvParams& p, const float* x, const float* kernel, const float* bias, const float* mean,
                         const float* inv_std, const float* gamma, const float* beta, float* y) {
  forward(input_block(p, x, kernel, bias), mean, inv_std, gamma, beta, y);
}

void input_block_grad_sums(const ConvParams& p, const float* x, const float* kernel, const float* bias,
                           const float* mean, const float* inv_std, const float* gamma, const float* beta,
                           const float* dy, float* dbeta, float* dgamma) {
  grad_sums(input_block(p, x, kernel, bias), mean, inv_std, gamma, beta, dy, dbeta, dgamma);
}

void input_block_grad(const ConvParams& p, const float* x, const float* kernel, const float* bias, const float* mean,
                      const float* inv_std, const float* gamma, const float* beta, const float* dy, const float* m_beta,
                      const float* m_gamma, const float* scale, float* dw) {
  kernel_grad(input_block(p, x, kernel, bias), mean, inv_std, gamma, beta, dy, m_beta, m_gamma, scale, dw);
}

}  // namespace fewshot
