//! This core's measured f64 FMA peak, the yardstick of the GEMM figures (`speed`, `floor`).

use std::time::Instant;

/// Peak f64 FMA throughput of one core, GFLOP/s: independent accumulator chains.
pub fn fma_peak() -> f64 {
    #[inline(always)]
    fn kernel(iters: usize) -> f64 {
        let mut acc = [[0.0f64; 8]; 12];
        let a = [1.000_000_1f64; 8];
        let b = [0.999_999_9f64; 8];
        for _ in 0..iters {
            for row in acc.iter_mut() {
                for l in 0..8 {
                    row[l] = row[l].mul_add(a[l], b[l]);
                }
            }
        }
        acc.iter().flatten().sum()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn k512(iters: usize) -> f64 {
        kernel(iters)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn k256(iters: usize) -> f64 {
        kernel(iters)
    }
    let iters = 2_000_000;
    let flops = (iters * 12 * 8 * 2) as f64;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        #[cfg(target_arch = "x86_64")]
        let sink = if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F, AVX2 and FMA are present (checked).
            unsafe { k512(iters) }
        } else if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA are present (checked).
            unsafe { k256(iters) }
        } else {
            kernel(iters)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let sink = kernel(iters);
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        best = best.max(flops / secs / 1e9);
    }
    best
}
