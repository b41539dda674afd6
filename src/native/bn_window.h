// The 2x2 pooling window of batch norm -> ReLU -> max-pool, forward and backward, shared by the
// Conv-4 block kernels (batch_norm.cc) and the recomputing first block (input_block.cc). Inline
// here: compiled into each caller as before the split, with the same FMA contraction.
#pragma once

namespace fewshot {

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

}  // namespace fewshot
