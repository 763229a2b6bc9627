//! The GEMM's edge paths on every SIMD level this CPU runs: output widths `n = 1..=70` (every
//! remainder `n mod NR` of the 8-, 16- and 32-wide register tiles, those of 1–4 columns going
//! to the narrow kernels, with `k` above their 512-term chunk), `B` row-major and column-major
//! (the latter packed with register transposes), `A` row- and column-major (and the narrow
//! kernels' column blocks at 64–200 rows), overwriting,
//! accumulating and with a bias. Each result is checked against a naive product, and (past the
//! narrow products) the column-major `B` must give the row-major one's result bit for bit
//! (packing moves data only).
//! Its own test binary: the forced SIMD level holds for the whole process.

use symplode_runtime::Real;
use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul, matmul_bias};
use symplode_runtime::linalg::simd::{SimdLevel, force_simd};

/// The SIMD level is one setting for the whole process: the tests that force it take turns
/// (run in parallel, one test's products ran at another's level and compared unequal).
static SIMD_LEVEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn own_simd_level() -> std::sync::MutexGuard<'static, ()> {
    SIMD_LEVEL.lock().unwrap_or_else(|e| e.into_inner())
}
use symplode_runtime::rng::Rng;

/// Random values in [-1, 1).
fn values<T: Real>(len: usize, rng: &mut Rng) -> Vec<T> {
    (0..len)
        .map(|_| T::of(rng.uniform_range(-1.0, 1.0)))
        .collect()
}

/// One product `C (+)= A·B` into a `C` with padding columns (`ld = n + 3`), `A` stored as `A`
/// or `Aᵀ`, `B` given as `b_rows` (`[k, n]` row-major) or as a view of `b_cols` (`Bᵀ`, `[n, k]`
/// row-major); `mode` 0 overwrites, 1 accumulates, 2 adds `bias`.
#[allow(clippy::too_many_arguments)]
fn product<T: Real>(
    (m, n, k): (usize, usize, usize),
    av: &[T],
    trans_a: bool,
    b_rows: &[T],
    b_cols: Option<&[T]>,
    mode: u8,
    bias: &[T],
) -> Vec<T> {
    let a = if trans_a {
        MatRef::row_major(av, k, m).t()
    } else {
        MatRef::row_major(av, m, k)
    };
    let b = match b_cols {
        Some(bt) => MatRef::row_major(bt, n, k).t(),
        None => MatRef::row_major(b_rows, k, n),
    };
    let ld = n + 3;
    let mut c: Vec<T> = (0..m * ld).map(|i| T::of(0.25 * (i % 7) as f64)).collect();
    let out = MatMut::new(&mut c, m, n, ld);
    match mode {
        0 => matmul(out, a, b, false),
        1 => matmul(out, a, b, true),
        _ => matmul_bias(out, a, b, bias),
    }
    c
}

/// Checks one shape in every layout and mode on the current SIMD level.
fn check<T: Real>((m, n, k): (usize, usize, usize), tol: f64, rng: &mut Rng) {
    let av: Vec<T> = values(m * k, rng);
    let b_rows: Vec<T> = values(k * n, rng);
    let bias: Vec<T> = values(n, rng);
    // The same B stored transposed: b_cols[j·k + p] = B(p, j).
    let b_cols: Vec<T> = (0..n * k).map(|i| b_rows[(i % k) * n + i / k]).collect();
    let ld = n + 3;
    for trans_a in [false, true] {
        let a_at = |i: usize, p: usize| {
            if trans_a {
                av[p * m + i].f64()
            } else {
                av[i * k + p].f64()
            }
        };
        for mode in 0..3u8 {
            let what = format!(
                "{:?} {} {m}x{n}x{k} trans_a {trans_a} mode {mode}",
                symplode_runtime::linalg::simd::simd_level(),
                T::NAME
            );
            let rows = product((m, n, k), &av, trans_a, &b_rows, None, mode, &bias);
            let cols = product((m, n, k), &av, trans_a, &b_rows, Some(&b_cols), mode, &bias);
            // (Products with at most 4 rows or columns go to the narrow kernels whole, which
            // pick their algorithm by the layouts: compared with the naive product only.)
            let same_path = m > 4 && n > 4;
            for (idx, (r, c)) in rows.iter().zip(&cols).enumerate().filter(|_| same_path) {
                assert_eq!(
                    r.f64().to_bits(),
                    c.f64().to_bits(),
                    "{what}: column-major B differs at {idx}"
                );
            }
            for i in 0..m {
                for j in 0..ld {
                    let got = rows[i * ld + j].f64();
                    let init = 0.25 * ((i * ld + j) % 7) as f64;
                    if j >= n {
                        assert_eq!(got, init, "{what}: padding touched at ({i},{j})");
                        continue;
                    }
                    let mut want = match mode {
                        0 => 0.0,
                        1 => init,
                        _ => bias[j].f64(),
                    };
                    for p in 0..k {
                        want += a_at(i, p) * b_rows[p * n + j].f64();
                    }
                    assert!(
                        (got - want).abs() <= tol * (1.0 + k as f64),
                        "{what} ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// Every width up to 70 at a short k and a few rows (partial register tiles), on every level.
#[test]
fn every_edge_width_on_every_simd_path() {
    let _level = own_simd_level();
    let mut rng = Rng::new(17);
    for level in SimdLevel::available() {
        force_simd(Some(level)).unwrap();
        for n in 1..=70 {
            for m in [3, 9, 37] {
                check::<f64>((m, n, 5), 1e-15, &mut rng);
                check::<f32>((m, n, 5), 1e-6, &mut rng);
            }
        }
    }
    force_simd(None).unwrap();
}

/// Narrow edges with k above the narrow kernels' 512-term chunk and several K blocks of the
/// register kernels, at the conv shapes' remainders (n = 49, 196 → 1 and 4 columns past the
/// 16-wide panels) and around the other tile widths.
#[test]
fn long_k_edges_on_every_simd_path() {
    let _level = own_simd_level();
    let mut rng = Rng::new(18);
    for level in SimdLevel::available() {
        force_simd(Some(level)).unwrap();
        for n in [9, 17, 20, 33, 36, 49, 52] {
            for (m, k) in [(11, 600), (40, 1030)] {
                check::<f64>((m, n, k), 1e-15, &mut rng);
                check::<f32>((m, n, k), 1e-6, &mut rng);
            }
        }
    }
    force_simd(None).unwrap();
}

/// The narrow kernels' column-major blocks (eight vectors of rows where the registers allow,
/// then four, single vectors and single rows), directly (n ≤ 4) and transposed (m ≤ 4), on
/// every level.
#[test]
fn narrow_column_blocks_on_every_simd_path() {
    let _level = own_simd_level();
    let mut rng = Rng::new(19);
    for level in SimdLevel::available() {
        force_simd(Some(level)).unwrap();
        for small in 1..=4 {
            for (big, k) in [(64, 3), (77, 300), (130, 40), (200, 1)] {
                check::<f64>((big, small, k), 1e-15, &mut rng);
                check::<f64>((small, big, k), 1e-15, &mut rng);
                check::<f32>((big, small, k), 1e-6, &mut rng);
                check::<f32>((small, big, k), 1e-6, &mut rng);
            }
        }
    }
    force_simd(None).unwrap();
}

/// Products with one to four terms (a first layer at a small state dimension, the output
/// layer's input gradient): every width up to 70, on every level, against the naive product;
/// and on AVX2 and AVX-512, where the thin-k kernels take them (n ≥ one vector, m > 4), bit for bit
/// against the documented summation (a multiply–add chain from zero, then added to `C` or the
/// bias), which is also the blocked kernels' order.
#[test]
fn thin_k_products_on_every_simd_path() {
    let _level = own_simd_level();
    let mut rng = Rng::new(20);
    for level in SimdLevel::available() {
        force_simd(Some(level)).unwrap();
        for k in 1..=4 {
            for n in 1..=70 {
                for m in [2, 5, 37] {
                    check::<f64>((m, n, k), 1e-15, &mut rng);
                    check::<f32>((m, n, k), 1e-6, &mut rng);
                }
            }
        }
    }
    for level in SimdLevel::available() {
        if level < SimdLevel::Avx2 {
            continue;
        }
        force_simd(Some(level)).unwrap();
        for k in 1..=4 {
            for n in [5, 7, 8, 13, 16, 17, 31, 64, 70] {
                exact_chain::<f64>((37, n, k), &mut rng);
            }
            for n in [8, 15, 16, 32, 33, 64, 70] {
                exact_chain::<f32>((37, n, k), &mut rng);
            }
        }
    }
    force_simd(None).unwrap();
}

/// `C (+)= A·B (+ bias)` equals, bit for bit, a multiply–add chain from zero along k added to
/// the old `C` or the bias.
fn exact_chain<T: Real>((m, n, k): (usize, usize, usize), rng: &mut Rng) {
    let av: Vec<T> = values(m * k, rng);
    let b_rows: Vec<T> = values(k * n, rng);
    let bias: Vec<T> = values(n, rng);
    let ld = n + 3;
    for mode in 0..3u8 {
        let got = product((m, n, k), &av, false, &b_rows, None, mode, &bias);
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::zero();
                for p in 0..k {
                    acc = av[i * k + p].mul_add(b_rows[p * n + j], acc);
                }
                let init = T::of(0.25 * ((i * ld + j) % 7) as f64);
                let want = match mode {
                    0 => acc,
                    1 => init + acc,
                    _ => bias[j] + acc,
                };
                assert_eq!(
                    got[i * ld + j].f64().to_bits(),
                    want.f64().to_bits(),
                    "{} {m}x{n}x{k} mode {mode} at ({i},{j})",
                    T::NAME
                );
            }
        }
    }
}
