// Warp-level micro-kernels of the implicit-GEMM core (igemm.cuh) and the thread ↔ element mappings they
// rely on. Everything above the `__CUDACC__` section is plain index arithmetic marked NS_HD, so that
// test/cuda-host/igemm_test.cc compiles it with g++ and checks it against the PTX ISA's definitions.
//
// Operand tiles in shared memory (SmemTile) hold MN rows (A's M rows or B's N columns) by ks k-columns,
// stored either k-contiguous ([MN][ks + 4]) or MN-contiguous ([ks][MN + 8]). With ks a multiple of 8 and MN
// a multiple of 32 the paddings make every fragment read below hit 32 distinct banks:
//   k-contiguous:  lanes (g, t) read row g, column t: bank ≡ g·(ks + 4) + t, (ks + 4)/4 odd → distinct;
//   MN-contiguous: lanes (g, t) read row t, column g: bank ≡ t·(MN + 8) + g ≡ 8t + g → distinct.
//
// Two ways to multiply a warp tile of WM×WN outputs:
//   MmaWarp   TF32 tensor cores, mma.sync.aligned.m16n8k8 (sm_80+): (WM/16)×(WN/8) fragments of 4 floats;
//             operands rounded to TF32 (cvt.rna) as fragments are read, FP32 accumulation.
//   FmaWarp   plain FMA (strict FP32, float64, sm_75): lanes as a 4×8 grid, each owning (WM/4)×(WN/8)
//             outputs interleaved (rows lane/8 + 4i, columns lane%8 + 8j), so that a warp's shared-memory
//             reads are 4 (A) and 8 (B) distinct words each broadcast to the other lanes.
#ifndef NEURAL_SIMILARITY_CUDA_MMA_CUH
#define NEURAL_SIMILARITY_CUDA_MMA_CUH

#include <cstdint>

#include "host_device.h"

// Loop unrolling hints for nvcc (no-ops for the host compiler): full, and none (keeps register use flat).
#ifdef __CUDACC__
#define NS_UNROLL _Pragma("unroll")
#define NS_NO_UNROLL _Pragma("unroll 1")
#else
#define NS_UNROLL
#define NS_NO_UNROLL
#endif

namespace ns {
namespace cuda {
namespace mma {

// A (row, column) position in a matrix or tile.
struct Coord {
  int row, col;
};

// ---- mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 fragment layouts (PTX ISA, "Matrix Fragments for
// mma.m16n8k8", .tf32). Lane = 4·group + thread_in_group.
// A is 16×8 (row-major): a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4).
NS_HD inline Coord tf32_a(int lane, int i) { return {(lane >> 2) + 8 * (i & 1), (lane & 3) + 4 * (i >> 1)}; }
// B is 8×16 (column-major), as (k, n): b0 (t, g), b1 (t + 4, g).
NS_HD inline Coord tf32_b(int lane, int i) { return {(lane & 3) + 4 * i, lane >> 2}; }
// C and D are 16×8: c0 (g, 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1).
NS_HD inline Coord tf32_c(int lane, int i) { return {(lane >> 2) + 8 * (i >> 1), 2 * (lane & 3) + (i & 1)}; }

// An operand tile in shared memory: element (mn, k) of MN rows by ks k-columns, k-contiguous when KMajor.
template <class T, bool KMajor>
struct SmemTile {
  T* p;
  int ld;  // ks + 4 (KMajor) or MN + 8
  NS_HD T& at(int mn, int k) const { return KMajor ? p[mn * ld + k] : p[k * ld + mn]; }
};

// Leading dimension of an operand tile of MN rows and ks k-columns (see the header comment).
NS_HD constexpr int tile_ld(bool kmajor, int mn, int ks) { return kmajor ? ks + 4 : mn + 8; }

// The tensor-core warp tile: WM×WN outputs as MI×NI m16n8 fragments; accumulator i of a lane belongs to
// fragment (i/4) = mi·NI + ni, element i%4 of it.
template <int WM, int WN>
struct MmaWarp {
  static_assert(WM % 16 == 0 && WN % 8 == 0, "warp tile must be whole m16n8 fragments");
  static constexpr int MI = WM / 16, NI = WN / 8, kAcc = MI * NI * 4;
  static constexpr int kKStep = 8;  // k columns consumed per step

  // (row, column) in the warp tile of accumulator i of `lane`.
  NS_HD static Coord acc(int lane, int i) {
    const int frag = i >> 2;
    const Coord c = tf32_c(lane, i & 3);
    return {c.row + 16 * (frag / NI), c.col + 8 * (frag % NI)};
  }
  // The A fragments of rows [m0, m0 + WM) at k-columns [kk, kk + 8), and the B fragments of columns
  // [n0, n0 + WN): what `lane` passes to its MI×NI mma instructions.
  template <class T, class TileA>
  NS_HD static void load_a(const TileA& A, int m0, int kk, int lane, T (&a)[MI][4]) {
    NS_UNROLL
    for (int mi = 0; mi < MI; ++mi)
      NS_UNROLL
      for (int i = 0; i < 4; ++i) {
        const Coord c = tf32_a(lane, i);
        a[mi][i] = A.at(m0 + 16 * mi + c.row, kk + c.col);
      }
  }
  template <class T, class TileB>
  NS_HD static void load_b(const TileB& B, int n0, int kk, int lane, T (&b)[NI][2]) {
    NS_UNROLL
    for (int ni = 0; ni < NI; ++ni)
      NS_UNROLL
      for (int i = 0; i < 2; ++i) {
        const Coord c = tf32_b(lane, i);
        b[ni][i] = B.at(n0 + 8 * ni + c.col, kk + c.row);
      }
  }
};

// The FMA warp tile: lanes as 4 (rows) × 8 (columns), each owning TM×TN outputs interleaved.
template <int WM, int WN>
struct FmaWarp {
  static_assert(WM % 4 == 0 && WN % 8 == 0, "warp tile must split over 4×8 lanes");
  static constexpr int TM = WM / 4, TN = WN / 8, kAcc = TM * TN;
  static constexpr int kKStep = 1;

  NS_HD static Coord acc(int lane, int i) { return {(lane >> 3) + 4 * (i / TN), (lane & 7) + 8 * (i % TN)}; }

  // acc += A[rows, k] · B[k, columns] for one k-column of the tiles (the same code on host and device).
  template <class T, class TileA, class TileB>
  NS_HD static void step(T (&acc)[kAcc], const TileA& A, const TileB& B, int m0, int n0, int k, int lane) {
    T a[TM], b[TN];
    NS_UNROLL
    for (int i = 0; i < TM; ++i) a[i] = A.at(m0 + (lane >> 3) + 4 * i, k);
    NS_UNROLL
    for (int j = 0; j < TN; ++j) b[j] = B.at(n0 + (lane & 7) + 8 * j, k);
    NS_UNROLL
    for (int i = 0; i < TM; ++i)
      NS_UNROLL
      for (int j = 0; j < TN; ++j) acc[i * TN + j] += a[i] * b[j];
  }
};

#ifdef __CUDACC__
// ---------------------------------------------------------------- device instructions

// Rounds to TF32 (10-bit mantissa, nearest, ties away from zero) and returns the register bits.
__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
#else
  r = __float_as_uint(x);
#endif
  return r;
}

// d[0..3] += a·b on one m16n8k8 fragment. The TF32 path is only ever selected on sm_80 and newer (igemm.cuh
// dispatches on compute_capability()); compiled for older targets it traps rather than compute garbage.
__device__ __forceinline__ void mma_tf32(float* d, const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)d;
  (void)a;
  (void)b;
  __trap();
#endif
}

// One k-step (8 columns) of a tensor-core warp tile: fragments read from shared memory, rounded to TF32,
// then MI×NI mma instructions.
template <int WM, int WN, class TileA, class TileB>
__device__ __forceinline__ void mma_step(float (&acc)[MmaWarp<WM, WN>::kAcc], const TileA& A, const TileB& B, int m0,
                                         int n0, int kk, int lane) {
  using W = MmaWarp<WM, WN>;
  float af[W::MI][4], bf[W::NI][2];
  W::load_a(A, m0, kk, lane, af);
  W::load_b(B, n0, kk, lane, bf);
  uint32_t a[W::MI][4], b[W::NI][2];
  NS_UNROLL
  for (int mi = 0; mi < W::MI; ++mi)
    NS_UNROLL
    for (int i = 0; i < 4; ++i) a[mi][i] = to_tf32(af[mi][i]);
  NS_UNROLL
  for (int ni = 0; ni < W::NI; ++ni)
    NS_UNROLL
    for (int i = 0; i < 2; ++i) b[ni][i] = to_tf32(bf[ni][i]);
  NS_UNROLL
  for (int mi = 0; mi < W::MI; ++mi)
    NS_UNROLL
    for (int ni = 0; ni < W::NI; ++ni) mma_tf32(&acc[(mi * W::NI + ni) * 4], a[mi], b[ni]);
}
#endif  // __CUDACC__

}  // namespace mma
}  // namespace cuda
}  // namespace ns

#endif
