// The frame both RKD kernels share (rkd_angle.cc, rkd_distance.cc): each loss is computed from the
// Gram matrices of the centred embeddings, G = c c^T with c = x - mean(x) (RKD is translation
// invariant, and centring keeps |a|^2 + |b|^2 - 2ab's cancellation small), and returns its gradient
// with respect to the student's G; this takes it back to the student's embeddings.
#pragma once

#include "params.h"

namespace fewshot {

// A loss from the Gram matrices gs, gt [n, n]: loss[0], and its gradient with respect to gs as an
// n x n part, not symmetrised, plus a diagonal: dL/dc = (dgram + dgram^T + 2 diag(ddiag)) c.
using GramLoss = void (*)(int n, const float* gs, const float* gt, float* loss, float* dgram, float* ddiag);

// loss[0] = f(G(s), G(t)) and ds [n, dimS] its gradient with respect to s [n, dimS] (t [n, dimT] is constant).
void rkd_from_gram(const RkdParams& p, GramLoss f, const float* s, const float* t, float* loss, float* ds);

}  // namespace fewshot
