// 3x3 convolutions (stride 1, NHWC) by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
// each 2x2 output tile costs 16 multiplies per input/output channel pair instead of 36. These two
// vCPUs share their FMA units, so the multiplies are the budget: the forward convolution (and so
// the input gradient, a forward convolution with the flipped filter) and the filter gradient run
// as 16 small GEMMs per block of tiles, with the transforms done on the block in cache.
//
//   y = A^T [ (G g G^T) . (B^T d B) ] A           (d: a 4x4 input tile, g: a 3x3 filter)
//   dL/dg = G^T [ sum over tiles (A dy A^T) . (B^T d B) ] G
#include "winograd.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "conv_helpers.h"
#include "thread_sums.h"

namespace fewshot {
namespace {

constexpr int TILES = 48;  // tiles per block: the block's transforms (16 x 48 x 64 floats) stay in L2

// The 2x2 output tiles of a convolution of x [n, h, w, cin] padded by (top, left) at the start
// (and as much as the output size needs at the end) into [n, oh, ow, cout].
struct Tiling {
  int n_img, h, w, cin, top, left, cout, oh, ow, th, tw;
  long tiles() const { return (long)n_img * th * tw; }
  Tiling(const WinogradDims& d)
      : n_img(d.n), h(d.h), w(d.w), cin(d.cin), top(d.top), left(d.left), cout(d.cout), oh(d.oh), ow(d.ow),
        th((d.oh + 1) / 2), tw((d.ow + 1) / 2) {}
};

// V[xi][k][ci] = (B^T d B)[xi] for the block's tiles t0 + k, 8 input channels at a time (cin % 8 == 0);
// the padding (rows and columns outside the image) reads as zero: no padded copy of the input.
void input_transform(const Tiling& s, const float* x, long t0, int tb, float* V) {
  const v8 zero = {};
  for (int k = 0; k < tb; k++) {
    const long t = t0 + k;
    const int n = (int)(t / ((long)s.th * s.tw)), rem = (int)(t % ((long)s.th * s.tw));
    const int r0 = 2 * (rem / s.tw), c0 = 2 * (rem % s.tw);
    for (int ci = 0; ci < s.cin; ci += 8) {
      v8 d[4][4];
      for (int r = 0; r < 4; r++) {
        const int y = r0 + r - s.top;
        for (int c = 0; c < 4; c++) {
          const int xc = c0 + c - s.left;
          d[r][c] = (y >= 0 && y < s.h && xc >= 0 && xc < s.w)
                        ? *(const v8*)(x + (((size_t)n * s.h + y) * s.w + xc) * s.cin + ci)
                        : zero;
        }
      }
      v8 e[4][4];  // B^T d
      for (int c = 0; c < 4; c++) {
        e[0][c] = d[0][c] - d[2][c];
        e[1][c] = d[1][c] + d[2][c];
        e[2][c] = d[2][c] - d[1][c];
        e[3][c] = d[1][c] - d[3][c];
      }
      for (int r = 0; r < 4; r++) {  // (B^T d) B
        const v8 v[4] = {e[r][0] - e[r][2], e[r][1] + e[r][2], e[r][2] - e[r][1], e[r][1] - e[r][3]};
        for (int c = 0; c < 4; c++) *(v8*)(V + ((size_t)(r * 4 + c) * TILES + k) * s.cin + ci) = v[c];
      }
    }
  }
}

// C (rows x n, row stride ldc) = A (rows x k; A[i][p] at A[i * lda + p * acol]) * B (k x n, row
// stride ldb), or += when accumulate; register tiles of R rows x V registers of columns
// (n % (V * kLanes) == 0); rows past the end repeat the last (computed, not stored). acol lets A be
// a transposed block in place. Every C element is the same chain of multiply-adds over p whatever
// the tile: the same floats on every ISA level.
template <int R, int V>
void gemm_t(const float* A, int lda, int acol, const float* B, int ldb, float* C, int ldc, int rows, int k, int n,
            bool accumulate) {
  for (int i0 = 0; i0 < rows; i0 += R) {
    const int last = std::min(R, rows - i0) - 1;
    const float* a[R];
    for (int i = 0; i < R; i++) a[i] = A + (size_t)(i0 + std::min(i, last)) * lda;
    for (int j0 = 0; j0 < n; j0 += V * kLanes) {
      vf acc[R][V];
      for (int i = 0; i < R; i++)
        for (int j = 0; j < V; j++)
          acc[i][j] = accumulate && i <= last ? *(const vf*)(C + (size_t)(i0 + i) * ldc + j0 + kLanes * j) : vf{};
      for (int p = 0; p < k; p++) {
        vf b[V];
        for (int j = 0; j < V; j++) b[j] = *(const vf*)(B + (size_t)p * ldb + j0 + kLanes * j);
        for (int i = 0; i < R; i++) {
          const float av = a[i][(size_t)p * acol];
          for (int j = 0; j < V; j++) acc[i][j] += av * b[j];
        }
      }
      for (int i = 0; i <= last; i++)
        for (int j = 0; j < V; j++) *(vf*)(C + (size_t)(i0 + i) * ldc + j0 + kLanes * j) = acc[i][j];
    }
  }
}

// n % 16 == 0 (winograd_fits). AVX2's 16 registers hold a 6 x 16 tile; AVX-512's 32 a 12 x 32 one.
void gemm(const float* A, int lda, int acol, const float* B, int ldb, float* C, int ldc, int rows, int k, int n,
          bool accumulate) {
  if constexpr (kLanes == 16) {
    if (n % 32 == 0) return gemm_t<12, 2>(A, lda, acol, B, ldb, C, ldc, rows, k, n, accumulate);
    return gemm_t<12, 1>(A, lda, acol, B, ldb, C, ldc, rows, k, n, accumulate);
  }
  gemm_t<6, 2>(A, lda, acol, B, ldb, C, ldc, rows, k, n, accumulate);
}

// U[xi][ci][co] = (G g G^T)[xi] for w [3, 3, cin, cout].
std::vector<float> filter_transform(const float* w, int cin, int cout) {
  std::vector<float> U((size_t)16 * cin * cout);
  const size_t plane = (size_t)cin * cout;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < (long)plane; i++) {
    float g[3][3], e[4][3];
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) g[r][c] = w[(size_t)(r * 3 + c) * plane + i];
    for (int c = 0; c < 3; c++) {  // G g
      e[0][c] = g[0][c];
      e[1][c] = 0.5f * (g[0][c] + g[1][c] + g[2][c]);
      e[2][c] = 0.5f * (g[0][c] - g[1][c] + g[2][c]);
      e[3][c] = g[2][c];
    }
    for (int r = 0; r < 4; r++) {  // (G g) G^T
      U[(size_t)(r * 4 + 0) * plane + i] = e[r][0];
      U[(size_t)(r * 4 + 1) * plane + i] = 0.5f * (e[r][0] + e[r][1] + e[r][2]);
      U[(size_t)(r * 4 + 2) * plane + i] = 0.5f * (e[r][0] - e[r][1] + e[r][2]);
      U[(size_t)(r * 4 + 3) * plane + i] = e[r][2];
    }
  }
  return U;
}

}  // namespace

bool winograd_fits(int kh, int kw, int cin, int cout, int oh, int ow) {
  // Worth it when the tiles need at most 3/4 of direct convolution's multiplies (not for 3x3 maps).
  const long tiles = (long)((oh + 1) / 2) * ((ow + 1) / 2);
  return kh == 3 && kw == 3 && cin % 8 == 0 && cout % 16 == 0 && 16 * tiles * 4 <= 3 * 9L * oh * ow;
}

void winograd_forward(const float* x, const WinogradDims& d, const float* w, const float* bias, float* out) {
  const Tiling s(d);
  const int cin = d.cin, cout = d.cout;
  const std::vector<float> U = filter_transform(w, cin, cout);
#pragma omp parallel
  {
    std::vector<float> V((size_t)16 * TILES * cin), M((size_t)16 * TILES * cout);
#pragma omp for schedule(static)
    for (long t0 = 0; t0 < s.tiles(); t0 += TILES) {
      const int tb = (int)std::min<long>(TILES, s.tiles() - t0);
      input_transform(s, x, t0, tb, V.data());
      for (int xi = 0; xi < 16; xi++)
        gemm(&V[(size_t)xi * TILES * cin], cin, 1, &U[(size_t)xi * cin * cout], cout, &M[(size_t)xi * TILES * cout],
             cout, tb, cin, cout, false);
      // y = A^T M A, 8 output channels at a time; outputs past the map's edge are not stored.
      for (int k = 0; k < tb; k++) {
        const long t = t0 + k;
        const int n = (int)(t / ((long)s.th * s.tw)), rem = (int)(t % ((long)s.th * s.tw));
        const int r0 = 2 * (rem / s.tw), c0 = 2 * (rem % s.tw);
        for (int co = 0; co < cout; co += 8) {
          v8 m[4][4], e[2][4];
          for (int xi = 0; xi < 16; xi++) m[xi / 4][xi % 4] = *(const v8*)&M[((size_t)xi * TILES + k) * cout + co];
          for (int c = 0; c < 4; c++) {
            e[0][c] = m[0][c] + m[1][c] + m[2][c];
            e[1][c] = m[1][c] - m[2][c] - m[3][c];
          }
          const v8 b = bias ? *(const v8*)(bias + co) : v8{};
          for (int r = 0; r < 2 && r0 + r < s.oh; r++) {
            const v8 y[2] = {e[r][0] + e[r][1] + e[r][2] + b, e[r][1] - e[r][2] - e[r][3] + b};
            for (int c = 0; c < 2 && c0 + c < s.ow; c++)
              *(v8*)(out + (((size_t)n * s.oh + r0 + r) * s.ow + c0 + c) * cout + co) = y[c];
          }
        }
      }
    }
  }
}

void winograd_filter_grad(const float* x, const WinogradDims& d, const float* dy, float* dw) {
  const Tiling s(d);
  const int cin = d.cin, cout = d.cout;
  const size_t plane = (size_t)cin * cout;
  ThreadSums<float> dU(16 * plane);
#pragma omp parallel
  {
    std::vector<float> V((size_t)16 * TILES * cin), D((size_t)16 * TILES * cout);
    float* mine = dU.mine();
#pragma omp for schedule(static)
    for (long t0 = 0; t0 < s.tiles(); t0 += TILES) {
      const int tb = (int)std::min<long>(TILES, s.tiles() - t0);
      input_transform(s, x, t0, tb, V.data());
      // D[xi][k][co] = (A dy A^T)[xi], dy past the map's edge zero.
      for (int k = 0; k < tb; k++) {
        const long t = t0 + k;
        const int n = (int)(t / ((long)s.th * s.tw)), rem = (int)(t % ((long)s.th * s.tw));
        const int r0 = 2 * (rem / s.tw), c0 = 2 * (rem % s.tw);
        for (int co = 0; co < cout; co += 8) {
          v8 g[2][2];
          for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++)
              g[r][c] = (r0 + r < s.oh && c0 + c < s.ow)
                            ? *(const v8*)(dy + (((size_t)n * s.oh + r0 + r) * s.ow + c0 + c) * cout + co)
                            : v8{};
          // A dy
          const v8 e[4][2] = {{g[0][0], g[0][1]},
                              {g[0][0] + g[1][0], g[0][1] + g[1][1]},
                              {g[0][0] - g[1][0], g[0][1] - g[1][1]},
                              {-g[1][0], -g[1][1]}};
          for (int r = 0; r < 4; r++) {  // (A dy) A^T
            const v8 v[4] = {e[r][0], e[r][0] + e[r][1], e[r][0] - e[r][1], -e[r][1]};
            for (int c = 0; c < 4; c++) *(v8*)&D[((size_t)(r * 4 + c) * TILES + k) * cout + co] = v[c];
          }
        }
      }
      // dU[xi] += V[xi]^T D[xi], V[xi] read transposed in place.
      for (int xi = 0; xi < 16; xi++)
        gemm(&V[(size_t)xi * TILES * cin], 1, cin, &D[(size_t)xi * TILES * cout], cout, mine + (size_t)xi * plane, cout,
             cin, tb, cout, true);
    }
  }
#pragma omp parallel for schedule(static)
  for (long i = 0; i < (long)plane; i++) {  // the threads' dU summed, then dw = G^T dU G
    float u[4][4], e[3][4];
    for (int xi = 0; xi < 16; xi++) u[xi / 4][xi % 4] = dU.total((size_t)xi * plane + i);
    for (int c = 0; c < 4; c++) {  // G^T dU
      e[0][c] = u[0][c] + 0.5f * (u[1][c] + u[2][c]);
      e[1][c] = 0.5f * (u[1][c] - u[2][c]);
      e[2][c] = 0.5f * (u[1][c] + u[2][c]) + u[3][c];
    }
    for (int r = 0; r < 3; r++) {  // (G^T dU) G
      dw[(size_t)(r * 3 + 0) * plane + i] = e[r][0] + 0.5f * (e[r][1] + e[r][2]);
      dw[(size_t)(r * 3 + 1) * plane + i] = 0.5f * (e[r][1] - e[r][2]);
      dw[(size_t)(r * 3 + 2) * plane + i] = 0.5f * (e[r][1] + e[r][2]) + e[r][3];
    }
  }
}

}  // namespace fewshot
