//! Every SIMD path the CPU can execute (portable, AVX2, AVX-512), forced one after the other
//! with `linalg::simd::force_simd`, computes the GEMM (with and without bias and accumulation,
//! f64 and f32, tails and narrow shapes, transposed operands) and the vectorised `tanh`/`exp`
//! correctly: against naive loops and `f64::tanh`/`f64::exp`. A kernel bug on one path fails
//! here whatever CPU CI has, as long as it can run that path.
//!
//! One test in its own binary: the forced level is process-wide.

use symplode_runtime::linalg::fastmath::{exp_in_place, tanh_in_place, tanh_in_place_f32};
use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul, matmul_bias};
use symplode_runtime::linalg::simd::{SimdLevel, force_simd, simd_level};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Checks C = A·B (+ bias) (+ C0) for one shape, in f64 and f32, with B given row-major or
/// as the transpose of a row-major [n, k].
fn check_gemm(level: SimdLevel, m: usize, n: usize, k: usize) {
    let a = values(m * k, (m * 31 + n * 7 + k) as u64);
    let b = values(k * n, (m + n * 13 + k * 5) as u64);
    let bias = values(n, 99);
    let c0 = values(m * n, 7);
    // Reference, with the error bound Σ|a||b| per entry.
    let mut want = vec![0.0f64; m * n];
    let mut bound = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                want[i * n + j] += a[i * k + p] * b[p * n + j];
                bound[i * n + j] += (a[i * k + p] * b[p * n + j]).abs();
            }
        }
    }
    let bt: Vec<f64> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
    let label = |what: &str| format!("{} {what} m={m} n={n} k={k}", level.name());
    let close = |got: &[f64], add: &dyn Fn(usize) -> f64, tol: f64, what: &str| {
        for x in 0..m * n {
            let w = want[x] + add(x);
            let err = (got[x] - w).abs();
            assert!(
                err <= tol * (bound[x] + add(x).abs() + 1e-300),
                "{}: entry {x}: {} vs {w} (err {err:e})",
                label(what),
                got[x]
            );
        }
    };
    // f64: plain, transposed B, accumulate, bias.
    let mut c = vec![f64::NAN; m * n];
    matmul(
        MatMut::row_major(&mut c, m, n),
        MatRef::row_major(&a, m, k),
        MatRef::row_major(&b, k, n),
        false,
    );
    close(&c, &|_| 0.0, 1e-14, "f64");
    let mut c = vec![f64::NAN; m * n];
    matmul(
        MatMut::row_major(&mut c, m, n),
        MatRef::row_major(&a, m, k),
        MatRef::row_major(&bt, n, k).t(),
        false,
    );
    close(&c, &|_| 0.0, 1e-14, "f64 Bᵀ");
    let mut c = c0.clone();
    matmul(
        MatMut::row_major(&mut c, m, n),
        MatRef::row_major(&a, m, k),
        MatRef::row_major(&b, k, n),
        true,
    );
    close(&c, &|x| c0[x], 1e-14, "f64 accumulate");
    let mut c = vec![f64::NAN; m * n];
    matmul_bias(
        MatMut::row_major(&mut c, m, n),
        MatRef::row_major(&a, m, k),
        MatRef::row_major(&b, k, n),
        &bias,
    );
    close(&c, &|x| bias[x % n], 1e-14, "f64 bias");
    // f32.
    let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
    let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let mut c32 = vec![f32::NAN; m * n];
    matmul(
        MatMut::row_major(&mut c32, m, n),
        MatRef::row_major(&a32, m, k),
        MatRef::row_major(&b32, k, n),
        false,
    );
    let got: Vec<f64> = c32.iter().map(|&v| f64::from(v)).collect();
    close(&got, &|_| 0.0, 2e-6, "f32");
}

fn check_fastmath(level: SimdLevel) {
    // tanh over the whole range, including the tails and tiny values; odd lengths for tails.
    let mut xs: Vec<f64> = values(1003, 5).iter().map(|v| v * 25.0).collect();
    xs.extend([
        0.0, -0.0, 1e-300, -1e-20, 1e-9, 0.5, 19.0, -19.1, 40.0, -700.0, 710.0,
    ]);
    let mut t = xs.clone();
    tanh_in_place(&mut t);
    for (x, got) in xs.iter().zip(&t) {
        let want = x.tanh();
        let ulp = (got - want).abs() / (want.abs().max(f64::MIN_POSITIVE) * f64::EPSILON);
        assert!(
            ulp <= 4.0,
            "{}: tanh({x}) = {got}, want {want}",
            level.name()
        );
    }
    let mut e: Vec<f64> = values(777, 9).iter().map(|v| v * 700.0).collect();
    let xe = e.clone();
    exp_in_place(&mut e);
    for (x, got) in xe.iter().zip(&e) {
        let want = x.exp();
        let ulp = (got - want).abs() / (want.abs().max(f64::MIN_POSITIVE) * f64::EPSILON);
        assert!(
            ulp <= 3.0,
            "{}: exp({x}) = {got}, want {want}",
            level.name()
        );
    }
    let mut t32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
    let x32 = t32.clone();
    tanh_in_place_f32(&mut t32);
    for (x, got) in x32.iter().zip(&t32) {
        let want = (f64::from(*x)).tanh() as f32;
        assert!(
            (got - want).abs() <= f32::EPSILON * want.abs().max(1e-30),
            "{}: tanh_f32({x}) = {got}, want {want}",
            level.name()
        );
    }
}

#[test]
fn every_simd_path_the_cpu_can_run_is_correct() {
    let levels = SimdLevel::available();
    assert_eq!(levels[0], SimdLevel::Portable);
    assert_eq!(*levels.last().unwrap(), SimdLevel::detected());
    println!(
        "SIMD paths run: {:?}",
        levels.iter().map(|l| l.name()).collect::<Vec<_>>()
    );
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (4, 4, 4),
        (5, 3, 2),
        (8, 8, 9),
        (17, 9, 33),
        (33, 65, 16),
        (64, 64, 64),
        (65, 2, 64),
        (7, 64, 3),
        (256, 3, 64),
        (100, 64, 2),
        (13, 130, 67),
    ];
    for &level in &levels {
        force_simd(Some(level)).unwrap();
        assert_eq!(simd_level(), level);
        for &(m, n, k) in &shapes {
            check_gemm(level, m, n, k);
        }
        check_fastmath(level);
    }
    // A level above the CPU's is refused and changes nothing.
    if SimdLevel::detected() < SimdLevel::Avx512 {
        force_simd(Some(SimdLevel::Portable)).unwrap();
        assert!(force_simd(Some(SimdLevel::Avx512)).is_err());
        assert_eq!(simd_level(), SimdLevel::Portable);
    }
    force_simd(None).unwrap();
    assert_eq!(SimdLevel::parse("AVX2"), Some(SimdLevel::Avx2));
    assert_eq!(SimdLevel::parse("sse"), None);
}
