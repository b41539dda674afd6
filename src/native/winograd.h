// Winograd F(2x2, 3x3) convolutions for conv.cc; see winograd.cc.
#pragma once

namespace fewshot {

// Whether a 3x3, stride-1 convolution with an oh x ow output is worth doing by Winograd.
bool winograd_fits(int kh, int kw, int cin, int cout, int oh, int ow);

// A 3x3 convolution of x [n, h, w, cin], zero-padded by top rows and left columns (and at the end
// as the output needs), into [n, oh, ow, cout]; stride 1.
struct WinogradDims {
  int n, h, w, cin, top, left, cout, oh, ow;
};

// out [n, oh, ow, cout] = bias (or nullptr) + x convolved with w [3, 3, cin, cout].
void winograd_forward(const float* x, const WinogradDims& d, const float* w, const float* bias, float* out);

// dw [3, 3, cin, cout] = the filter gradient for dy [n, oh, ow, cout] of that convolution.
void winograd_filter_grad(const float* x, const WinogradDims& d, const float* dy, float* dw);

}  // namespace fewshot
