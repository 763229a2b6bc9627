//! Packing moves data only: `B`'s `KC × NR` panels (zero-padded at the right edge), `A`'s
//! `MR`-row micro-panels, and the per-thread buffer they go into when they do not fit the stack.

use std::mem::size_of;

use super::Problem;
use crate::real::Real;

/// One cache line of the per-thread buffer for packed A (aligned like the B panel).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line([u8; 64]);

type PackBuffer = std::cell::RefCell<Vec<Line>>;

thread_local! {
    /// Packed A blocks of this thread's products, grown to the largest block seen.
    static A_PACK: PackBuffer = const { std::cell::RefCell::new(Vec::new()) };
    /// Packed `KC × n` blocks of B that several row blocks of A share, grown likewise.
    static B_PACK: PackBuffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// A per-thread buffer of at least `elems` elements of `T`, or `None` when the thread's
/// storage is gone (thread teardown) or already in use.
pub(super) fn a_pack_buffer<T>(elems: usize) -> Option<*mut T> {
    pack_buffer(&A_PACK, elems)
}

/// A second per-thread buffer, for a packed block of B used while [`a_pack_buffer`]'s holds
/// a block of A.
pub(super) fn b_pack_buffer<T>(elems: usize) -> Option<*mut T> {
    pack_buffer(&B_PACK, elems)
}

fn pack_buffer<T>(key: &'static std::thread::LocalKey<PackBuffer>, elems: usize) -> Option<*mut T> {
    let bytes = elems.checked_mul(size_of::<T>())?;
    key.try_with(|cell| {
        let mut v = cell.try_borrow_mut().ok()?;
        let lines = bytes.div_ceil(size_of::<Line>());
        if v.len() < lines {
            v.resize(lines, Line([0; 64]));
        }
        Some(v.as_mut_ptr() as *mut T)
    })
    .ok()
    .flatten()
}

/// Copies rows `i0..i0 + mb`, columns `p0..p0 + kc` of `A` into `mr`-row micro-panels at
/// `dst`: micro-panel `q` holds rows `i0 + q·mr ..` as `dst[q·mr·kc + pp·mr + i]`; rows past
/// the block's end repeat its last row (the kernel never stores them).
///
/// # Safety
/// The block is inside A; `dst` holds `ceil(mb / mr)·mr·kc` elements.
#[inline(always)]
pub(super) unsafe fn pack_a_block<T: Real>(
    p: &Problem<T>,
    i0: usize,
    mb: usize,
    p0: usize,
    kc: usize,
    mr: usize,
    dst: *mut T,
) {
    let mut q = 0;
    while q * mr < mb {
        // SAFETY: forwarded; every index below is inside the block or the buffer.
        unsafe {
            let out = dst.add(q * mr * kc);
            if p.rs_a == 1 && (q + 1) * mr <= mb {
                // Column-major A: each term's mr rows are contiguous, one copy per term.
                let src = p.a.add(i0 + q * mr + p0 * p.cs_a);
                for pp in 0..kc {
                    std::ptr::copy_nonoverlapping(src.add(pp * p.cs_a), out.add(pp * mr), mr);
                }
                q += 1;
                continue;
            }
            for i in 0..mr {
                let row = i0 + (q * mr + i).min(mb - 1);
                let src = p.a.add(row * p.rs_a + p0 * p.cs_a);
                for pp in 0..kc {
                    *out.add(pp * mr + i) = *src.add(pp * p.cs_a);
                }
            }
        }
        q += 1;
    }
}

/// Copies the `kc × nr` block of `B` at (`p0`, `j0`) into `panel` (row stride `nr_full`),
/// zero-padding columns `nr..nr_full`.
///
/// # Safety
/// The block is inside B; `panel` holds `kc · nr_full` elements.
#[inline(always)]
pub(super) unsafe fn pack_panel<T: Real>(
    p: &Problem<T>,
    p0: usize,
    kc: usize,
    j0: usize,
    nr: usize,
    nr_full: usize,
    panel: *mut T,
) {
    // SAFETY: forwarded.
    unsafe {
        if p.cs_b == 1 && nr == nr_full {
            // A constant length (once inlined): vector moves, not a `memcpy` call per row.
            for pp in 0..kc {
                let src = p.b.add((p0 + pp) * p.rs_b + j0);
                std::ptr::copy_nonoverlapping(src, panel.add(pp * nr_full), nr_full);
            }
        } else if p.cs_b == 1 {
            for pp in 0..kc {
                let src = p.b.add((p0 + pp) * p.rs_b + j0);
                let dst = panel.add(pp * nr_full);
                std::ptr::copy_nonoverlapping(src, dst, nr);
                for j in nr..nr_full {
                    *dst.add(j) = T::zero();
                }
            }
        } else {
            // Column by column, so a transposed B (rs_b = 1, e.g. Wᵀ) is read contiguously.
            for j in 0..nr_full {
                if j < nr {
                    let src = p.b.add(p0 * p.rs_b + (j0 + j) * p.cs_b);
                    for pp in 0..kc {
                        *panel.add(pp * nr_full + j) = *src.add(pp * p.rs_b);
                    }
                } else {
                    for pp in 0..kc {
                        *panel.add(pp * nr_full + j) = T::zero();
                    }
                }
            }
        }
    }
}
