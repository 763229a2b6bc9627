//! This core's measured f64 FMA peak, the yardstick of the GEMM figures (`speed`, `floor`).
//!
//! Twelve independent multiply–add chains in the widest registers the CPU has, written with
//! intrinsics so each chain is one register: a plain-Rust loop of 12 × 8 lanes compiled for AVX2
//! needs 24 of the 16 ymm registers, spills, and read 30 GFLOP/s on a Zen 3 core whose peak is
//! 49.5 (its GEMM ran at 42).

use std::time::Instant;

/// Independent accumulator chains: enough to cover an FMA latency of 4–6 cycles on two pipes.
const CHAINS: usize = 12;

/// Peak f64 FMA throughput of one core, GFLOP/s.
pub fn fma_peak() -> f64 {
    let iters = 4_000_000;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let (sink, lanes) = run(iters);
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        let flops = (iters * CHAINS * lanes * 2) as f64;
        best = best.max(flops / secs / 1e9);
    }
    best
}

/// Runs the chains `iters` times; returns their sum and the f64 lanes per chain.
fn run(iters: usize) -> (f64, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present (checked).
            return (unsafe { x86::chains512(iters) }, 8);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA are present (checked).
            return (unsafe { x86::chains256(iters) }, 4);
        }
    }
    let mut acc = [0.0f64; CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(1.000_000_1, 0.999_999_9);
        }
        std::hint::black_box(&mut acc);
    }
    (acc.iter().sum(), 1)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    /// Twelve zmm chains.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn chains512(iters: usize) -> f64 {
        let (a, b) = (_mm512_set1_pd(1.000_000_1), _mm512_set1_pd(0.999_999_9));
        let mut acc = [_mm512_setzero_pd(); CHAINS];
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm512_fmadd_pd(*r, a, b);
            }
        }
        acc.iter().map(|&r| _mm512_reduce_add_pd(r)).sum()
    }

    /// Twelve ymm chains.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn chains256(iters: usize) -> f64 {
        let (a, b) = (_mm256_set1_pd(1.000_000_1), _mm256_set1_pd(0.999_999_9));
        let mut acc = [_mm256_setzero_pd(); CHAINS];
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm256_fmadd_pd(*r, a, b);
            }
        }
        let mut lanes = [0.0; 4];
        let sum = acc
            .iter()
            .fold(_mm256_setzero_pd(), |s, &r| _mm256_add_pd(s, r));
        // SAFETY: `lanes` holds 4 f64.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), sum) };
        lanes.iter().sum()
    }
}
