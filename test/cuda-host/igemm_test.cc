// Host emulation of the CUDA GEMM-family kernels (cuda/igemm.cuh, conv.cuh, similarity_transform.cuh,
// mma.cuh), compiled with g++ (no CUDA headers) by test/cuda-igemm.test.ts.
//
// It runs the kernels' own NS_HD code — plans, tile loaders, the similarity transform, fragment mappings,
// epilogues, split-K and dm reductions, the direct kernels' per-element maths — in the order the device
// kernels call it, one emulated thread at a time between what are __syncthreads() on the device:
//
//   * mma.sync m16n8k8 is emulated from the PTX ISA's fragment tables (written out independently below):
//     the lanes' fragments, gathered by MmaWarp::load_a / load_b, are placed into A, B and C as the hardware
//     defines them, D = A·B + C is formed, and D goes back to the lanes. A wrong mapping gives wrong numbers.
//   * every element is computed in float64 (TF32 rounding is a value-level effect outside this test's
//     scope: it checks that every index, predicate and reduction is right);
//   * shared memory is filled with NaN before each k-tile, so an element a loader or the transform failed to
//     write poisons the result; outputs start as NaN, so an element no store reached stays NaN;
//   * every tensor sits between guard zones holding a NaN with a marked payload: a gather outside a tensor
//     reads NaN, and a store outside one is found when the guards are checked; every copy the loaders issue
//     is also checked against the tensors' and the shared tile's bounds.
//
// Input (stdin): one case per line, `key=value` tokens (see parse_case). Output (stdout): JSON with the
// self-tests (fast division, fragment tables, warp products, bank-conflict claims) and, per case, the
// inputs it generated and the outputs the emulated kernels produced; the TypeScript test compares those
// with float64 references.
#include <array>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "conv.cuh"

namespace {

using namespace ns::cuda;
using igemm::CtaTile;
using igemm::GemmPlan;
using T = double;

[[noreturn]] void die(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::exit(2);
}

// ------------------------------------------------------------------ guarded tensors

constexpr size_t kGuard = 4096;
const uint64_t kGuardBits = 0x7ff8deadbeef0001ull;

T guard_value() {
  T v;
  std::memcpy(&v, &kGuardBits, sizeof v);
  return v;
}

struct Range {
  const T* lo;
  const T* hi;
};
std::vector<Range> g_ranges;  // every live tensor

// A tensor between guard zones, registered for the copy checks.
struct Tensor {
  std::vector<T> storage;
  size_t n;
  std::string name;
  Tensor(std::string nm, size_t count, T fill)
      : storage(count + 2 * kGuard, guard_value()), n(count), name(std::move(nm)) {
    for (size_t i = 0; i < n; ++i) data()[i] = fill;
    g_ranges.push_back({data(), data() + n});
  }
  T* data() { return storage.data() + kGuard; }
  const T* data() const { return storage.data() + kGuard; }
  void check_guards() const {
    for (size_t i = 0; i < storage.size(); ++i) {
      if (i >= kGuard && i < kGuard + n) continue;
      uint64_t bits;
      std::memcpy(&bits, &storage[i], sizeof bits);
      if (bits != kGuardBits) die("%s: a store landed %lld elements outside the tensor", name.c_str(),
                                  static_cast<long long>(i < kGuard ? static_cast<long long>(i) - kGuard
                                                                    : static_cast<long long>(i - kGuard - n)));
    }
  }
};

bool in_ranges(const T* p) {
  for (const Range& r : g_ranges)
    if (p >= r.lo && p < r.hi) return true;
  return false;
}

// Deterministic data in [-1, 1), exactly representable in float32.
struct Lcg {
  uint64_t s;
  explicit Lcg(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  T next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(s >> 11) / 9007199254740992.0;
    return static_cast<double>(static_cast<float>(2.0 * u - 1.0));
  }
};

std::unique_ptr<Tensor> random_tensor(const std::string& name, size_t n, uint64_t seed) {
  auto t = std::make_unique<Tensor>(name, n, 0.0);
  Lcg g(seed);
  for (size_t i = 0; i < n; ++i) t->data()[i] = g.next();
  return t;
}

std::unique_ptr<Tensor> output_tensor(const std::string& name, size_t n) {
  return std::make_unique<Tensor>(name, n, std::nan(""));
}

// ------------------------------------------------------------------ emulated shared memory and copies

// The loaders' copy functor on the host: bounds-checked against the CTA's shared memory and the tensors.
struct HostCopy {
  const T* smem_lo;
  const T* smem_hi;
  void operator()(T* dst, const T* src) const {
    if (dst < smem_lo || dst >= smem_hi) die("a tile load wrote outside the CTA's shared memory");
    if (src && !in_ranges(src)) die("a tile load gathered from outside every tensor");
    *dst = src ? *src : T(0);
  }
  // copy.vec of the dense loaders: igemm::kVec elements, 16-byte aligned at both ends, the first `valid`
  // from src (always a valid address), the rest zero.
  void vec(T* dst, const T* src, int valid) const {
    if (dst < smem_lo || dst + igemm::kVec > smem_hi) die("a vector tile load wrote outside the CTA's shared memory");
    if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 || reinterpret_cast<uintptr_t>(src) % 16 != 0)
      die("a vector tile load is not 16-byte aligned");
    if (valid < 0 || valid > igemm::kVec || !in_ranges(src)) die("a vector tile load has a bad source");
    for (int e = 0; e < igemm::kVec; ++e) {
      if (e < valid && !in_ranges(src + e)) die("a vector tile load gathered from outside every tensor");
      dst[e] = e < valid ? src[e] : T(0);
    }
  }
};

// ------------------------------------------------------------------ emulated mma.sync (PTX ISA tables)

// mma.sync.aligned.m16n8k8 .tf32, "Matrix Fragments for mma.m16n8k8", transcribed from the PTX ISA:
//   groupID = %laneid >> 2, threadID_in_group = %laneid % 4
//   A (a0..a3): row = groupID            for a0 and a2,  groupID + 8 for a1 and a3
//               col = threadID_in_group  for a0 and a1,  threadID_in_group + 4 for a2 and a3
//   B (b0, b1): row = threadID_in_group  for b0,  threadID_in_group + 4 for b1;  col = groupID
//   C, D (c0..c3): row = groupID for c0 and c1, groupID + 8 for c2 and c3
//                  col = threadID_in_group * 2 + (i & 1)
struct Ptx {
  static void a(int lane, int i, int& row, int& col) {
    const int group = lane >> 2, tig = lane % 4;
    row = (i == 0 || i == 2) ? group : group + 8;
    col = (i == 0 || i == 1) ? tig : tig + 4;
  }
  static void b(int lane, int i, int& row, int& col) {
    const int group = lane >> 2, tig = lane % 4;
    row = i == 0 ? tig : tig + 4;
    col = group;
  }
  static void c(int lane, int i, int& row, int& col) {
    const int group = lane >> 2, tig = lane % 4;
    row = i < 2 ? group : group + 8;
    col = tig * 2 + (i & 1);
  }
};

// D = A·B + C over one warp: a[lane][4], b[lane][2] the lanes' fragments, acc[lane] their 4 accumulators.
void hw_mma(T* const acc[32], const T (*a)[4], const T (*b)[2]) {
  T A[16][8], B[8][8], C[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    int r, c;
    for (int i = 0; i < 4; ++i) {
      Ptx::a(lane, i, r, c);
      A[r][c] = a[lane][i];
      Ptx::c(lane, i, r, c);
      C[r][c] = acc[lane][i];
    }
    for (int i = 0; i < 2; ++i) {
      Ptx::b(lane, i, r, c);
      B[r][c] = b[lane][i];
    }
  }
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      int r, c;
      Ptx::c(lane, i, r, c);
      T s = C[r][c];
      for (int k = 0; k < 8; ++k) s += A[r][k] * B[k][c];
      acc[lane][i] = s;
    }
}

// ------------------------------------------------------------------ emulated CTA

template <class Cfg>
using Acc = std::vector<std::array<T, Cfg::kAcc>>;

// multiply_tile of igemm.cuh: the resident k-tile into every warp's accumulators.
template <class Cfg, class TA, class TB>
void multiply_tile(Acc<Cfg>& acc, const TA& A, const TB& B, int ks) {
  for (int warp = 0; warp < Cfg::kThreads / 32; ++warp) {
    const int m0 = (warp / Cfg::WARPS_N) * Cfg::WM, n0 = (warp % Cfg::WARPS_N) * Cfg::WN;
    if constexpr (Cfg::kTf32) {
      using W = typename Cfg::Warp;
      for (int kk = 0; kk < ks; kk += 8) {
        static T af[32][W::MI][4], bf[32][W::NI][2];
        for (int lane = 0; lane < 32; ++lane) {
          W::load_a(A, m0, kk, lane, af[lane]);
          W::load_b(B, n0, kk, lane, bf[lane]);
        }
        for (int mi = 0; mi < W::MI; ++mi)
          for (int ni = 0; ni < W::NI; ++ni) {
            T a[32][4], b[32][2];
            T* d[32];
            for (int lane = 0; lane < 32; ++lane) {
              for (int i = 0; i < 4; ++i) a[lane][i] = af[lane][mi][i];
              for (int i = 0; i < 2; ++i) b[lane][i] = bf[lane][ni][i];
              d[lane] = &acc[warp * 32 + lane][(mi * W::NI + ni) * 4];
            }
            hw_mma(d, a, b);
          }
      }
    } else {
      for (int k = 0; k < ks; ++k)
        for (int lane = 0; lane < 32; ++lane) {
          T(&t)[Cfg::kAcc] = *reinterpret_cast<T(*)[Cfg::kAcc]>(acc[warp * 32 + lane].data());
          Cfg::Warp::step(t, A, B, m0, n0, k, lane);
        }
    }
  }
}

// igemm::mainloop with one stage: each k-tile loaded by every thread, transformed, multiplied.
template <class Cfg, class Prob>
void mainloop(const Prob& prob, const CtaTile& tile, Acc<Cfg>& acc) {
  using AL = typename Prob::ALoader;
  using BL = typename Prob::BLoader;
  const GemmPlan& P = prob.plan;
  const igemm::SmemLayout L = igemm::smem_layout(Cfg::BM, Cfg::BN, P.ks, AL::kKMajor, BL::kKMajor, 1, Prob::kTransform);
  std::vector<T> smem(L.total);
  const HostCopy copy{smem.data(), smem.data() + smem.size()};
  const AL A = prob.a_loader(tile);
  const BL B = prob.b_loader(tile);
  std::vector<typename AL::Thread> at;
  std::vector<typename BL::Thread> bt;
  for (int tid = 0; tid < Cfg::kThreads; ++tid) {
    at.push_back(A.init(tid));
    bt.push_back(B.init(tid));
  }
  for (int kt = tile.kt0; kt < tile.kt1; ++kt) {
    std::fill(smem.begin(), smem.end(), std::nan(""));
    T* sa = smem.data();
    T* sb = sa + L.a_elems;
    for (int tid = 0; tid < Cfg::kThreads; ++tid) {
      A.load(at[tid], tid, sa, L.lda, P.k0(kt), P.kcount(kt), P.ks, copy);
      B.load(bt[tid], tid, sb, L.ldb, P.k0(kt), P.kcount(kt), P.ks, copy);
    }
    if constexpr (Prob::kTransform != 0) {
      T* x = smem.data() + L.x_offset;
      for (int tid = 0; tid < Cfg::kThreads; ++tid) {
        if (Prob::kTransform == 1)
          prob.transform(tile, P.k0(kt), P.kcount(kt), tid, Cfg::kThreads, sa, x, L.lda);
        else
          prob.transform(tile, P.k0(kt), P.kcount(kt), tid, Cfg::kThreads, sb, x, L.ldb);
      }
      (Prob::kTransform == 1 ? sa : sb) = x;
    }
    multiply_tile<Cfg>(acc, mma::SmemTile<T, AL::kKMajor>{sa, L.lda}, mma::SmemTile<T, BL::kKMajor>{sb, L.ldb},
                       P.ks);
  }
}

// igemm_kernel over the whole grid, then splitk_finish_kernel.
template <class Cfg, class Prob>
void run_gemm(const Prob& prob) {
  const GemmPlan& P = prob.plan;
  std::unique_ptr<Tensor> partial;
  if (P.splits > 1) partial = output_tensor("split-K partial buffer", static_cast<size_t>(P.partial_elems()));
  for (int zz = 0; zz < P.batches * P.splits; ++zz)
    for (int64_t bx = 0; bx < P.tiles(); ++bx) {
      const CtaTile tile = P.cta(bx, zz);
      Acc<Cfg> acc(Cfg::kThreads);
      for (auto& a : acc) a.fill(T(0));
      mainloop<Cfg>(prob, tile, acc);
      for (int tid = 0; tid < Cfg::kThreads; ++tid)
        igemm::store_tile<Cfg>(prob, tile, tid, *reinterpret_cast<const T(*)[Cfg::kAcc]>(acc[tid].data()),
                               partial ? partial->data() : nullptr);
    }
  if (P.splits > 1) {
    for (int64_t i = 0; i < static_cast<int64_t>(P.batches) * P.m * P.n; ++i)
      igemm::finish_element(prob, partial->data(), i);
    partial->check_guards();
    g_ranges.pop_back();
  }
}

// similarity.cu's dm_kernel over the whole grid (and sum_partials_kernel).
template <class Cfg>
void run_dm(const conv::DmGemm<T, Cfg::BM, Cfg::BN, Cfg::kThreads>& prob, int splits, T* dm) {
  const GemmPlan& P = prob.plan;
  const conv::DmSmem L = conv::dm_smem(Cfg::BM, Cfg::BN, P.ks, 1, prob.mp.rows);
  const int64_t size = static_cast<int64_t>(prob.G.positions()) * prob.mp.rows;
  std::unique_ptr<Tensor> partial;
  if (splits > 1) partial = output_tensor("dm partial buffer", static_cast<size_t>(size * splits));
  std::vector<T> smem(L.total);
  const HostCopy copy{smem.data(), smem.data() + smem.size()};
  for (int split = 0; split < splits; ++split)
    for (int nt = 0; nt < P.ntiles; ++nt) {
      T* sums = smem.data() + L.acc_offset;
      for (int u = 0; u < prob.mp.rows * Cfg::BN; ++u) sums[u] = T(0);
      int g0, g1;
      prob.groups(split, splits, g0, g1);
      for (int g = g0; g < g1; ++g) {
        const CtaTile tile = prob.group_tile(g, nt);
        Acc<Cfg> acc(Cfg::kThreads);
        for (auto& a : acc) a.fill(T(0));
        mainloop<Cfg>(prob, tile, acc);
        std::fill(smem.begin(), smem.begin() + L.acc_offset, std::nan(""));
        for (int tid = 0; tid < Cfg::kThreads; ++tid)
          conv::DmGemm<T, Cfg::BM, Cfg::BN, Cfg::kThreads>::template stage<Cfg>(
              tid, *reinterpret_cast<const T(*)[Cfg::kAcc]>(acc[tid].data()), smem.data() + L.g_offset, L.g_ld);
        const auto patch = prob.patch(tile);
        for (int tid = 0; tid < Cfg::kThreads; ++tid)
          patch.load(patch.init(tid), tid, smem.data() + L.p_offset, L.p_ld, tile.m0, tile.mcount, Cfg::BM, copy);
        for (int tid = 0; tid < Cfg::kThreads; ++tid)
          sim::dm_accumulate<Cfg::BN>(sums, Cfg::BN, smem.data() + L.g_offset, L.g_ld, smem.data() + L.p_offset,
                                      L.p_ld, prob.G.taps_d.div(tile.mcount), prob.G.taps, prob.mp.spatial, tid,
                                      Cfg::kThreads);
      }
      const CtaTile columns = prob.group_tile(0, nt);
      for (int tid = 0; tid < Cfg::kThreads; ++tid)
        prob.write(columns.n0, columns.ncount, tid, Cfg::kThreads, sums,
                   prob.split_output(splits > 1 ? partial->data() : dm, split, splits));
    }
  if (splits > 1) {
    for (int64_t i = 0; i < size; ++i) dm[i] = igemm::sum_parts(partial->data(), splits, size, i);
    partial->check_guards();
    g_ranges.pop_back();
  }
}

// ------------------------------------------------------------------ JSON output

struct Json {
  std::ostringstream out;
  bool first = true;
  void key(const std::string& k) {
    if (!first) out << ',';
    first = false;
    out << '"' << k << "\":";
  }
  // Values with `digits` significant digits (9 round-trips the float32 inputs, 17 any double); NaN as null.
  void array(const std::string& k, const T* v, size_t n, int digits) {
    key(k);
    out << '[';
    char buf[40];
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(v[i]))
        std::snprintf(buf, sizeof buf, "null");
      else
        std::snprintf(buf, sizeof buf, "%.*g", digits, v[i]);
      out << (i ? "," : "") << buf;
    }
    out << ']';
  }
  void input(const Tensor& t) { array(t.name, t.data(), t.n, 9); }
  void output(const Tensor& t) { array(t.name, t.data(), t.n, 17); }
};

// Checks every tensor's guard zones, then writes the inputs and outputs.
void emit(Json& json, std::initializer_list<const Tensor*> inputs, std::initializer_list<const Tensor*> outputs) {
  for (const Tensor* t : inputs) {
    t->check_guards();
    json.input(*t);
  }
  for (const Tensor* t : outputs) {
    t->check_guards();
    json.output(*t);
  }
}

// ------------------------------------------------------------------ cases

using Case = std::map<std::string, std::string>;

Case parse_case(const std::string& line) {
  Case c;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    const size_t eq = tok.find('=');
    if (eq == std::string::npos) die("bad token '%s' (expected key=value)", tok.c_str());
    c[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return c;
}

int64_t num(const Case& c, const std::string& k, int64_t fallback) {
  const auto it = c.find(k);
  return it == c.end() ? fallback : std::stoll(it->second);
}

std::string str(const Case& c, const std::string& k, const std::string& fallback) {
  const auto it = c.find(k);
  return it == c.end() ? fallback : it->second;
}

ns_conv2d_desc desc_of(const Case& c) {
  ns_conv2d_desc d{};
  d.n = num(c, "n", 1);
  d.c = num(c, "c", 1);
  d.h = num(c, "h", 1);
  d.w = num(c, "w", 1);
  d.f = num(c, "f", 1);
  d.kh = num(c, "kh", 1);
  d.kw = num(c, "kw", 1);
  d.groups = num(c, "groups", 1);
  d.stride_h = num(c, "sh", 1);
  d.stride_w = num(c, "sw", 1);
  d.pad_h = num(c, "ph", 0);
  d.pad_w = num(c, "pw", 0);
  d.dil_h = num(c, "dh", 1);
  d.dil_w = num(c, "dw", 1);
  d.ho = (d.h + 2 * d.pad_h - d.dil_h * (d.kh - 1) - 1) / d.stride_h + 1;
  d.wo = (d.w + 2 * d.pad_w - d.dil_w * (d.kw - 1) - 1) / d.stride_w + 1;
  return d;
}

// How a case runs the tiled kernels: the math (mma: the TF32 warp tile, fma: the float32 FMA path, fma64:
// the float64 path with its shorter k-tiles), the tile shapes (real: the production configs of conv.cuh,
// small: 32×32 CTAs of two warps, for many tiles on small problems), forced split-K parts, and the rows cap
// of the similarity k-tiles.
struct Options {
  std::string math, cfg;
  int splits, cap;
  int ks() const { return math == "fma64" ? 16 : 32; }
};

void set_splits(GemmPlan& p, int splits) {
  p.splits = splits < 1 ? 1 : splits;
  if (p.splits > p.ktiles && p.ktiles > 0) p.splits = p.ktiles;
  if (p.ktiles == 0) p.splits = 1;
}

// The three convolution GEMMs for one config set. FwdCfg serves Forward and BackwardInput; WgtCfg
// BackwardWeight; DmCfg the dm kernel.
template <class FwdCfg, class WgtCfg, class DmCfg, bool Sim>
struct ConvRunner {
  const ns_conv2d_desc& d;
  const conv::ConvGeom G;
  const Options& o;
  conv::SimM<T> mp;

  int kstep_for(int taps) const { return Sim ? conv::channels_per_tile(taps, o.cap) * taps : o.ks(); }
  int ks_for(int kstep) const { return static_cast<int>(igemm::round_up(kstep, 8)); }

  void forward(const T* x, const T* w, const T* bias, T* y) const {
    conv::Forward<T, FwdCfg::BM, FwdCfg::BN, FwdCfg::kThreads, Sim> prob{GemmPlan{}, G, x, w, bias, y, mp};
    const int kstep = kstep_for(G.taps);
    prob.plan = conv::forward_plan(G, FwdCfg::BM, FwdCfg::BN, kstep, ks_for(kstep));
    set_splits(prob.plan, o.splits);
    prob.vectorize();
    run_gemm<FwdCfg>(prob);
  }
  void backward_input(const T* dy, const T* w, T* dx) const {
    conv::BackwardInput<T, FwdCfg::BM, FwdCfg::BN, FwdCfg::kThreads, Sim> prob{GemmPlan{}, G, dy, w, dx, mp};
    const int kstep = kstep_for(G.taps);
    prob.plan = conv::backward_input_plan(G, FwdCfg::BM, FwdCfg::BN, kstep, ks_for(kstep));
    set_splits(prob.plan, o.splits);
    prob.vectorize();
    run_gemm<FwdCfg>(prob);
  }
  void backward_weight(const T* x, const T* dy, T* dw) const {
    conv::BackwardWeight<T, WgtCfg::BM, WgtCfg::BN, WgtCfg::kThreads, Sim> prob{GemmPlan{}, G, igemm::dy_geom(G),
                                                                                 x, dy, dw, mp};
    prob.plan = conv::backward_weight_plan(G, WgtCfg::BM, WgtCfg::BN, o.ks(), Sim);
    set_splits(prob.plan, o.splits);
    prob.vectorize();
    run_gemm<WgtCfg>(prob);
  }
  void backward_m(const T* x, const T* w, const T* dy, T* dm) const {
    conv::DmGemm<T, DmCfg::BM, DmCfg::BN, DmCfg::kThreads> prob{GemmPlan{}, G, igemm::dy_geom(G), x, w, dy, dm, mp};
    prob.plan = conv::dm_plan(G, DmCfg::BM, DmCfg::BN, o.ks());
    prob.vectorize();
    int splits = o.splits < 1 ? 1 : o.splits;
    if (splits > prob.plan.mtiles) splits = prob.plan.mtiles;
    run_dm<DmCfg>(prob, splits, dm);
  }
};

template <class Cfg1, class Cfg2, class Cfg3, bool Sim, class Body>
void with_configs_of(const ns_conv2d_desc& d, const Options& o, const conv::SimM<T>& mp, const Body& body) {
  body(ConvRunner<Cfg1, Cfg2, Cfg3, Sim>{d, igemm::make_geom(d), o, mp});
}

// Picks the config set of a case: the production tiles of conv.cuh (real: 64×128 for the forward and the
// input gradient, 128×64 for the weight gradient and dm; the 128×128 variants differ only in their warp
// tile, which test_warp_products covers) or the small one.
template <bool Sim, class Body>
void with_runner(const ns_conv2d_desc& d, const Options& o, const conv::SimM<T>& mp, const Body& body) {
  if (o.cfg == "small") {
    if (o.math == "mma") {
      using C = igemm::TileConfig<T, true, 32, 32, 1, 2>;
      return with_configs_of<C, C, C, Sim>(d, o, mp, body);
    }
    using C = igemm::TileConfig<T, false, 32, 32, 1, 2>;
    return with_configs_of<C, C, C, Sim>(d, o, mp, body);
  }
  if (o.cfg != "real") die("unknown cfg '%s'", o.cfg.c_str());
  if (o.math == "mma")
    return with_configs_of<igemm::TileConfig<T, true, 64, 128, 2, 4>, igemm::TileConfig<T, true, 128, 64, 4, 2>,
                           igemm::TileConfig<T, true, 128, 64, 4, 2>, Sim>(d, o, mp, body);
  return with_configs_of<igemm::TileConfig<T, false, 64, 128, 2, 4>, igemm::TileConfig<T, false, 128, 64, 4, 2>,
                         igemm::TileConfig<T, false, 128, 64, 4, 2>, Sim>(d, o, mp, body);
}

Options options_of(const Case& c) {
  return Options{str(c, "math", "mma"), str(c, "cfg", "real"), static_cast<int>(num(c, "splits", 1)),
                 static_cast<int>(num(c, "cap", 72))};
}

size_t sz(int64_t v) { return static_cast<size_t>(v); }

// conv2d: y (with bias), dx, dw, dbias, by the tiled kernels or (path=direct) the depthwise kernels' maths.
void run_conv(const Case& c, Json& json) {
  const ns_conv2d_desc d = desc_of(c);
  const uint64_t seed = static_cast<uint64_t>(num(c, "seed", 1));
  const conv::ConvGeom G = igemm::make_geom(d);
  auto x = random_tensor("x", sz(d.n * d.c * d.h * d.w), seed);
  auto w = random_tensor("w", sz(d.f * G.cg * d.kh * d.kw), seed + 1);
  auto bias = random_tensor("bias", sz(d.f), seed + 2);
  auto dy = random_tensor("dy", sz(d.n * d.f * d.ho * d.wo), seed + 3);
  auto y = output_tensor("y", sz(d.n * d.f * d.ho * d.wo));
  auto dx = output_tensor("dx", x->n);
  auto dw = output_tensor("dw", w->n);
  auto db = output_tensor("db", bias->n);
  if (str(c, "path", "tiled") == "direct") {
    for (int64_t e = 0; e < static_cast<int64_t>(y->n); ++e)
      y->data()[e] = conv::direct::forward_at(G, x->data(), w->data(), bias->data(), e);
    for (int64_t e = 0; e < static_cast<int64_t>(dx->n); ++e)
      dx->data()[e] = conv::direct::backward_input_at(G, dy->data(), w->data(), e);
    for (int64_t e = 0; e < static_cast<int64_t>(dw->n); ++e) {
      const conv::direct::WeightIndex wi = conv::direct::weight_index(G, G.cg, e);
      T s = T(0);
      for (int pos = 0; pos < G.positions(); ++pos)
        s += conv::direct::backward_weight_term(G, x->data(), dy->data(), wi, pos);
      dw->data()[e] = s;
    }
  } else {
    with_runner<false>(d, options_of(c), conv::SimM<T>{nullptr, false, 0}, [&](const auto& r) {
      r.forward(x->data(), w->data(), bias->data(), y->data());
      r.backward_input(dy->data(), w->data(), dx->data());
      r.backward_weight(x->data(), dy->data(), dw->data());
    });
  }
  for (int f = 0; f < G.f; ++f) {  // bias_grad_kernel's sum (its order is a block tree; any order here)
    T s = T(0);
    for (int pos = 0; pos < G.positions(); ++pos) {
      const int img = pos / G.plane, p = pos % G.plane;
      s += dy->data()[(static_cast<int64_t>(img) * G.f + f) * G.plane + p];
    }
    db->data()[f] = s;
  }
  emit(json, {x.get(), w.get(), bias.get(), dy.get()}, {y.get(), dx.get(), dw.get(), db.get()});
}

// Dynamic similarity: y, dx, dw, dm by the tiled kernels (taps ≤ kMaxTaps) or (path=direct) the fallback's maths.
void run_sim(const Case& c, Json& json) {
  const ns_conv2d_desc d = desc_of(c);
  const uint64_t seed = static_cast<uint64_t>(num(c, "seed", 1));
  const conv::ConvGeom G = igemm::make_geom(d);
  const bool spatial = str(c, "form", "spatial") == "spatial";
  const int rows = spatial ? G.taps * G.taps : G.taps;
  auto x = random_tensor("x", sz(d.n * d.c * d.h * d.w), seed);
  auto w = random_tensor("w", sz(d.f * d.c * d.kh * d.kw), seed + 1);
  auto m = random_tensor("m", sz(d.n * rows * d.ho * d.wo), seed + 2);
  auto bias = random_tensor("bias", sz(d.f), seed + 3);
  auto dy = random_tensor("dy", sz(d.n * d.f * d.ho * d.wo), seed + 4);
  auto y = output_tensor("y", sz(d.n * d.f * d.ho * d.wo));
  auto dx = output_tensor("dx", x->n);
  auto dw = output_tensor("dw", w->n);
  auto dm = output_tensor("dm", m->n);
  const conv::SimM<T> mp{m->data(), spatial, rows};
  if (str(c, "path", "tiled") == "direct") {
    for (int64_t e = 0; e < static_cast<int64_t>(y->n); ++e)
      y->data()[e] = conv::direct::sim_forward_at(G, mp, x->data(), w->data(), bias->data(), e);
    for (int64_t e = 0; e < static_cast<int64_t>(dx->n); ++e)
      dx->data()[e] = conv::direct::sim_backward_input_at(G, mp, dy->data(), w->data(), e);
    for (int64_t e = 0; e < static_cast<int64_t>(dw->n); ++e) {
      const conv::direct::WeightIndex wi = conv::direct::weight_index(G, G.c, e);
      T s = T(0);
      for (int pos = 0; pos < G.positions(); ++pos)
        s += conv::direct::sim_backward_weight_term(G, mp, x->data(), dy->data(), wi, pos);
      dw->data()[e] = s;
    }
    for (int64_t i = 0; i < static_cast<int64_t>(dm->n); ++i)
      dm->data()[i] = conv::direct::sim_backward_m_at(G, mp, x->data(), w->data(), dy->data(), i);
  } else {
    if (G.taps > sim::kMaxTaps) die("the tiled similarity kernels take at most %d taps", sim::kMaxTaps);
    with_runner<true>(d, options_of(c), mp, [&](const auto& r) {
      r.forward(x->data(), w->data(), bias->data(), y->data());
      r.backward_input(dy->data(), w->data(), dx->data());
      r.backward_weight(x->data(), dy->data(), dw->data());
      r.backward_m(x->data(), w->data(), dy->data(), dm->data());
    });
  }
  emit(json, {x.get(), w.get(), m.get(), bias.get(), dy.get()}, {y.get(), dx.get(), dw.get(), dm.get()});
}

// Static similarity: w' = fold(w, m); y = conv(x, w') + bias; dx through w'; dw, dm from dw' (fold-back).
void run_static(const Case& c, Json& json) {
  const ns_conv2d_desc d = desc_of(c);
  const uint64_t seed = static_cast<uint64_t>(num(c, "seed", 1));
  const conv::ConvGeom G = igemm::make_geom(d);
  const bool spatial = str(c, "form", "spatial") == "spatial";
  const int k = G.taps, entries = spatial ? k * k : k;
  const int64_t rows = static_cast<int64_t>(G.f) * G.cg;
  auto x = random_tensor("x", sz(d.n * d.c * d.h * d.w), seed);
  auto w = random_tensor("w", sz(rows * k), seed + 1);
  auto m = random_tensor("m", sz(entries), seed + 2);
  auto bias = random_tensor("bias", sz(d.f), seed + 3);
  auto dy = random_tensor("dy", sz(d.n * d.f * d.ho * d.wo), seed + 4);
  auto wf = output_tensor("wf", w->n);
  auto dwf = output_tensor("dwf", w->n);
  auto y = output_tensor("y", sz(d.n * d.f * d.ho * d.wo));
  auto dx = output_tensor("dx", x->n);
  auto dw = output_tensor("dw", w->n);
  auto dm = output_tensor("dm", m->n);
  for (int64_t e = 0; e < rows * k; ++e) wf->data()[e] = conv::direct::fold_at(spatial, k, w->data(), m->data(), e);
  with_runner<false>(d, options_of(c), conv::SimM<T>{nullptr, false, 0}, [&](const auto& r) {
    r.forward(x->data(), wf->data(), bias->data(), y->data());
    r.backward_input(dy->data(), wf->data(), dx->data());
    r.backward_weight(x->data(), dy->data(), dwf->data());
  });
  for (int64_t e = 0; e < rows * k; ++e)
    dw->data()[e] = conv::direct::fold_back_dw_at(spatial, k, dwf->data(), m->data(), e);
  for (int e = 0; e < entries; ++e) {
    T s = T(0);
    for (int64_t r = 0; r < rows; ++r) s += conv::direct::fold_back_dm_term(spatial, k, w->data(), dwf->data(), e, r);
    dm->data()[e] = s;
  }
  emit(json, {x.get(), w.get(), m.get(), bias.get(), dy.get()}, {y.get(), dx.get(), dw.get(), dm.get()});
  wf->check_guards();
  dwf->check_guards();
}

// matmul with the contract's strides; C starts random when accumulating (json "c0"), NaN otherwise.
void run_matmul(const Case& c, Json& json) {
  const Options o = options_of(c);
  const int64_t batch = num(c, "batch", 1), m = num(c, "m", 1), n = num(c, "n", 1), k = num(c, "k", 1);
  const int64_t a_bs = num(c, "a_bs", m * k), a_rs = num(c, "a_rs", k), a_cs = num(c, "a_cs", 1);
  const int64_t b_bs = num(c, "b_bs", k * n), b_rs = num(c, "b_rs", n), b_cs = num(c, "b_cs", 1);
  const bool accumulate = num(c, "accumulate", 0) != 0;
  const uint64_t seed = static_cast<uint64_t>(num(c, "seed", 1));
  auto extent = [](int64_t count, int64_t stride) { return count > 0 ? (count - 1) * stride : 0; };
  auto a = random_tensor("a", sz(extent(batch, a_bs) + extent(m, a_rs) + extent(k, a_cs) + 1), seed);
  auto b = random_tensor("b", sz(extent(batch, b_bs) + extent(k, b_rs) + extent(n, b_cs) + 1), seed + 1);
  auto c0 = random_tensor("c0", sz(batch * m * n), seed + 2);
  auto out = accumulate ? random_tensor("c", sz(batch * m * n), seed + 2) : output_tensor("c", sz(batch * m * n));
  auto body = [&](auto cfg) {
    using Cfg = decltype(cfg);
    auto go = [&](auto ak, auto bk) {
      igemm::MatmulProblem<T, Cfg::BM, Cfg::BN, Cfg::kThreads, decltype(ak)::value, decltype(bk)::value> prob{
          igemm::make_plan(static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), Cfg::BM, Cfg::BN, o.ks(),
                           o.ks(), static_cast<int>(batch), 1),
          a->data(), b->data(), out->data(), a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, accumulate};
      set_splits(prob.plan, o.splits);
      prob.vectorize();
      run_gemm<Cfg>(prob);
    };
    // matmul.cu's staging orders.
    const bool ak = !(a_rs == 1 && a_cs != 1), bk = b_rs == 1 && b_cs != 1;
    using Y = std::true_type;
    using N = std::false_type;
    if (ak && bk) go(Y{}, Y{});
    else if (ak) go(Y{}, N{});
    else if (bk) go(N{}, Y{});
    else go(N{}, N{});
  };
  if (o.cfg == "small") {
    if (o.math == "mma") body(igemm::TileConfig<T, true, 32, 32, 1, 2>{});
    else body(igemm::TileConfig<T, false, 32, 32, 1, 2>{});
  } else if (o.math == "mma") {
    body(igemm::TileConfig<T, true, 64, 128, 2, 4>{});
  } else {
    body(igemm::TileConfig<T, false, 64, 128, 2, 4>{});
  }
  emit(json, {a.get(), b.get(), c0.get()}, {out.get()});
}

// ------------------------------------------------------------------ self-tests

struct SelfTests {
  Json json;
  int failures = 0;
  void result(const std::string& name, bool ok, const std::string& detail) {
    json.key(name);
    json.out << "{\"ok\":" << (ok ? "true" : "false") << ",\"detail\":\"" << detail << "\"}";
    if (!ok) ++failures;
  }
};

void test_fastdivmod(SelfTests& t) {
  long long checked = 0, bad = 0;
  Lcg g(7);
  auto check = [&](int d, int n) {
    const igemm::FastDivmod f(d);
    ++checked;
    if (f.div(n) != n / d) ++bad;
  };
  for (int d = 1; d <= 600; ++d) {
    for (int n = 0; n < 5000; ++n) check(d, n);
    for (int i = 0; i < 200; ++i) check(d, static_cast<int>((g.next() + 1.0) * 1073741823.0));
    check(d, 2147483647);
    check(d, 2147483647 - d);
  }
  const int big[] = {1023, 1024, 1025, 65535, 65536, 65537, 1 << 20, (1 << 20) + 7, 1000003, (1 << 29) + 3,
                     (1 << 30) - 1, 1 << 30, (1 << 30) + 1, 2147483647};
  for (int d : big)
    for (int i = 0; i < 20000; ++i) {
      check(d, static_cast<int>((g.next() + 1.0) * 1073741823.5));
      check(d, i);
      check(d, d - 1);
      check(d, d);
      check(d, 2147483647 - i);
    }
  t.result("fastdivmod", bad == 0, std::to_string(checked) + " divisions, " + std::to_string(bad) + " wrong");
}

// The header's fragment mappings against the PTX tables, and each a bijection onto its matrix.
void test_fragment_tables(SelfTests& t) {
  int bad = 0;
  int seen_a[16][8] = {}, seen_b[8][8] = {}, seen_c[16][8] = {};
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 4; ++i) {
      int r, c;
      Ptx::a(lane, i, r, c);
      const mma::Coord h = mma::tf32_a(lane, i);
      bad += h.row != r || h.col != c;
      ++seen_a[r][c];
      Ptx::c(lane, i, r, c);
      const mma::Coord hc = mma::tf32_c(lane, i);
      bad += hc.row != r || hc.col != c;
      ++seen_c[r][c];
    }
    for (int i = 0; i < 2; ++i) {
      int r, c;
      Ptx::b(lane, i, r, c);
      const mma::Coord h = mma::tf32_b(lane, i);
      bad += h.row != r || h.col != c;
      ++seen_b[r][c];
    }
  }
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c) bad += (seen_a[r][c] != 1) + (seen_c[r][c] != 1) + (r < 8 && seen_b[r][c] != 1);
  t.result("fragment_tables", bad == 0, std::to_string(bad) + " mismatches");
}

// A warp tile product through the fragment loaders and the emulated mma (both staging orders), and through
// the FMA warp tile, against a plain product.
template <int WM, int WN, bool AK, bool BK>
int warp_product_errors(int ks, uint64_t seed) {
  Lcg g(seed);
  const int lda = mma::tile_ld(AK, WM, ks), ldb = mma::tile_ld(BK, WN, ks);
  std::vector<T> sa(static_cast<size_t>(AK ? WM * lda : ks * lda), std::nan(""));
  std::vector<T> sb(static_cast<size_t>(BK ? WN * ldb : ks * ldb), std::nan(""));
  const mma::SmemTile<T, AK> A{sa.data(), lda};
  const mma::SmemTile<T, BK> B{sb.data(), ldb};
  for (int i = 0; i < WM; ++i)
    for (int k = 0; k < ks; ++k) A.at(i, k) = g.next();
  for (int j = 0; j < WN; ++j)
    for (int k = 0; k < ks; ++k) B.at(j, k) = g.next();
  using Mma = igemm::TileConfig<T, true, WM, WN, 1, 1>;
  using Fma = igemm::TileConfig<T, false, WM, WN, 1, 1>;
  Acc<Mma> am(32);
  Acc<Fma> af(32);
  for (auto& a : am) a.fill(T(0));
  for (auto& a : af) a.fill(T(0));
  multiply_tile<Mma>(am, A, B, ks);
  multiply_tile<Fma>(af, A, B, ks);
  int bad = 0;
  std::vector<int> hits(static_cast<size_t>(WM * WN), 0), hits_f(static_cast<size_t>(WM * WN), 0);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < Mma::kAcc; ++i) {
      const mma::Coord c = Mma::acc_coord(lane, i);
      T ref = T(0);
      for (int k = 0; k < ks; ++k) ref += A.at(c.row, k) * B.at(c.col, k);
      bad += std::fabs(am[lane][i] - ref) > 1e-12;
      ++hits[static_cast<size_t>(c.row * WN + c.col)];
    }
    for (int i = 0; i < Fma::kAcc; ++i) {
      const mma::Coord c = Fma::acc_coord(lane, i);
      T ref = T(0);
      for (int k = 0; k < ks; ++k) ref += A.at(c.row, k) * B.at(c.col, k);
      bad += std::fabs(af[lane][i] - ref) > 1e-12;
      ++hits_f[static_cast<size_t>(c.row * WN + c.col)];
    }
  }
  for (size_t i = 0; i < hits.size(); ++i) bad += (hits[i] != 1) + (hits_f[i] != 1);
  return bad;
}

void test_warp_products(SelfTests& t) {
  int bad = 0;
  for (int ks : {8, 16, 32, 40, 72}) {
    bad += warp_product_errors<32, 32, true, false>(ks, 11 + ks);
    bad += warp_product_errors<32, 32, false, true>(ks, 12 + ks);
    bad += warp_product_errors<64, 32, true, true>(ks, 13 + ks);
    bad += warp_product_errors<16, 16, false, false>(ks, 14 + ks);
  }
  t.result("warp_products", bad == 0, std::to_string(bad) + " wrong elements");
}

// mma.cuh's claim: with ld = ks + 4 (k-contiguous) or MN + 8 (MN-contiguous), each fragment register's 32
// float reads fall in 32 distinct banks; the FMA path's distinct addresses fall in distinct banks.
void test_banks(SelfTests& t) {
  int bad = 0;
  for (int ks = 8; ks <= 72; ks += 8)
    for (int mn : {32, 64, 128})
      for (bool kmajor : {true, false}) {
        const int ld = mma::tile_ld(kmajor, mn, ks);
        auto word = [&](int r, int k) { return kmajor ? r * ld + k : k * ld + r; };
        for (int i = 0; i < 4; ++i) {  // A fragments (and B's, which use the same (row, k) pattern)
          int used[32] = {};
          for (int lane = 0; lane < 32; ++lane) {
            const mma::Coord c = mma::tf32_a(lane, i);
            ++used[word(c.row, c.col) % 32];
          }
          for (int b = 0; b < 32; ++b) bad += used[b] != 1;
        }
        for (int i = 0; i < 2; ++i) {
          int used[32] = {};
          for (int lane = 0; lane < 32; ++lane) {
            const mma::Coord c = mma::tf32_b(lane, i);
            ++used[word(c.col, c.row) % 32];
          }
          for (int b = 0; b < 32; ++b) bad += used[b] != 1;
        }
        // FMA: A rows lane/8 + 4i (4 distinct words), B columns lane%8 + 8j (8 distinct words).
        int a_banks[32] = {}, b_banks[32] = {};
        for (int r = 0; r < 4; ++r) ++a_banks[word(r, 0) % 32];
        for (int c = 0; c < 8; ++c) ++b_banks[word(c, 0) % 32];
        for (int b = 0; b < 32; ++b) bad += (a_banks[b] > 1) + (b_banks[b] > 1);
      }
  t.result("bank_conflicts", bad == 0, std::to_string(bad) + " conflicting banks");
}

}  // namespace

int main() {
  SelfTests tests;
  test_fastdivmod(tests);
  test_fragment_tables(tests);
  test_warp_products(tests);
  test_banks(tests);
  std::ostringstream cases;
  std::string line;
  bool first = true;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Case c = parse_case(line);
    Json json;
    json.key("spec");
    json.out << '"' << line << '"';
    const std::string op = str(c, "op", "");
    if (op == "conv")
      run_conv(c, json);
    else if (op == "sim")
      run_sim(c, json);
    else if (op == "static")
      run_static(c, json);
    else if (op == "matmul")
      run_matmul(c, json);
    else
      die("unknown op '%s'", op.c_str());
    cases << (first ? "" : ",") << '{' << json.out.str() << '}';
    first = false;
    g_ranges.clear();
  }
  std::cout << "{\"selftests\":{" << tests.json.out.str() << "},\"cases\":[" << cases.str() << "]}\n";
  return tests.failures == 0 ? 0 : 1;
}
