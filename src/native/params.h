// The parameters of the native kernels, one struct per kernel family. JavaScript passes them as an
// object with the same field names (the interfaces of the same names in src/kernels/native.ts);
// binding.cc reads them field by field, each a non-negative int. Shapes are NHWC.
#pragma once

namespace fewshot {

// A 2-D convolution, stride 1, no dilation: x [n, h, w, cin] * filter [kh, kw, cin, cout] ->
// [n, outHeight, outWidth, cout], x zero-padded by padTop rows above, padBottom below, and so on.
// Also the recomputing first block's (input_block.cc), whose padding keeps the image size.
struct ConvParams {
  int n, h, w, cin, kh, kw, cout, outHeight, outWidth, padTop, padBottom, padLeft, padRight;
};

// A max-pool's gradient: x [n, h, w, c] pooled by filterHeight x filterWidth windows every
// strideHeight x strideWidth, padded by padTop and padLeft, into [n, outHeight, outWidth, c].
struct PoolParams {
  int n, h, w, c, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, padTop, padLeft;
};

// Batch norm -> ReLU -> 2x2 max-pool of a Conv-4 block: z [n, h, w, c], pooled to [n, h/2, w/2, c].
// The per-channel moments take any z as [n, 1, 1, c] (n its pixels).
struct BatchNormParams {
  int n, h, w, c;
};

// RKD-D and RKD-A between a student's n embeddings of dimS and a teacher's of dimT.
struct RkdParams {
  int n, dimS, dimT;
};

// Prototypical logits of n episodes of `way` classes, `shot` support and `query` query rows per class,
// rows of embeddings [rows, dim].
struct ProtoLogitsParams {
  int rows, dim, n, way, shot, query;
};

}  // namespace fewshot
