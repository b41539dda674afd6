// Pieces shared by the convolution files (conv.cc, input_block.cc, winograd.cc). Inline here: a
// helper compiled into its callers keeps their floating-point contraction (FMA) as it was.
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

#include "params.h"

namespace fewshot {

// 8 floats in one AVX register (GCC vector extension; aligned(4): unaligned loads are fine).
typedef float v8 __attribute__((vector_size(32), aligned(4)));

// L floats in one register, unaligned loads allowed. (A vector typedef passed as a template argument
// loses its aligned(4): templates take the lane count and name the type through this.)
template <int L>
struct Lanes;
template <>
struct Lanes<8> {
  typedef float vec __attribute__((vector_size(32), aligned(4)));
};
template <>
struct Lanes<16> {
  typedef float vec __attribute__((vector_size(64), aligned(4)));
};

// The widest register the build targets: 16 floats with AVX-512 (x86-64-v4), else 8.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef Lanes<kLanes>::vec vf;

// The padded input's size.
inline int padded_height(const ConvParams& p) { return p.h + p.padTop + p.padBottom; }
inline int padded_width(const ConvParams& p) { return p.w + p.padLeft + p.padRight; }

// Copies x [n, h, w, cin] into a zero-padded [n, padded_height, padded_width, cin] buffer, so that
// the inner loops need no bounds checks.
inline std::vector<float> pad_input(const float* x, const ConvParams& p) {
  const int hp = padded_height(p), wp = padded_width(p);
  std::vector<float> out((size_t)p.n * hp * wp * p.cin, 0.0f);
#pragma omp parallel for collapse(2)
  for (int n = 0; n < p.n; n++)
    for (int h = 0; h < p.h; h++)
      std::memcpy(&out[(((size_t)n * hp + h + p.padTop) * wp + p.padLeft) * p.cin],
                  &x[(((size_t)n * p.h + h) * p.w) * p.cin], sizeof(float) * p.w * p.cin);
  return out;
}

}  // namespace fewshot
