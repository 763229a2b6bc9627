//! The runtime side of the network JIT's `unsafe` boundary: the `extern "C"` shims the
//! generated code calls through function pointers, and the one call into generated
//! network code.
//!
//! Why here and not in `symplode_codegen::jit::boundary` (which holds every other `unsafe`
//! line of the JIT): the shims wrap the runtime's GEMM ([`crate::linalg::matmul::matmul`])
//! and vectorised `tanh` ([`Real::tanh_slice`], i.e. [`crate::linalg::fastmath`]), which the
//! codegen crate cannot name (the runtime depends on codegen, not the reverse). Codegen
//! defines the pointer types and the `#[repr(C)]` table ([`Callbacks`], [`GemmFn`],
//! [`TanhFn`]) and the generated code reads the pointers from that table at every call, so
//! nothing is resolved by symbol name.
//!
//! Safety argument:
//! 1. **Shims validate nothing and never unwind.** [`gemm_shim`] and [`tanh_shim`] turn the
//!    raw parts they receive into slices of exactly the extent the views address (for a
//!    strided `rows × cols` view `(rows−1)·rs + (cols−1)·cs + 1` elements) and call the
//!    safe runtime functions. The views are built by the runtime's segment planner from the
//!    interpreter's plan, whose shapes match by construction, so `matmul`'s shape asserts
//!    cannot fire; if they ever did (an internal bug), the panic cannot cross the
//!    `extern "C"` boundary: Rust aborts the process instead of unwinding into generated
//!    code. Callers guarantee (point 2) that the memory is valid; the shims add no checks
//!    on the hot path.
//! 2. **The caller's pointers.** [`run_segment`] is given one pointer per segment slot, each
//!    obtained from the interpreter's checked `slot_ptr` for the slot's largest extent in
//!    the segment (so every read and write of every op, including those of the callbacks,
//!    stays inside a caller or model buffer, and written slots are writable); a GEMM's
//!    output never overlaps its operands and a non-elementwise step never writes a buffer
//!    it reads (the interpreter's plan guarantees both); the elementwise chains inside a
//!    segment obey the chain rule of `network.rs` (two slots of a chain are equal or
//!    disjoint where one is written); and no Rust reference into the written buffers is
//!    alive during the call (the interpreter makes its slices per step, after the hook
//!    returns).
//! 3. The code stays alive while the kernel does (`symplode_codegen::jit::SegmentKernel`
//!    holds the code memory).

use symplode_codegen::jit::{Callbacks, GemmFn, SegmentKernel, TanhFn};

use super::JitReal;
use crate::linalg::matmul::{MatMut, MatRef, matmul, matmul_bias};
use crate::real::Real;

/// Elements a strided `rows × cols` view touches (0 if empty). Wrapping arithmetic: the
/// segment planner only builds views that fit in memory (point 2), so nothing overflows.
#[inline(always)]
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1)
            .wrapping_mul(rs)
            .wrapping_add((cols - 1).wrapping_mul(cs))
            .wrapping_add(1)
    }
}

/// `C (+)= A·B` on the runtime's GEMM (see [`GemmFn`] for the arguments).
///
/// # Safety
/// Point 1 and 2 of the module documentation: the views lie inside live memory, `C` does
/// not overlap `A` or `B`, no Rust reference aliases `C`.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn gemm_shim<T: Real>(
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
    bias: *const T,
    accumulate: u32,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: each slice covers exactly the elements its view addresses, which the caller
    // guarantees to be valid (and, for `c`, exclusive).
    let (a, b, c) = unsafe {
        (
            std::slice::from_raw_parts(a, extent(m, k, rs_a, cs_a)),
            std::slice::from_raw_parts(b, extent(k, n, rs_b, cs_b)),
            std::slice::from_raw_parts_mut(c, extent(m, n, ldc, 1)),
        )
    };
    let (c, a, b) = (
        MatMut::new(c, m, n, ldc),
        MatRef::new(a, m, k, rs_a, cs_a),
        MatRef::new(b, k, n, rs_b, cs_b),
    );
    if bias.is_null() {
        matmul(c, a, b, accumulate != 0);
    } else {
        // SAFETY: a non-null bias holds `n` elements (the `GemmFn` contract).
        matmul_bias(c, a, b, unsafe { std::slice::from_raw_parts(bias, n) });
    }
}

/// `v[0..n] ← tanh(v[0..n])` on [`Real::tanh_slice`].
///
/// # Safety
/// `v` is valid for reads and writes of `n` elements and not aliased by a Rust reference.
unsafe extern "C" fn tanh_shim<T: Real>(v: *mut T, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller guarantees `n` valid, exclusive elements.
    T::tanh_slice(unsafe { std::slice::from_raw_parts_mut(v, n) });
}

/// The callback table of element type `T`.
pub(super) fn callbacks<T: JitReal>() -> Callbacks<T> {
    Callbacks {
        gemm: gemm_shim::<T> as GemmFn<T>,
        tanh: tanh_shim::<T> as TanhFn<T>,
    }
}

/// Runs a compiled segment.
///
/// # Safety
/// Point 2 of the module documentation: `ptrs` come from the interpreter's checked
/// `slot_ptr` for each slot's largest extent in this segment at this `batch`, with the
/// plan's and the chains' aliasing guarantees, and no live reference into written memory.
pub(super) unsafe fn run_segment<T: JitReal>(
    k: &SegmentKernel<T>,
    ptrs: &[*mut T],
    batch: usize,
    t: T,
    calls: &Callbacks<T>,
) {
    // SAFETY: forwarded from the caller; the shims in `calls` honour `GemmFn` / `TanhFn`.
    unsafe { k.call(ptrs, batch, t, calls) }
}
