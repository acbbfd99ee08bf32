// The fused hedging kernel, compiled once per instruction set (GAMMAEXT_ISA_NS).
//
// Paths are processed in blocks of kLanes in structure-of-arrays form: the outer loop runs over
// steps, and every pass inside a step is a branch-free loop over the kLanes paths of the block
// (`#pragma omp simd`), so random numbers, the path step, the Black-Scholes Greeks, the P&L
// attribution and the rule all run vectorized across paths. Everything that depends only on
// the step (time to expiry, discount factors, which options are alive, which triggers are on)
// is decided once per step outside the lane loops. A block always has kLanes lanes (a partial
// last block repeats a real path in the spare lanes and discards them), so every path goes
// through exactly the same instructions wherever it falls: results are bit-identical at any
// thread count and any chunking.
//
// The accounting is spelled out in python/gammaext/reference/hedging.py (the NumPy reference
// that this kernel matches) and docs/hedging.md.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "gammaext/hedging.hpp"
#include "gammaext/lanes.hpp"
#include "gammaext/random.hpp"
#include "gammaext/vmath.hpp"

#ifndef GAMMAEXT_ISA_NS
#error "compile this file with -DGAMMAEXT_ISA_NS=<namespace>"
#endif

namespace gammaext::GAMMAEXT_ISA_NS {
namespace {

[[nodiscard]] double hp(const HedgeSpec& s, HedgeParam i) noexcept { return s.p[i]; }

constexpr int kLanes = 64;          // paths per block: ~40 state arrays of 64 doubles stay in L1
// Poisson inverse CDF of the jump counts: m + 12 sqrt(m) + kMaxJumps terms (m = intensity dt),
// so P(N beyond them) < 2e-14 whatever m.
constexpr int kMaxJumps = 16;
constexpr double kBpsScale = 1e-4;  // basis points to a fraction
constexpr double kMinTradeUnits = 1e-12;  // smallest trade, in shares per unit of option quantity
constexpr double kTwoPi = 6.283185307179586477;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // the normal density's 1 / sqrt(2 pi)
constexpr std::size_t kMaxGroupTable = 16384;  // GroupSteps (176 bytes each) cached per run
constexpr double kInf = std::numeric_limits<double>::infinity();

using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i64 = std::int64_t;

// The kernel's arrays of doubles: std::vector's out-of-line members (fill, grow) are
// instantiated per allocator, and with an allocator of this file's anonymous namespace they
// have internal linkage, so the linker cannot hand one instruction set's kernel the copy
// compiled for another (.ci/check_isa_symbols; a sanitizer build keeps them out of line).
template <class T>
struct KernelAllocator : std::allocator<T> {
    KernelAllocator() noexcept = default;
    template <class U>
    KernelAllocator(const KernelAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding
};
using Doubles = std::vector<double, KernelAllocator<double>>;

/// Per-step constants of one option group: everything in its Greeks that is the same for all
/// paths at that step.
struct GroupStep {
    bool alive = false;   // tau > 0: priced with Black-Scholes
    bool settle = false;  // expires at this step: settled at intrinsic value
    double strike = 0, log_strike = 0, qc = 0, qp = 0, qsum = 0;
    double sig_t = 0, mu_t = 0, dq = 0, dr = 0, theta_k = 0, sqrt_t = 0;  // mark vol
    double inv_sig_t = 0, dq_sig_t = 0, ratio = 0;  // 1/(vol sqrt t), dq/(vol sqrt t), dq/(K dr)
    double hsig_t = 0, hmu_t = 0, inv_hsig_t = 0, dq_hsig_t = 0;  // hedge vol
    double tau = 0;    // years to expiry
    double wdisc = 0;  // e^{-r tau / 2}: the Whalley-Wilmott discount of this group's gamma
};

/// One option group's marks on every lane, quantity included (the roll rule's legs, whose
/// strike and expiry differ by lane): value, delta, gamma, theta, vega, vanna, volga, the
/// trader's delta and gamma (at the observed price and the hedge vol) and discounted gamma
/// (the Whalley-Wilmott band's), the vega per unit (the roll's half-spread) and the call delta
/// per unit at the observed price (the roll's trigger).
struct GroupLanes {
    alignas(64) double val[kLanes], del[kLanes], gam[kLanes], the[kLanes], vega[kLanes],
        vanna[kLanes], volga[kLanes], hdel[kLanes], hgam[kLanes], wgam[kLanes], uvega[kLanes],
        cdelta[kLanes];
};

/// Per-leg marks (surface or Heston), per lane: log ATM vol (stochastic level) and atm / atm0
/// (its multiplier of every vol), the log spot that sticky strike keeps (each path's first
/// price, or the surface's spot), the atm_vol stream's normals of these four steps, scratch
/// (log-moneyness; one group's d1 and 1 / (vol sqrt t) from the tail check to the marks) and
/// the first leg's implied vol (trace).
struct LaneBlock {
    alignas(64) double atm_y[kLanes], atm_m[kLanes], ls0[kLanes], q[4][kLanes];
    alignas(64) double lmk[kLanes], sc_d1[kLanes], sc_inv[kLanes], iv0[kLanes], one[kLanes];
    // The hedge option (an option as second hedge instrument): quantity held, this step's
    // trade and its cost, and its Greeks per unit at its own implied vol.
    alignas(64) double qh[kLanes], oq[kLanes], ocost[kLanes];
    i64 arow[kLanes];  // the lane's row offset in HedgeSpec::atm_rows
    alignas(64) double uv[kLanes], ud[kLanes], ug[kLanes], ut[kLanes], uvg[kLanes],
        uva[kLanes], uvo[kLanes];
    // The roll rule (Setup::roll): this step's cash from the rolls (old legs sold and new ones
    // bought at their marks, less the half-spread) and that half-spread, the rolls so far, the
    // option units alive (sold at the horizon), and scratch: which lanes roll, a constant
    // hedge vol, the rolled legs' vols and a group's marks before (ga) and, on the lanes that
    // roll (packed), after (gb) a roll.
    alignas(64) double rcash[kLanes], rcost[kLanes], rolls[kLanes], units[kLanes];
    alignas(64) double trig[kLanes], hfix[kLanes], nv[kLanes], tau[kLanes];
    GroupLanes ga, gb;
    // The lanes that roll at this step (idx), their inputs of roll_group_greeks packed
    // (RollLanes: pk[0..10)) and the new legs' value and vega per unit back on their lanes
    // (zero elsewhere).
    alignas(64) double pk[10][kLanes], bval[kLanes], buv[kLanes];
    alignas(64) int idx[kLanes];
    // roll_lane_terms' per-lane terms for roll_group_greeks: years to expiry, its square root,
    // 1 / (vol sqrt t), d1 and the discounts e^{-q tau}, e^{-r tau}.
    alignas(64) double rt[kLanes], rsq[kLanes], rinv[kLanes], rd1[kLanes], rdq[kLanes],
        rdr[kLanes];
    // The trader's view of the hedge option when it is not the marks' (noise, or a hedge vol
    // other than the implied): its delta and gamma per unit at the observed price and the hedge
    // vol, its vega per unit at the observed price and its implied vol, and its hedge vol.
    alignas(64) double tud[kLanes], tug[kLanes], tuv[kLanes], thv[kLanes];
};

/// The state shared by every rule over a block of paths: prices, draws, the option marks and
/// the rule-independent parts of the P&L.
struct Block {
    alignas(64) u32 path_lo[kLanes], path_hi[kLanes];
    alignas(64) double lx[kLanes], lo[kLanes], s[kLanes], o[kLanes];  // log true/observed, prices
    alignas(64) double lx_prev[kLanes], lo_prev[kLanes], s_prev[kLanes], o_prev[kLanes];
    alignas(64) double var[kLanes], walk[kLanes], start[kLanes];  // Heston v, scenario noise, bootstrap
    alignas(64) double za[kLanes], zb[kLanes], ua[kLanes], ub[kLanes], ja[kLanes], jb[kLanes];
    alignas(64) double na[kLanes], nb[kLanes];  // noise draws
    // Option marks at the current step (mark vol; hdel/hgam at the hedge vol).
    alignas(64) double val[kLanes], del[kLanes], gam[kLanes], the[kLanes], hdel[kLanes],
        hgam[kLanes], pay[kLanes], inv_s[kLanes], veg[kLanes];
    // Rule-independent accumulators.
    alignas(64) double a_vega[kLanes], a_gamma[kLanes], a_theta[kLanes], rv[kLanes];
    // Second-order vol terms: vanna dS dvol and volga dvol^2 / 2 (accumulated), and, with a
    // shared vol path, the portfolio's vanna and volga at this step.
    alignas(64) double a_vanna[kLanes], a_volga[kLanes], vna[kLanes], vlg[kLanes];
    // The per-leg marks' state (Workspace::lane; touched only with per-leg vols, kept out of
    // the block so that the constant-vol engine's working set stays as it was).
    LaneBlock* ln = nullptr;
    alignas(64) double inv_o[kLanes];  // 1 / observed, for the trader's gamma
    // Realized hedge vol: the lane's vol at this step, and the estimator's sum of annualised
    // squared observed returns with its weight (EWMA) or count (window): variance hv_s / hv_w.
    alignas(64) double hvl[kLanes], hv_s[kLanes];
    double hv_w;
    // The trader's gamma with each group discounted to its own expiry, sum e^{-r tau/2} Gamma
    // (the Whalley-Wilmott band's; computed only when a rule has that band).
    alignas(64) double wgam[kLanes];
    // Signals at the current time: volume profile in [0, 1], order-book imbalance in [-1, 1]
    // (from the user, or from the signal generator with its draws and the shock it sets for
    // the next step, and that shock's predecessor).
    alignas(64) double vp[kLanes], imb[kLanes], next_z[kLanes];
    alignas(64) double sg_wa[kLanes], sg_wb[kLanes], sg_ea[kLanes], sg_eb[kLanes];
    alignas(64) double sg_va[kLanes], sg_vb[kLanes], sg_ca[kLanes], sg_cb[kLanes];
};

/// The parameters of one rule (read from its parameter array).
struct RuleParams {
    BandKind band_kind;
    double every, move, band0, widen;
    bool to_edge;
    double atr_mult;
    i64 atr_len;
    bool atr_from_last, gate;
    double gate_min, gate_max, alpha, max_interval, ww_c;
    i64 er_n;
    double strength;  // the signal bands' response to their signal
    bool move_only;   // a price move alone: no gate, band, ATR, clock or maximum interval

    explicit RuleParams(const double* p) noexcept
        : band_kind(static_cast<BandKind>(static_cast<int>(p[hp_band_kind]))),
          every(p[hp_every]),
          move(p[hp_move]),
          band0(p[hp_band]),
          widen(p[hp_er_widen]),
          to_edge(p[hp_band_to_edge] != 0.0),
          atr_mult(p[hp_atr_mult]),
          atr_len(static_cast<i64>(p[hp_atr_length])),
          atr_from_last(p[hp_atr_from_last] != 0.0),
          gate(p[hp_gate] != 0.0),
          gate_min(p[hp_gate_min]),
          gate_max(p[hp_gate_max]),
          alpha(p[hp_gate_alpha]),
          max_interval(p[hp_max_interval]),
          ww_c(band_kind == BandKind::whalley_wilmott
                   ? 1.5 * p[hp_ww_cost] / p[hp_ww_risk_aversion]
                   : 0.0),
          er_n(static_cast<i64>(p[hp_er_length])),
          strength(p[hp_signal_strength]),
          move_only(move > 0.0 && !(atr_mult > 0.0) && band_kind == BandKind::none && !gate &&
                    !(max_interval > 0.0) && !(every > 0.0)) {}
};

/// One rule's hedge book over a block of paths: the stock position and cash, the
/// rule-dependent P&L parts and the rule's own state.
struct Book {
    alignas(64) double h[kLanes], cash[kLanes], last[kLanes], since[kLanes];
    alignas(64) double a_hedge[kLanes], a_fin[kLanes], a_cost[kLanes], rebal[kLanes],
        traded[kLanes], turnover[kLanes], peak[kLanes], maxdd[kLanes];
    alignas(64) double atr[kLanes], hv[kLanes], er[kLanes], band[kLanes], q[kLanes];
    alignas(64) double pend[kLanes];  // orders decided but not filled yet (latency > 0)
};

void fill(double* a, double x) noexcept {
    for (int j = 0; j < kLanes; ++j) {
        a[j] = x;
    }
}

/// Box-Muller in place over a block: (a[j], c[j]) uniforms in, normals out.
void box_muller_lanes(double* __restrict a, double* __restrict c) noexcept {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        double z0, z1;
        rng::box_muller(a[j], c[j], z0, z1);
        a[j] = z0;
        c[j] = z1;
    }
}

/// Fills a[j], c[j] with draws 2n and 2n+1 of `stream` for every lane (normals or uniforms).
void draw_pair(const Block& b, u64 seed, rng::Stream stream, u32 n, bool normal,
               double* __restrict a, double* __restrict c) noexcept {
    rng::philox_lanes<kLanes>(seed, stream, n, b.path_lo, b.path_hi,
                              [&](int j, u32 w0, u32 w1, u32 w2, u32 w3) {
        a[j] = rng::uniform_from_bits(w0, w1);
        c[j] = rng::uniform_from_bits(w2, w3);
    });
    if (normal) {
        box_muller_lanes(a, c);
    }
}

/// Fills q[i][j] with draw 4n + i of a stream drawn four per call (rng::draws_per_call: one
/// 32-bit word per uniform) for every lane, normals or uniforms.
void draw_quad(const Block& b, u64 seed, rng::Stream stream, u32 n, bool normal,
               double* __restrict q0, double* __restrict q1, double* __restrict q2,
               double* __restrict q3) noexcept {
    rng::philox_lanes<kLanes>(seed, stream, n, b.path_lo, b.path_hi,
                              [&](int j, u32 w0, u32 w1, u32 w2, u32 w3) {
        q0[j] = rng::uniform_from_word(w0);
        q1[j] = rng::uniform_from_word(w1);
        q2[j] = rng::uniform_from_word(w2);
        q3[j] = rng::uniform_from_word(w3);
    });
    if (normal) {
        box_muller_lanes(q0, q1);
        box_muller_lanes(q2, q3);
    }
}

/// Everything of a run that is the same for every block.
struct Setup {
    const HedgeSpec& spec;
    PathKind kind;
    NoiseKind noise;
    i64 n_steps;
    double spot, drift, path_vol, vol, hvol, rate, div;
    bool same_hedge_vol;  // hedge delta and gamma are the marks' (hedge_vol NaN or equal)
    bool fill_observed;   // research mode: fills and stock marks at the observed price
    i64 latency;          // steps from a decision to its fill
    double spread_vol;    // half-spread widening per unit of |efficient log return| of a step
    double impact;        // impact: relative price concession per share, impact_bps 1e-4 / units
    double option_units;  // sum of |qc| + |qp| over groups
    double horizon;       // times[n_steps] - times[0]
    Doubles lnk;  // log strike of each group
    HedgeVolKind hv_kind; // hedge vol: given (implied or constant), or realized so far
    i64 hv_window;        // window kind: returns in the window (<= n_steps)
    double hv_alpha;      // EWMA weight of the newest return, 1 - 2^(-1 / half-life)
    i64 hv_warmup;        // realized only from this many observed returns on (implied before)
    double hv_floor;      // realized hedge vol floor (annualised)
    bool any_ww;          // some rule has a Whalley-Wilmott band: wgam is needed
    bool any_gate;        // some rule has a vol gate: per-leg marks keep the first leg's vol
    SignalKind sig_kind;  // the signal generator's informative signal
    double sig_rho;       // and its informativeness in [0, 1]
    bool user_signals;    // signals read from the user's arrays
    // Implied vol per leg (issue 14): each leg marked at its own vol from the surface (sticky
    // strike, or moneyness: the smile moves with spot), optionally times atm / atm0 of the
    // stochastic ATM level (an OU in log vol driven by the price normal and the atm_vol
    // stream), or from the Heston variance.
    VolModel vol_model;
    bool lanes;           // per-leg, per-path vols (surface or heston)
    bool sticky_moneyness;
    bool atm_on;
    double ln_atm0, ln_atm_level, atm_kappa, atm_xi, atm_rho, atm_rho_perp;
    std::vector<surface::OuStep> atm_steps;  // the level's OU transition over each step
    double heston_kappa, heston_theta;
    bool heston_smile;  // heston marks times a surface's smile shape (an SVI or grid surface)
    // An option as second hedge instrument (the last group, held quantity 0 in the book):
    // traded every oh_every steps to make the book vega- (or gamma-) neutral, paying a
    // half-spread of oh_half_spread_vol vol points (decimals) times its vega per unit.
    bool oh_on;
    i64 oh_every;
    bool oh_gamma, oh_call;
    double oh_hs;
    double oh_band;  // trade only when |book + held| vega (gamma) exceeds it (0: always)
    // The roll rule (per-leg marks only): at steps 0 < k < n_steps a group's legs that expired
    // (roll_expiry) or whose call delta per unit left [roll_lo, roll_hi] are sold at their
    // mark and bought again at strike roll_mny x the observed price, expiring roll_tenor
    // years later (NaN: each group's own, its strike / spot and its expiry, so a book of
    // several strikes or expiries keeps its shape); each sale and purchase pays roll_hs vol
    // points (decimals) x vega per unit.
    // An expiry's step is the first grid time >= expiry - expiry_tol, and the expiry that
    // grid time (Position.groups).
    bool roll;
    bool roll_expiry;
    double roll_tenor, roll_mny, roll_lo, roll_hi, roll_hs, expiry_tol;
    // The P&L without its split (HedgeSpec::split false) under rules whose triggers do not
    // read the book's delta, at one vol, a given hedge vol and no trace: the options are marked
    // only at time 0, at expiries and at the horizon, the hedge delta only where a rule trades
    // (orders_at_trades). Delta bands (and Whalley-Wilmott, the signal bands) compare the
    // delta with the band at every step, so they take the full marks.
    bool marks_at_trades;
    // The group constants of every step, (n_steps + 1) x n_groups, when they fit in
    // kMaxGroupTable (else each block computes them at each step): the same for every path.
    std::vector<GroupStep> group_table;
};

/// Per-leg implied vols of the current block, n_groups x kLanes each: the vol at the current
/// step, at the next one, and the vega, vanna and volga of the current step (quantity
/// included) that attribute its change.
struct LegVols {
    Doubles vol, next, vega, vanna, volga;
    // The roll rule: each lane's strike, log strike, expiry (years) and expiry step.
    Doubles strike, lstrike, expiry, estep;
    void resize(i64 n_groups, bool roll) {
        for (Doubles* v : {&vol, &next, &vega, &vanna, &volga}) {
            v->assign(static_cast<std::size_t>(n_groups) * kLanes, 0.0);
        }
        if (roll) {
            for (Doubles* v : {&strike, &lstrike, &expiry, &estep}) {
                v->assign(static_cast<std::size_t>(n_groups) * kLanes, 0.0);
            }
        }
    }
};

/// The option marks of one group, added into val/del/gam/the for every lane: call Greeks
/// (Haug ch. 2), puts by parity P = C - S dq + K dr. One exponential: exp(-d2^2/2) =
/// exp(-d1^2/2) S dq / (K dr) (exact identity; the product loses relative accuracy only if
/// vol sqrt(t) > ~10, far outside any hedging use).
template <bool kTail>
void marks(Block& b, const GroupStep& c, double r, double q) noexcept {
    const double K = c.strike;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double s = b.s[j];
        const double lsk = b.lx[j] - c.log_strike;
        const double d1 = (lsk + c.mu_t) * c.inv_sig_t;
        const double d2 = d1 - c.sig_t;
        const double e1 = vmath::half_gauss<kTail>(d1);
        const double pdf = kInvSqrt2Pi * e1;
        const double n1 = vmath::norm_cdf_from<kTail>(d1, e1);
        const double n2 = vmath::norm_cdf_from<kTail>(d2, e1 * s * c.ratio);
        const double sdq = s * c.dq;
        const double kdr = K * c.dr;
        const double call = sdq * n1 - kdr * n2;
        const double cdelta = c.dq * n1;
        const double gamma = pdf * c.dq_sig_t * b.inv_s[j];
        const double ctheta = -sdq * pdf * c.theta_k - r * kdr * n2 + q * sdq * n1;
        b.val[j] += c.qsum * call - c.qp * (sdq - kdr);
        b.del[j] += c.qsum * cdelta - c.qp * c.dq;
        b.gam[j] += c.qsum * gamma;
        b.the[j] += c.qsum * ctheta - c.qp * (q * sdq - r * kdr);
    }
}

/// The option marks of group c with one vol per lane (vl: the leg's implied vol on every path),
/// added into val/del/gam/the (and wgam when ww_on: the Whalley-Wilmott gamma is the marks'),
/// and, when kVega, the group's vega, vanna and volga per lane (quantity included) written to
/// vega, vanna, volga: vega = S dq phi(d1) sqrt(t), vanna = d delta / d vol = -dq phi(d1) d2 /
/// vol, volga = d vega / d vol = vega d1 d2 / vol (Haug, ch. 2; calls and puts alike). Only
/// the split (and the trace) and the hedge option's vega target read them.
template <bool kTail, bool kVega>
void marks_lanes(Block& b, const GroupStep& c, const double* __restrict vl, double r, double q,
                 bool ww_on, double* __restrict vega, double* __restrict vanna,
                 double* __restrict volga) noexcept {
    const double K = c.strike, ww = ww_on ? c.wdisc * c.qsum : 0.0;
    const double half_inv_sqrt = 0.5 / c.sqrt_t;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double s = b.s[j];
        const double v = vl[j];
        const double sig_t = v * c.sqrt_t;
        const double inv_sig_t = b.ln->sc_inv[j];  // from block_needs_tail_lanes
        const double d1 = b.ln->sc_d1[j];
        const double d2 = d1 - sig_t;
        const double e1 = vmath::half_gauss<kTail>(d1);
        const double pdf = kInvSqrt2Pi * e1;
        const double n1 = vmath::norm_cdf_from<kTail>(d1, e1);
        const double n2 = vmath::norm_cdf_from<kTail>(d2, e1 * s * c.ratio);
        const double sdq = s * c.dq;
        const double kdr = K * c.dr;
        const double call = sdq * n1 - kdr * n2;
        const double gamma = pdf * c.dq * inv_sig_t * b.inv_s[j];
        const double ctheta = -sdq * pdf * v * half_inv_sqrt - r * kdr * n2 + q * sdq * n1;
        const double vg = sdq * pdf * c.sqrt_t;
        b.val[j] += c.qsum * call - c.qp * (sdq - kdr);
        b.del[j] += c.qsum * c.dq * n1 - c.qp * c.dq;
        b.gam[j] += c.qsum * gamma;
        b.the[j] += c.qsum * ctheta - c.qp * (q * sdq - r * kdr);
        b.wgam[j] += ww * gamma;
        if constexpr (kVega) {
            vega[j] = c.qsum * vg;
            vanna[j] = -c.qsum * c.dq * pdf * d2 * inv_sig_t * c.sqrt_t;
            volga[j] = c.qsum * vg * d1 * d2 * inv_sig_t * c.sqrt_t;
        }
    }
}

/// Whether some lane's d1 or d2 of group c at its own vol (vl) lies beyond kCdfTailStart;
/// leaves d1 and 1 / (vol sqrt t) in b.ln->sc_d1, b.ln->sc_inv for marks_lanes.
bool block_needs_tail_lanes(Block& b, const GroupStep& c, const double* __restrict vl,
                            double rq) noexcept {
    double* __restrict inv_out = b.ln->sc_inv;
    double* __restrict d1_out = b.ln->sc_d1;
    double n = 0.0;
#pragma omp simd reduction(+ : n)
    for (int j = 0; j < kLanes; ++j) {
        const double v = vl[j];
        const double sig_t = v * c.sqrt_t;
        const double inv = 1.0 / sig_t;
        const double d1 = (b.lx[j] - c.log_strike + (rq + 0.5 * v * v) * c.tau) * inv;
        const double d2 = d1 - sig_t;
        inv_out[j] = inv;
        d1_out[j] = d1;
        const bool near = (std::fabs(d1) <= vmath::kCdfTailStart) &
                          (std::fabs(d2) <= vmath::kCdfTailStart);  // false for NaN
        n += near ? 0.0 : 1.0;
    }
    return n > 0.0;
}

/// Whether some lane's d1 or d2 of group c lies beyond kCdfTailStart (or is NaN).
bool block_needs_tail(const Block& b, const GroupStep& c) noexcept {
    double n = 0.0;
#pragma omp simd reduction(+ : n)
    for (int j = 0; j < kLanes; ++j) {
        const double d1 = (b.lx[j] - c.log_strike + c.mu_t) * c.inv_sig_t;
        const double d2 = d1 - c.sig_t;
        const bool near = (std::fabs(d1) <= vmath::kCdfTailStart) &
                          (std::fabs(d2) <= vmath::kCdfTailStart);  // false for NaN
        n += near ? 0.0 : 1.0;
    }
    return n > 0.0;
}

/// Whether the hedge Greeks are the marks' own: the same vol, and the observed price is the
/// efficient one (no noise).
bool hedge_is_mark(const Setup& su) noexcept {
    return su.same_hedge_vol && su.noise == NoiseKind::none && su.hv_kind == HedgeVolKind::given;
}

/// The realized hedge vol of every lane at step k (k observed returns so far): the implied vol
/// until hv_warmup returns are in, then sqrt(hv_s / hv_w), at least hv_floor.
void realized_hedge_vols(const Setup& su, Block& b, i64 k, double implied) noexcept {
    if (k < su.hv_warmup) {
        fill(b.hvl, implied);
        return;
    }
    const double inv_w = 1.0 / b.hv_w, floor = su.hv_floor;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double v = std::sqrt(b.hv_s[j] * inv_w);
        b.hvl[j] = v > floor ? v : floor;
    }
}

/// The estimator of the realized hedge vol after the observed return of step k -> k1 (x = its
/// squared log return over dt, annualised): EWMA s = (1 - a) s + a x, w = (1 - a) w + a (w is
/// the weight of the returns so far, so s / w is their weighted mean whatever the start); or the
/// plain mean of the last hv_window values, summed oldest first from the ring.
void update_hedge_vol(const Setup& su, Block& b, double* ring, i64 k1, double dt) noexcept {
    const double inv_dt = 1.0 / dt;
    if (su.hv_kind == HedgeVolKind::ewma) {
        const double a = su.hv_alpha, keep = 1.0 - a;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double lr = b.lo[j] - b.lo_prev[j];
            b.hv_s[j] = keep * b.hv_s[j] + a * (lr * lr * inv_dt);
        }
        b.hv_w = keep * b.hv_w + a;
        return;
    }
    const i64 n = su.hv_window;
    double* __restrict slot = ring + ((k1 - 1) % n) * kLanes;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double lr = b.lo[j] - b.lo_prev[j];
        slot[j] = lr * lr * inv_dt;
    }
    const i64 m = std::min(n, k1);
    fill(b.hv_s, 0.0);
    for (i64 i = k1 - m; i < k1; ++i) {
        const double* __restrict x = ring + (i % n) * kLanes;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.hv_s[j] += x[j];
        }
    }
    b.hv_w = static_cast<double>(m);
}

/// The trader's Greeks of group c at the observed price and a hedge vol per lane (hvl: the
/// realized hedge vol, or the leg's own implied vol), added into hdel/hgam (and the
/// discounted gamma wgam).
void trader_greeks_per_lane(Block& b, const GroupStep& c, double rq,
                            const double* __restrict hvl) noexcept {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double hv = hvl[j];
        const double hs = hv * c.sqrt_t;
        const double d1 = (b.lo[j] - c.log_strike + (rq + 0.5 * hv * hv) * c.tau) / hs;
        const double e1 = vmath::half_gauss(d1);
        const double n1 = vmath::norm_cdf_from(d1, e1);
        const double g = c.qsum * kInvSqrt2Pi * e1 * c.dq / hs * b.inv_o[j];
        b.hdel[j] += c.qsum * c.dq * n1 - c.qp * c.dq;
        b.hgam[j] += g;
        b.wgam[j] += c.wdisc * g;
    }
}

/// The trader's Greeks of group c at the observed price and the step's hedge vol.
void trader_greeks(Block& b, const GroupStep& c) noexcept {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double d1 = (b.lo[j] - c.log_strike + c.hmu_t) * c.inv_hsig_t;
        const double e1 = vmath::half_gauss(d1);
        const double n1 = vmath::norm_cdf_from(d1, e1);
        const double g = c.qsum * kInvSqrt2Pi * e1 * c.dq_hsig_t * b.inv_o[j];
        b.hdel[j] += c.qsum * c.dq * n1 - c.qp * c.dq;
        b.hgam[j] += g;
        b.wgam[j] += c.wdisc * g;
    }
}

/// The hedge delta of group c on n packed lanes (x: their log price, the true one for the
/// marks' delta, the observed one for the trader's), added into out: the arithmetic of
/// marks() or trader_greeks(), so the same bits (norm_cdf_from<true> is <false>'s where that
/// one is valid).
/// d1 first, then the CDF without Cody's asymptotic range when no packed lane needs it (as in
/// marks(): the same bits).
template <bool kTrader>
void packed_delta(const GroupStep& c, const double* __restrict x, int n,
                  double* __restrict out) noexcept {
    alignas(64) double d1s[kLanes];
    double far = 0.0;  // lanes beyond kCdfTailStart (or NaN)
#pragma omp simd reduction(+ : far)
    for (int i = 0; i < n; ++i) {
        const double d1 = kTrader ? (x[i] - c.log_strike + c.hmu_t) * c.inv_hsig_t
                                  : (x[i] - c.log_strike + c.mu_t) * c.inv_sig_t;
        d1s[i] = d1;
        far += std::fabs(d1) <= vmath::kCdfTailStart ? 0.0 : 1.0;
    }
    const auto lanes = [&]<bool kTail>() {
#pragma omp simd
        for (int i = 0; i < n; ++i) {
            const double d1 = d1s[i];
            const double n1 = vmath::norm_cdf_from<kTail>(d1, vmath::half_gauss<kTail>(d1));
            if constexpr (kTrader) {
                out[i] += c.qsum * c.dq * n1 - c.qp * c.dq;
            } else {
                out[i] += c.qsum * (c.dq * n1) - c.qp * c.dq;
            }
        }
    };
    if (far > 0.0) {
        lanes.template operator()<true>();
    } else {
        lanes.template operator()<false>();
    }
}

/// Setup::marks_at_trades: decide() ran on a stale hedge delta (no trigger of these rules
/// reads it, and each sets since = 0 where it trades), so the lanes that trade get their order
/// again, decide()'s full trade to a net delta of 0, with the hedge delta of this step computed
/// for them alone (packed: Move(1%) trades on about 45% of the lane-steps).
void orders_at_trades(const Setup& su, const Block& b, Book& bk,
                      const std::vector<GroupStep>& gs) noexcept {
    // (8 slots of slack: the AVX-512 path stores whole vectors at the packed end)
    alignas(64) double x[kLanes + 8], hdel[kLanes + 8];
    const bool trader = !hedge_is_mark(su);
    const double* __restrict lp = trader ? b.lo : b.lx;
    std::fill(hdel, hdel + kLanes + 8, 0.0);
#ifdef __AVX512F__
    __mmask8 masks[kLanes / 8];
    const int n = lanes::select<_CMP_EQ_OQ>(bk.since, 0.0, kLanes, masks);
    lanes::pack(lp, x, masks, kLanes, n, n);
#else
    alignas(64) int idx[kLanes];
    int n = 0;
    for (int j = 0; j < kLanes; ++j) {  // compaction without branches
        idx[n] = j;
        x[n] = lp[j];
        n += bk.since[j] == 0.0 ? 1 : 0;
    }
#endif
    for (const GroupStep& c : gs) {
        if (!c.alive) {
            continue;
        }
        if (trader) {
            packed_delta<true>(c, x, n, hdel);
        } else {
            packed_delta<false>(c, x, n, hdel);
        }
    }
#ifdef __AVX512F__
    alignas(64) double hd[kLanes];  // the packed deltas back on their lanes
    lanes::unpack<true>(hdel, hd, masks, kLanes);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        bk.q[j] = bk.since[j] == 0.0 ? 0.0 - (hd[j] + bk.h[j] + bk.pend[j]) : bk.q[j];
    }
#else
    for (int i = 0; i < n; ++i) {
        const int j = idx[i];
        const double net = hdel[i] + bk.h[j] + bk.pend[j];
        bk.q[j] = 0.0 - net;
    }
#endif
}

/// The Whalley-Wilmott discounted gamma when the trader's Greeks are the marks: the marks'
/// gamma times the discount if every live group has the same expiry, else group by group.
void discounted_mark_gamma(Block& b, const std::vector<GroupStep>& gs) noexcept {
    double tau = -1.0, wdisc = 0.0;
    bool one_expiry = true;
    for (const GroupStep& c : gs) {
        if (c.alive) {
            one_expiry = one_expiry && (tau < 0.0 || c.tau == tau);
            tau = c.tau;
            wdisc = c.wdisc;
        }
    }
    if (one_expiry) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.wgam[j] = wdisc * b.gam[j];
        }
        return;
    }
    fill(b.wgam, 0.0);
    for (const GroupStep& c : gs) {
        if (!c.alive) {
            continue;
        }
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double d1 = (b.lx[j] - c.log_strike + c.mu_t) * c.inv_sig_t;
            b.wgam[j] += c.wdisc * c.qsum * kInvSqrt2Pi * vmath::half_gauss(d1) * c.dq_sig_t *
                         b.inv_s[j];
        }
    }
}

/// The per-step constants of every group at step k (mark vol `vol`, hedge vol `hvol`).
void group_steps(const Setup& su, i64 k, double vol, double hvol,
                 std::vector<GroupStep>& gs) noexcept {
    const HedgeSpec& sp = su.spec;
    const double t = sp.times[k];
    for (i64 g = 0; g < sp.n_groups; ++g) {
        const OptionGroup& og = sp.groups[g];
        GroupStep& c = gs[static_cast<std::size_t>(g)];
        c.alive = k < og.expiry_step;
        c.settle = k == og.expiry_step;
        c.strike = og.strike;
        c.log_strike = su.lnk[static_cast<std::size_t>(g)];
        c.qc = og.qc;
        c.qp = og.qp;
        c.qsum = og.qc + og.qp;
        if (c.alive) {
            const double tau = og.expiry - t;
            const double sq = std::sqrt(tau);
            c.sqrt_t = sq;
            c.sig_t = vol * sq;
            c.mu_t = (su.rate - su.div + 0.5 * vol * vol) * tau;
            c.dq = std::exp(-su.div * tau);
            c.dr = std::exp(-su.rate * tau);
            c.theta_k = vol / (2.0 * sq);
            c.hsig_t = hvol * sq;
            c.hmu_t = (su.rate - su.div + 0.5 * hvol * hvol) * tau;
            c.inv_sig_t = 1.0 / c.sig_t;
            c.dq_sig_t = c.dq / c.sig_t;
            // dr = 0 (r tau > ~745): K dr = 0 and N(d2) multiplies nothing (roll_group_greeks)
            const double ratio = c.dq / (og.strike * c.dr);
            c.ratio = ratio < kInf ? ratio : 0.0;
            c.inv_hsig_t = 1.0 / c.hsig_t;
            c.dq_hsig_t = c.dq / c.hsig_t;
            c.tau = tau;
            c.wdisc = std::exp(-0.5 * su.rate * tau);
        }
    }
}

/// group_steps at step k's mark vol and hedge vol.
void group_steps_at(const Setup& su, i64 k, std::vector<GroupStep>& gs) noexcept {
    const double vol = su.spec.vols != nullptr ? su.spec.vols[k] : su.vol;  // implied vol at k
    group_steps(su, k, vol, su.same_hedge_vol ? vol : su.hvol, gs);
}

/// The per-step constants of every group at step k into gs: from Setup::group_table, or
/// computed where the run has too many steps for it.
void step_groups(const Setup& su, i64 k, std::vector<GroupStep>& gs) noexcept {
    const auto n = static_cast<std::size_t>(su.spec.n_groups);
    if (su.group_table.empty()) {
        group_steps_at(su, k, gs);
        return;
    }
    const auto row = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(k) * n);
    std::copy_n(su.group_table.begin() + row, n, gs.begin());
}

/// The marks of group c at one vol for every path (and, with a shared vol path, the vega,
/// vanna and volga that attribute its changes).
void group_marks(const Setup& su, Block& b, const GroupStep& c) noexcept {
    const double r = su.rate, q = su.div;
    // Cody's asymptotic range is evaluated only in blocks where some |d| needs it (near
    // expiry, far from the money): norm_cdf_from<false> gives the same bits below
    // kCdfTailStart, so a lane's result does not depend on its neighbours.
    if (block_needs_tail(b, c)) {
        marks<true>(b, c, r, q);
    } else {
        marks<false>(b, c, r, q);
    }
    if (su.spec.vols != nullptr) {  // vega (per 1.00 of vol), only needed with a vol path
        const double inv_vol = c.inv_sig_t * c.sqrt_t;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double d1 = (b.lx[j] - c.log_strike + c.mu_t) * c.inv_sig_t;
            const double d2 = d1 - c.sig_t;
            const double e1 = vmath::half_gauss(d1);
            const double pdf = kInvSqrt2Pi * e1;
            const double vg = c.qsum * b.s[j] * c.dq * kInvSqrt2Pi * e1 * c.sqrt_t;
            b.veg[j] += vg;
            b.vna[j] -= c.qsum * c.dq * pdf * d2 * inv_vol;
            b.vlg[j] += vg * d1 * d2 * inv_vol;
        }
    }
}

/// The marks of group g (GroupStep c) at its own vol on every path (lv), and the trader's
/// Greeks when they differ from the marks.
void group_marks_lanes(const Setup& su, Block& b, const GroupStep& c, LegVols& lv, i64 g,
                       i64 k) noexcept {
    const auto at = static_cast<std::size_t>(g) * kLanes;
    const double* vl = lv.vol.data() + at;
    const double r = su.rate, q = su.div;
    const bool mark_hedge = hedge_is_mark(su);
    double* vg = lv.vega.data() + at;
    double* va = lv.vanna.data() + at;
    double* vo = lv.volga.data() + at;
    const bool tail = block_needs_tail_lanes(b, c, vl, r - q);
    if (!su.spec.split && su.spec.n_trace == 0 && !su.oh_on) {
        // the P&L without its split (and no option hedge): nothing reads vega, vanna, volga
        if (tail) {
            marks_lanes<true, false>(b, c, vl, r, q, mark_hedge, vg, va, vo);
        } else {
            marks_lanes<false, false>(b, c, vl, r, q, mark_hedge, vg, va, vo);
        }
    } else if (tail) {
        marks_lanes<true, true>(b, c, vl, r, q, mark_hedge, vg, va, vo);
    } else {
        marks_lanes<false, true>(b, c, vl, r, q, mark_hedge, vg, va, vo);
    }
    if (mark_hedge) {
        return;
    }
    if (su.hv_kind != HedgeVolKind::given) {  // realized so far, the leg's implied before
        trader_greeks_per_lane(b, c, r - q, k < su.hv_warmup ? vl : b.hvl);
    } else if (std::isnan(su.hvol)) {  // the leg's own implied vol, at the observed price
        trader_greeks_per_lane(b, c, r - q, vl);
    } else {
        trader_greeks(b, c);  // a fixed hedge vol
    }
}

/// The hedge option's Greeks per unit at its own vol on every lane (group c, the last group;
/// vl its vol), then the quantity held (qh) added into the marks and its vega, vanna and volga
/// slots of lv (which attribute its vol change). Not inlined (nor hedge_option_trade): inlined
/// into portfolio_greeks, their loops made GCC compile the per-leg marks ~15% slower (measured
/// with benchmarks/ab_hedging.py smile, without an option hedge).
[[gnu::noinline]] void hedge_option_marks(const Setup& su, Block& b, const GroupStep& c,
                                          LegVols& lv, i64 g) noexcept {
    LaneBlock& ln = *b.ln;
    const auto at = static_cast<std::size_t>(g) * kLanes;
    const double* __restrict vl = lv.vol.data() + at;
    const double r = su.rate, q = su.div, K = c.strike, put = su.oh_call ? 0.0 : 1.0;
    const double ww = hedge_is_mark(su) ? c.wdisc : 0.0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double s = b.s[j], v = vl[j];
        const double sig_t = v * c.sqrt_t;
        const double inv = 1.0 / sig_t;
        const double d1 = (b.lx[j] - c.log_strike + (r - q + 0.5 * v * v) * c.tau) * inv;
        const double d2 = d1 - sig_t;
        const double e1 = vmath::half_gauss(d1);
        const double pdf = kInvSqrt2Pi * e1;
        const double n1 = vmath::norm_cdf_from<true>(d1, e1);
        const double n2 = vmath::norm_cdf_from<true>(d2, e1 * s * c.ratio);
        const double sdq = s * c.dq, kdr = K * c.dr;
        const double vg = sdq * pdf * c.sqrt_t;
        // calls (Haug ch. 2); puts by parity P = C - S dq + K dr
        ln.uv[j] = sdq * n1 - kdr * n2 - put * (sdq - kdr);
        ln.ud[j] = c.dq * n1 - put * c.dq;
        ln.ug[j] = pdf * c.dq * inv / s;
        ln.ut[j] = -sdq * pdf * v / (2.0 * c.sqrt_t) - r * kdr * n2 + q * sdq * n1 -
                   put * (q * sdq - r * kdr);
        ln.uvg[j] = vg;
        ln.uva[j] = -c.dq * pdf * d2 * inv * c.sqrt_t;
        ln.uvo[j] = vg * d1 * d2 * inv * c.sqrt_t;
        const double qh = ln.qh[j];
        b.val[j] += qh * ln.uv[j];
        b.del[j] += qh * ln.ud[j];
        b.gam[j] += qh * ln.ug[j];
        b.the[j] += qh * ln.ut[j];
        b.wgam[j] += ww * qh * ln.ug[j];
        lv.vega[at + j] = qh * vg;
        lv.vanna[at + j] = qh * ln.uva[j];
        lv.volga[at + j] = qh * ln.uvo[j];
    }
}

/// The trader's view of the hedge option at step k when it differs from the marks (noise, or
/// a hedge vol other than the implied), like the legs' (trader_greeks_per_lane): its delta and
/// gamma per unit at the observed price and its hedge vol (the realized one after the warm-up,
/// the fixed one, else its own implied vol) into tud, tug, with the quantity held added into
/// hdel, hgam and wgam (the stock hedges the whole book's delta at the hedge vol); its vega per
/// unit at the observed price and its implied vol into tuv (what the vega target divides by).
void hedge_option_view(const Setup& su, Block& b, const GroupStep& c, const double* vl,
                       i64 k) noexcept {
    LaneBlock& ln = *b.ln;
    const double* __restrict hv = vl;  // the implied, and the realized before its warm-up
    if (su.hv_kind != HedgeVolKind::given && k >= su.hv_warmup) {
        hv = b.hvl;
    } else if (su.hv_kind == HedgeVolKind::given && !std::isnan(su.hvol)) {
        fill(ln.thv, su.hvol);
        hv = ln.thv;
    }
    const double rq = su.rate - su.div, put = su.oh_call ? 0.0 : 1.0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double h = hv[j], v = vl[j];
        const double hs = h * c.sqrt_t, vs = v * c.sqrt_t;
        const double d1 = (b.lo[j] - c.log_strike + (rq + 0.5 * h * h) * c.tau) / hs;
        const double e1 = vmath::half_gauss(d1);
        const double dv = (b.lo[j] - c.log_strike + (rq + 0.5 * v * v) * c.tau) / vs;
        ln.tud[j] = c.dq * vmath::norm_cdf_from(d1, e1) - put * c.dq;
        ln.tug[j] = kInvSqrt2Pi * e1 * c.dq / hs * b.inv_o[j];
        ln.tuv[j] = b.o[j] * c.dq * kInvSqrt2Pi * vmath::half_gauss(dv) * c.sqrt_t;
        b.hdel[j] += ln.qh[j] * ln.tud[j];
        b.hgam[j] += ln.qh[j] * ln.tug[j];
        b.wgam[j] += c.wdisc * ln.qh[j] * ln.tug[j];
    }
}

/// The book's vega (every live leg but the hedge option) as the trader sees it, into ln.lmk:
/// the marks' (no noise: the observed price is the efficient one), or at the observed price
/// and each leg's implied vol.
void book_vega(const Setup& su, Block& b, const std::vector<GroupStep>& gs,
               const LegVols& lv) noexcept {
    LaneBlock& ln = *b.ln;
    const double rq = su.rate - su.div;
    fill(ln.lmk, 0.0);
    for (i64 g = 0; g + 1 < su.spec.n_groups; ++g) {
        const GroupStep& c = gs[static_cast<std::size_t>(g)];
        if (!c.alive) {
            continue;
        }
        const auto at = static_cast<std::size_t>(g) * kLanes;
        const double* __restrict vg = lv.vega.data() + at;
        const double* __restrict vl = lv.vol.data() + at;
        if (su.noise == NoiseKind::none) {
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                ln.lmk[j] += vg[j];
            }
            continue;
        }
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double vs = vl[j] * c.sqrt_t;
            const double d1 = (b.lo[j] - c.log_strike + (rq + 0.5 * vl[j] * vl[j]) * c.tau) / vs;
            ln.lmk[j] += c.qsum * b.o[j] * c.dq * kInvSqrt2Pi * vmath::half_gauss(d1) * c.sqrt_t;
        }
    }
}

/// The hedge option's trade at step k: on its clock (every oh_every steps before the horizon)
/// and, with a band, only where the whole book's vega (or gamma) as the trader sees it is
/// beyond oh_band, to the quantity that makes it zero, -book / unit, the book being every
/// other live group; its cost |q| x half-spread (vol points) x unit vega (at the fill, around
/// the efficient price like the stock's). The marks (and the hedge delta) take the new
/// quantity at once; the books pay oq x value + ocost (rebalance). First, when the trader's
/// Greeks are not the marks', the held quantity's share of them (hedge_option_view).
[[gnu::noinline]] void hedge_option_trade(const Setup& su, Block& b,
                                          const std::vector<GroupStep>& gs, LegVols& lv,
                                          i64 k) noexcept {
    LaneBlock& ln = *b.ln;
    const HedgeSpec& sp = su.spec;
    const i64 g_oh = sp.n_groups - 1;
    const auto at = static_cast<std::size_t>(g_oh) * kLanes;
    const GroupStep& c = gs[static_cast<std::size_t>(g_oh)];
    const bool mark = hedge_is_mark(su);
    if (!mark) {
        hedge_option_view(su, b, c, lv.vol.data() + at, k);
    }
    if (k >= su.n_steps || k % su.oh_every != 0) {
        fill(ln.oq, 0.0);
        fill(ln.ocost, 0.0);
        return;
    }
    const bool gamma = su.oh_gamma;
    if (!gamma) {
        book_vega(su, b, gs, lv);
    }
    // the trader's unit Greeks: the marks' when they are the same
    const double* __restrict tud = mark ? ln.ud : ln.tud;
    const double* __restrict tug = mark ? ln.ug : ln.tug;
    const double* __restrict tuv = mark || su.noise == NoiseKind::none ? ln.uvg : ln.tuv;
    const double ww = c.wdisc, hs = su.oh_hs, band = su.oh_band;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double book = gamma ? b.hgam[j] - ln.qh[j] * tug[j] : ln.lmk[j];
        const double unit = gamma ? tug[j] : tuv[j];
        const bool go = (unit > 0.0) & ((band == 0.0) | (std::fabs(book + ln.qh[j] * unit) > band));
        const double target = go ? -book / unit : ln.qh[j];
        const double q = target - ln.qh[j];
        ln.oq[j] = q;
        ln.ocost[j] = std::fabs(q) * hs * ln.uvg[j];
        ln.qh[j] = target;
        b.val[j] += q * ln.uv[j];
        b.del[j] += q * ln.ud[j];
        b.gam[j] += q * ln.ug[j];
        b.the[j] += q * ln.ut[j];
        b.hdel[j] += q * tud[j];
        b.hgam[j] += q * tug[j];
        b.wgam[j] += ww * q * tug[j];
        lv.vega[at + j] = target * ln.uvg[j];
        lv.vanna[at + j] = target * ln.uva[j];
        lv.volga[at + j] = target * ln.uvo[j];
    }
}

/// The implied vol of every lane of a roll-rule group with its own log strike lk and years to
/// expiry tau on each lane (both differ by lane after a roll): leg_vols lane by lane. With idx,
/// only on lanes idx[0, n) (the lanes that roll) where a lane's vol takes a scalar loop (a
/// smile: a surface evaluation per lane, ~30% of a delta-band roll on an SVI smile when every
/// lane was evaluated); a flat vol fills every lane.
void roll_lane_vols(const Setup& su, const Block& b, i64 k, const double* __restrict lk,
                    const double* __restrict tau, double* __restrict v,
                    const int* idx = nullptr, int n = kLanes) noexcept {
    const auto each = [&](auto&& f) {  // f(j) on the lanes asked for
        if (idx == nullptr) {
            for (int j = 0; j < kLanes; ++j) {
                f(j);
            }
        } else {
            for (int i = 0; i < n; ++i) {
                f(idx[i]);
            }
        }
    };
    const HedgeSpec& sp = su.spec;
    const SurfaceView& sf = sp.surface;
    const double* __restrict base = su.sticky_moneyness ? b.lx : b.ln->ls0;
    const double rq = su.rate - su.div;
    if (su.vol_model == VolModel::heston) {
        const double kappa = su.heston_kappa, th = su.heston_theta;
        each([&](int j) {
            const double x = kappa * tau[j];
            const double frac = x == 0.0 ? 1.0 : -std::expm1(-x) / x;
            const double avg = th + (b.var[j] - th) * frac;
            v[j] = std::sqrt(avg < 0.0 ? 0.0 : avg);
        });
        if (su.heston_smile) {  // times the smile's shape, as leg_vols
            each([&](int j) {
                v[j] *= surface::vol(sf, lk[j] - rq * tau[j] - base[j], tau[j]) /
                        surface::vol(sf, 0.0, tau[j]);
            });
        }
        return;
    }
    const double* __restrict mult = su.atm_on ? b.ln->atm_m : b.ln->one;
    const double m = sp.vols != nullptr ? sp.vols[k] / sp.vols[0] : 1.0;
    if (sf.kind == SurfaceKind::flat) {  // exactly its vol, as surface_lane_vols
        const double vol = sf.params[0];
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            v[j] = vol * mult[j] * m;
        }
    } else {
        each([&](int j) {  // one expiry bracket per lane
            v[j] = surface::vol(sf, lk[j] - rq * tau[j] - base[j], tau[j]) * mult[j] * m;
        });
    }
    if (sp.atm_rows != nullptr) {
        const double* __restrict a = sp.atm_rows;
        const i64* __restrict at = b.ln->arow;
        each([&](int j) { v[j] *= a[at[j] + k] / a[at[j]]; });
    }
}

/// The inputs of roll_group_greeks on each of its lanes: the efficient and observed prices and
/// their logs, and the legs' strike, log strike, expiry (years), expiry step, vol and hedge vol
/// (a block's lanes, or the lanes that roll at a step, packed).
struct RollLanes {
    const double *s, *lx, *o, *lo, *K, *lk, *T, *E, *v, *h;
};

/// roll_group_greeks' first pass over lanes [0, n) of `in` at step k (n a multiple of 8), into
/// ln's rt, rsq, rinv, rd1, rdq, rdr: each lane's years to expiry (1 where the leg is not alive:
/// any finite Greeks, times 0), its square root, 1 / (vol sqrt t), d1 and the discounts
/// e^{-q tau}, e^{-r tau}, computed on the first vector alone when every lane has the same tau
/// (legs rolled on expiry: every lane at once; the same loop, so the same bits; tau is never
/// NaN), not at all at a zero rate or yield (the default). Returns whether some lane's d1 or
/// d2 lies beyond kCdfTailStart (or is NaN): Cody's asymptotic range only then (as
/// block_needs_tail).
bool roll_lane_terms(const Setup& su, const RollLanes& in, int n, i64 k, LaneBlock& ln) noexcept {
    const double* __restrict LX = in.lx;
    const double* __restrict lk = in.lk;
    const double* __restrict T = in.T;
    const double* __restrict E = in.E;
    const double* __restrict vl = in.v;
    double* __restrict rt = ln.rt;
    double* __restrict rsq = ln.rsq;
    double* __restrict rinv = ln.rinv;
    double* __restrict rd1 = ln.rd1;
    const double t = su.spec.times[k], kk = static_cast<double>(k), rq = su.rate - su.div;
    double far = 0.0, lo = kInf, hi = -kInf;
#pragma omp simd reduction(+ : far) reduction(min : lo) reduction(max : hi)
    for (int j = 0; j < n; ++j) {
        const bool alive = kk < E[j];
        const double tau = alive ? T[j] - t : 1.0;
        const double v = alive ? vl[j] : 1.0;
        const double sq = std::sqrt(tau);
        const double sig_t = v * sq, inv = 1.0 / sig_t;
        const double d1 = (LX[j] - lk[j] + (rq + 0.5 * v * v) * tau) * inv;
        const double d2 = d1 - sig_t;
        rt[j] = tau;
        rsq[j] = sq;
        rinv[j] = inv;
        rd1[j] = d1;
        const bool near = (std::fabs(d1) <= vmath::kCdfTailStart) &
                          (std::fabs(d2) <= vmath::kCdfTailStart);  // false for NaN
        far += near ? 0.0 : 1.0;
        lo = std::min(lo, tau);
        hi = std::max(hi, tau);
    }
    const int nd = lo == hi ? 8 : n;
    for (const auto& [z, rate] : {std::pair(ln.rdq, su.div), std::pair(ln.rdr, su.rate)}) {
        if (rate == 0.0) {  // vmath::exp(-0.0) is 1 exactly (k = 0, r = 0: 1 + (0 + 0))
            std::fill(z, z + n, 1.0);
            continue;
        }
        double* __restrict d = z;
#pragma omp simd
        for (int j = 0; j < nd; ++j) {
            d[j] = vmath::exp(-rate * rt[j]);
        }
        std::fill(d + nd, d + n, d[0]);
    }
    return far > 0.0;
}

/// The marks of roll-rule group c (GroupStep: its quantities) at step k on lanes [0, n) of `in`
/// at each lane's own strike, expiry and vol, into out (GroupLanes; zero where the leg is not
/// alive), from roll_lane_terms' terms in ln; with kTrader the trader's Greeks at the observed
/// price and hedge vol in.h, else (hedging at the marks: no noise, so the observed price is the
/// efficient one) none, and the trigger's call delta is the marks'. The Whalley-Wilmott gamma
/// only with kWW (the one band that reads it; else 0): its discount is an exponential per lane.
/// kTail: some lane's N(d1) or N(d2) needs Cody's asymptotic range (norm_cdf_from<false> gives
/// the same bits below kCdfTailStart).
template <bool kTrader, bool kWW, bool kTail>
void roll_group_greeks(const Setup& su, const RollLanes& in, int n, const GroupStep& c, i64 k,
                       const LaneBlock& ln, GroupLanes& out) noexcept {
    const double* __restrict S = in.s;
    const double* __restrict O = in.o;
    const double* __restrict LO = in.lo;
    const double* __restrict K = in.K;
    const double* __restrict lk = in.lk;
    const double* __restrict E = in.E;
    const double* __restrict vl = in.v;
    const double* __restrict hvs = in.h;  // without kTrader the marks' vol: loads unconditional
    const double* __restrict rt = ln.rt;
    const double* __restrict rsq = ln.rsq;
    const double* __restrict rinv = ln.rinv;
    const double* __restrict rd1 = ln.rd1;
    const double* __restrict rdq = ln.rdq;
    const double* __restrict rdr = ln.rdr;
    const double kk = static_cast<double>(k);
    const double r = su.rate, q = su.div, rq = r - q;
    const double qs = c.qsum, qp = c.qp;
#pragma omp simd
    for (int j = 0; j < n; ++j) {
        const double vj = vl[j], hj = hvs[j];
        const bool alive = kk < E[j];
        const double on = alive ? 1.0 : 0.0;
        const double tau = rt[j], sq = rsq[j], inv = rinv[j], d1 = rd1[j];
        const double v = alive ? vj : 1.0;
        const double s = S[j];
        const double sig_t = v * sq;
        const double d2 = d1 - sig_t;
        const double dq = rdq[j], dr = rdr[j];
        const double e1 = vmath::half_gauss(d1);
        const double pdf = kInvSqrt2Pi * e1;
        const double n1 = vmath::norm_cdf_from<kTail>(d1, e1);
        // exp(-d2^2/2) as in marks; not finite only once r tau > ~745 underflows dr to 0
        // (x/0 or 0/0): K dr is then 0, N(d2) multiplies nothing and any finite value will do
        // (group_steps' ratio likewise)
        const double e2 = e1 * s * dq / (K[j] * dr);
        const double n2 = vmath::norm_cdf_from<kTail>(d2, e2 < kInf ? e2 : 0.0);
        const double sdq = s * dq, kdr = K[j] * dr;
        const double gamma = pdf * dq * inv / s;
        const double uvega = sdq * pdf * sq;
        const double wdisc = kWW ? vmath::exp(-0.5 * r * tau) : 0.0;
        out.val[j] = on * (qs * (sdq * n1 - kdr * n2) - qp * (sdq - kdr));
        out.del[j] = on * (qs * dq * n1 - qp * dq);
        out.gam[j] = on * qs * gamma;
        out.the[j] = on * (qs * (-sdq * pdf * v * 0.5 / sq - r * kdr * n2 + q * sdq * n1) -
                           qp * (q * sdq - r * kdr));
        out.uvega[j] = on * uvega;
        out.vega[j] = on * qs * uvega;
        out.vanna[j] = -on * qs * dq * pdf * d2 * inv * sq;
        out.volga[j] = on * qs * uvega * d1 * d2 * inv * sq;
        if constexpr (!kTrader) {
            out.cdelta[j] = on * dq * n1;
            out.hdel[j] = 0.0;  // the marks' (portfolio_greeks)
            out.hgam[j] = 0.0;
            out.wgam[j] = wdisc * out.gam[j];
        } else {
            // the trigger: the call delta per unit at the price the trader sees
            const double d1o = (LO[j] - lk[j] + (rq + 0.5 * v * v) * tau) * inv;
            out.cdelta[j] = on * dq * vmath::norm_cdf(d1o);
            const double hv = alive ? hj : 1.0;
            const double hs = hv * sq;
            const double d1h = (LO[j] - lk[j] + (rq + 0.5 * hv * hv) * tau) / hs;
            const double e1h = vmath::half_gauss(d1h);
            const double hg = on * qs * kInvSqrt2Pi * e1h * dq / hs / O[j];
            out.hdel[j] = on * (qs * dq * vmath::norm_cdf_from<true>(d1h, e1h) - qp * dq);
            out.hgam[j] = hg;
            out.wgam[j] = wdisc * hg;
        }
    }
}

/// roll_group_greeks with or without the trader's Greeks (trader false: hedging at the marks),
/// the Whalley-Wilmott gamma (Setup::any_ww) and Cody's asymptotic range (roll_lane_terms).
void roll_group_marks(const Setup& su, const RollLanes& in, int n, const GroupStep& c, i64 k,
                      bool trader, LaneBlock& ln, GroupLanes& out) noexcept {
    const bool tail = roll_lane_terms(su, in, n, k, ln);
    const auto run = [&]<bool kTrader, bool kWW>() {
        if (tail) {
            roll_group_greeks<kTrader, kWW, true>(su, in, n, c, k, ln, out);
        } else {
            roll_group_greeks<kTrader, kWW, false>(su, in, n, c, k, ln, out);
        }
    };
    if (trader) {
        if (su.any_ww) {
            run.template operator()<true, true>();
        } else {
            run.template operator()<true, false>();
        }
    } else if (su.any_ww) {
        run.template operator()<false, true>();
    } else {
        run.template operator()<false, false>();
    }
}

/// The rolls of group g at step k on the n lanes LaneBlock::idx (trig set; idx padded to a
/// multiple of 8 with the last; ga their old marks): their new legs (strike, expiry, vol), the
/// new legs' marks on those lanes alone (packed: a band roll moves a few lanes of a block at a
/// step), the rolls' cash and half-spread, and the new marks into ga. hv: the trader's hedge
/// vol (null: the marks').
void roll_lanes(const Setup& su, Block& b, const GroupStep& c, LegVols& lv, i64 g, i64 k,
                int n, const double* hv) noexcept {
    LaneBlock& ln = *b.ln;
    const HedgeSpec& sp = su.spec;
    const auto at = static_cast<std::size_t>(g) * kLanes;
    double* __restrict K = lv.strike.data() + at;
    double* __restrict lk = lv.lstrike.data() + at;
    double* __restrict T = lv.expiry.data() + at;
    double* __restrict E = lv.estep.data() + at;
    double* __restrict vl = lv.vol.data() + at;
    const int* __restrict idx = ln.idx;
    // an expiry off the grid is the grid time it settles on (Position.groups): marked to that
    // time, so price, Greeks and payoff agree
    const OptionGroup& og = sp.groups[g];
    const double mny = std::isnan(su.roll_mny) ? og.strike / su.spot : su.roll_mny;
    const double tenor = std::isnan(su.roll_tenor) ? og.expiry : su.roll_tenor;
    const double* const last = sp.times + sp.n_steps + 1;
    const double* const at1 = std::lower_bound(sp.times, last, sp.times[k] + tenor - su.expiry_tol);
    const double t1 = at1 != last ? *at1 : sp.times[k] + tenor;
    const double e1 = static_cast<double>(at1 - sp.times);
    fill(ln.tau, 1.0);  // (the lanes that do not roll: any tau, their vol is kept)
    for (int i = 0; i < n; ++i) {
        const int j = idx[i];
        K[j] = mny * b.o[j];
        lk[j] = std::log(K[j]);
        T[j] = t1;
        E[j] = e1;
        ln.tau[j] = T[j] - sp.times[k];
    }
    roll_lane_vols(su, b, k, lk, ln.tau, ln.nv, idx, n);
    for (int i = 0; i < n; ++i) {
        vl[idx[i]] = ln.nv[idx[i]];
    }
    // packed in whole vectors of 8 (the same loop as the block's lanes), the last lane that
    // rolls repeated
    const int np = lanes::padded(n);
    const double* const from[10] = {b.s, b.lx, b.o, b.lo, K, lk, T, E, vl, hv != nullptr ? hv : vl};
    for (int f = 0; f < 10; ++f) {
        const double* __restrict x = from[f];
        double* __restrict y = ln.pk[f];
        for (int i = 0; i < np; ++i) {
            y[i] = x[idx[i]];
        }
    }
    const RollLanes packed{ln.pk[0], ln.pk[1], ln.pk[2], ln.pk[3], ln.pk[4],
                           ln.pk[5], ln.pk[6], ln.pk[7], ln.pk[8], ln.pk[9]};
    GroupLanes& ga = ln.ga;
    GroupLanes& gb = ln.gb;
    roll_group_marks(su, packed, np, c, k, hv != nullptr, ln, gb);
    fill(ln.bval, 0.0);
    fill(ln.buv, 0.0);
    for (int i = 0; i < n; ++i) {
        ln.bval[idx[i]] = gb.val[i];
        ln.buv[idx[i]] = gb.uvega[i];
    }
    const double hs = su.roll_hs * (std::fabs(c.qc) + std::fabs(c.qp));
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const bool roll = ln.trig[j] != 0.0;
        // sold at the old mark (0 if it expired: it paid its intrinsic value), bought at the
        // new one; the half-spread on both trades
        const double cost = roll ? hs * (ga.uvega[j] + ln.buv[j]) : 0.0;
        ln.rcash[j] += roll ? ga.val[j] - ln.bval[j] - cost : 0.0;
        ln.rcost[j] += cost;
        ln.rolls[j] += roll ? 1.0 : 0.0;
    }
    const std::pair<double*, const double*> rolled[] = {
        {ga.val, gb.val},     {ga.del, gb.del},     {ga.gam, gb.gam},   {ga.the, gb.the},
        {ga.vega, gb.vega},   {ga.vanna, gb.vanna}, {ga.volga, gb.volga}, {ga.hdel, gb.hdel},
        {ga.hgam, gb.hgam},   {ga.wgam, gb.wgam}};
    for (const auto& [to, packed_from] : rolled) {
        for (int i = 0; i < n; ++i) {
            to[idx[i]] = packed_from[i];
        }
    }
}

/// Group g of the roll rule at step k (GroupStep c: its quantities): each lane's legs that
/// expire now pay their intrinsic value; at 0 < k < n_steps the lanes whose legs expired
/// (roll_expiry) or whose call delta per unit left [roll_lo, roll_hi] sell them at their mark
/// and buy the same legs at roll_mny (NaN: the group's own, its strike / spot) x the observed
/// price, expiring roll_tenor (NaN: the group's own, its expiry) years from now (their vol
/// from the marks' model), paying the half-spread on both (roll_lanes; LaneBlock rcash,
/// rcost); then the group's marks (the new legs where they rolled) are added in.
[[gnu::noinline]] void group_marks_roll(const Setup& su, Block& b, const GroupStep& c,
                                        LegVols& lv, i64 g, i64 k) noexcept {
    LaneBlock& ln = *b.ln;
    const auto at = static_cast<std::size_t>(g) * kLanes;
    const double* __restrict K = lv.strike.data() + at;
    const double* __restrict E = lv.estep.data() + at;
    const double* vl = lv.vol.data() + at;
    const double kk = static_cast<double>(k), units = std::fabs(c.qc) + std::fabs(c.qp);
    // the hedge vol of the trader's Greeks: the marks' (null), realized so far (the leg's
    // implied before the warm-up), the leg's implied at the observed price, or a fixed one
    const double* hv = nullptr;
    if (!hedge_is_mark(su)) {
        if (su.hv_kind != HedgeVolKind::given) {
            hv = k < su.hv_warmup ? vl : b.hvl;
        } else if (std::isnan(su.hvol)) {
            hv = vl;
        } else {
            fill(ln.hfix, su.hvol);
            hv = ln.hfix;
        }
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double s = b.s[j];
        const double pay = c.qc * (s > K[j] ? s - K[j] : 0.0) + c.qp * (K[j] > s ? K[j] - s : 0.0);
        b.pay[j] += kk == E[j] ? pay : 0.0;
    }
    GroupLanes& ga = ln.ga;
    const RollLanes lanes{b.s, b.lx, b.o, b.lo, K, lv.lstrike.data() + at, lv.expiry.data() + at,
                          E, vl, hv != nullptr ? hv : vl};
    roll_group_marks(su, lanes, kLanes, c, k, hv != nullptr, ln, ga);
    if (k > 0 && k < su.n_steps) {
        double n = 0.0;
        const double lo = su.roll_lo, hi = su.roll_hi, expiry_on = su.roll_expiry ? 1.0 : 0.0;
#pragma omp simd reduction(+ : n)
        for (int j = 0; j < kLanes; ++j) {
            const bool alive = kk < E[j];
            const double m = ga.cdelta[j];
            const bool out_of_range = alive & ((m < lo) | (m > hi));
            const bool roll = ((kk == E[j]) & (expiry_on != 0.0)) | out_of_range;
            ln.trig[j] = roll ? 1.0 : 0.0;
            n += ln.trig[j];
        }
        if (n > 0.0) {
            int m = 0;
            for (int j = 0; j < kLanes; ++j) {  // compaction without branches
                ln.idx[m] = j;
                m += ln.trig[j] != 0.0 ? 1 : 0;
            }
            lanes::pad_indices(ln.idx, m);  // roll_lanes packs whole vectors
            roll_lanes(su, b, c, lv, g, k, m, hv);
        }
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.val[j] += ga.val[j];
        b.del[j] += ga.del[j];
        b.gam[j] += ga.gam[j];
        b.the[j] += ga.the[j];
        b.wgam[j] += ga.wgam[j];
        b.hdel[j] += ga.hdel[j];
        b.hgam[j] += ga.hgam[j];
        lv.vega[at + j] = ga.vega[j];
        lv.vanna[at + j] = ga.vanna[j];
        lv.volga[at + j] = ga.volga[j];
        ln.units[j] += kk < E[j] ? units : 0.0;
    }
}

/// Greeks of the portfolio at step k for all lanes: val/del/gam/the/hdel/hgam and settlements.
void portfolio_greeks(const Setup& su, Block& b, i64 k, std::vector<GroupStep>& gs,
                      LegVols& lv) noexcept {
    const HedgeSpec& sp = su.spec;
    const double vol = sp.vols != nullptr ? sp.vols[k] : su.vol;  // implied vol at step k
    step_groups(su, k, gs);
    // (per-leg marks: before the warm-up each leg hedges at its own implied vol)
    if (su.hv_kind != HedgeVolKind::given && (!su.lanes || k >= su.hv_warmup)) {
        realized_hedge_vols(su, b, k, vol);
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.val[j] = 0.0;
        b.del[j] = 0.0;
        b.gam[j] = 0.0;
        b.the[j] = 0.0;
        b.pay[j] = 0.0;
        b.inv_s[j] = 1.0 / b.s[j];
    }
    // Only the sums that are read: hedging at the marks copies hdel and hgam from them below,
    // the Whalley-Wilmott gamma is read by that band alone, the vega and its second-order
    // terms only with a vol path (veg stays 0 from start_paths without one).
    if (!hedge_is_mark(su)) {
        fill(b.hdel, 0.0);
        fill(b.hgam, 0.0);
    }
    if (su.any_ww) {
        fill(b.wgam, 0.0);
    }
    if (sp.vols != nullptr) {
        fill(b.veg, 0.0);
        fill(b.vna, 0.0);
        fill(b.vlg, 0.0);
    }
    if (!hedge_is_mark(su)) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.inv_o[j] = 1.0 / b.o[j];
        }
    }
    if (su.roll) {
        for (double* a : {b.ln->rcash, b.ln->rcost, b.ln->units}) {
            fill(a, 0.0);
        }
    }
    for (i64 g = 0; g < sp.n_groups; ++g) {
        const GroupStep& c = gs[static_cast<std::size_t>(g)];
        if (su.roll) {  // each lane its own strike and expiry
            group_marks_roll(su, b, c, lv, g, k);
            continue;
        }
        if (c.settle) {
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                const double s = b.s[j];
                const double call = s > c.strike ? s - c.strike : 0.0;
                const double put = c.strike > s ? c.strike - s : 0.0;
                b.pay[j] += c.qc * call + c.qp * put;
            }
            continue;
        }
        if (!c.alive) {
            continue;
        }
        if (su.lanes) {
            group_marks_lanes(su, b, c, lv, g, k);
            continue;
        }
        group_marks(su, b, c);
        if (!hedge_is_mark(su)) {
            // The trader's Greeks: at the observed price (never the efficient one, which the
            // trader does not see) and the hedge vol (given, or realized so far per lane).
            if (su.hv_kind != HedgeVolKind::given) {
                trader_greeks_per_lane(b, c, su.rate - su.div, b.hvl);
            } else {
                trader_greeks(b, c);
            }
        }
    }
    if (su.lanes && sp.n_groups > 0 && (sp.n_trace > 0 || su.any_gate)) {  // trace, vol gate
        std::copy(lv.vol.data(), lv.vol.data() + kLanes, b.ln->iv0);
    }
    if (su.oh_on) {
        hedge_option_marks(su, b, gs.back(), lv, sp.n_groups - 1);
    }
    if (hedge_is_mark(su)) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.hdel[j] = b.del[j];
            b.hgam[j] = b.gam[j];
        }
        if (su.any_ww && !su.lanes) {
            discounted_mark_gamma(b, gs);
        }
    }
}

/// The implied vol of every lane of a group alive with tau years to expiry, from the surface:
/// log-moneyness ln(K / F(tau)) with F from the spot that stays put (sticky strike: ls0, the
/// path's first price or the surface's spot; sticky moneyness: the current price), then
/// w(k, tau) as surface::total_variance (the expiry bracket, which depends only on tau, once
/// per step) and vol = sqrt(w / tau).
void surface_lane_vols(const Setup& su, Block& b, double log_strike, double tau,
                       const double* __restrict mult, double* __restrict v) noexcept {
    const SurfaceView& sf = su.spec.surface;
    if (sf.kind == SurfaceKind::flat || sf.kind == SurfaceKind::term) {
        // flat: exactly its vol (sqrt(vol^2 tau / tau) can be an ulp off); term: the same at
        // every k
        const double vol = sf.kind == SurfaceKind::flat ? sf.params[0] : surface::vol(sf, 0.0, tau);
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            v[j] = vol * mult[j];
        }
        return;
    }
    const double* __restrict base = su.sticky_moneyness ? b.lx : b.ln->ls0;
    const double shift = log_strike - (su.rate - su.div) * tau;  // k = shift - base
    // w = c0 (w_i0(k) + f (w_i1(k) - w_i0(k))): flat vol at fixed k before the first and after
    // the last expiry (c0 = tau / t_i, f = 0), linear in w between two expiries (c0 = 1).
    const i64 n = sf.n_t;
    i64 i0 = 0, i1 = 0;
    double c0 = 1.0, f = 0.0;
    if (tau <= sf.t[0]) {
        c0 = tau / sf.t[0];
    } else if (tau >= sf.t[n - 1]) {
        i0 = i1 = n - 1;
        c0 = tau / sf.t[n - 1];
    } else {
        i0 = surface::bracket(sf.t, n, tau);
        i1 = i0 + 1;
        f = (tau - sf.t[i0]) / (sf.t[i1] - sf.t[i0]);
    }
    const double c0_tau = c0 / tau;  // vol = sqrt(w / tau)
    if (sf.kind == SurfaceKind::svi && i0 == i1) {  // one slice (before the first expiry, after the last)
        const double* p0 = sf.params + i0 * kSviParams;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            v[j] = std::sqrt(c0_tau * surface::svi_w(p0, shift - base[j])) * mult[j];
        }
        return;
    }
    if (sf.kind == SurfaceKind::svi) {
        const double* p0 = sf.params + i0 * kSviParams;
        const double* p1 = sf.params + i1 * kSviParams;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double k = shift - base[j];
            const double w0 = surface::svi_w(p0, k);
            v[j] = std::sqrt(c0_tau * (w0 + f * (surface::svi_w(p1, k) - w0))) * mult[j];
        }
        return;
    }
    const double* g0 = sf.params + i0 * sf.n_k;
    const double* g1 = sf.params + i1 * sf.n_k;
    for (int j = 0; j < kLanes; ++j) {  // grid: a bisection per lane
        const double k = shift - base[j];
        const double w0 = surface::grid_w(sf.k, g0, sf.n_k, k);
        v[j] = std::sqrt(c0_tau * (w0 + f * (surface::grid_w(sf.k, g1, sf.n_k, k) - w0))) * mult[j];
    }
}

/// The implied vol of every live group and lane at step k into out (n_groups x kLanes): the
/// surface's (times atm / atm0 with the stochastic level, or times vols[k] / vols[0] with a
/// user ATM series) or the Heston one. A group not alive
/// at k keeps prev's vol (prev null: 0), so no vol change is attributed after its expiry.
void leg_vols(const Setup& su, Block& b, i64 k, const double* prev, double* out) noexcept {
    const HedgeSpec& sp = su.spec;
    const double t = sp.times[k];
    for (i64 g = 0; g < sp.n_groups; ++g) {
        const OptionGroup& og = sp.groups[g];
        double* __restrict v = out + g * kLanes;
        if (k >= og.expiry_step) {
            for (int j = 0; j < kLanes; ++j) {
                v[j] = prev != nullptr ? prev[g * kLanes + j] : 0.0;
            }
            continue;
        }
        const double tau = og.expiry - t;
        if (su.vol_model == VolModel::heston) {
            // surface::heston_expected_vol with its tau-only factor hoisted out of the lanes
            const double x = su.heston_kappa * tau;
            const double frac = x == 0.0 ? 1.0 : -std::expm1(-x) / x;
            const double th = su.heston_theta;
            if (!su.heston_smile) {
#pragma omp simd
                for (int j = 0; j < kLanes; ++j) {
                    const double avg = th + (b.var[j] - th) * frac;
                    v[j] = std::sqrt(avg < 0.0 ? 0.0 : avg);
                }
                continue;
            }
            // times the surface's smile over its ATM-forward vol at tau (the model sets the
            // level, the surface the shape)
            surface_lane_vols(su, b, su.lnk[static_cast<std::size_t>(g)], tau, b.ln->one, v);
            const double inv_atm = 1.0 / surface::vol(sp.surface, 0.0, tau);
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                const double avg = th + (b.var[j] - th) * frac;
                v[j] = std::sqrt(avg < 0.0 ? 0.0 : avg) * (v[j] * inv_atm);
            }
            continue;
        }
        // times atm / atm0 of the stochastic level (or 1, exactly)
        surface_lane_vols(su, b, su.lnk[static_cast<std::size_t>(g)], tau,
                          su.atm_on ? b.ln->atm_m : b.ln->one, v);
        if (sp.vols != nullptr) {  // a user ATM series, the same on every path: vols[k] / vols[0]
            const double m = sp.vols[k] / sp.vols[0];
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                v[j] *= m;
            }
        }
        if (sp.atm_rows != nullptr) {  // one user ATM series per path
            const double* __restrict a = sp.atm_rows;
            const i64* __restrict at = b.ln->arow;
            for (int j = 0; j < kLanes; ++j) {
                v[j] *= a[at[j] + k] / a[at[j]];
            }
        }
    }
}

/// leg_vols with the roll rule: each lane's legs at their own strike and expiry (LegVols
/// lstrike, expiry, estep); a lane whose group is not alive at k keeps prev's vol (null: 0).
void leg_vols_roll(const Setup& su, Block& b, i64 k, const LegVols& lv, const double* prev,
                   double* out) noexcept {
    const HedgeSpec& sp = su.spec;
    const double t = sp.times[k], kk = static_cast<double>(k);
    double* __restrict tau = b.ln->tau;
    for (i64 g = 0; g < sp.n_groups; ++g) {
        const auto at = static_cast<std::size_t>(g) * kLanes;
        const double* __restrict T = lv.expiry.data() + at;
        const double* __restrict E = lv.estep.data() + at;
        for (int j = 0; j < kLanes; ++j) {
            tau[j] = kk < E[j] ? T[j] - t : 1.0;  // dead lanes: any tau (their vol is kept)
        }
        double* __restrict v = out + at;
        roll_lane_vols(su, b, k, lv.lstrike.data() + at, tau, v);
        for (int j = 0; j < kLanes; ++j) {
            v[j] = kk < E[j] ? v[j] : (prev != nullptr ? prev[at + j] : 0.0);
        }
    }
}

/// The stochastic ATM level over step k (dt years) with the price normals z of the step: the
/// exact OU transition of y = ln(atm), y = ln level + (y - ln level) e^{-kappa dt} + sd (rho z
/// + sqrt(1 - rho^2) z_perp), z_perp from the atm_vol stream (StochasticAtmVol.paths, the same
/// arithmetic); e^{-kappa dt} and sd from su.atm_steps, computed once per run.
void advance_atm(const Setup& su, Block& b, i64 k, const double* __restrict z) noexcept {
    const surface::OuStep st = su.atm_steps[static_cast<std::size_t>(k)];
    const double* __restrict zq = b.ln->q[k & 3];
    const double lv = su.ln_atm_level, rho = su.atm_rho, rp = su.atm_rho_perp;
    const double decay = st.decay, sd = st.sd, l0 = su.ln_atm0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.ln->atm_y[j] = lv + (b.ln->atm_y[j] - lv) * decay + sd * (rho * z[j] + rp * zq[j]);
        b.ln->atm_m[j] = vmath::exp_normal(b.ln->atm_y[j] - l0);  // exp's bits
    }
}

/// The execution price, which trades fill around and the stock is marked at: the efficient
/// price (fills at the quotes), or the observed one (research mode, fill_observed); now and at
/// the previous time.
const double* exec_price(const Setup& su, const Block& b) noexcept {
    return su.fill_observed ? b.o : b.s;
}
const double* exec_price_prev(const Setup& su, const Block& b) noexcept {
    return su.fill_observed ? b.o_prev : b.s_prev;
}

/// Observed log price at time index k from the true one (microstructure noise overlay).
void observe(const Setup& su, Block& b, i64 k) noexcept {
    const double eta = hp(su.spec, hp_noise_size);
    const double* __restrict nz = (k & 1) != 0 ? b.nb : b.na;
    switch (su.noise) {
        case NoiseKind::iid:
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                b.lo[j] = b.lx[j] + eta * nz[j];
                b.o[j] = vmath::exp(b.lo[j]);
            }
            break;
        case NoiseKind::bounce: {
            // Trades print at the bid or the ask with equal probability: S (1 -+ eta).
            const double down = std::log1p(-eta), up = std::log1p(eta);
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                b.lo[j] = b.lx[j] + (nz[j] < 0.5 ? down : up);
                b.o[j] = vmath::exp(b.lo[j]);
            }
            break;
        }
        default:
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                b.lo[j] = b.lx[j];
                b.o[j] = b.s[j];
            }
    }
}

/// Fills k.q[j] shares for every lane: a buy at the ask, a sell at the bid, around the
/// execution price px (the efficient price; research mode: the observed one). The quoted
/// half-spread is half_spread_bps (widened by spread_vol times the step's |efficient log
/// return|) plus half_spread in price units; on top, the commission (cost_bps), the fixed fee
/// per trade and the impact (impact_bps per unit of option quantity traded, a price concession
/// growing with size). pay = whether costs apply (entry or exit costs switched off: none).
void trade(const Setup& su, const Block& b, Book& k, bool pay) noexcept {
    const HedgeSpec& sp = su.spec;
    // Quantities below this are rounding noise of delta (e.g. a put delta of -1 + 1e-17), not
    // trades: they are dropped so that a fixed fee is never charged for them.
    const double min_trade = kMinTradeUnits * su.option_units;
    const double on = pay ? 1.0 : 0.0;
    const double bps = on * (hp(sp, hp_cost_bps) + hp(sp, hp_half_spread_bps)) * kBpsScale;
    const double hs = on * hp(sp, hp_half_spread);
    const double fixed = on * hp(sp, hp_fixed_cost);
    const double widen = on * su.spread_vol, impact = on * su.impact;
    const double* __restrict px = exec_price(su, b);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double q = std::fabs(k.q[j]) > min_trade ? k.q[j] : 0.0;
        k.q[j] = q;
        const double aq = std::fabs(q);
        const double rel = bps + widen * std::fabs(b.lx[j] - b.lx_prev[j]) + impact * aq;
        const double cost = q != 0.0 ? aq * px[j] * rel + aq * hs + fixed : 0.0;
        k.cash[j] -= q * px[j] + cost;
        k.h[j] += q;
        k.a_cost[j] -= cost;
        k.traded[j] += aq;
        k.turnover[j] += aq * px[j];
    }
}

struct TraceSlot {
    int lane;
    i64 index;  // row in the trace output
};

void write_trace(const Setup& su, const Block& b, const Book& bk, i64 rule,
                 const std::vector<TraceSlot>& slots, i64 k) noexcept {
    const HedgeSpec& sp = su.spec;
    for (const TraceSlot& ts : slots) {
        const int j = ts.lane;
        double* row =
            sp.trace + ((rule * sp.n_trace + ts.index) * (sp.n_steps + 1) + k) * kNumTraceFields;
        row[tf_time] = sp.times[k];
        row[tf_spot] = b.s[j];
        row[tf_observed] = b.o[j];
        row[tf_option_value] = b.val[j];
        row[tf_option_delta] = b.del[j];
        row[tf_option_gamma] = b.gam[j];
        row[tf_shares] = bk.h[j];
        row[tf_net_delta] = b.hdel[j] + bk.h[j] + bk.pend[j];
        row[tf_band] = bk.band[j];
        row[tf_trade] = bk.q[j];
        row[tf_gamma] = b.a_gamma[j];
        row[tf_theta] = b.a_theta[j];
        row[tf_vega] = b.a_vega[j];
        row[tf_implied_vol] = su.lanes ? b.ln->iv0[j] : (sp.vols != nullptr ? sp.vols[k] : su.vol);
        row[tf_hedge] = bk.a_hedge[j];
        row[tf_financing] = bk.a_fin[j];
        row[tf_costs] = bk.a_cost[j];
        row[tf_pnl] = bk.cash[j] + bk.h[j] * exec_price(su, b)[j] + b.val[j];
    }
}

// ---------------------------------------------------------------------------------------------
// Path generators: one step of the true log price from time k to k + 1 for every lane, with the
// step's draws (z normals, u uniforms, jz jump-size normals) already in place.

/// GBM, exact log step.
void advance_gbm(const Setup& su, Block& b, double dt, const double* __restrict z) noexcept {
    const double mu = (su.drift - 0.5 * su.path_vol * su.path_vol) * dt;
    const double sd = su.path_vol * std::sqrt(dt);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.lx[j] += mu + sd * z[j];
        b.s[j] = vmath::exp(b.lx[j]);
    }
}

/// Heston. Andersen (2008), "Simple and efficient simulation of the Heston stochastic
/// volatility model", J. Comp. Finance 11(3): QE step for the variance (psi_c = 1.5) and the
/// central (gamma1 = gamma2 = 1/2) log-price discretization, eq. (33), with his martingale
/// correction (section 3.2.4): K0 is replaced per path by the K0* that makes
/// E[S(t + dt) | S(t), V(t)] = S(t) e^{drift dt} exactly under the scheme, from the moment
/// generating function of the next variance (quadratic branch: exp(A b^2 a / (1 - 2 A a)) /
/// sqrt(1 - 2 A a); exponential branch: p + beta (1 - p) / (beta - A)), A = K2 + K4 / 2.
/// Where that function does not exist (2 A a >= 1 or A >= beta: large rho xi dt) the plain K0
/// is kept.
void advance_heston(const Setup& su, Block& b, double dt, const double* __restrict z,
                    const double* __restrict u) noexcept {
    const HedgeSpec& sp = su.spec;
    constexpr double kPsiC = 1.5;
    const double kappa = hp(sp, hp_heston_kappa), theta = hp(sp, hp_heston_theta);
    const double xi = hp(sp, hp_heston_xi), rho = hp(sp, hp_heston_rho);
    const double e = std::exp(-kappa * dt);
    const double c1 = xi * xi * e * (1.0 - e) / kappa;
    const double c2 = theta * xi * xi * (1.0 - e) * (1.0 - e) / (2.0 * kappa);
    const double k0 = -rho * kappa * theta / xi * dt;
    const double k1 = 0.5 * dt * (kappa * rho / xi - 0.5) - rho / xi;
    const double k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi;
    const double k3 = 0.5 * dt * (1.0 - rho * rho);
    const double big_a = k2 + 0.5 * k3;  // K4 = K3 with gamma2 = 1/2
    const double mu = su.drift * dt;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double v = b.var[j];
        const double m = theta + (v - theta) * e;
        const double s2 = v * c1 + c2;
        const double psi = s2 / (m * m);
        const double inv = 2.0 / psi;
        const double b2 = inv - 1.0 + std::sqrt(inv) * std::sqrt(std::max(inv - 1.0, 0.0));
        const double a = m / (1.0 + b2);
        const double zv = rng::norm_ppf(u[j]);
        const double bz = std::sqrt(b2) + zv;
        const double v_quad = a * bz * bz;
        const double p = (psi - 1.0) / (psi + 1.0);
        const double beta = (1.0 - p) / m;
        const double uu = u[j] > p ? u[j] : 0.5;  // keeps the log finite in unused lanes
        const double v_exp = u[j] > p ? vmath::log((1.0 - p) / (1.0 - uu)) / beta : 0.0;
        const double vn = psi <= kPsiC ? v_quad : v_exp;
        // Martingale correction: -ln E[exp(A V(t + dt))] - (K1 + K3 / 2) V(t).
        const double one_m = 1.0 - 2.0 * big_a * a;
        const double mgf_exp = p + beta * (1.0 - p) / (beta - big_a);
        const bool quad = psi <= kPsiC;
        const bool exists = quad ? one_m > 0.0 : big_a < beta;
        // one logarithm per lane: of 1 - 2 A a (quadratic branch) or of the MGF (exponential)
        const double log_arg = quad ? one_m : mgf_exp;
        const double log_val = vmath::log(log_arg > 0.0 ? log_arg : 1.0);
        const double ln_mgf =
            quad ? big_a * b2 * a / (one_m > 0.0 ? one_m : 1.0) - 0.5 * log_val : log_val;
        const double k0_star = -ln_mgf - (k1 + 0.5 * k3) * v;
        const double kk0 = exists ? k0_star : k0;
        b.lx[j] += mu + kk0 + k1 * v + k2 * vn + std::sqrt(k3 * (v + vn)) * z[j];
        b.var[j] = vn;
        b.s[j] = vmath::exp(b.lx[j]);
    }
}

/// Poisson(m) CDF at 0, 1, ..., for the jump counts of a Merton step (m = lambda dt): as many
/// terms as the tail needs (P(N >= size) below 1e-16: m + 12 sqrt(m) + 16 terms), so a coarse
/// grid draws several jumps per step exactly. Terms from logarithms, so e^-m never
/// underflows.
void poisson_cdf(double m, Doubles& cdf) {
    const auto n = static_cast<std::size_t>(std::ceil(m + 12.0 * std::sqrt(m))) + kMaxJumps;
    cdf.resize(n);
    const double lm = m > 0.0 ? std::log(m) : 0.0;
    double f = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double di = static_cast<double>(i);
        f += m > 0.0 ? std::exp(-m + di * lm - std::lgamma(di + 1.0)) : (i == 0 ? 1.0 : 0.0);
        cdf[i] = f;
    }
}

/// Merton (1976): d ln S = (mu - sigma^2/2 - lambda kbar) dt + sigma dW + jumps,
/// N ~ Poisson(lambda dt) jumps of size ln(1 + J) ~ N(m, s^2), kbar = e^{m + s^2/2} - 1.
void advance_merton(const Setup& su, Block& b, double dt, const double* __restrict z,
                    const double* __restrict u, const double* __restrict jz,
                    const Doubles& jump_cdf) noexcept {
    const HedgeSpec& sp = su.spec;
    const double lam = hp(sp, hp_jump_intensity), jm = hp(sp, hp_jump_mean);
    const double js = hp(sp, hp_jump_std);
    const double kbar = std::exp(jm + 0.5 * js * js) - 1.0;
    const double mu = (su.drift - 0.5 * su.path_vol * su.path_vol - lam * kbar) * dt;
    const double sd = su.path_vol * std::sqrt(dt);
    const double* __restrict cdf = jump_cdf.data();
    const auto n_terms = static_cast<i64>(jump_cdf.size());
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        double nj = 0.0;
        for (i64 i = 0; i < n_terms; ++i) {
            nj += u[j] > cdf[i] ? 1.0 : 0.0;
        }
        b.lx[j] += mu + sd * z[j] + nj * jm + std::sqrt(nj) * js * jz[j];
        b.s[j] = vmath::exp(b.lx[j]);
    }
}

/// The lab's oscillation and trend: a deterministic log path plus a Brownian walk.
void advance_scenario(const Setup& su, Block& b, i64 k, double dt,
                      const double* __restrict z) noexcept {
    const HedgeSpec& sp = su.spec;
    const double t1 = sp.times[k + 1];
    const double base =
        su.kind == PathKind::trend
            ? std::log(su.spot) + std::log1p(hp(sp, hp_total_return)) * t1 / su.horizon
            : std::log(su.spot) +
                  hp(sp, hp_amplitude) *
                      std::sin(kTwoPi * static_cast<double>(k + 1) / hp(sp, hp_period));
    const double sd = hp(sp, hp_scenario_noise) * std::sqrt(dt);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.walk[j] += sd * z[j];
        b.lx[j] = base + b.walk[j];
        b.s[j] = vmath::exp(b.lx[j]);
    }
}

/// Circular block bootstrap: a block starts at a uniformly drawn return every block_length
/// steps (its own draws), then replays the returns that follow it.
void advance_bootstrap(const Setup& su, Block& b, i64 k) noexcept {
    const HedgeSpec& sp = su.spec;
    const auto len = static_cast<i64>(hp(sp, hp_block_length));
    const i64 blk = k / len, off = k % len;
    if (off == 0) {
        draw_pair(b, sp.seed, rng::Stream::bootstrap, static_cast<u32>(blk >> 1), false, b.ua,
                  b.ub);
        const double* ub = (blk & 1) != 0 ? b.ub : b.ua;
        const auto m = static_cast<double>(sp.n_returns);
        for (int j = 0; j < kLanes; ++j) {
            b.start[j] = std::floor(ub[j] * m);
        }
    }
    for (int j = 0; j < kLanes; ++j) {
        const i64 idx = (static_cast<i64>(b.start[j]) + off) % sp.n_returns;
        b.lx[j] += sp.returns[idx];
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.s[j] = vmath::exp(b.lx[j]);
    }
}

/// The random numbers of step k, drawn in pairs (even k draws k and k + 1; the ATM level's
/// four at a time, at k = 0 mod 4), and the noise draws of time k + 1.
void draw_step(const Setup& su, Block& b, i64 k) noexcept {
    const HedgeSpec& sp = su.spec;
    const bool scenario = su.kind == PathKind::oscillation || su.kind == PathKind::trend;
    const bool scenario_noise = hp(sp, hp_scenario_noise) != 0.0;
    if ((k & 1) == 0) {
        const auto n = static_cast<u32>(k >> 1);
        const bool draws_price = su.kind != PathKind::user && su.kind != PathKind::bootstrap &&
                                 su.kind != PathKind::signals;
        if (draws_price && (!scenario || scenario_noise)) {
            draw_pair(b, sp.seed, rng::Stream::price, n, true, b.za, b.zb);
        }
        if (su.kind == PathKind::heston) {
            draw_pair(b, sp.seed, rng::Stream::variance, n, false, b.ua, b.ub);
        }
        if (su.kind == PathKind::merton) {
            draw_pair(b, sp.seed, rng::Stream::jump_count, n, false, b.ua, b.ub);
            draw_pair(b, sp.seed, rng::Stream::jump_size, n, true, b.ja, b.jb);
        }
    }
    if (su.atm_on && (k & 3) == 0) {  // four draws per call (rng::draws_per_call)
        LaneBlock& ln = *b.ln;
        draw_quad(b, sp.seed, rng::Stream::atm_vol, static_cast<u32>(k >> 2), true, ln.q[0], ln.q[1],
                  ln.q[2], ln.q[3]);
    }
    if (su.noise != NoiseKind::none && ((k + 1) & 1) == 0) {
        draw_pair(b, sp.seed, rng::Stream::noise, static_cast<u32>((k + 1) >> 1),
                  su.noise == NoiseKind::iid, b.na, b.nb);
    }
    if (scenario && !scenario_noise) {
        fill(b.za, 0.0);
        fill(b.zb, 0.0);
    }
}

/// The signal generator at time k: its draws (in pairs: even k draws k and k + 1), the signals
/// at k and the normal shock of the price step k -> k + 1 (a GBM step with it). imbalance:
/// I = 2 Phi(rho z + sqrt(1 - rho^2) e) - 1 with z the next shock itself (the price draw k)
/// and e the signal's own noise, so the price is the GBM of the same draws and the signal
/// knows the next move's sign with strength rho; the profile is a pure-noise uniform.
/// profile: V uniform; the next shock is s |w| (w the price draw k) with s the sign of the
/// previous shock with probability 1/2 + rho (1/2 - V), else the opposite (k = 0: the sign of
/// w decides): low V (a thin, low-volume zone) continues the last move, high V reverts it.
/// As V is uniform and independent of the past, the sign is a fair coin unconditionally: the
/// shocks are i.i.d. N(0, 1), the price is a GBM in law whatever rho. The imbalance is then
/// pure noise, 2 Phi(e) - 1.
void signal_step(const Setup& su, Block& b, i64 k) noexcept {
    const HedgeSpec& sp = su.spec;
    if ((k & 1) == 0) {
        const auto n = static_cast<u32>(k >> 1);
        draw_pair(b, sp.seed, rng::Stream::price, n, true, b.sg_wa, b.sg_wb);
        draw_pair(b, sp.seed, rng::Stream::signal_noise, n, true, b.sg_ea, b.sg_eb);
        draw_pair(b, sp.seed, rng::Stream::profile, n, false, b.sg_va, b.sg_vb);
        if (su.sig_kind == SignalKind::profile) {
            draw_pair(b, sp.seed, rng::Stream::coin, n, false, b.sg_ca, b.sg_cb);
        }
    }
    const bool odd = (k & 1) != 0;
    const double* __restrict w = odd ? b.sg_wb : b.sg_wa;
    const double* __restrict e = odd ? b.sg_eb : b.sg_ea;
    const double* __restrict v = odd ? b.sg_vb : b.sg_va;
    const double rho = su.sig_rho;
    if (su.sig_kind == SignalKind::imbalance) {
        const double rest = std::sqrt(1.0 - rho * rho);
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.imb[j] = 2.0 * vmath::norm_cdf(rho * w[j] + rest * e[j]) - 1.0;
            b.vp[j] = v[j];
            b.next_z[j] = w[j];
        }
        return;
    }
    const double* __restrict c = odd ? b.sg_cb : b.sg_ca;
    const bool first = k == 0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.imb[j] = 2.0 * vmath::norm_cdf(e[j]) - 1.0;
        b.vp[j] = v[j];
        const double prev = first ? w[j] : b.next_z[j];
        const double sign_prev = prev < 0.0 ? -1.0 : 1.0;
        const double keep = 0.5 + rho * (0.5 - v[j]);  // probability of continuing
        const double sign = c[j] < keep ? sign_prev : -sign_prev;
        b.next_z[j] = sign * std::fabs(w[j]);
    }
}

/// The user's signals at time k for every lane (a shared row, or the lane's own).
void load_signals(const Setup& su, Block& b, const i64* row, i64 k) noexcept {
    const HedgeSpec& sp = su.spec;
    const i64 stride = sp.n_steps + 1;
    for (int j = 0; j < kLanes; ++j) {
        const i64 at = (sp.signal_rows == 1 ? 0 : row[j]) * stride + k;
        b.vp[j] = sp.profile != nullptr ? sp.profile[at] : 0.5;
        b.imb[j] = sp.imbalance != nullptr ? sp.imbalance[at] : 0.0;
    }
}

/// The signals at time k: the generator's or the user's (none: neutral values).
void signals_at(const Setup& su, Block& b, const i64* row, i64 k) noexcept {
    if (su.kind == PathKind::signals) {
        signal_step(su, b, k);
    } else if (su.user_signals) {
        load_signals(su, b, row, k);
    } else if (k == 0) {
        fill(b.vp, 0.5);
        fill(b.imb, 0.0);
    }
}

/// Moves every lane from time k to k + 1: the true price (generated, or read from the user's
/// rows) and the observed one.
void move_prices(const Setup& su, Block& b, const i64* row, i64 k,
                 const Doubles& jump_cdf) noexcept {
    const HedgeSpec& sp = su.spec;
    const double dt = sp.times[k + 1] - sp.times[k];
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.lx_prev[j] = b.lx[j];
        b.lo_prev[j] = b.lo[j];
        b.s_prev[j] = b.s[j];
        b.o_prev[j] = b.o[j];
    }
    const bool odd = (k & 1) != 0;
    const double* z = odd ? b.zb : b.za;
    const double* u = odd ? b.ub : b.ua;
    const double* jz = odd ? b.jb : b.ja;
    switch (su.kind) {
        case PathKind::gbm:
            advance_gbm(su, b, dt, z);
            if (su.atm_on) {
                advance_atm(su, b, k, z);
            }
            break;
        case PathKind::signals:
            advance_gbm(su, b, dt, b.next_z);
            break;
        case PathKind::heston:
            advance_heston(su, b, dt, z, u);
            break;
        case PathKind::merton:
            advance_merton(su, b, dt, z, u, jz, jump_cdf);
            if (su.atm_on) {
                advance_atm(su, b, k, z);
            }
            break;
        case PathKind::oscillation:
        case PathKind::trend:
            advance_scenario(su, b, k, dt, z);
            break;
        case PathKind::bootstrap:
            advance_bootstrap(su, b, k);
            break;
        case PathKind::user: {
            const i64 stride = sp.n_steps + 1;
            for (int j = 0; j < kLanes; ++j) {
                b.s[j] = sp.paths[row[j] * stride + k + 1];
            }
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                b.lx[j] = vmath::log(b.s[j]);
            }
            break;
        }
    }
    observe(su, b, k + 1);
}

// ---------------------------------------------------------------------------------------------
// Rules

/// A rule's indicators at step k1: Wilder's ATR, the EWMA variance of the vol gate and the
/// efficiency ratio of the trend band (kept in a ring of the last er_n + 1 observed prices).
void update_indicators(const Block& b, Book& bk, const RuleParams& rp, double* ring, i64 k1,
                       double dt) noexcept {
    if (rp.atr_mult > 0.0) {
        const double inv = 1.0 / static_cast<double>(rp.atr_len);
        const i64 len = rp.atr_len;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double tr = std::fabs(b.o[j] - b.o_prev[j]);
            // Wilder's ATR on closes: the mean of the first atr_len true ranges, then
            // atr += (tr - atr) / atr_len.
            bk.atr[j] = k1 < len    ? bk.atr[j] + tr
                        : k1 == len ? (bk.atr[j] + tr) * inv
                                    : bk.atr[j] + (tr - bk.atr[j]) * inv;
        }
    }
    if (rp.gate) {
        const double a_dt = rp.alpha / dt;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double lr = b.lo[j] - b.lo_prev[j];
            bk.hv[j] = (1.0 - rp.alpha) * bk.hv[j] + a_dt * lr * lr;
        }
    }
    if (rp.band_kind == BandKind::trend) {
        const i64 er_n = rp.er_n;
        const i64 rn = er_n + 1;
        double* __restrict rg = ring;
        const i64 slot = k1 % rn;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            rg[slot * kLanes + j] = b.o[j];
        }
        const i64 w = std::min(er_n, k1);
        const i64 first = (k1 - w) % rn;
        fill(bk.er, 0.0);  // used as the path length accumulator
        for (i64 i = k1 - w + 1; i <= k1; ++i) {
            const i64 a = i % rn, p = (i - 1) % rn;
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                bk.er[j] += std::fabs(rg[a * kLanes + j] - rg[p * kLanes + j]);
            }
        }
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double num = std::fabs(b.o[j] - rg[first * kLanes + j]);
            bk.er[j] = bk.er[j] > 0.0 ? num / bk.er[j] : 0.0;
        }
    }
}

/// The no-trade band's half-width at step k1 for every lane (NaN without a band).
void set_band(const Block& b, Book& bk, const RuleParams& rp) noexcept {
    const double ww_k = rp.ww_c;
    const double band0 = rp.band0, widen = rp.widen;
    switch (rp.band_kind) {
        case BandKind::fixed:
            fill(bk.band, band0);
            break;
        case BandKind::trend:
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                bk.band[j] = band0 * (1.0 + widen * bk.er[j]);
            }
            break;
        case BandKind::whalley_wilmott:
            // Whalley & Wilmott (1997): half-width
            // (3/2 e^{-r(T-t)} lambda S Gamma^2 / risk_aversion)^(1/3), T each group's own
            // expiry: e^{-r(T-t)} Gamma^2 is (sum over groups of e^{-r(T_g-t)/2} Gamma_g)^2.
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                const double x = ww_k * b.o[j] * b.wgam[j] * b.wgam[j];
                bk.band[j] = vmath::exp(vmath::log(x) * (1.0 / 3.0));
            }
            break;
        case BandKind::profile:
            // narrower near high-volume levels (vp -> 1: the price tends to revert, hedge
            // sooner), wider in thin zones (vp -> 0: it tends to run, let gamma run)
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                bk.band[j] = band0 * (1.0 + rp.strength * (1.0 - 2.0 * b.vp[j]));
            }
            break;
        case BandKind::imbalance:
            // wider on the side of the net delta when the imbalance predicts a move that the
            // net delta gains on (a continuation away from the last hedge), narrower when it
            // predicts the way back
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                const double net = b.hdel[j] + bk.h[j] + bk.pend[j];
                const double side = net > 0.0 ? 1.0 : (net < 0.0 ? -1.0 : 0.0);
                bk.band[j] = band0 * (1.0 + rp.strength * b.imb[j] * side);
            }
            break;
        default:
            fill(bk.band, vmath::kNaN);
    }
}

/// Updates a rule's state at step k1, sets its band and decides its trades (bk.q) for every
/// lane: the triggers, combined. A rule that is a price move alone (Move, no gate, band, ATR,
/// clock or maximum interval) takes the same loop with the other triggers known false at
/// compile time (the same bits, a third of the work).
void decide(const Setup& su, const Block& b, Book& bk, const RuleParams& rp, double* ring,
            i64 k1, double dt) noexcept {
    update_indicators(b, bk, rp, ring, k1, dt);
    set_band(b, bk, rp);
    const bool move_only = rp.move_only;
    // The implied vol the gate compares realized vol with: the shared one, or with per-leg
    // marks the first leg's current implied vol on each path (the marks', b.ln->iv0).
    alignas(64) double iv_shared[kLanes];
    const double* __restrict iv = su.lanes ? b.ln->iv0 : iv_shared;
    if (!move_only && !su.lanes) {  // (a price move alone has no gate)
        fill(iv_shared, su.spec.vols != nullptr ? su.spec.vols[k1] : su.vol);
    }
    const double gate_lo = rp.gate_min, gate_hi = rp.gate_max;
    const bool t_every = rp.every > 0.0 && k1 % static_cast<i64>(rp.every) == 0;
    const bool atr_ready = rp.atr_mult > 0.0 && k1 >= rp.atr_len;
    // Step-level switches as 0/1 doubles and the triggers combined with bitwise operators: no
    // short-circuit control flow, so the loop vectorizes.
    const double move = rp.move, atr_mult = rp.atr_mult, max_interval = rp.max_interval;
    const double from_last_on = rp.atr_from_last ? 1.0 : 0.0;
    const double move_on = move > 0.0 ? 1.0 : 0.0;
    const double atr_on = atr_ready ? 1.0 : 0.0;
    const double band_on = rp.band_kind != BandKind::none ? 1.0 : 0.0;
    const double gate_on = rp.gate ? 1.0 : 0.0;
    const double max_on = max_interval > 0.0 ? 1.0 : 0.0;
    const double every_on = t_every ? 1.0 : 0.0;
    const double edge_on = rp.to_edge ? 1.0 : 0.0;
    const auto lanes = [&]<bool kMoveOnly>() {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double o = b.o[j];
            const double last = bk.last[j];
            const double net = b.hdel[j] + bk.h[j] + bk.pend[j];
            const bool t_move = (move_on != 0.0) & (std::fabs(o - last) >= move * last);
            bool full = t_move, trig = t_move;
            double target = 0.0;
            if constexpr (!kMoveOnly) {
                const double ref = from_last_on != 0.0 ? last : b.o_prev[j];
                const double hb = bk.band[j];
                const double hv = bk.hv[j];
                const bool t_atr = (atr_on != 0.0) & (std::fabs(o - ref) > atr_mult * bk.atr[j]);
                const bool t_band = (band_on != 0.0) & (std::fabs(net) > hb);
                const double lo = gate_lo * iv[j], hi = gate_hi * iv[j];
                const bool open = (gate_on == 0.0) | ((hv >= lo * lo) & (hv <= hi * hi));
                const bool t_max = (max_on != 0.0) & (bk.since[j] >= max_interval);
                const bool to_e = edge_on != 0.0;
                full = (open & ((every_on != 0.0) | t_move | t_atr | (t_band & !to_e))) | t_max;
                trig = full | (open & t_band & to_e);
                target = full ? 0.0 : (net > 0.0 ? hb : -hb);
            }
            bk.q[j] = trig ? target - net : 0.0;
            bk.last[j] = trig ? o : last;
            bk.since[j] = trig ? 0.0 : bk.since[j];
            bk.rebal[j] += trig ? 1.0 : 0.0;
        }
    };
    if (move_only) {
        lanes.template operator()<true>();
    } else {
        lanes.template operator()<false>();
    }
}


/// Scratch owned by one thread: per-rule books, rule parameters and trend-band rings.
struct Workspace {
    std::vector<GroupStep> gs;
    std::vector<Book> books;
    std::vector<RuleParams> rules;
    std::vector<Doubles> rings;
    // Orders in flight: rule r's latency x kLanes ring starts at r * latency * kLanes (one flat
    // vector: a second vector of vectors made GCC emit an out-of-line std destructor that the
    // instruction sets would share, which .ci/check_isa_symbols rejects).
    Doubles orders;
    double* orders_of(std::size_t r, i64 latency) noexcept {
        return orders.data() + r * static_cast<std::size_t>(latency) * kLanes;
    }
    Doubles jump_cdf;
    Doubles hv_ring;  // window hedge vol: the last hv_window values x kLanes
    LegVols lv;                   // per-leg implied vols (surface or Heston marks)
    LaneBlock lane;               // and the per-lane state they need
};

// ---------------------------------------------------------------------------------------------
// One block of paths: the steps of run_block

/// The lanes of the block of output rows [i0, i0 + len): lane j's output row, and its global
/// path number, which keys its random numbers. Spare lanes of a partial block repeat the last
/// real path. Returns len.
i64 open_lanes(const HedgeSpec& sp, i64 i0, i64 end, Block& b, i64* row) noexcept {
    const i64 len = std::min<i64>(kLanes, end - i0);
    for (int j = 0; j < kLanes; ++j) {
        const i64 local = i0 + (j < len ? j : len - 1);
        row[j] = local;
        const auto gp = static_cast<u64>(sp.first_path + local);
        b.path_lo[j] = static_cast<u32>(gp);
        b.path_hi[j] = static_cast<u32>(gp >> 32);
    }
    return len;
}

/// The traced paths among the block's len lanes.
std::vector<TraceSlot> trace_slots(const HedgeSpec& sp, i64 i0, i64 len) {
    std::vector<TraceSlot> slots;
    for (i64 t = 0; t < sp.n_trace; ++t) {
        const i64 local = sp.trace_paths[t] - sp.first_path;
        if (local >= i0 && local < i0 + len) {
            slots.push_back(TraceSlot{static_cast<int>(local - i0), t});
        }
    }
    return slots;
}

/// Time 0 for every lane: the prices, the generators' state, the observed price, the option
/// marks and the rule-independent accumulators.
void start_paths(const Setup& su, Block& b, const i64* row, std::vector<GroupStep>& gs,
                 LegVols& lv) noexcept {
    const HedgeSpec& sp = su.spec;
    const double ls0 = std::log(su.spot);
    for (int j = 0; j < kLanes; ++j) {
        if (su.kind == PathKind::user) {
            b.s[j] = sp.paths[row[j] * (sp.n_steps + 1)];
            b.lx[j] = vmath::log(b.s[j]);
        } else {
            b.s[j] = su.spot;
            b.lx[j] = ls0;
        }
    }
    signals_at(su, b, row, 0);
    fill(b.var, hp(sp, hp_heston_v0));
    fill(b.walk, 0.0);
    fill(b.start, 0.0);
    if (su.noise != NoiseKind::none) {
        draw_pair(b, sp.seed, rng::Stream::noise, 0, su.noise == NoiseKind::iid, b.na, b.nb);
    }
    observe(su, b, 0);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        b.lx_prev[j] = b.lx[j];  // no move before time 0: the quoted spread is not widened
    }
    for (double* a : {b.a_gamma, b.a_theta, b.a_vega, b.a_vanna, b.a_volga, b.rv, b.veg,
                      b.hv_s, b.hdel, b.hgam, b.wgam}) {  // (portfolio_greeks zeroes
                                                          // hdel, hgam, wgam where read)
        fill(a, 0.0);
    }
    b.hv_w = 0.0;
    if (su.lanes) {
        const double ss = hp(sp, hp_surface_spot);  // NaN: each path's own first price
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            b.ln->ls0[j] = std::isnan(ss) ? b.lx[j] : std::log(ss);
        }
        fill(b.ln->atm_y, su.ln_atm0);
        fill(b.ln->atm_m, 1.0);
        fill(b.ln->qh, 0.0);
        fill(b.ln->one, 1.0);
        for (int j = 0; j < kLanes; ++j) {
            b.ln->arow[j] = row[j] * (sp.n_steps + 1);
        }
        if (su.roll) {  // every lane starts with the position's legs
            fill(b.ln->rolls, 0.0);
            for (i64 g = 0; g < sp.n_groups; ++g) {
                const OptionGroup& og = sp.groups[g];
                const auto at = static_cast<std::size_t>(g) * kLanes;
                std::fill_n(lv.strike.begin() + at, kLanes, og.strike);
                std::fill_n(lv.lstrike.begin() + at, kLanes, su.lnk[static_cast<std::size_t>(g)]);
                std::fill_n(lv.expiry.begin() + at, kLanes, og.expiry);
                std::fill_n(lv.estep.begin() + at, kLanes, static_cast<double>(og.expiry_step));
            }
            leg_vols_roll(su, b, 0, lv, nullptr, lv.vol.data());
        } else {
            leg_vols(su, b, 0, nullptr, lv.vol.data());
        }
    }
    portfolio_greeks(su, b, 0, gs, lv);
    if (su.oh_on) {
        hedge_option_trade(su, b, gs, lv, 0);
    }
}

/// Opens one rule's book at time 0: it buys the options at their model value, paying the
/// option half-spread, and (optionally) hedges; the drawdown and the trend band's prices start.
void open_book(const Setup& su, const Block& b, Book& bk, const RuleParams& rule,
               double* ring) noexcept {
    const HedgeSpec& sp = su.spec;
    const double opt_spread = hp(sp, hp_option_half_spread) * su.option_units;
    const double vol0 = sp.vols != nullptr ? sp.vols[0] : su.vol;
    for (double* a : {bk.h, bk.since, bk.a_hedge, bk.a_fin, bk.rebal, bk.traded, bk.turnover,
                      bk.peak, bk.atr, bk.er, bk.q, bk.pend}) {
        fill(a, 0.0);
    }
    fill(bk.band, vmath::kNaN);
    fill(bk.hv, vol0 * vol0);
    if (su.lanes && su.any_gate) {  // the gate's EWMA starts at the first leg's implied vol
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            bk.hv[j] = b.ln->iv0[j] * b.ln->iv0[j];
        }
    }
    const double* __restrict ocost = su.oh_on ? b.ln->ocost : nullptr;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double oc = ocost != nullptr ? ocost[j] : 0.0;  // the hedge option's spread
        bk.cash[j] = -b.val[j] - opt_spread - oc;
        bk.a_cost[j] = -opt_spread - oc;
        bk.last[j] = b.o[j];
    }
    if (hp(sp, hp_initial_hedge) != 0.0) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            bk.q[j] = -b.hdel[j];
        }
        trade(su, b, bk, hp(sp, hp_entry_costs) != 0.0);
    }
    const double* __restrict px = exec_price(su, b);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double pnl = bk.cash[j] + bk.h[j] * px[j] + b.val[j];
        bk.maxdd[j] = pnl < 0.0 ? -pnl : 0.0;  // the peak starts at 0 (before any trade)
    }
    if (rule.band_kind == BandKind::trend) {
        for (int j = 0; j < kLanes; ++j) {
            ring[j] = b.o[j];
        }
    }
}

/// The P&L attribution of step k with the Greeks of step k: the option parts, which are the
/// same for every rule, and the realized variance of the observed price. The vol terms: vega
/// dvol, vanna dS dvol and volga dvol^2 / 2, with the shared vol path's change, or (per-leg
/// marks, lv) each leg's own change from its vol at k to its vol at k + 1.
void attribute(const Setup& su, Block& b, i64 k, double dt, const LegVols& lv) noexcept {
    const HedgeSpec& sp = su.spec;
    const double dvol = sp.vols != nullptr ? sp.vols[k + 1] - sp.vols[k] : 0.0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double ds = b.s[j] - b.s_prev[j];
        b.a_gamma[j] += 0.5 * b.gam[j] * ds * ds;
        b.a_theta[j] += b.the[j] * dt;
        const double lr = b.lo[j] - b.lo_prev[j];
        b.rv[j] += lr * lr;
    }
    // The shared vol path's terms (without one, veg dvol is +0: a_vega, which starts at +0,
    // would not change by a bit)
    if (sp.vols != nullptr) {
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double ds = b.s[j] - b.s_prev[j];
            b.a_vega[j] += b.veg[j] * dvol;
            b.a_vanna[j] += b.vna[j] * ds * dvol;
            b.a_volga[j] += 0.5 * b.vlg[j] * dvol * dvol;
        }
    }
    if (!su.lanes) {
        return;
    }
    for (i64 g = 0; g < sp.n_groups; ++g) {
        if (!su.roll && k >= sp.groups[g].expiry_step) {
            continue;  // not alive at k: no Greeks (roll rule: zero on the lanes not alive)
        }
        const auto at = static_cast<std::size_t>(g) * kLanes;
        const double* __restrict v0 = lv.vol.data() + at;
        const double* __restrict v1 = lv.next.data() + at;
        const double* __restrict vg = lv.vega.data() + at;
        const double* __restrict va = lv.vanna.data() + at;
        const double* __restrict vo = lv.volga.data() + at;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            const double ds = b.s[j] - b.s_prev[j];
            const double dv = v1[j] - v0[j];
            b.a_vega[j] += vg[j] * dv;
            b.a_vanna[j] += va[j] * ds * dv;
            b.a_volga[j] += 0.5 * vo[j] * dv * dv;
        }
    }
}

/// A book over step k: financing of its cash and stock (grow_cash = expm1(r dt), grow_div =
/// expm1(q dt), 0 without financing) and the P&L of its net delta.
void carry(const Setup& su, const Block& b, Book& bk, double grow_cash, double grow_div) noexcept {
    const double* __restrict px = exec_price(su, b);
    const double* __restrict px_prev = exec_price_prev(su, b);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double fin = bk.cash[j] * grow_cash + bk.h[j] * px_prev[j] * grow_div;
        bk.cash[j] += fin;
        bk.a_fin[j] += fin;
        const double ds = b.s[j] - b.s_prev[j];
        bk.a_hedge[j] += b.del[j] * ds + bk.h[j] * (px[j] - px_prev[j]);
    }
}

/// Closes a book at the horizon: the stock is unwound and the options still alive are sold at
/// model value, less the option half-spread on them (exit_spread).
void close_book(const Setup& su, const Block& b, Book& bk, double exit_spread) noexcept {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        bk.q[j] = -bk.h[j];
        bk.pend[j] = 0.0;  // orders still in flight are cancelled
    }
    trade(su, b, bk, hp(su.spec, hp_exit_costs) != 0.0);
    // the hedge option is sold too, at its bid (half-spread in vol points x vega)
    const double oh_exit = su.oh_on && hp(su.spec, hp_close_options) != 0.0 ? su.oh_hs : 0.0;
    const LaneBlock* ln = su.oh_on ? b.ln : nullptr;
    // the roll rule: the option half-spread on each lane's own live units
    const double* __restrict units = su.roll ? b.ln->units : nullptr;
    const double unit_spread =
        hp(su.spec, hp_close_options) != 0.0 ? hp(su.spec, hp_option_half_spread) : 0.0;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double oc = ln != nullptr ? oh_exit * std::fabs(ln->qh[j]) * ln->uvg[j] : 0.0;
        const double xs = units != nullptr ? unit_spread * units[j] : exit_spread;
        bk.cash[j] += b.val[j] - xs - oc;
        bk.a_cost[j] -= xs + oc;
    }
    fill(bk.band, vmath::kNaN);
}

/// The option half-spread paid at the horizon on the options still alive (close_options).
double exit_spread(const Setup& su, const std::vector<GroupStep>& gs) noexcept {
    double alive_units = 0.0;
    for (const GroupStep& c : gs) {
        alive_units += c.alive ? std::fabs(c.qc) + std::fabs(c.qp) : 0.0;
    }
    return hp(su.spec, hp_close_options) != 0.0 ? hp(su.spec, hp_option_half_spread) * alive_units
                                                : 0.0;
}

/// With latency L: the order decided at step k1 - L (slot k1 % L of the ring `orders`) fills
/// now, at this step's quotes.
void fill_order(const Setup& su, const Block& b, Book& bk, double* orders, i64 k1) noexcept {
    double* __restrict slot = orders + (k1 % su.latency) * kLanes;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        bk.q[j] = slot[j];
        bk.pend[j] -= slot[j];
        slot[j] = 0.0;
    }
    trade(su, b, bk, true);
}

/// With latency: the order just decided (bk.q) waits in `slot` of the ring; no fill yet.
void queue_order(Book& bk, double* orders, i64 slot) noexcept {
    double* __restrict o = orders + slot * kLanes;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        o[j] = bk.q[j];
        bk.pend[j] += bk.q[j];
    }
}

/// One rule's book at time k1, after the options expiring there paid into cash: the rule's
/// trade before the horizon, the close at it; then the running drawdown of the mark-to-market
/// P&L (options at model value until they are sold).
void rebalance(const Setup& su, const Block& b, Book& bk, const RuleParams& rule, double* ring,
               double* orders, i64 k1, double dt, const std::vector<GroupStep>& gs) noexcept {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        bk.cash[j] += b.pay[j];
        bk.q[j] = 0.0;
        bk.since[j] += 1.0;
    }
    if (su.oh_on) {  // the hedge option's trade of this step, the same for every rule
        const LaneBlock& ln = *b.ln;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            bk.cash[j] -= ln.oq[j] * ln.uv[j] + ln.ocost[j];
            bk.a_cost[j] -= ln.ocost[j];
        }
    }
    if (su.roll) {  // this step's rolls, the same for every rule
        const LaneBlock& ln = *b.ln;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) {
            bk.cash[j] += ln.rcash[j];
            bk.a_cost[j] -= ln.rcost[j];
        }
    }
    double opt_val_factor = 1.0;  // 0 at the horizon, where the options are sold
    if (k1 < su.n_steps) {
        if (su.latency == 0) {
            decide(su, b, bk, rule, ring, k1, dt);
            if (su.marks_at_trades) {
                orders_at_trades(su, b, bk, gs);
            }
            trade(su, b, bk, true);
        } else {
            fill_order(su, b, bk, orders, k1);
            decide(su, b, bk, rule, ring, k1, dt);
            if (su.marks_at_trades) {
                orders_at_trades(su, b, bk, gs);
            }
            queue_order(bk, orders, k1 % su.latency);
        }
    } else {
        close_book(su, b, bk, exit_spread(su, gs));
        opt_val_factor = 0.0;
    }
    if (!su.spec.split) {  // no drawdown without the marks of every step
        return;
    }
    const double* __restrict px = exec_price(su, b);
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        const double pnl = bk.cash[j] + bk.h[j] * px[j] + opt_val_factor * b.val[j];
        bk.peak[j] = pnl > bk.peak[j] ? pnl : bk.peak[j];
        const double dd = bk.peak[j] - pnl;
        bk.maxdd[j] = dd > bk.maxdd[j] ? dd : bk.maxdd[j];
    }
}

/// The outputs of the block's len real lanes: rule r's rows start at r * n_paths.
void write_outputs(const Setup& su, const Block& b, const std::vector<Book>& books, i64 i0,
                   i64 len) noexcept {
    const HedgeSpec& sp = su.spec;
    const double horizon = su.horizon;
    // without the split: NaN where the marks of every step would be needed
    const double split = sp.split ? 1.0 : vmath::kNaN;
    for (std::size_t r = 0; r < books.size(); ++r) {
        const Book& bk = books[r];
        for (int j = 0; j < len; ++j) {
            const i64 at = static_cast<i64>(r) * sp.n_paths + i0 + j;
            const double parts = b.a_gamma[j] + b.a_theta[j] + b.a_vega[j] + b.a_vanna[j] +
                                 b.a_volga[j] + bk.a_hedge[j] + bk.a_fin[j] + bk.a_cost[j];
            const auto put = [&](HedgeOutput o, double x) {
                if (sp.out[o] != nullptr) {
                    sp.out[o][at] = x;
                }
            };
            put(ho_pnl, bk.cash[j]);
            put(ho_gamma, split * b.a_gamma[j]);
            put(ho_theta, split * b.a_theta[j]);
            put(ho_vega, split * b.a_vega[j]);
            put(ho_vanna, split * b.a_vanna[j]);
            put(ho_volga, split * b.a_volga[j]);
            put(ho_hedge, split * bk.a_hedge[j]);
            put(ho_financing, bk.a_fin[j]);
            put(ho_costs, bk.a_cost[j]);
            put(ho_residual, split * (bk.cash[j] - parts));
            put(ho_rebalances, bk.rebal[j]);
            put(ho_traded, bk.traded[j]);
            put(ho_turnover, bk.turnover[j]);
            put(ho_realized_vol,
                horizon > 0.0 ? split * std::sqrt(b.rv[j] / horizon) : vmath::kNaN);
            put(ho_max_drawdown, split * bk.maxdd[j]);
            put(ho_final_spot, b.s[j]);
            put(ho_rolls, su.roll ? b.ln->rolls[j] : 0.0);
        }
    }
}

/// Whether some option group expires (settles) at step k.
bool settles(const HedgeSpec& sp, i64 k) noexcept {
    for (i64 g = 0; g < sp.n_groups; ++g) {
        if (sp.groups[g].expiry_step == k) {
            return true;
        }
    }
    return false;
}

/// Output rows [i0, min(i0 + kLanes, end)) under every rule: the paths, the option marks and
/// the rule-independent P&L once per step, then each rule's book.
void run_block(const Setup& su, i64 i0, i64 end, Workspace& ws) noexcept {
    const HedgeSpec& sp = su.spec;
    Block b;  // NOLINT: every array is filled before use
    b.ln = &ws.lane;
    i64 row[kLanes];
    const i64 len = open_lanes(sp, i0, end, b, row);
    const std::vector<TraceSlot> slots = trace_slots(sp, i0, len);
    start_paths(su, b, row, ws.gs, ws.lv);
    std::fill(ws.orders.begin(), ws.orders.end(), 0.0);
    for (std::size_t r = 0; r < ws.books.size(); ++r) {
        open_book(su, b, ws.books[r], ws.rules[r], ws.rings[r].data());
        write_trace(su, b, ws.books[r], static_cast<i64>(r), slots, 0);
    }
    const bool financing = hp(sp, hp_financing) != 0.0;
    for (i64 k = 0; k < su.n_steps; ++k) {
        const double dt = sp.times[k + 1] - sp.times[k];
        draw_step(su, b, k);
        if (su.kind == PathKind::merton) {
            poisson_cdf(hp(sp, hp_jump_intensity) * dt, ws.jump_cdf);
        }
        move_prices(su, b, row, k, ws.jump_cdf);
        if (su.kind == PathKind::signals || su.user_signals) {
            signals_at(su, b, row, k + 1);
        }
        const i64 k1 = k + 1;
        if (su.roll) {
            leg_vols_roll(su, b, k1, ws.lv, ws.lv.vol.data(), ws.lv.next.data());
        } else if (su.lanes) {
            leg_vols(su, b, k1, ws.lv.vol.data(), ws.lv.next.data());
        }
        if (sp.split || sp.n_trace > 0) {  // (the trace shows the split's running sums)
            attribute(su, b, k, dt, ws.lv);
        }
        if (su.lanes) {
            std::swap(ws.lv.vol, ws.lv.next);
        }
        if (su.hv_kind != HedgeVolKind::given) {
            update_hedge_vol(su, b, ws.hv_ring.data(), k + 1, dt);
        }
        const double grow_cash = financing ? std::expm1(su.rate * dt) : 0.0;
        const double grow_div = financing ? std::expm1(su.div * dt) : 0.0;
        for (Book& bk : ws.books) {
            carry(su, b, bk, grow_cash, grow_div);
        }
        if (su.marks_at_trades && k1 < su.n_steps && !settles(sp, k1)) {
            step_groups(su, k1, ws.gs);  // for the deltas of the lanes that trade
            fill(b.pay, 0.0);
        } else {
            portfolio_greeks(su, b, k1, ws.gs, ws.lv);
        }
        if (su.oh_on) {
            hedge_option_trade(su, b, ws.gs, ws.lv, k1);
        }  // options expiring at k1 pay into cash
        for (std::size_t r = 0; r < ws.books.size(); ++r) {
            rebalance(su, b, ws.books[r], ws.rules[r], ws.rings[r].data(), ws.orders_of(r, su.latency), k1,
                      dt, ws.gs);
        }
        if (k1 == su.n_steps) {
            fill(b.val, 0.0);  // sold (after the books used it)
        }
        for (std::size_t r = 0; r < ws.books.size(); ++r) {
            write_trace(su, b, ws.books[r], static_cast<i64>(r), slots, k1);
        }
    }
    write_outputs(su, b, ws.books, i0, len);
}

}  // namespace

void hedge_range(const HedgeSpec& spec, std::int64_t begin, std::int64_t end) noexcept {
    if (end <= begin) {
        return;
    }
    double option_units = 0.0;
    Doubles lnk;
    for (std::int64_t g = 0; g < spec.n_groups; ++g) {
        option_units += std::fabs(spec.groups[g].qc) + std::fabs(spec.groups[g].qp);
        lnk.push_back(std::log(spec.groups[g].strike));
    }
    const std::int64_t n_rules = spec.rule_params != nullptr ? spec.n_rules : 1;
    bool any_ww = false, any_band = false, any_gate = false;
    for (std::int64_t r = 0; r < n_rules; ++r) {
        const double* rp =
            spec.rule_params != nullptr ? spec.rule_params + r * kNumHedgeParams : spec.p;
        const auto band = static_cast<BandKind>(static_cast<int>(rp[hp_band_kind]));
        any_ww = any_ww || band == BandKind::whalley_wilmott;
        any_band = any_band || band != BandKind::none;
        any_gate = any_gate || rp[hp_gate] != 0.0;
    }
    const auto hv_kind = static_cast<HedgeVolKind>(static_cast<int>(hp(spec, hp_hedge_vol_kind)));
    const auto vol_model = static_cast<VolModel>(static_cast<int>(hp(spec, hp_vol_model)));
    // The stochastic ATM level's OU transition over each step (the same for every block).
    std::vector<surface::OuStep> atm_steps;
    if (vol_model == VolModel::surface && hp(spec, hp_atm_on) != 0.0) {
        for (std::int64_t k = 0; k < spec.n_steps; ++k) {
            atm_steps.push_back(surface::ou_step(hp(spec, hp_atm_kappa), hp(spec, hp_atm_xi),
                                                 spec.times[k + 1] - spec.times[k]));
        }
    }
    Setup su{
        .spec = spec,
        .kind = static_cast<PathKind>(static_cast<int>(hp(spec, hp_path_kind))),
        .noise = static_cast<NoiseKind>(static_cast<int>(hp(spec, hp_noise_kind))),
        .n_steps = spec.n_steps,
        .spot = hp(spec, hp_spot),
        .drift = hp(spec, hp_drift),
        .path_vol = hp(spec, hp_path_vol),
        .vol = hp(spec, hp_vol),
        .hvol = hp(spec, hp_hedge_vol),
        .rate = hp(spec, hp_rate),
        .div = hp(spec, hp_div),
        .same_hedge_vol = hv_kind == HedgeVolKind::given &&
                          (std::isnan(hp(spec, hp_hedge_vol)) ||
                           (spec.vols == nullptr && vol_model == VolModel::constant &&
                            hp(spec, hp_hedge_vol) == hp(spec, hp_vol))),
        .fill_observed = hp(spec, hp_fill_observed) != 0.0,
        // an order that would fill after the horizon never fills: any latency beyond n_steps
        // is n_steps (and the ring of orders in flight stays small)
        .latency = std::min(static_cast<std::int64_t>(hp(spec, hp_latency)), spec.n_steps),
        .spread_vol = hp(spec, hp_spread_vol),
        .impact = option_units > 0.0 ? hp(spec, hp_impact_bps) * kBpsScale / option_units : 0.0,
        .option_units = option_units,
        .horizon = spec.times[spec.n_steps] - spec.times[0],
        .lnk = std::move(lnk),
        .hv_kind = hv_kind,
        // a window longer than the path is the whole path so far
        .hv_window = std::max<std::int64_t>(
            1, std::min(static_cast<std::int64_t>(hp(spec, hp_hedge_vol_length)), spec.n_steps)),
        .hv_alpha = hv_kind == HedgeVolKind::ewma
                        ? -std::expm1(-std::log(2.0) / hp(spec, hp_hedge_vol_length))
                        : 0.0,
        .hv_warmup = std::min(static_cast<std::int64_t>(hp(spec, hp_hedge_vol_warmup)),
                              spec.n_steps + 1),
        .hv_floor = hp(spec, hp_hedge_vol_floor),
        .any_ww = any_ww,
        .any_gate = any_gate,
        .sig_kind = static_cast<SignalKind>(static_cast<int>(hp(spec, hp_signal_kind))),
        .sig_rho = hp(spec, hp_signal_rho),
        .user_signals = spec.profile != nullptr || spec.imbalance != nullptr,
        .vol_model = vol_model,
        .lanes = vol_model != VolModel::constant,
        .sticky_moneyness = hp(spec, hp_sticky_moneyness) != 0.0,
        .atm_on = vol_model == VolModel::surface && hp(spec, hp_atm_on) != 0.0,
        .ln_atm0 = std::log(hp(spec, hp_atm0)),
        .ln_atm_level = std::log(hp(spec, hp_atm_level)),
        .atm_kappa = hp(spec, hp_atm_kappa),
        .atm_xi = hp(spec, hp_atm_xi),
        .atm_rho = hp(spec, hp_atm_rho),
        .atm_rho_perp = std::sqrt(std::max(0.0, 1.0 - hp(spec, hp_atm_rho) * hp(spec, hp_atm_rho))),
        .atm_steps = std::move(atm_steps),
        .heston_kappa = hp(spec, hp_heston_kappa),
        .heston_theta = hp(spec, hp_heston_theta),
        .heston_smile = vol_model == VolModel::heston &&
                        (spec.surface.kind == SurfaceKind::svi ||
                         spec.surface.kind == SurfaceKind::grid),
        .oh_on = vol_model != VolModel::constant && hp(spec, hp_oh_on) != 0.0 &&
                 spec.n_groups >= 2,
        .oh_every = std::max<std::int64_t>(1, static_cast<std::int64_t>(hp(spec, hp_oh_every))),
        .oh_gamma = hp(spec, hp_oh_gamma) != 0.0,
        .oh_call = hp(spec, hp_oh_is_call) != 0.0,
        .oh_hs = hp(spec, hp_oh_half_spread_vol),
        .oh_band = hp(spec, hp_oh_band) * option_units,
        .roll = vol_model != VolModel::constant && hp(spec, hp_roll_on) != 0.0 &&
                hp(spec, hp_oh_on) == 0.0,
        .roll_expiry = hp(spec, hp_roll_on_expiry) != 0.0,
        .roll_tenor = hp(spec, hp_roll_tenor),
        .roll_mny = hp(spec, hp_roll_moneyness),
        .roll_lo = hp(spec, hp_roll_delta_lo),
        .roll_hi = hp(spec, hp_roll_delta_hi),
        .roll_hs = hp(spec, hp_roll_half_spread_vol),
        .expiry_tol = hp(spec, hp_expiry_tol),
        .marks_at_trades = !spec.split && !any_band && vol_model == VolModel::constant &&
                           hv_kind == HedgeVolKind::given && spec.n_trace == 0,
        .group_table = {},
    };
    const auto n_table = static_cast<std::size_t>(spec.n_steps + 1) *
                         static_cast<std::size_t>(spec.n_groups);
    if (n_table <= kMaxGroupTable) {
        std::vector<GroupStep> row(static_cast<std::size_t>(spec.n_groups));
        su.group_table.reserve(n_table);
        for (std::int64_t k = 0; k <= spec.n_steps; ++k) {
            group_steps_at(su, k, row);
            su.group_table.insert(su.group_table.end(), row.begin(), row.end());
        }
    }
    Workspace ws;
    ws.gs.resize(static_cast<std::size_t>(spec.n_groups));
    if (su.lanes) {
        ws.lv.resize(spec.n_groups, su.roll);
    }
    if (hv_kind == HedgeVolKind::window) {
        ws.hv_ring.assign(static_cast<std::size_t>(su.hv_window) * kLanes, 0.0);
    }
    ws.books.resize(static_cast<std::size_t>(n_rules));
    for (std::int64_t r = 0; r < n_rules; ++r) {
        const double* rp =
            spec.rule_params != nullptr ? spec.rule_params + r * kNumHedgeParams : spec.p;
        ws.rules.emplace_back(rp);
        // The efficiency ratio looks back min(er_n, k) <= n_steps prices, so a longer window
        // is the same as n_steps and only needs a ring of n_steps + 1 slots. Without this cap
        // a huge er_length (TrendBand(er_length=10**9)) made this allocation throw inside a
        // noexcept thread function (std::terminate), and 2**63 overflowed it (segfault).
        RuleParams& rule = ws.rules.back();
        rule.er_n = std::min(rule.er_n, spec.n_steps);
        ws.rings.emplace_back(static_cast<std::size_t>(rule.er_n + 1) * kLanes);
    }
    ws.orders.assign(static_cast<std::size_t>(n_rules * su.latency) * kLanes, 0.0);
    for (std::int64_t i0 = begin; i0 < end; i0 += kLanes) {
        run_block(su, i0, end, ws);
    }
}

void random_draws(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,
                  std::int64_t begin, std::int64_t end, std::int64_t n_draws, bool normal,
                  double* out) noexcept {
    Block b;  // only its path words are used
    const auto st = static_cast<rng::Stream>(stream);
    const int per_call = rng::draws_per_call(st);
    alignas(64) double q[4][kLanes];
    for (std::int64_t i0 = begin; i0 < end; i0 += kLanes) {
        const std::int64_t len = std::min<std::int64_t>(kLanes, end - i0);
        for (int j = 0; j < kLanes; ++j) {
            const auto gp = static_cast<u64>(first_path + i0 + (j < len ? j : len - 1));
            b.path_lo[j] = static_cast<u32>(gp);
            b.path_hi[j] = static_cast<u32>(gp >> 32);
        }
        for (std::int64_t k = 0; k < n_draws; k += per_call) {
            if (per_call == 4) {
                draw_quad(b, seed, st, static_cast<u32>(k >> 2), normal, q[0], q[1], q[2], q[3]);
            } else {
                draw_pair(b, seed, st, static_cast<u32>(k >> 1), normal, q[0], q[1]);
            }
            for (int j = 0; j < len; ++j) {
                double* row = out + (i0 + j) * n_draws;
                for (int i = 0; i < per_call && k + i < n_draws; ++i) {
                    row[k + i] = q[i][j];
                }
            }
        }
    }
}

}  // namespace gammaext::GAMMAEXT_ISA_NS
