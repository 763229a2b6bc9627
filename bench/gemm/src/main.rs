//! Single-threaded f64 GEMM timings at the shapes symplode's MLP and conv layers use (issues #6, #17): our
//! no-allocation kernel (`symplode_runtime::linalg::matmul::matmul`) against `gemm`
//! (`Parallelism::None`), `faer` (`Par::Seq`, into a preallocated output) and
//! `matrixmultiply::dgemm`.
//!
//! Every product is `C = A·B` (or `C += A·B` where the MLP accumulates), `A` is `m × k`, `B` is
//! `k × n`, `C` is a contiguous row-major `m × n` buffer allocated once. The operands are passed
//! with exactly the strides the MLP (`runtime/src/models/mlp.rs`) uses, so every library sees the
//! same layout (see `cases::Form`). For each library the bench reports the best time per call (warm;
//! the best of [`ROUNDS`] timed batches, libraries interleaved round by round so that noise from
//! other processes hits all of them alike), GFLOP/s (`2·m·k·n` / time), heap allocation calls and
//! bytes per call (a counting `#[global_allocator]`, counted over [`ALLOC_CALLS`] warm calls), and
//! the largest difference from our result relative to the largest entry of our result (our result
//! is itself checked against a naive triple loop). A difference above [`TOL`] marks a wrong call.
//!
//! Run it pinned to one core: `taskset -c 1 ./target/release/symplode-gemm-bench [FILTER]`
//! (FILTER keeps the cases whose configuration or product contains it, e.g. `B4096`). The feature
//! `gemm-x86-v4` turns on gemm's AVX-512 kernels (off in the workspace's gemm dependency).
//! After the GEMM tables: the activation kernels' ns per element on every SIMD path the CPU runs.
//! The shapes and their operand layouts are in `cases.rs`, the activation timings in
//! `activations.rs`.

mod activations;
mod cases;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cases::{Case, cases};
use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul};

/// Timed batches per library and shape; the best one is reported.
const ROUNDS: usize = 40;
/// Minimum wall time of one timed batch, in seconds (the batch repeats the call to reach it).
const BATCH_SECS: f64 = 2e-3;
/// Warm calls over which allocations are counted.
const ALLOC_CALLS: usize = 20;
/// Largest accepted difference from our result (relative to its largest entry).
const TOL: f64 = 1e-12;

/// `System` plus counters of allocation calls and bytes (all threads).
struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The libraries compared.
#[derive(Clone, Copy, PartialEq)]
enum Lib {
    Ours,
    Gemm,
    Faer,
    Mm,
}

const LIBS: [Lib; 4] = [Lib::Ours, Lib::Gemm, Lib::Faer, Lib::Mm];

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Ours => "ours",
            Lib::Gemm => "gemm",
            Lib::Faer => "faer",
            Lib::Mm => "matrixmultiply",
        }
    }
}

/// Operands of one case, allocated once.
struct Operands {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f64>,
    rs_a: usize,
    cs_a: usize,
    b: Vec<f64>,
    rs_b: usize,
    cs_b: usize,
    acc: bool,
}

/// Deterministic values in [-1, 1) (splitmix64).
fn fill(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

impl Operands {
    fn new(case: &Case) -> Self {
        let (m, k, n) = (case.m, case.k, case.n);
        let ((rs_a, cs_a), (rs_b, cs_b)) = case.form.strides(m, k, n);
        Operands {
            m,
            k,
            n,
            a: fill(m * k, 1 + (m * 1000 + k) as u64),
            rs_a,
            cs_a,
            b: fill(k * n, 7 + (k * 1000 + n) as u64),
            rs_b,
            cs_b,
            acc: case.form.accumulate(),
        }
    }

    /// `c (+)= A·B` with library `lib`; `c` is row-major `m × n`.
    fn run(&self, lib: Lib, c: &mut [f64]) {
        let (m, k, n) = (self.m, self.k, self.n);
        match lib {
            Lib::Ours => matmul(
                MatMut::row_major(c, m, n),
                MatRef::new(&self.a, m, k, self.rs_a, self.cs_a),
                MatRef::new(&self.b, k, n, self.rs_b, self.cs_b),
                self.acc,
            ),
            // dst = alpha·dst + beta·lhs·rhs (dst read only when `read_dst`).
            Lib::Gemm => unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    self.acc,
                    self.a.as_ptr(),
                    self.cs_a as isize,
                    self.rs_a as isize,
                    self.b.as_ptr(),
                    self.cs_b as isize,
                    self.rs_b as isize,
                    if self.acc { 1.0 } else { 0.0 },
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            },
            Lib::Faer => {
                // SAFETY: the views are in bounds (the same strides `MatRef::new` checked).
                let (a, b) = unsafe {
                    (
                        faer::MatRef::from_raw_parts(
                            self.a.as_ptr(),
                            m,
                            k,
                            self.rs_a as isize,
                            self.cs_a as isize,
                        ),
                        faer::MatRef::from_raw_parts(
                            self.b.as_ptr(),
                            k,
                            n,
                            self.rs_b as isize,
                            self.cs_b as isize,
                        ),
                    )
                };
                let dst = faer::MatMut::from_row_major_slice_mut(c, m, n);
                let beta = if self.acc {
                    faer::Accum::Add
                } else {
                    faer::Accum::Replace
                };
                faer::linalg::matmul::matmul(dst, beta, a, b, 1.0, faer::Par::Seq);
            }
            // C = alpha·A·B + beta·C.
            Lib::Mm => unsafe {
                matrixmultiply::dgemm(
                    m,
                    k,
                    n,
                    1.0,
                    self.a.as_ptr(),
                    self.rs_a as isize,
                    self.cs_a as isize,
                    self.b.as_ptr(),
                    self.rs_b as isize,
                    self.cs_b as isize,
                    if self.acc { 1.0 } else { 0.0 },
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            },
        }
    }

    /// Naive triple loop, `C = A·B` from zero.
    fn naive(&self) -> Vec<f64> {
        let (m, k, n) = (self.m, self.k, self.n);
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += self.a[i * self.rs_a + p * self.cs_a]
                        * self.b[p * self.rs_b + j * self.cs_b];
                }
                c[i * n + j] = s;
            }
        }
        c
    }
}

/// Largest `|x − r|` over the largest `|r|`.
fn rel_diff(x: &[f64], r: &[f64]) -> f64 {
    let scale = r.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let d = x
        .iter()
        .zip(r)
        .fold(0.0f64, |s, (a, b)| s.max((a - b).abs()));
    d / scale
}

/// Results of one library at one case.
struct Res {
    best: f64,
    calls: f64,
    bytes: f64,
    /// Allocation calls and bytes of the first call at this shape (the library may have been
    /// called at other shapes before).
    first: (usize, usize),
    diff: f64,
}

/// Calls per timed batch so that a batch takes about `BATCH_SECS`.
fn batch_len(ops: &Operands, lib: Lib, c: &mut [f64]) -> usize {
    let t = Instant::now();
    let mut reps = 0usize;
    while t.elapsed().as_secs_f64() < BATCH_SECS {
        ops.run(lib, c);
        reps += 1;
    }
    reps.max(1)
}

fn bench(case: &Case) -> (Vec<Res>, f64) {
    let ops = Operands::new(case);
    let (m, n) = (case.m, case.n);
    let naive = ops.naive();

    // Correctness: one call from a zeroed C (for `+=` forms that gives A·B too).
    let mut ours = vec![0.0; m * n];
    ops.run(Lib::Ours, &mut ours);
    let ours_vs_naive = rel_diff(&ours, &naive);

    let mut outs: Vec<Vec<f64>> = LIBS.iter().map(|_| vec![0.0; m * n]).collect();
    let mut res: Vec<Res> = Vec::new();
    for (l, &lib) in LIBS.iter().enumerate() {
        let c = &mut outs[l];
        c.fill(0.0);
        let (f0, g0) = (CALLS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        ops.run(lib, c);
        let first = (
            CALLS.load(Ordering::SeqCst) - f0,
            BYTES.load(Ordering::SeqCst) - g0,
        );
        let diff = rel_diff(c, &ours);
        // Warm-up, then count allocations over ALLOC_CALLS warm calls.
        for _ in 0..5 {
            ops.run(lib, c);
        }
        let (c0, b0) = (CALLS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        for _ in 0..ALLOC_CALLS {
            ops.run(lib, black_box(&mut *c));
        }
        let (c1, b1) = (CALLS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        res.push(Res {
            best: f64::INFINITY,
            calls: (c1 - c0) as f64 / ALLOC_CALLS as f64,
            bytes: (b1 - b0) as f64 / ALLOC_CALLS as f64,
            first,
            diff,
        });
    }

    // Timing: per library a batch length, then ROUNDS rounds over all libraries.
    let reps: Vec<usize> = LIBS
        .iter()
        .enumerate()
        .map(|(l, &lib)| batch_len(&ops, lib, &mut outs[l]))
        .collect();
    for _ in 0..ROUNDS {
        for (l, &lib) in LIBS.iter().enumerate() {
            let c = &mut outs[l];
            let t = Instant::now();
            for _ in 0..reps[l] {
                ops.run(lib, black_box(&mut *c));
            }
            let per = t.elapsed().as_secs_f64() / reps[l] as f64;
            res[l].best = res[l].best.min(per);
        }
    }
    black_box(&outs);
    (res, ours_vs_naive)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    // `SYMPLODE_GEMM_L2=<bytes>` blocks ours for that L2 (e.g. a huge value: never pack A),
    // to compare blockings in one build.
    if let Some(l2) = std::env::var("SYMPLODE_GEMM_L2")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        symplode_runtime::linalg::cache::force_l2(Some(l2));
    }
    println!("CPU: {}", symplode_runtime::machine::machine());
    // Printed again at the end: ours calibrates packing on its first large products.
    println!(
        "A packing: {}",
        symplode_runtime::linalg::matmul::packing_choice()
    );
    let avx512 = std::is_x86_feature_detected!("avx512f");
    let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    println!(
        "symplode-gemm-bench: f64, single thread, best of {ROUNDS} batches of >= {:.0} ms; \
         avx512f={avx512} avx2+fma={avx2}; gemm x86-v4 (AVX-512) feature: {}; loadavg at start {}",
        BATCH_SECS * 1e3,
        cfg!(feature = "gemm-x86-v4"),
        loadavg()
    );
    println!();
    println!(
        "| config | product | m×k×n | µs ours | µs gemm | µs faer | µs mm | GFLOP/s ours | GFLOP/s gemm | GFLOP/s faer | GFLOP/s mm | best | ours / best |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut allocs = Vec::new();
    let mut wrong = false;
    // An argument keeps only the cases whose config or product contains it (e.g. `conv`).
    let only = std::env::args().nth(1);
    for case in cases().into_iter().filter(|c| {
        only.as_deref()
            .is_none_or(|o| c.group.contains(o) || c.role.contains(o))
    }) {
        let (res, ours_vs_naive) = bench(&case);
        let flop = 2.0 * (case.m * case.k * case.n) as f64;
        let best = (0..LIBS.len())
            .min_by(|&a, &b| res[a].best.total_cmp(&res[b].best))
            .unwrap();
        let us: Vec<String> = res
            .iter()
            .enumerate()
            .map(|(l, r)| {
                let s = format!("{:.2}", r.best * 1e6);
                if l == best { format!("**{s}**") } else { s }
            })
            .collect();
        let gf: Vec<String> = res
            .iter()
            .map(|r| format!("{:.1}", flop / r.best * 1e-9))
            .collect();
        println!(
            "| {} | {} {} | {}×{}×{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
            case.group,
            case.role,
            case.form.label(),
            case.m,
            case.k,
            case.n,
            us[0],
            us[1],
            us[2],
            us[3],
            gf[0],
            gf[1],
            gf[2],
            gf[3],
            LIBS[best].name(),
            100.0 * res[best].best / res[0].best
        );
        for r in &res {
            wrong |= r.diff > TOL;
        }
        wrong |= ours_vs_naive > TOL;
        allocs.push((case, res, ours_vs_naive));
    }
    println!();
    println!(
        "Heap allocations per call (calls / bytes, mean over {ALLOC_CALLS} warm calls; the first call at \
         the shape in parentheses where it differs) and max |C − C_ours| / max |C_ours| \
         (ours: against a naive triple loop):"
    );
    println!();
    println!(
        "| product | m×k×n | ours | gemm | faer | mm | diff ours | diff gemm | diff faer | diff mm |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (case, res, ours_vs_naive) in &allocs {
        let a: Vec<String> = res
            .iter()
            .map(|r| {
                let warm = if r.calls == 0.0 {
                    "0".to_string()
                } else {
                    format!("{} / {} B", r.calls, r.bytes)
                };
                let (fc, fb) = r.first;
                if fc as f64 == r.calls && fb as f64 == r.bytes {
                    warm
                } else {
                    format!("{warm} (1st call: {fc} / {fb} B)")
                }
            })
            .collect();
        println!(
            "| {} {} | {}×{}×{} | {} | {} | {} | {} | {:.1e} | {:.1e} | {:.1e} | {:.1e} |",
            case.role,
            case.form.label(),
            case.m,
            case.k,
            case.n,
            a[0],
            a[1],
            a[2],
            a[3],
            ours_vs_naive,
            res[1].diff,
            res[2].diff,
            res[3].diff
        );
    }
    println!();
    activations::table();
    println!();
    println!(
        "A packing chosen by ours' first-use calibration: {}",
        symplode_runtime::linalg::matmul::packing_choice()
    );
    println!("loadavg at end {}", loadavg());
    if wrong {
        println!("ERROR: a result differs from ours by more than {TOL:e}");
        std::process::exit(1);
    }
}
