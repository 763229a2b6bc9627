//! The GEMM with A packed in L2-sized row blocks (taken when `m × KC` does not fit half the
//! L2) gives the unpacked loop's results bit for bit, on every SIMD path of this CPU: the L2
//! is forced down to a few bytes so that even small products are packed a register tile at a
//! time, and the results are compared with the detected-L2 run (unpacked at these sizes) and
//! with a naive product. With a 96 KiB L2, products whose `m × KC` block fits half of it but
//! not all of A take the unpacked loop with the `KC` loop outside the panel loop: also bit for
//! bit. With a 64 KiB L2, products whose C overflows half of it while B's K block fits go row
//! band by row band against all of B packed: bit for bit again (and a column-major A is packed
//! there one micro-panel at a time). Its own test binary: the forced L2 holds for the whole
//! process.

use symplode_runtime::Real;
use symplode_runtime::linalg::cache::{cache_sizes, force_l2};
use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul, matmul_bias};
use symplode_runtime::linalg::simd::{SimdLevel, force_simd};
use symplode_runtime::rng::Rng;

/// One product of the given shape and layout, with the current blocking.
#[allow(clippy::too_many_arguments)]
fn product<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    av: &[T],
    bv: &[T],
    trans_a: bool,
    mode: u8,
    bias: &[T],
) -> Vec<T> {
    let a = if trans_a {
        MatRef::row_major(av, k, m).t()
    } else {
        MatRef::row_major(av, m, k)
    };
    let b = MatRef::row_major(bv, k, n);
    let mut c: Vec<T> = (0..m * n).map(|i| T::of(0.25 * (i % 7) as f64)).collect();
    match mode {
        0 => matmul(MatMut::row_major(&mut c, m, n), a, b, false),
        1 => matmul(MatMut::row_major(&mut c, m, n), a, b, true),
        _ => matmul_bias(MatMut::row_major(&mut c, m, n), a, b, bias),
    }
    c
}

/// `len` values uniform in [−1, 1).
fn uniform<T: Real>(len: usize, rng: &mut Rng) -> Vec<T> {
    (0..len)
        .map(|_| T::of(rng.uniform_range(-1.0, 1.0)))
        .collect()
}

/// Element (i, j) of `product`'s result summed naively in f64: the start value of `mode`
/// plus row i of A (stored as `product` reads it) times column j of B.
#[allow(clippy::too_many_arguments)]
fn naive<T: Real>(
    (m, n, k): (usize, usize, usize),
    av: &[T],
    bv: &[T],
    trans_a: bool,
    mode: u8,
    bias: &[T],
    i: usize,
    j: usize,
) -> f64 {
    let start = match mode {
        0 => 0.0,
        1 => 0.25 * ((i * n + j) % 7) as f64,
        _ => bias[j].f64(),
    };
    (0..k).fold(start, |s, p| {
        let a = if trans_a {
            av[p * m + i]
        } else {
            av[i * k + p]
        };
        s + a.f64() * bv[p * n + j].f64()
    })
}

fn bits<T: Real>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.f64().to_bits()).collect()
}

fn compare<T: Real>(tol: f64, rng: &mut Rng) {
    for (m, n, k) in [
        (9, 17, 5),
        (23, 40, 7),
        (64, 33, 300),
        (50, 24, 600),
        (130, 48, 19),
        (7, 64, 1),
        // Narrow (n ≤ NR): not packed; with the 96 KiB L2 the KC loop goes outside the panel
        // loop.
        (40, 4, 700),
        (33, 16, 500),
        // With a 64 KiB L2: C overflows half of it while B's K block fits, so B is packed
        // whole and C computed row band by row band (at the detected L2: the panel nest).
        (64, 100, 20),
        (50, 70, 9),
        (37, 66, 3),
        (40, 120, 24),
        // With the 16 KiB L2 and a transposed A: column blocks whose products outweigh
        // packing A's row tiles again for each (f64 on AVX2: 3 blocks of 13 panels of 8
        // terms, 38 panels in all).
        (40, 300, 8),
    ] {
        let av: Vec<T> = uniform(m * k, rng);
        let bv: Vec<T> = uniform(k * n, rng);
        let bias: Vec<T> = uniform(n, rng);
        for trans_a in [false, true] {
            for mode in 0..3u8 {
                force_l2(None);
                let plain = product(m, n, k, &av, &bv, trans_a, mode, &bias);
                force_l2(Some(1));
                let packed = product(m, n, k, &av, &bv, trans_a, mode, &bias);
                // An L2 whose half holds an m × KC block of A but not all of A: the unpacked
                // nest with the KC loop outside the panel loop; or, where A is packed in
                // several row blocks, B's K block packed once for all of them.
                force_l2(Some(96 * 1024));
                let k_outer = product(m, n, k, &av, &bv, trans_a, mode, &bias);
                force_l2(Some(64 * 1024));
                let b_resident = product(m, n, k, &av, &bv, trans_a, mode, &bias);
                // A 16 KiB L2: B's K block no longer fits half of it, so it is packed a column
                // block at a time (64 × 100 × 20: three blocks of 8-wide panels) where A is
                // row-major.
                force_l2(Some(16 * 1024));
                let b_columns = product(m, n, k, &av, &bv, trans_a, mode, &bias);
                force_l2(None);
                let what = format!("{m}x{n}x{k} trans_a {trans_a} mode {mode}");
                assert_eq!(bits(&packed), bits(&plain), "{what}");
                assert_eq!(
                    bits(&k_outer),
                    bits(&plain),
                    "{what} (KC outside or shared B block)"
                );
                assert_eq!(bits(&b_resident), bits(&plain), "{what} (B resident)");
                assert_eq!(
                    bits(&b_columns),
                    bits(&plain),
                    "{what} (B resident, column blocks)"
                );
                // And against a naive product.
                for i in 0..m {
                    for j in 0..n {
                        let s = naive((m, n, k), &av, &bv, trans_a, mode, &bias, i, j);
                        let got = packed[i * n + j].f64();
                        assert!((got - s).abs() <= tol * (1.0 + s.abs()), "{what} ({i},{j})");
                    }
                }
            }
        }
    }
}

#[test]
fn packed_a_is_bit_identical_to_the_unpacked_loop_on_every_simd_path() {
    let detected = cache_sizes();
    assert!(
        detected.l1d >= 4096 && detected.l2 >= detected.l1d,
        "{detected:?}"
    );
    let mut rng = Rng::new(7);
    for level in SimdLevel::available() {
        force_simd(Some(level)).unwrap();
        compare::<f64>(1e-13, &mut rng);
        compare::<f32>(1e-4, &mut rng);
        // In this test, not one of its own: the forced L2 holds for the whole process.
        column_blocks_over_k_blocks::<f32>(1e-3, &mut rng);
        column_blocks_over_k_blocks::<f64>(1e-12, &mut rng);
    }
    force_simd(None).unwrap();
}

/// Column blocks of B with several K blocks (k = 600 > KC): with a 128 KiB L2 the f32 product
/// `20 × 600 × 1700` with a row-major A has 2-panel column blocks on a 32 KiB L1d, each running
/// both K blocks in order (f64 takes it where the L1d holds a 6 × 512 tile of A in half, as a
/// 48 KiB one does; a transposed A takes the other nests).
/// Bit for bit against the A-packed nest (a 1-byte L2) and close to a naive product.
fn column_blocks_over_k_blocks<T: Real>(tol: f64, rng: &mut Rng) {
    let (m, k, n) = (20, 600, 1700);
    let av: Vec<T> = uniform(m * k, rng);
    let bv: Vec<T> = uniform(k * n, rng);
    let bias: Vec<T> = uniform(n, rng);
    for trans_a in [false, true] {
        for mode in 0..3u8 {
            force_l2(Some(1));
            let packed = product(m, n, k, &av, &bv, trans_a, mode, &bias);
            force_l2(Some(128 * 1024));
            let columns = product(m, n, k, &av, &bv, trans_a, mode, &bias);
            force_l2(None);
            let what = format!("{m}x{n}x{k} trans_a {trans_a} mode {mode}");
            assert_eq!(bits(&columns), bits(&packed), "{what}");
            for (i, j) in [(0, 0), (7, 901), (19, 1699), (13, 1024)] {
                let s = naive((m, n, k), &av, &bv, trans_a, mode, &bias, i, j);
                let got = columns[i * n + j].f64();
                assert!((got - s).abs() <= tol * (1.0 + s.abs()), "{what} ({i},{j})");
            }
        }
    }
}
