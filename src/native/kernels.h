// The native kernels, on float32 arrays (the wasm heap, in place) with OpenMP threads, one source
// file per family; binding.cc checks every array's length against the params before calling one.
// Shapes are NHWC; see params.h for each family's parameters and src/kernels/native.ts for the
// JavaScript side.
#pragma once

#include <cstdint>

#include "params.h"

namespace fewshot {

// ---- conv.cc: 2-D convolution, stride 1 (3x3 ones by Winograd, winograd.cc) ----

// out [n, outHeight, outWidth, cout] = bias (or nullptr) + x [n, h, w, cin] * filter [kh, kw, cin, cout].
// The input gradient is this too, with the filter flipped (src/kernels/native.ts).
void conv2d(const ConvParams& p, const float* x, const float* filter, const float* bias, float* out);

// dw [kh, kw, cin, cout], the filter gradient for dy [n, outHeight, outWidth, cout].
void conv2d_filter_grad(const ConvParams& p, const float* x, const float* dy, float* dw);

// ---- pool.cc ----

// dx [n, h, w, c] of a max-pool for dy [n, outHeight, outWidth, c]: each window's dy goes to its
// first maximum (as tfjs's cpu backend does).
void max_pool_grad(const PoolParams& p, const float* x, const float* dy, float* dx);

// ---- batch_norm.cc: batch norm -> ReLU -> 2x2 max-pool (stride 2, valid) of a Conv-4 block ----

// s1[c] = sum (z - center[c]), s2[c] = sum (z - center[c])^2 over the n pixels of z [n, 1, 1, c].
void channel_moments(const BatchNormParams& p, const float* z, const float* center, float* s1, float* s2);

// xhat = (z - mean) * inv_std; y = maxpool2x2(relu(gamma * xhat + beta)). xhat nullptr: inference
// (with the moving statistics), y alone in one pass.
void bn_relu_pool(const BatchNormParams& p, const float* z, const float* mean, const float* inv_std, const float* gamma,
                  const float* beta, float* xhat, float* y);

// dbeta[c] = sum d, dgamma[c] = sum d * xhat, d the gradient at the batch-norm output for dy.
void bn_grad_sums(const BatchNormParams& p, const float* xhat, const float* gamma, const float* beta, const float* dy,
                  float* dbeta, float* dgamma);

// dz = scale * (d - xhat * m_gamma - m_beta), scale = gamma * inv_std, m_* = the sums / pixels.
void bn_grad_input(const BatchNormParams& p, const float* xhat, const float* gamma, const float* beta, const float* dy,
                   const float* m_beta, const float* m_gamma, const float* scale, float* dz);

// ---- input_block.cc: the first block whole, its convolution (kernel, bias) recomputed in every pass ----

// The batch mean and (biased) variance of the conv output.
void input_block_moments(const ConvParams& p, const float* x, const float* kernel, const float* bias, float* mean,
                         float* variance);

// y = maxpool2x2(relu(gamma * xhat + beta)), as bn_relu_pool.
void input_block_forward(const ConvParams& p, const float* x, const float* kernel, const float* bias, const float* mean,
                         const float* inv_std, const float* gamma, const float* beta, float* y);

// dbeta, dgamma as bn_grad_sums.
void input_block_grad_sums(const ConvParams& p, const float* x, const float* kernel, const float* bias,
                           const float* mean, const float* inv_std, const float* gamma, const float* beta,
                           const float* dy, float* dbeta, float* dgamma);

// dw [kh, kw, cin, cout], the kernel's gradient through bn_grad_input's dz.
void input_block_grad(const ConvParams& p, const float* x, const float* kernel, const float* bias, const float* mean,
                      const float* inv_std, const float* gamma, const float* beta, const float* dy, const float* m_beta,
                      const float* m_gamma, const float* scale, float* dw);

// ---- rkd_angle.cc, rkd_distance.cc: RKD-A and RKD-D (src/losses/rkd.ts) by way of Gram matrices (rkd_gram.h) ----

// loss[0] = the sum over triplets of huber(cos_s - cos_t) (RKD-A), or the mean over pairs of
// huber(psi_s - psi_t) (RKD-D), between the student's s [n, dimS] and the teacher's t [n, dimT];
// ds [n, dimS], its gradient with respect to s.
void rkd_angle(const RkdParams& p, const float* s, const float* t, float* loss, float* ds);
void rkd_distance(const RkdParams& p, const float* s, const float* t, float* loss, float* ds);

// ---- protonet.cc: prototypical logits (src/eval/evaluate.ts), the same floats as the wasm ops ----

// For each episode, out [way * query, way] = minus the squared distance from each query row to each
// class mean of the support rows (rows of embeddings, class-major, episode after episode).
void proto_logits(const ProtoLogitsParams& p, const float* embeddings, const int32_t* support_rows,
                  const int32_t* query_rows, float* out);

}  // namespace fewshot
