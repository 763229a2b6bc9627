//! Dense matrix products `C ← A·B` / `C ← C + A·B` that never touch the heap.
//! (This file holds the views, the private `Problem` and `Micro` types with their unsafe
//! contracts, and `blocked`, which picks a loop nest. The kernel choice (`dispatch`), the
//! nests (`streamed`, `packed`, `b_resident`), the portable kernel (`portable`), the SIMD
//! micro-kernels, the packing, the narrow and the thin-k kernels live in submodules.)
//!
//! The `gemm` crate (0.19) allocates on every call in its general path (a `vec![false; mc/MR]`
//! pack-tracking vector, plus a `MemBuffer` when it packs: measured after warm-up at
//! 256 × 64 × 64, `X·Wᵀ` makes 2 calls / 32 KiB, `Δ·W` 1 call / 8 B, `Δᵀ·X` 2 calls / 132 KiB —
//! above glibc's mmap threshold, so page faults on every call). That breaks the no-allocation
//! contract of [`Dynamics::eval`](crate::Dynamics::eval). This module is a small cache-blocked
//! replacement sized for neural-ODE layers (widths up to a few hundred, batches of any size), as
//! fast as `gemm` with `Parallelism::None` on those shapes:
//!
//! - the block sizes come from the machine's caches ([`super::cache`]), not from constants
//!   tuned to one CPU: `KC` terms per K block so that a packed `KC × NR` panel of `B` fills
//!   the L1d (at most the 32 KiB stack buffer), `MC` rows per A block so that an
//!   `MC × KC` block fills half the L2;
//! - `B` is packed, one panel of `KC × NR` elements at a time, into a **stack** buffer
//!   (16 KiB when the panel fits, else 32 KiB in a frame of its own: small products do not
//!   pay the larger frame's stack probes),
//!   zero-padded at the right edge so the micro-kernel always runs at full width;
//! - a `C` too large for half the L2 (batch 4096 forward, a convolution's input gradient) is
//!   computed a band of `MR` rows at a time against *all* of `B`'s K block, packed once
//!   (`b_resident`), or against one column block of it at a time where the whole block does
//!   not fit half the L2 but a row-major `A`'s `m × KC` block fits the L2: `C` is written row band by row
//!   band instead of a column of tiles at a time, and `A` is read in place (once per column
//!   block); a column-major `B` is packed with register
//!   transposes (`transpose`); the last `n mod NR ≤ 4` columns go to the narrow kernels
//!   instead of a zero-padded panel;
//! - `A` is read in place through arbitrary strides (so `Xᵀ`, `δᵀ` need no copies) while its
//!   `m × KC` block fits half the L2, unless it is not row-major and its `MR`-element pieces
//!   straddle cache lines or lie far apart (then packed, see `strided_a_packs`); a taller
//!   row-major `A` is either streamed the same way or packed
//!   (whichever a first-use calibration finds faster on this machine), `MC` rows at a time, into
//!   `MR`-row micro-panels in a per-thread buffer (grown on the first such product, then
//!   reused: no allocation after warm-up), so each panel of `B` sweeps rows held in the L2
//!   instead of streaming all of `A` from the L3 once per panel. Packing moves data only: the
//!   sums are the same, in the same order, bit for bit. Rows past the bottom edge are clamped
//!   to the last row and their results discarded;
//! - the micro-kernel keeps an `MR × NR` accumulator tile in registers. On x86-64 with AVX2+FMA
//!   (detected at run time) it is written with explicit intrinsics: 6×8 tiles for f64, 6×16 for
//!   f32 (12 ymm accumulators, one broadcast and two panel loads per step). Elsewhere a portable
//!   kernel with 4×4 (f64) / 4×8 (f32) tiles in plain loops is used (LLVM vectorises it for the
//!   baseline instruction set; about 5× slower than the AVX2 kernel for f64).
//! - f64 products with at most 4 output columns or rows (a small state's output layer, its
//!   weight and input gradients) go to the `narrow` kernels instead, which vectorise along the
//!   long dimension: at 256 × 64 × 2 1.1 µs instead of 4.3 µs in 16-wide tiles;
//! - with AVX-512 or AVX2, products with at most 4 terms (`k ≤ 4`: a first layer at a small
//!   state dimension, the output layer's input gradient) go to the `thin_k` kernels, which keep
//!   `B` in registers (AVX-512) or in an L1 stack copy (AVX2) and stream the rows of `A` and `C`
//!   (`bench/gemm` 256 × 2 × 64: 2.35 µs instead of 2.8–3.0 on a Zen 4 core; on a Zen 3 one
//!   3.0–4.3, with the AVX2 loops compiled per k and per way of finishing a row, against gemm's
//!   4.7–6.9), summing each element in the blocked kernels' order.
//!
//! Results are deterministic for a given machine (no threads, fixed summation order: each `K`
//! block of `KC` terms is summed in order and then added to `C`). They can differ in the last bits
//! between machines with and without AVX2/FMA (different block sizes, fused vs separate
//! multiply-add).

use std::mem::{MaybeUninit, size_of};

#[cfg(target_arch = "x86_64")]
mod avx2;
mod b_resident;
mod dispatch;
#[cfg(target_arch = "x86_64")]
mod narrow;
mod pack;
mod pack_choice;
mod packed;
mod portable;
mod streamed;
#[cfg(target_arch = "x86_64")]
mod thin_k;
#[cfg(target_arch = "x86_64")]
mod transpose;

pub use pack_choice::describe as packing_choice;

use dispatch::dispatch;
use pack::{Line, pack_panel};
use packed::packed;
use portable::Generic;
use streamed::streamed;

use crate::real::Real;

use super::cache::{Blocking, cache_sizes};

/// Bytes of the on-stack packing buffer for `B` in products whose `KC × NR` panel fits it:
/// 16 KiB (2048 f64 or 4096 f32). A larger frame costs stack probes on every call: a 32 KiB
/// frame measured 3–5% slower at 16 × 32 × 32 (`bench/gemm`, Zen 4), a 64 KiB one 14–19% of a
/// whole gradient at batch 16 / hidden 32. Sized in bytes so that f32 panels (twice as wide in
/// elements) get the same `KC` as f64 ones.
const SMALL_PANEL: usize = 16 * 1024;
/// Bytes of the packing buffer for products with longer panels (`K` above what
/// [`SMALL_PANEL`] holds), in its own stack frame ([`Micro::large`]); caps `KC` at
/// 256 f64 terms of a 16-wide panel.
const LARGE_PANEL: usize = 32 * 1024;

/// Number of elements a strided view touches (its highest index + 1), or `None` on overflow.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

/// A read-only strided matrix view: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A `rows × cols` view with row stride `rs` and column stride `cs`.
    ///
    /// # Panics
    /// If the view reaches past the end of `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        let need = extent(rows, cols, rs, cs);
        assert!(
            need.is_some_and(|e| e <= data.len()),
            "MatRef {rows}x{cols} (strides {rs}, {cs}) does not fit in {} elements",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A contiguous row-major `rows × cols` view (`rs = cols`, `cs = 1`).
    ///
    /// # Panics
    /// If `data` has fewer than `rows·cols` elements.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transposed view (no data is moved).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A mutable row-major matrix view: element `(i, j)` is `data[i·ld + j]`, `ld ≥ cols`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    ld: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// A `rows × cols` row-major view with leading dimension (row stride) `ld`.
    ///
    /// # Panics
    /// If `ld < cols` or the view reaches past the end of `data`.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize, ld: usize) -> Self {
        let need = extent(rows, cols, ld, 1);
        assert!(
            ld >= cols && need.is_some_and(|e| e <= data.len()),
            "MatMut {rows}x{cols} (ld {ld}) does not fit in {} elements",
            data.len()
        );
        MatMut {
            data,
            rows,
            cols,
            ld,
        }
    }

    /// A contiguous row-major `rows × cols` view.
    ///
    /// # Panics
    /// If `data` has fewer than `rows·cols` elements.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// `C ← A·B` (`accumulate == false`) or `C ← C + A·B` (`accumulate == true`).
///
/// Never allocates; single-threaded.
///
/// # Panics
/// If the shapes do not match (`A` is `m × k`, `B` is `k × n`, `C` is `m × n`).
pub fn matmul<T: Real>(c: MatMut<'_, T>, a: MatRef<'_, T>, b: MatRef<'_, T>, accumulate: bool) {
    product(c, a, b, accumulate, None)
}

/// `C ← A·B + 1·biasᵀ`: the product with `bias` added to every row, in the kernels' store
/// (no separate pass over `C`). Bit for bit what `C ← bias` in every row followed by
/// `matmul(C, A, B, true)` gives, one write of `C` instead of three passes.
///
/// Never allocates; single-threaded.
///
/// # Panics
/// If the shapes do not match, or `bias` has fewer than `n` elements.
pub fn matmul_bias<T: Real>(c: MatMut<'_, T>, a: MatRef<'_, T>, b: MatRef<'_, T>, bias: &[T]) {
    assert!(
        bias.len() >= c.cols,
        "matmul_bias: bias has {} elements for {} columns",
        bias.len(),
        c.cols
    );
    product(c, a, b, false, Some(bias))
}

fn product<T: Real>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    bias: Option<&[T]>,
) {
    assert!(
        a.rows == c.rows && b.cols == c.cols && a.cols == b.rows,
        "matmul shape mismatch: C {}x{} = A {}x{} · B {}x{}",
        c.rows,
        c.cols,
        a.rows,
        a.cols,
        b.rows,
        b.cols
    );
    let (m, n, k) = (c.rows, c.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                let row = &mut c.data[i * c.ld..i * c.ld + n];
                match bias {
                    Some(b) => row.copy_from_slice(&b[..n]),
                    None => row.fill(T::zero()),
                }
            }
        }
        return;
    }
    let prob = Problem {
        m,
        n,
        k,
        a: a.data.as_ptr(),
        rs_a: a.rs,
        cs_a: a.cs,
        b: b.data.as_ptr(),
        rs_b: b.rs,
        cs_b: b.cs,
        c: c.data.as_mut_ptr(),
        ldc: c.ld,
        accumulate,
        c_transposed: false,
        bias: bias.map_or(std::ptr::null(), |b| b.as_ptr()),
    };
    // SAFETY: the views were checked to lie inside their slices; `c` is borrowed mutably, so it
    // does not alias `a` or `b`; m, n, k ≥ 1; a bias has ≥ n elements.
    unsafe { dispatch(&prob) }
}

/// A checked product, as raw parts for the kernels.
struct Problem<T> {
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    rs_a: usize,
    cs_a: usize,
    b: *const T,
    rs_b: usize,
    cs_b: usize,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
    /// The narrow kernels compute Cᵀ (see `narrow::transposed`); always false elsewhere.
    c_transposed: bool,
    /// With `accumulate == false`: a row of `n` elements added to every row of the product
    /// (null: none).
    bias: *const T,
}

impl<T> Problem<T> {
    /// The bias a kernel adds to the tile at column `j0` in the K block starting at term `p0`:
    /// the bias from column `j0` for the first K block, null otherwise (later blocks add to `C`).
    ///
    /// # Safety
    /// `j0 ≤ n` when the bias is set (it holds `n` elements).
    #[inline(always)]
    unsafe fn bias_at(&self, p0: usize, j0: usize) -> *const T {
        if p0 == 0 && !self.bias.is_null() {
            // SAFETY: forwarded.
            unsafe { self.bias.add(j0) }
        } else {
            std::ptr::null()
        }
    }

    /// Columns `j0..j0 + n` of the product (the bias, when there is one, follows them).
    fn columns(&self, j0: usize, n: usize) -> Problem<T> {
        Problem {
            n,
            b: self.b.wrapping_add(j0 * self.cs_b),
            c: self.c.wrapping_add(j0),
            bias: if self.bias.is_null() {
                self.bias
            } else {
                self.bias.wrapping_add(j0)
            },
            ..self.cast()
        }
    }

    /// Terms `p0..p0 + k` of the product, added to `C` unless they are the first.
    fn k_chunk(&self, p0: usize, k: usize) -> Problem<T> {
        Problem {
            k,
            a: self.a.wrapping_add(p0 * self.cs_a),
            b: self.b.wrapping_add(p0 * self.rs_b),
            accumulate: self.accumulate || p0 > 0,
            ..self.cast()
        }
    }

    /// The same problem with the element type renamed (for `T` that *is* `U`).
    fn cast<U>(&self) -> Problem<U> {
        Problem {
            m: self.m,
            n: self.n,
            k: self.k,
            a: self.a as *const U,
            rs_a: self.rs_a,
            cs_a: self.cs_a,
            b: self.b as *const U,
            rs_b: self.rs_b,
            cs_b: self.cs_b,
            c: self.c as *mut U,
            ldc: self.ldc,
            accumulate: self.accumulate,
            c_transposed: self.c_transposed,
            bias: self.bias as *const U,
        }
    }
}

/// A register-tile kernel: `C[0..mr, 0..nr] (+)= A[0..mr, 0..kc] · panel[0..kc, 0..NR]`.
trait Micro<T> {
    /// Rows of the register tile.
    const MR: usize;
    /// Columns of the register tile (= width of a packed panel).
    const NR: usize;
    /// Runs the kernel.
    ///
    /// # Safety
    /// `a` points at an `mr × kc` block with strides (`rs_a`, `cs_a`), `1 ≤ mr ≤ MR`; `b` at a
    /// fully initialised `kc × NR` panel with row stride `bs`; `c` at an `mr × nr` tile with
    /// row stride `ldc`, `nr ≤ NR`; `bias` null or at `nr` elements (added when not
    /// `acc_mode`); and the CPU supports whatever the kernel was compiled for.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        kc: usize,
        a: *const T,
        rs_a: usize,
        cs_a: usize,
        mr: usize,
        b: *const T,
        bs: usize,
        c: *mut T,
        ldc: usize,
        nr: usize,
        acc_mode: bool,
        bias: *const T,
    );
    /// The blocked product ([`blocked`]) with a [`LARGE_PANEL`] buffer, in a stack frame of its
    /// own (not inlined into the small products' frame), compiled for the kernel's CPU
    /// features.
    ///
    /// # Safety
    /// As [`blocked`].
    unsafe fn large(p: &Problem<T>);
    /// Copies the `kc × nr` block of `B` at (`p0`, `j0`) into a zero-padded `kc × NR` panel
    /// ([`pack_panel`]; the SIMD kernels transpose a column-major `B` in registers).
    ///
    /// # Safety
    /// As [`pack_panel`] with `nr_full = NR`, and the CPU supports the kernel's features.
    #[inline(always)]
    unsafe fn pack_b(p: &Problem<T>, p0: usize, kc: usize, j0: usize, nr: usize, panel: *mut T)
    where
        T: Real,
    {
        // SAFETY: forwarded.
        unsafe { pack_panel(p, p0, kc, j0, nr, Self::NR, panel) }
    }
}

/// Fewest full `NR`-column panels of `B` for which an `A` that is not row-major may be packed
/// whatever its size (the copy is shared by every panel).
const STRIDED_A_PANELS: usize = 2;

/// Whether `A`, not row-major, is packed into contiguous micro-panels although its block fits
/// half the L2. The kernel reads `MR` elements of `A` per term, one column stride apart. Packed
/// when that is not one contiguous piece (`rs_a ≠ 1`), when the pieces straddle two cache
/// lines (a column stride that is not a whole number of lines: conv input grad
/// `585 × 64 × 784` ran at 34–40 GFLOP/s against gemm's 48), or when one tile's `kc` terms
/// span half the L2 or more (a new page every term or two: `δᵀ·H` at batch 4096). Not when the
/// pieces are aligned and close (`64 × 256 × 64` weight gradient: 95% of faer in place, 87%
/// packed).
#[inline(always)]
fn strided_a_packs<T, K: Micro<T>>(p: &Problem<T>, kc: usize, l2: usize) -> bool {
    if p.cs_a == 1 || p.m <= K::MR || p.n < STRIDED_A_PANELS * K::NR {
        return false;
    }
    let stride = p.cs_a.saturating_mul(size_of::<T>());
    p.rs_a != 1 || !stride.is_multiple_of(size_of::<Line>()) || stride.saturating_mul(kc) >= l2 / 2
}

/// The packing buffer for `B`, on the stack and aligned to a cache line, so the micro-kernel's
/// vector loads of a panel row never straddle two lines (with the default 8-byte alignment
/// they did or did not depending on the caller's stack frame: ±10% at 4096 × 256 × 256).
#[repr(align(64))]
struct Panel<const BYTES: usize>([MaybeUninit<u8>; BYTES]);

impl<const BYTES: usize> Panel<BYTES> {
    /// An uninitialised buffer.
    #[inline(always)]
    fn new() -> Self {
        Panel([const { MaybeUninit::<u8>::uninit() }; BYTES])
    }
}

/// The blocked product: block sizes from the caches, then, in this order: a `C` that overflows
/// half the L2 goes row band by row band against `B` packed whole or in column blocks that fit
/// half the L2 ([`b_resident`], where it applies); an `A` that is not row-major and read badly in place is packed
/// ([`strided_a_packs`]); a row-major A whose `m × KC` block overflows half the L2 is packed
/// ([`packed`]) or streamed ([`streamed`]) as calibrated on first use (`pack_choice`); else
/// streamed. `BYTES` is the panel buffer of this stack frame. The small frame
/// ([`SMALL_PANEL`]) runs only the common case — one K block whose panel fits it, A and C
/// that fit half the L2, so the plain panel-outer nest — and sends everything else to
/// [`Micro::large`] (this function with a [`LARGE_PANEL`] buffer, in its own frame and code):
/// the small products' function stays small (one loop nest instead of three; the batch 16 /
/// hidden 32 gradient measured 3–5% slower with all nests in one 100 KiB function).
///
/// # Safety
/// As [`dispatch`], and the CPU supports what `K` was compiled for.
#[inline(always)]
unsafe fn blocked<T: Real, K: Micro<T>, const BYTES: usize>(p: &Problem<T>) {
    let nr_full = K::NR;
    let caches = cache_sizes();
    let kc_max =
        Blocking::kc(caches.l1d, K::NR, size_of::<T>()).min(LARGE_PANEL / size_of::<T>() / nr_full);
    let kc_block = kc_max.min(p.k);
    // Only an A whose m × KC block overflows half the L2 may be packed (checked with a
    // product: small products, the common case, pay no division).
    let a_block_bytes = p.m.saturating_mul(kc_block * size_of::<T>());
    if BYTES < LARGE_PANEL {
        if kc_block * nr_full * size_of::<T>() > BYTES
            || p.k > kc_block
            || a_block_bytes > caches.l2 / 2
            || strided_a_packs::<T, K>(p, kc_block, caches.l2)
            || p.m.saturating_mul(p.n * size_of::<T>()) > caches.l2 / 2
        {
            // SAFETY: forwarded.
            return unsafe { K::large(p) };
        }
        // SAFETY: forwarded; one K block, so the K-outer order never applies.
        return unsafe { streamed::<T, K, BYTES, false>(p, kc_block, caches.l2) };
    }
    // From here on `kc_block` is the K block (the loops take the min with what is left of K).
    let kc_max = kc_block;
    // Rows of A whose K block fills half the L2, a whole number of register tiles.
    let mc = || Blocking::mc(caches.l2, kc_block, K::MR, size_of::<T>());
    // A C too large for the L2 with a B whose K block fits it: B packed once, C row by row.
    // SAFETY: forwarded.
    if let Some(per_block) = b_resident::panels_per_block::<T, K>(p, kc_max, caches)
        && unsafe { b_resident::run::<T, K, BYTES>(p, kc_max, per_block) }
    {
        return;
    }
    // An A that is not row-major is packed whatever the calibration found for row-major ones
    // (which do not pay for it at every size).
    // SAFETY: forwarded.
    if strided_a_packs::<T, K>(p, kc_max, caches.l2)
        && unsafe { packed::<T, K, BYTES>(p, kc_max, mc()) }
    {
        return;
    }
    if a_block_bytes > caches.l2 / 2 && p.n > nr_full && p.m > mc() {
        let mc = mc();
        // Packing or streaming A: forced L2 (tests) packs; else the calibrated choice for
        // an A within or beyond the L2.
        let class = pack_choice::class(p.m.saturating_mul(p.k * size_of::<T>()), caches.l2);
        let choice = if caches.source == "forced" {
            Some(true)
        } else {
            pack_choice::decided(class)
        };
        match choice {
            // SAFETY: forwarded.
            Some(true) if unsafe { packed::<T, K, BYTES>(p, kc_max, mc) } => return,
            Some(_) => {}
            None => {
                let pack = pack_choice::next_trial_packs(class);
                let start = std::time::Instant::now();
                // SAFETY: forwarded.
                let packed_it = pack && unsafe { packed::<T, K, BYTES>(p, kc_max, mc) };
                if !packed_it {
                    // SAFETY: forwarded.
                    unsafe { streamed::<T, K, BYTES, true>(p, kc_max, caches.l2) };
                }
                let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let flops = (2 * p.m * p.n * p.k) as u64;
                pack_choice::record(class, packed_it, nanos, flops);
                return;
            }
        }
    }
    // SAFETY: forwarded.
    unsafe { streamed::<T, K, BYTES, true>(p, kc_max, caches.l2) }
}
