//! The periodic kernels of the interpreter (`stencil`, `conv1d` and its input transpose and
//! weight gradient, for kernel sizes above 1) give exactly the bits of the element loop with a
//! modulo per read that defines them: the same products, summed in the same order. The macro
//! and the JIT run these kernels too, so their bit-identity rests on this order. Shapes
//! include kernels wider than the grid, whose reads wrap more than once.

use symplode_codegen::ir::ConvShape;
use symplode_runtime::Real;
use symplode_runtime::interp::op_kernels::{conv1d, conv1d_t, conv1d_wgrad, stencil};

use crate::common::random_state;

/// `(i + j − r) mod n` by division, as the kernels' definition reads.
fn at(i: usize, j: usize, r: usize, n: usize) -> usize {
    (i + j + n * (r / n + 1) - r) % n
}

fn bits<T: Real>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.f64().to_bits()).collect()
}

fn check<T: Real>() {
    for (n, cin, cout, k, batch) in [
        (7, 2, 3, 3, 2),
        (16, 3, 2, 5, 1),
        (3, 2, 2, 7, 2),
        (1, 1, 2, 3, 3),
    ] {
        let s = ConvShape { n, cin, cout, k };
        let r = k / 2;
        let x: Vec<T> = random_state(batch * cin * n, 1);
        let w: Vec<T> = random_state(cout * cin * k, 2);
        let b: Vec<T> = random_state(cout, 3);
        let dy: Vec<T> = random_state(batch * cout * n, 4);
        let what = format!("n {n} cin {cin} cout {cout} k {k} batch {batch}");

        let mut y = vec![T::zero(); batch * cout * n];
        conv1d(&mut y, &x, &w, Some(&b), &s, batch);
        let mut want = vec![T::zero(); y.len()];
        for bs in 0..batch {
            for o in 0..cout {
                for i in 0..n {
                    let mut v = b[o];
                    for c in 0..cin {
                        for j in 0..k {
                            v += w[(o * cin + c) * k + j] * x[(bs * cin + c) * n + at(i, j, r, n)];
                        }
                    }
                    want[(bs * cout + o) * n + i] = v;
                }
            }
        }
        assert_eq!(bits(&y), bits(&want), "conv1d {what}");

        let mut xb = vec![T::one(); x.len()];
        conv1d_t(&mut xb, &dy, &w, &s, batch);
        let mut want = vec![T::zero(); x.len()];
        for bs in 0..batch {
            for c in 0..cin {
                for i in 0..n {
                    let mut v = T::zero();
                    for o in 0..cout {
                        for j in 0..k {
                            v += w[(o * cin + c) * k + j]
                                * dy[(bs * cout + o) * n + at(i, 2 * r - j, r, n)];
                        }
                    }
                    want[(bs * cin + c) * n + i] = v;
                }
            }
        }
        assert_eq!(bits(&xb), bits(&want), "conv1d_t {what}");

        let g0: Vec<T> = random_state(w.len(), 5);
        let mut g = g0.clone();
        conv1d_wgrad(&mut g, &dy, &x, &s, batch, true);
        let mut want = g0;
        for bs in 0..batch {
            for o in 0..cout {
                for c in 0..cin {
                    for j in 0..k {
                        let mut a = T::zero();
                        for i in 0..n {
                            a += dy[(bs * cout + o) * n + i]
                                * x[(bs * cin + c) * n + at(i, j, r, n)];
                        }
                        want[(o * cin + c) * k + j] += a;
                    }
                }
            }
        }
        assert_eq!(bits(&g), bits(&want), "conv1d_wgrad {what}");

        let coeffs: Vec<f64> = (0..k).map(|j| 0.5 - j as f64 * 0.25).collect();
        let mut st = vec![T::one(); x.len()];
        stencil(&mut st, &x, &coeffs, n);
        let mut want = vec![T::zero(); x.len()];
        for (row, xr) in x.chunks_exact(n).enumerate() {
            for i in 0..n {
                let mut v = T::zero();
                for (j, &c) in coeffs.iter().enumerate() {
                    v += T::of(c) * xr[at(i, j, r, n)];
                }
                want[row * n + i] = v;
            }
        }
        assert_eq!(bits(&st), bits(&want), "stencil {what}");
    }
}

#[test]
fn periodic_kernels_equal_the_modulo_loop_bit_for_bit() {
    check::<f64>();
    check::<f32>();
}
