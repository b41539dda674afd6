// Winograd F(2x2, 3x3) convolutions for src/native/conv.cc; see winograd.cc.
#pragma once

namespace fewshot {

// Whether a 3x3, stride-1 convolution with an oh x ow output is worth doing by Winograd.
bool winograd_fits(int kh, int kw, int cin, int cout, int oh, int ow);

// out [n, hp - 2, wp - 2, cout] = bias + xp [n, hp, wp, cin] (already padded) convolved with w [3, 3, cin, cout].
void winograd_forward(const float* xp, int n_img, int hp, int wp, int cin, const float* w, const float* bias,
                      float* out, int cout);

// dw [3, 3, cin, cout] = the filter gradient for dy [n, hp - 2, wp - 2, cout] of that convolution.
void winograd_filter_grad(const float* xp, int n_img, int hp, int wp, int cin, const float* dy, float* dw, int cout);

}  // namespace fewshot
