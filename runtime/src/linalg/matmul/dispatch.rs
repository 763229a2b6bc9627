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
        let level = simd_level();
        if level >= SimdLevel::Avx512 {
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (`simd_level` never exceeds the
            // detected level); `T` is exactly the type cast to.
            unsafe {
                if TypeId::of::<T>() == TypeId::of::<f64>() {
                    if narrow::applies(prob) {
                        return narrow::run_avx512(&prob.cast());
                    }
                    if let Some(t) = narrow::transposed(prob) {
                        return narrow::run_avx512(&t.cast());
                    }
                }
                if TypeId::of::<T>() == TypeId::of::<f32>() {
                    if narrow::applies(prob) {
                        return narrow::run_avx512_f32(&prob.cast());
                    }
                    if let Some(t) = narrow::transposed(prob) {
                        return narrow::run_avx512_f32(&t.cast());
                    }
                }
                if TypeId::of::<T>() == TypeId::of::<f64>() {
                    if thin_k::applies(prob, 8) {
                        return thin_k::run_avx512(&prob.cast());
                    }
                    if let Some((rest, edge)) =
                        narrow::split_edge(prob, <avx2::F64x8x16 as Micro<f64>>::NR)
                    {
                        avx2::run_f64_avx512(&rest.cast());
                        return narrow::run_avx512(&edge.cast());
                    }
                    return avx2::run_f64_avx512(&prob.cast());
                }
                if TypeId::of::<T>() == TypeId::of::<f32>() {
                    if thin_k::applies(prob, 16) {
                        return thin_k::run_avx512_f32(&prob.cast());
                    }
                    if let Some((rest, edge)) =
                        narrow::split_edge(prob, <avx2::F32x8x32 as Micro<f32>>::NR)
                    {
                        avx2::run_f32_avx512(&rest.cast());
                        return narrow::run_avx512_f32(&edge.cast());
                    }
                    return avx2::run_f32_avx512(&prob.cast());
                }
            }
        }
        if level >= SimdLevel::Avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (`simd_level` never exceeds the detected
            // level); `T` is exactly the type cast to.
            unsafe {
                if TypeId::of::<T>() == TypeId::of::<f64>() {
                    if narrow::applies(prob) {
                        return narrow::run_avx2(&prob.cast());
                    }
                    if let Some(t) = narrow::transposed(prob) {
                        return narrow::run_avx2(&t.cast());
                    }
                }
                if TypeId::of::<T>() == TypeId::of::<f32>() {
                    if narrow::applies(prob) {
                        return narrow::run_avx2_f32(&prob.cast());
                    }
                    if let Some(t) = narrow::transposed(prob) {
                        return narrow::run_avx2_f32(&t.cast());
                    }
                }
                if TypeId::of::<T>() == TypeId::of::<f64>() {
                    if thin_k::applies(prob, 4) {
                        return thin_k::run_avx2(&prob.cast());
                    }
                    if let Some((rest, edge)) =
                        narrow::split_edge(prob, <avx2::F64x6x8 as Micro<f64>>::NR)
                    {
                        avx2::run_f64(&rest.cast());
                        return narrow::run_avx2(&edge.cast());
                    }
                    return avx2::run_f64(&prob.cast());
                }
                if TypeId::of::<T>() == TypeId::of::<f32>() {
                    if thin_k::applies(prob, 8) {
                        return thin_k::run_avx2_f32(&prob.cast());
                    }
                    if let Some((rest, edge)) =
                        narrow::split_edge(prob, <avx2::F32x6x16 as Micro<f32>>::NR)
                    {
                        avx2::run_f32(&rest.cast());
                        return narrow::run_avx2_f32(&edge.cast());
                    }
                    return avx2::run_f32(&prob.cast());
                }
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
