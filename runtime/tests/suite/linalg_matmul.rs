//! The no-allocation matrix product against a naive triple loop, over shapes that exercise every
//! edge (partial register tiles, several K blocks) and all stride patterns the MLP uses.

use symplode_runtime::Real;
use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul};
use symplode_runtime::rng::Rng;

fn naive(
    m: usize,
    n: usize,
    k: usize,
    a: &dyn Fn(usize, usize) -> f64,
    b: &dyn Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
        }
    }
    c
}

fn check<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    tol: f64,
    rng: &mut Rng,
) {
    let av: Vec<T> = (0..m * k)
        .map(|_| T::of(rng.uniform_range(-1.0, 1.0)))
        .collect();
    let bv: Vec<T> = (0..k * n)
        .map(|_| T::of(rng.uniform_range(-1.0, 1.0)))
        .collect();
    // Stored row-major as A [m,k] or Aᵀ [k,m]; B [k,n] or Bᵀ [n,k].
    let a = if trans_a {
        MatRef::row_major(&av, k, m).t()
    } else {
        MatRef::row_major(&av, m, k)
    };
    let b = if trans_b {
        MatRef::row_major(&bv, n, k).t()
    } else {
        MatRef::row_major(&bv, k, n)
    };
    let af = |i: usize, p: usize| {
        if trans_a {
            av[p * m + i].f64()
        } else {
            av[i * k + p].f64()
        }
    };
    let bf = |p: usize, j: usize| {
        if trans_b {
            bv[j * k + p].f64()
        } else {
            bv[p * n + j].f64()
        }
    };
    let expect = naive(m, n, k, &af, &bf);
    // C with a leading dimension larger than n, and a sentinel in the padding.
    let ld = n + 3;
    let init: Vec<T> = (0..m * ld).map(|i| T::of(0.25 * (i % 7) as f64)).collect();
    let mut c = init.clone();
    matmul(MatMut::new(&mut c, m, n, ld), a, b, accumulate);
    for i in 0..m {
        for j in 0..ld {
            let got = c[i * ld + j].f64();
            if j >= n {
                assert_eq!(got, init[i * ld + j].f64(), "padding touched at ({i},{j})");
                continue;
            }
            let base = if accumulate {
                init[i * ld + j].f64()
            } else {
                0.0
            };
            let want = base + expect[i * n + j];
            assert!(
                (got - want).abs() <= tol * (1.0 + k as f64),
                "{} m={m} n={n} k={k} ta={trans_a} tb={trans_b} acc={accumulate} ({i},{j}): {got} vs {want}",
                T::NAME
            );
        }
    }
}

#[test]
fn matches_naive_product() {
    let mut rng = Rng::new(1);
    // Every remainder of the register tiles' rows (6 on AVX2, 8 on AVX-512: the last tile
    // runs with exactly that many rows) and of their columns.
    let sizes = [1usize, 2, 3, 5, 6, 7, 8, 9, 12, 13, 16, 17, 33];
    for &m in &sizes {
        for &n in &sizes {
            for &k in &[1usize, 2, 7, 19] {
                for ta in [false, true] {
                    for tb in [false, true] {
                        let acc = (m + n + k) % 2 == 0;
                        check::<f64>(m, n, k, ta, tb, acc, 1e-15, &mut rng);
                        check::<f32>(m, n, k, ta, tb, !acc, 1e-6, &mut rng);
                    }
                }
            }
        }
    }
}

#[test]
fn narrow_and_short_products() {
    // n ≤ 4 (and m ≤ 4 < n, computed transposed) take the narrow kernels on x86-64: rows of A
    // in blocks of 4, columns of A in blocks of 4 vectors plus single vectors and single rows,
    // k around the vector width and the 512 limit.
    let mut rng = Rng::new(3);
    for (m, k) in [
        (256, 64),
        (64, 256),
        (45, 9),
        (77, 300),
        (40, 512),
        (9, 513),
        (3, 1),
    ] {
        for n in 1..=4 {
            for ta in [false, true] {
                for tb in [false, true] {
                    let acc = (m + n + k) % 2 == 1;
                    check::<f64>(m, n, k, ta, tb, acc, 1e-15, &mut rng);
                    check::<f64>(n, m, k, ta, tb, !acc, 1e-15, &mut rng);
                    check::<f32>(m, n, k, ta, tb, acc, 1e-6, &mut rng);
                }
            }
        }
    }
}

#[test]
fn several_k_blocks() {
    // K larger than every packing block (256 for f64 with AVX2, 128 for f32, 512 baseline).
    let mut rng = Rng::new(2);
    for (m, n, k) in [(7, 9, 600), (13, 17, 1100), (1, 1, 513)] {
        for ta in [false, true] {
            check::<f64>(m, n, k, ta, false, false, 1e-15, &mut rng);
            check::<f64>(m, n, k, ta, true, true, 1e-15, &mut rng);
            check::<f32>(m, n, k, ta, false, true, 1e-6, &mut rng);
        }
    }
}

#[test]
fn degenerate_shapes() {
    let a = [1.0f64; 6];
    let b = [1.0f64; 6];
    // k = 0: C ← 0, or unchanged when accumulating.
    let mut c = [5.0f64; 4];
    matmul(
        MatMut::row_major(&mut c, 2, 2),
        MatRef::row_major(&a[..0], 2, 0),
        MatRef::row_major(&b[..0], 0, 2),
        true,
    );
    assert_eq!(c, [5.0; 4]);
    matmul(
        MatMut::row_major(&mut c, 2, 2),
        MatRef::row_major(&a[..0], 2, 0),
        MatRef::row_major(&b[..0], 0, 2),
        false,
    );
    assert_eq!(c, [0.0; 4]);
    // m = 0 or n = 0: nothing to do.
    let mut e: [f64; 0] = [];
    matmul(
        MatMut::row_major(&mut e, 0, 2),
        MatRef::row_major(&a[..0], 0, 3),
        MatRef::row_major(&b, 3, 2),
        false,
    );
    matmul(
        MatMut::row_major(&mut e, 2, 0),
        MatRef::row_major(&a, 2, 3),
        MatRef::row_major(&b[..0], 3, 0),
        false,
    );
}

#[test]
#[should_panic(expected = "shape mismatch")]
fn shape_mismatch_panics() {
    let a = [1.0f64; 6];
    let mut c = [0.0f64; 4];
    matmul(
        MatMut::row_major(&mut c, 2, 2),
        MatRef::row_major(&a, 2, 3),
        MatRef::row_major(&a, 2, 3),
        false,
    );
}

#[test]
#[should_panic(expected = "does not fit")]
fn out_of_bounds_view_panics() {
    let a = [1.0f64; 5];
    let _ = MatRef::row_major(&a, 2, 3);
}

#[test]
fn bias_in_the_store_equals_bias_rows_then_accumulate_bit_for_bit() {
    use symplode_runtime::linalg::matmul::matmul_bias;
    let mut rng = Rng::new(5);
    // Blocked tiles (full and partial), narrow (n ≤ 4), short (m ≤ 4, computed transposed),
    // several K blocks, k = 0.
    for (m, n, k) in [
        (256, 64, 64),
        (17, 33, 9),
        (256, 2, 64),
        (3, 40, 12),
        (9, 19, 700),
        (5, 7, 0),
    ] {
        for tb in [false, true] {
            let a: Vec<f64> = (0..m * k).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
            let bv: Vec<f64> = (0..k * n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
            let bias: Vec<f64> = (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
            let b = if tb {
                MatRef::row_major(&bv, n, k).t()
            } else {
                MatRef::row_major(&bv, k, n)
            };
            let mut want: Vec<f64> = (0..m).flat_map(|_| bias.iter().copied()).collect();
            matmul(
                MatMut::row_major(&mut want, m, n),
                MatRef::row_major(&a, m, k),
                b,
                true,
            );
            let mut got = vec![f64::NAN; m * n];
            matmul_bias(
                MatMut::row_major(&mut got, m, n),
                MatRef::row_major(&a, m, k),
                b,
                &bias,
            );
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "m={m} n={n} k={k} tb={tb}");
        }
    }
}
