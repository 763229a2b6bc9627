//! The dense layer `Y = X Wᵀ + b` (PyTorch `nn.Linear`: `W [out, inp]` row-major, `b [out]`)
//! and its derivatives, written once: the hand-written [`Mlp`](crate::models::Mlp), the code
//! `neural_ode!` generates and the interpreter's dense steps all call these functions, so a
//! change to how a layer is computed lands in every execution at once.
//!
//! - [`affine`]: `Y = X·Wᵀ (+ b)`, the bias added in the GEMM's store;
//! - [`affine_time`]: the same for a layer that reads `[x, t]`, with the time column folded
//!   into the bias (`b + t·W[:, k]`), so `[x, t]` is never materialised;
//! - [`weight_grad`] (`G (+)= Δᵀ·X`), [`input_grad`] (`G = Δ·W`), [`col_sum`] (bias gradient);
//! - [`DenseLayer`]: one layer's place in a flat parameter vector, with its forward pass and
//!   its parameter and input gradients composed from the functions above.
//!
//! None of them allocates (the time-folded bias lives on the stack up to 512 outputs).
//! Summation orders are chosen so that the JIT can reproduce them without work space: bias
//! and time-column gradients accumulate into `gp` row by row.

use crate::linalg::matmul::{MatMut, MatRef, matmul, matmul_bias};
use crate::linalg::simd::{Widened, widest};
use crate::real::Real;

/// `y = x·wt (+ 1·biasᵀ)`: `x [batch, k]`, `wt [k, out]` (any strides, e.g. `Wᵀ` as a view
/// of `W [out, k]`), `y [batch, out]`; the bias is added in the GEMM's store (bit for bit
/// what bias rows followed by an accumulating product give).
#[inline]
pub fn affine<T: Real>(y: &mut [T], x: &[T], wt: MatRef<'_, T>, bias: Option<&[T]>, batch: usize) {
    let (k, out) = (wt.rows(), wt.cols());
    let c = MatMut::row_major(&mut y[..batch * out], batch, out);
    let a = MatRef::row_major(&x[..batch * k], batch, k);
    match bias {
        Some(b) => matmul_bias(c, a, wt, b),
        None => matmul(c, a, wt, false),
    }
}

/// `dst ← b + t·w`: a bias with the time column folded in.
fn effective_bias<T: Real>(dst: &mut [T], bias: &[T], t: T, time_col: impl Iterator<Item = T>) {
    for ((e, &bj), wj) in dst.iter_mut().zip(bias).zip(time_col) {
        *e = bj + t * wj;
    }
}

/// [`affine`] with the bias `b + t·w` in an `N`-element stack buffer (`b.len() ≤ N`).
#[inline]
fn affine_stack_bias<T: Real, const N: usize>(
    y: &mut [T],
    x: &[T],
    wt: MatRef<'_, T>,
    bias: &[T],
    t: T,
    time_col: impl Iterator<Item = T>,
    batch: usize,
) {
    let mut eff = [T::zero(); N];
    let n = bias.len();
    effective_bias(&mut eff[..n], bias, t, time_col);
    affine(y, x, wt, Some(&eff[..n]), batch);
}

/// `y = x·wt + 1·(b + t·w)ᵀ` for a layer whose input is `[x, t]` with the time last: `w`
/// is the time column of the weight (`W[:, k]`), yielded in output order. Bit for bit
/// [`affine`] with the effective bias `b + t·w`; up to 512 outputs the bias is built on the
/// stack (a buffer just big enough, so common widths do not zero a large one), wider layers
/// write it into every row of `y` and accumulate the product.
#[inline]
pub fn affine_time<T: Real>(
    y: &mut [T],
    x: &[T],
    wt: MatRef<'_, T>,
    bias: &[T],
    t: T,
    time_col: impl Iterator<Item = T>,
    batch: usize,
) {
    let (k, out) = (wt.rows(), wt.cols());
    match out {
        0..=64 => affine_stack_bias::<T, 64>(y, x, wt, bias, t, time_col, batch),
        65..=512 => affine_stack_bias::<T, 512>(y, x, wt, bias, t, time_col, batch),
        _ => {
            let y = &mut y[..batch * out];
            let (row0, rest) = y.split_at_mut(out);
            effective_bias(row0, bias, t, time_col);
            for r in rest.chunks_exact_mut(out) {
                r.copy_from_slice(row0);
            }
            let a = MatRef::row_major(&x[..batch * k], batch, k);
            matmul(MatMut::row_major(y, batch, out), a, wt, true);
        }
    }
}

/// `gw (+)= Δᵀ·x`: `delta [batch, p]`, `x [batch, q]`, `gw` a `[p, q]` view (row stride
/// `ld`, e.g. the first `q` columns of a `[p, q + 1]` weight gradient).
#[inline]
pub fn weight_grad<T: Real>(gw: MatMut<'_, T>, delta: &[T], x: &[T], batch: usize, acc: bool) {
    let (p, q) = (gw.rows(), gw.cols());
    matmul(
        gw,
        MatRef::row_major(&delta[..batch * p], batch, p).t(),
        MatRef::row_major(&x[..batch * q], batch, q),
        acc,
    );
}

/// `gin = Δ·w`: `delta [batch, out]`, `w` an `[out, k]` view (e.g. the first `k` columns
/// of a weight `[out, inp]`), `gin [batch, k]`.
#[inline]
pub fn input_grad<T: Real>(gin: &mut [T], delta: &[T], w: MatRef<'_, T>, batch: usize) {
    let (out, k) = (w.rows(), w.cols());
    matmul(
        MatMut::row_major(&mut gin[..batch * k], batch, k),
        MatRef::row_major(&delta[..batch * out], batch, out),
        w,
        false,
    );
}

/// Column sums `s (+)= Σ_rows x` of `x [rows, w]` (`s` has `w` elements), rows in order,
/// each row added into `s` (so a bias gradient accumulates into `gp` row by row: one
/// summation order for `Mlp`, the interpreter, the JIT and `neural_ode!`'s code).
#[inline]
pub fn col_sum<T: Real>(s: &mut [T], x: &[T], w: usize, acc: bool) {
    if !acc {
        s[..w].fill(T::zero());
    }
    widest(ColSum { s, x, w });
}

/// The accumulation of [`col_sum`], compiled per SIMD level ([`widest`]: same bits).
struct ColSum<'a, T> {
    s: &'a mut [T],
    x: &'a [T],
    w: usize,
}

impl<T: Real> Widened for ColSum<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for row in self.x.chunks_exact(self.w) {
            for (si, &xi) in self.s.iter_mut().zip(row) {
                *si += xi;
            }
        }
    }
}

/// Columns of the time-column gradient accumulated at once in a contiguous stack buffer.
const TIME_COL_BLOCK: usize = 64;

/// The time column's weight gradient `g[j·ld] (+)= t·Σ_rows Δ[r, j]`, accumulated row by row
/// (`g[j·ld] += t·Δ[r, j]`, rows in order): `delta [rows, p]`, `g` starting at the column.
///
/// The strided column is gathered into a contiguous block of `TIME_COL_BLOCK` (64) accumulators,
/// updated row by row (a vector loop), and scattered back: every element sees the same
/// operations in the same order as the scalar loop, so the result is bit-identical to it.
#[inline]
pub fn time_col_grad<T: Real>(g: &mut [T], ld: usize, delta: &[T], p: usize, t: T, acc: bool) {
    time_col_grad_with(g, ld, delta, p, acc, |_| t);
}

/// [`time_col_grad`] with one time per row: `g[j·ld] (+)= Σ_r times[r]·Δ[r, j]`, rows in order.
#[inline]
pub fn time_col_grad_rows<T: Real>(g: &mut [T], ld: usize, delta: &[T], p: usize, times: &[T]) {
    time_col_grad_with(g, ld, delta, p, true, |r| times[r]);
}

#[inline]
fn time_col_grad_with<T: Real>(
    g: &mut [T],
    ld: usize,
    delta: &[T],
    p: usize,
    acc: bool,
    time: impl Fn(usize) -> T,
) {
    let mut block = [T::zero(); TIME_COL_BLOCK];
    let mut j0 = 0;
    while j0 < p {
        let w = TIME_COL_BLOCK.min(p - j0);
        let a = &mut block[..w];
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = if acc { g[(j0 + i) * ld] } else { T::zero() };
        }
        widest(TimeColRows {
            a: &mut *a,
            delta,
            p,
            j0,
            time: &time,
        });
        for (i, &ai) in a.iter().enumerate() {
            g[(j0 + i) * ld] = ai;
        }
        j0 += w;
    }
}

/// The row loop of [`time_col_grad_with`] over one block of columns, compiled per SIMD level
/// ([`widest`]: same bits).
struct TimeColRows<'a, T, F> {
    a: &'a mut [T],
    delta: &'a [T],
    p: usize,
    j0: usize,
    time: &'a F,
}

impl<T: Real, F: Fn(usize) -> T> Widened for TimeColRows<'_, T, F> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let TimeColRows {
            a,
            delta,
            p,
            j0,
            time,
        } = self;
        let w = a.len();
        for (r, row) in delta.chunks_exact(p).enumerate() {
            let t = time(r);
            for (ai, &d) in a.iter_mut().zip(&row[j0..j0 + w]) {
                *ai += t * d;
            }
        }
    }
}

/// The bias gradient `gb += Σ_rows Δ` ([`col_sum`]) and the time column's weight gradient
/// `g[j·ld] += t·Σ_rows Δ[r, j]` ([`time_col_grad`], accumulating) in one pass over `delta
/// [rows, p]`: each element sees the operations of the two passes in the same order, so the
/// results are bit-identical to them (one read of Δ instead of two: at batch 16 / hidden 32
/// the second pass and its loop setup were a measurable part of a small layer's backward).
#[inline]
pub fn bias_and_time_grad<T: Real>(
    gb: &mut [T],
    g: &mut [T],
    ld: usize,
    delta: &[T],
    p: usize,
    t: T,
) {
    let mut block = [T::zero(); TIME_COL_BLOCK];
    let mut j0 = 0;
    while j0 < p {
        let w = TIME_COL_BLOCK.min(p - j0);
        let a = &mut block[..w];
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = g[(j0 + i) * ld];
        }
        widest(BiasTimeRows {
            a: &mut *a,
            s: &mut gb[j0..j0 + w],
            delta,
            p,
            j0,
            t,
        });
        for (i, &ai) in a.iter().enumerate() {
            g[(j0 + i) * ld] = ai;
        }
        j0 += w;
    }
}

/// The row loop of [`bias_and_time_grad`] over one block of columns, compiled per SIMD level
/// ([`widest`]: same bits).
struct BiasTimeRows<'a, T> {
    a: &'a mut [T],
    s: &'a mut [T],
    delta: &'a [T],
    p: usize,
    j0: usize,
    t: T,
}

impl<T: Real> Widened for BiasTimeRows<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let BiasTimeRows {
            a,
            s,
            delta,
            p,
            j0,
            t,
        } = self;
        let w = a.len();
        for row in delta.chunks_exact(p) {
            for ((ai, si), &d) in a.iter_mut().zip(s.iter_mut()).zip(&row[j0..j0 + w]) {
                *si += d;
                *ai += t * d;
            }
        }
    }
}

/// `y = x·W[:, :k]ᵀ + (b + t·W[:, k])` for a layer reading `[x, t]`: `w` is `[out, k + 1]`
/// row-major, `x [batch, k]` ([`affine_time`] with the views [`DenseLayer::forward`] uses).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn affine_time_rows<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    bias: &[T],
    t: T,
    batch: usize,
    k: usize,
    out: usize,
) {
    let inp = k + 1;
    let wt = MatRef::new(&w[..out * inp], out, k, inp, 1).t();
    let time_col = (0..out).map(|j| w[j * inp + k]);
    affine_time(y, x, wt, &bias[..out], t, time_col, batch);
}

/// The weight gradient of a layer reading `[x, t]`: `g[:, :k] (+)= Δᵀ·x` and the time
/// column by [`time_col_grad`] (as [`DenseLayer::grad_params`]); `g` is `[p, k + 1]`
/// row-major, `delta [batch, p]`, `x [batch, k]`. Allocates nothing.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn weight_grad_time<T: Real>(
    g: &mut [T],
    delta: &[T],
    x: &[T],
    t: T,
    batch: usize,
    p: usize,
    k: usize,
    acc: bool,
) {
    let inp = k + 1;
    let delta = &delta[..batch * p];
    weight_grad(
        MatMut::new(&mut g[..p * inp], p, k, inp),
        delta,
        x,
        batch,
        acc,
    );
    time_col_grad(&mut g[k..p * inp], inp, delta, p, t, acc);
}

/// `gin = Δ·W[:, :cols]`: `delta [batch, out]`, `w [out, m]` row-major, `gin [batch, cols]`
/// (the input gradient of a layer reading `[x, t]`, the time column dropped).
#[inline]
pub fn input_grad_cols<T: Real>(
    gin: &mut [T],
    delta: &[T],
    w: &[T],
    batch: usize,
    out: usize,
    m: usize,
    cols: usize,
) {
    input_grad(
        gin,
        delta,
        MatRef::new(&w[..out * m], out, cols, m, 1),
        batch,
    );
}

/// One dense layer's place in a flat parameter vector (weight `[out, inp]` at `w`, bias
/// `[out]` at `b`). With `k < inp` the layer reads `[x, t]`: only the first `k` columns of
/// the weight multiply the input matrix and column `k` (the time) is folded into the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseLayer {
    /// Input width (including the time column).
    pub inp: usize,
    /// Output width.
    pub out: usize,
    /// Columns of the weight that multiply a matrix: `inp`, or `inp − 1` with the time.
    pub k: usize,
    /// Offset of the weight.
    pub w: usize,
    /// Offset of the bias.
    pub b: usize,
}

impl DenseLayer {
    /// `W[:, :k]ᵀ` as a `[k, out]` view of the weight in `params` (no copy).
    #[inline]
    pub fn weight_t<'a, T>(&self, params: &'a [T]) -> MatRef<'a, T> {
        self.weight_k(params).t()
    }

    /// `W[:, :k]` as an `[out, k]` view of the weight in `params`.
    #[inline]
    fn weight_k<'a, T>(&self, params: &'a [T]) -> MatRef<'a, T> {
        MatRef::new(
            &params[self.w..self.w + self.out * self.inp],
            self.out,
            self.k,
            self.inp,
            1,
        )
    }

    /// `out = input·W[:, :k]ᵀ + b (+ t·W[:, k])` for `batch` rows; `wt` is `W[:, :k]ᵀ`
    /// `[k, out]` ([`DenseLayer::weight_t`], or a transposed copy of it: same result).
    #[inline]
    pub fn forward<T: Real>(
        &self,
        params: &[T],
        wt: MatRef<'_, T>,
        t: T,
        input: &[T],
        out: &mut [T],
        batch: usize,
    ) {
        let bias = &params[self.b..self.b + self.out];
        if self.k == self.inp {
            affine(out, input, wt, Some(bias), batch);
        } else {
            let w = &params[self.w..self.w + self.out * self.inp];
            let (inp, k) = (self.inp, self.k);
            let time_col = (0..self.out).map(|j| w[j * inp + k]);
            affine_time(out, input, wt, bias, t, time_col, batch);
        }
    }

    /// [`DenseLayer::forward`] with one time per row: row r gets the bias `b + t[r]·W[:, k]`
    /// (bias rows, then an accumulating product: bit for bit what [`DenseLayer::forward`]
    /// gives row r alone at `t[r]`). A layer without a time column ignores `times`.
    #[inline]
    pub fn forward_rows<T: Real>(
        &self,
        params: &[T],
        wt: MatRef<'_, T>,
        times: &[T],
        input: &[T],
        out: &mut [T],
        batch: usize,
    ) {
        if self.k == self.inp {
            return self.forward(params, wt, T::zero(), input, out, batch);
        }
        let bias = &params[self.b..self.b + self.out];
        let w = &params[self.w..self.w + self.out * self.inp];
        let (inp, k, o) = (self.inp, self.k, self.out);
        let y = &mut out[..batch * o];
        for (row, &t) in y.chunks_exact_mut(o).zip(times) {
            for (j, (e, &bj)) in row.iter_mut().zip(bias).enumerate() {
                *e = bj + t * w[j * inp + k];
            }
        }
        let a = MatRef::row_major(&input[..batch * k], batch, k);
        matmul(MatMut::row_major(y, batch, o), a, wt, true);
    }

    /// `gW += Δᵀ·input`, `gb += Σ_rows Δ` (row by row, [`col_sum`]) and the time column
    /// `gW[:, k] += t·Σ_rows Δ` ([`time_col_grad`]).
    #[inline]
    pub fn grad_params<T: Real>(&self, t: T, delta: &[T], input: &[T], gp: &mut [T], batch: usize) {
        let (inp, out, k) = (self.inp, self.out, self.k);
        let delta = &delta[..batch * out];
        weight_grad(
            MatMut::new(&mut gp[self.w..self.w + out * inp], out, k, inp),
            delta,
            input,
            batch,
            true,
        );
        if k < inp && self.b >= self.w + out * inp {
            // The weight lies before the bias (as every layout here has it): one pass.
            let (wpart, bpart) = gp.split_at_mut(self.b);
            bias_and_time_grad(
                &mut bpart[..out],
                &mut wpart[self.w + k..self.w + out * inp],
                inp,
                delta,
                out,
                t,
            );
            return;
        }
        col_sum(&mut gp[self.b..self.b + out], delta, out, true);
        if k < inp {
            time_col_grad(
                &mut gp[self.w + k..self.w + out * inp],
                inp,
                delta,
                out,
                t,
                true,
            );
        }
    }

    /// [`DenseLayer::grad_params`] with one time per row: the time column gets
    /// `gW[:, k] += Σ_r t[r]·Δ[r, :]`. A layer without a time column ignores `times`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn grad_params_rows<T: Real>(
        &self,
        times: &[T],
        delta: &[T],
        input: &[T],
        gp: &mut [T],
        batch: usize,
    ) {
        let (inp, out, k) = (self.inp, self.out, self.k);
        let delta = &delta[..batch * out];
        weight_grad(
            MatMut::new(&mut gp[self.w..self.w + out * inp], out, k, inp),
            delta,
            input,
            batch,
            true,
        );
        col_sum(&mut gp[self.b..self.b + out], delta, out, true);
        if k < inp {
            time_col_grad_rows(
                &mut gp[self.w + k..self.w + out * inp],
                inp,
                delta,
                out,
                times,
            );
        }
    }

    /// `gin = Δ·W[:, :k]` (the time column's gradient is not needed).
    #[inline]
    pub fn grad_input<T: Real>(&self, params: &[T], delta: &[T], gin: &mut [T], batch: usize) {
        input_grad(gin, delta, self.weight_k(params), batch);
    }
}
