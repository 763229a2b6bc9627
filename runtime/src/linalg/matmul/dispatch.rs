//! Which kernel runs a checked product: the narrow, thin-k and blocked SIMD kernels for the
//! CPU's level and element type, else the portable blocked kernel.

use std::mem::size_of;

use super::{Generic, Micro, Problem, SMALL_PANEL, blocked};
#[cfg(target_arch = "x86_64")]
use super::{avx2, narrow, thin_k};
use crate::real::Real;

/// Picks the kernel for this CPU and element type.
///
/// # Safety
/// `prob` describes in-bounds, non-aliasing (for `c`) views with m, n, k ≥ 1.
pub(super) unsafe fn dispatch<T: Real>(prob: &Problem<T>) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::linalg::simd::{SimdLevel, simd_level};
        use std::any::TypeId;
        // One element type on one SIMD level: the narrow kernel (also for a product with few
        // rows, transposed), the thin-k kernel, else the register-tile kernel with the last
        // few columns split off to the narrow one.
        macro_rules! kernels {
            ($t:ty, $narrow:ident, $thin_k:ident, $lanes:expr, $tile:ident, $blocked:ident) => {
                if TypeId::of::<T>() == TypeId::of::<$t>() {
                    if narrow::applies(prob) {
                        return narrow::$narrow(&prob.cast());
                    }
                    if let Some(t) = narrow::transposed(prob) {
                        return narrow::$narrow(&t.cast());
                    }
                    if thin_k::applies(prob, $lanes) {
                        return thin_k::$thin_k(&prob.cast());
                    }
                    if let Some((rest, edge)) =
                        narrow::split_edge(prob, <avx2::$tile as Micro<$t>>::NR)
                    {
                        avx2::$blocked(&rest.cast());
                        return narrow::$narrow(&edge.cast());
                    }
                    return avx2::$blocked(&prob.cast());
                }
            };
        }
        let level = simd_level();
        if level >= SimdLevel::Avx512 {
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (`simd_level` never exceeds the
            // detected level); `T` is exactly the type cast to.
            unsafe {
                kernels!(f64, run_avx512, run_avx512, 8, F64x8x16, run_f64_avx512);
                kernels!(
                    f32,
                    run_avx512_f32,
                    run_avx512_f32,
                    16,
                    F32x8x32,
                    run_f32_avx512
                );
            }
        }
        if level >= SimdLevel::Avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (`simd_level` never exceeds the detected
            // level); `T` is exactly the type cast to.
            unsafe {
                kernels!(f64, run_avx2, run_avx2, 4, F64x6x8, run_f64);
                kernels!(f32, run_avx2_f32, run_avx2_f32, 8, F32x6x16, run_f32);
            }
        }
    }
    const FMA: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));
    // SAFETY: forwarded from our caller; the generic kernels need no CPU features.
    unsafe {
        if size_of::<T>() <= 4 {
            blocked::<T, Generic<4, 8, FMA>, SMALL_PANEL>(prob)
        } else {
            blocked::<T, Generic<4, 4, FMA>, SMALL_PANEL>(prob)
        }
    }
}
