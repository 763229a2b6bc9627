//! Pointwise (`k = 1`) periodic convolutions as matrix products: per sample the signal is a
//! row-major `[channels, n]` matrix, so `y = W x`, `x̄ = Wᵀ ȳ` and `G += ȳ xᵀ` run on
//! [`matmul`] (cache-blocked, SIMD, no heap) instead of the generic stencil loops. The
//! HNN++ energy network's `C → C` layer (C = 200 on 50 points) is one such product per sample.

use symplode_codegen::ir::ConvShape;

use crate::linalg::matmul::{MatMut, MatRef, matmul};
use crate::real::Real;

/// `y[o, i] = b[o] + Σ_c w[o, c] x[c, i]` for every sample (`s.k == 1`).
pub(super) fn conv1d_pointwise<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    s: &ConvShape,
    batch: usize,
) {
    let (n, cin, cout) = (s.n, s.cin, s.cout);
    let wm = MatRef::row_major(w, cout, cin);
    for bs in 0..batch {
        let yb = &mut y[bs * cout * n..][..cout * n];
        match b {
            Some(b) => {
                for (row, &bo) in yb.chunks_exact_mut(n).zip(b) {
                    row.fill(bo);
                }
            }
            None => yb.fill(T::zero()),
        }
        let xb = MatRef::row_major(&x[bs * cin * n..][..cin * n], cin, n);
        matmul(MatMut::row_major(yb, cout, n), wm, xb, true);
    }
}

/// `x̄[c, i] = Σ_o w[o, c] ȳ[o, i]` for every sample (`s.k == 1`).
pub(super) fn conv1d_t_pointwise<T: Real>(
    xb: &mut [T],
    y: &[T],
    w: &[T],
    s: &ConvShape,
    batch: usize,
) {
    let (n, cin, cout) = (s.n, s.cin, s.cout);
    let wt = MatRef::row_major(w, cout, cin).t();
    for bs in 0..batch {
        let out = MatMut::row_major(&mut xb[bs * cin * n..][..cin * n], cin, n);
        let yb = MatRef::row_major(&y[bs * cout * n..][..cout * n], cout, n);
        matmul(out, wt, yb, false);
    }
}

/// `G[o, c] (+)= Σ_batch Σ_i ȳ[o, i] x[c, i]` (`s.k == 1`).
pub(super) fn conv1d_wgrad_pointwise<T: Real>(
    g: &mut [T],
    dy: &[T],
    x: &[T],
    s: &ConvShape,
    batch: usize,
    acc: bool,
) {
    let (n, cin, cout) = (s.n, s.cin, s.cout);
    if !acc {
        g[..cout * cin].fill(T::zero());
    }
    for bs in 0..batch {
        let d = MatRef::row_major(&dy[bs * cout * n..][..cout * n], cout, n);
        let xt = MatRef::row_major(&x[bs * cin * n..][..cin * n], cin, n).t();
        matmul(
            MatMut::row_major(&mut g[..cout * cin], cout, cin),
            d,
            xt,
            true,
        );
    }
}
