//! The kernels of the plan's steps, one function per [`Kernel`](symplode_codegen::plan::Kernel)
//! (or family): the interpreter calls them for every step it runs, and the code
//! `neural_ode!` lowers from a plan calls the same functions with the sizes inlined, so each
//! kernel's code exists once. Dense products go through [`crate::linalg::dense`] (the
//! functions `Mlp` calls too), elementwise loops run in place when the output reuses an
//! operand's buffer (the operand is then `None`), then data movement and periodic
//! stencils/convolutions.

use symplode_codegen::ir::{BinaryOp, ConvShape, UnaryOp};

use crate::linalg::dense;
use crate::linalg::elementwise::unary_in_place;
use crate::linalg::matmul::{MatMut, MatRef};
use crate::real::Real;

/// `y = x Wᵀ (+ b)`: `x [B,inp]`, `w [out,inp]`, `b [out]`.
pub fn dense<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    batch: usize,
    inp: usize,
    out: usize,
) {
    // The bias is added in the GEMM's store (bit-equal to bias rows + accumulate).
    dense::affine(y, x, MatRef::row_major(w, out, inp).t(), b, batch);
}

/// `y = x W[:, :k]ᵀ + (b + t·W[:, k])`: `x [B,k]`, `w [out,k+1]`, `b [out]`
/// ([`Kernel::DenseTime`](symplode_codegen::plan::Kernel::DenseTime)).
#[allow(clippy::too_many_arguments)]
pub fn dense_time<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: &[T],
    t: T,
    batch: usize,
    k: usize,
    out: usize,
) {
    dense::affine_time_rows(y, x, w, b, t, batch, k, out);
}

/// [`dense_time`] with one time per row: row r gets the bias `b + t[r]·W[:, k]` (bias rows,
/// then an accumulating product, as `DenseLayer::forward_rows`).
#[allow(clippy::too_many_arguments)]
pub fn dense_time_rows<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: &[T],
    ts: &[T],
    batch: usize,
    k: usize,
    out: usize,
) {
    let inp = k + 1;
    let y = &mut y[..batch * out];
    for (row, &t) in y.chunks_exact_mut(out).zip(ts) {
        for (j, (e, &bj)) in row.iter_mut().zip(b).enumerate() {
            *e = bj + t * w[j * inp + k];
        }
    }
    let wt = MatRef::new(&w[..out * inp], out, k, inp, 1).t();
    let a = MatRef::row_major(&x[..batch * k], batch, k);
    crate::linalg::matmul::matmul(MatMut::row_major(y, batch, out), a, wt, true);
}

/// [`batch_outer_time`] with one time per row: `G[j, k] (+)= Σ_r t[r]·a[r, j]`, row by row.
#[allow(clippy::too_many_arguments)]
pub fn batch_outer_time_rows<T: Real>(
    g: &mut [T],
    a: &[T],
    x: &[T],
    ts: &[T],
    batch: usize,
    p: usize,
    k: usize,
    acc: bool,
) {
    let inp = k + 1;
    let a = &a[..batch * p];
    dense::weight_grad(MatMut::new(&mut g[..p * inp], p, k, inp), a, x, batch, acc);
    if !acc {
        for j in 0..p {
            g[j * inp + k] = T::zero();
        }
    }
    for (row, &t) in a.chunks_exact(p).zip(ts) {
        for (j, &d) in row.iter().enumerate() {
            g[j * inp + k] += t * d;
        }
    }
}

/// `y = x W[:, :cols]`: `x [B,k]`, `w [k,m]`.
pub fn dense_nt_cols<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    batch: usize,
    k: usize,
    m: usize,
    cols: usize,
) {
    dense::input_grad_cols(y, x, w, batch, k, m, cols);
}

/// `G[:, :k] (+)= aᵀ x`, `G[:, k] (+)= t·Σ_batch a`: `a [B,p]`, `x [B,k]` → `[p,k+1]`.
#[allow(clippy::too_many_arguments)]
pub fn batch_outer_time<T: Real>(
    g: &mut [T],
    a: &[T],
    x: &[T],
    t: T,
    batch: usize,
    p: usize,
    k: usize,
    acc: bool,
) {
    dense::weight_grad_time(g, a, x, t, batch, p, k, acc);
}

/// `y = x W`: `x [B,k]`, `w [k,m]`.
pub fn dense_nt<T: Real>(y: &mut [T], x: &[T], w: &[T], batch: usize, k: usize, m: usize) {
    dense::input_grad(y, x, MatRef::row_major(w, k, m), batch);
}

/// `G (+)= aᵀ b`: `a [B,p]`, `b [B,q]` → `[p,q]`.
pub fn batch_outer<T: Real>(
    g: &mut [T],
    a: &[T],
    b: &[T],
    batch: usize,
    p: usize,
    q: usize,
    acc: bool,
) {
    dense::weight_grad(MatMut::row_major(g, p, q), a, b, batch, acc);
}

/// Column sums `g (+)= Σ_rows x`.
pub fn batch_sum<T: Real>(g: &mut [T], x: &[T], w: usize, acc: bool) {
    dense::col_sum(g, x, w, acc);
}

/// `dst += src` elementwise (a program's finishing accumulation into `gp`).
#[inline(always)]
pub fn add_into<T: Real>(dst: &mut [T], src: &[T]) {
    for (g, &v) in dst.iter_mut().zip(src) {
        *g += v;
    }
}

/// Every row a copy of `x`.
#[inline(always)]
pub fn broadcast_rows<T: Real>(y: &mut [T], x: &[T], w: usize) {
    for r in y.chunks_exact_mut(w) {
        r.copy_from_slice(x);
    }
}

#[inline(always)]
fn map<T: Real>(y: &mut [T], f: impl Fn(T) -> T) {
    for v in y.iter_mut() {
        *v = f(*v);
    }
}

/// `y = op(x)` (`x == None`: in place), through the runtime's one elementwise kernel.
#[inline(always)]
pub fn unary<T: Real>(op: UnaryOp, y: &mut [T], x: Option<&[T]>) {
    if let Some(x) = x {
        y.copy_from_slice(x);
    }
    unary_in_place(op, y);
}

/// `out = g · (1 − y²)` (`None`: read from `out`).
#[inline(always)]
pub fn tanh_grad<T: Real>(out: &mut [T], g: Option<&[T]>, y: Option<&[T]>) {
    let one = T::one();
    zip2(out, g, y, |g, y| g * (one - y * y));
}

/// `y = c·x` (`x == None`: in place).
#[inline(always)]
pub fn scale<T: Real>(y: &mut [T], x: Option<&[T]>, c: f64) {
    let c = T::of(c);
    match x {
        Some(x) => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = c * v;
            }
        }
        None => map(y, |v| c * v),
    }
}

/// Same-shape elementwise `y = f(a, b)`; `None` operands are read from `y`.
#[inline(always)]
fn zip2<T: Real>(y: &mut [T], a: Option<&[T]>, b: Option<&[T]>, f: impl Fn(T, T) -> T) {
    match (a, b) {
        (Some(a), Some(b)) => {
            for ((o, &x), &z) in y.iter_mut().zip(a).zip(b) {
                *o = f(x, z);
            }
        }
        (None, Some(b)) => {
            for (o, &z) in y.iter_mut().zip(b) {
                *o = f(*o, z);
            }
        }
        (Some(a), None) => {
            for (o, &x) in y.iter_mut().zip(a) {
                *o = f(x, *o);
            }
        }
        (None, None) => map(y, |v| f(v, v)),
    }
}

/// `y = f(a, b)` with a `[B,1]` operand broadcast along the features of the other
/// (`col_left`: the left operand is the column); `wide == None` is read from `y`.
#[inline(always)]
fn zip_col<T: Real>(
    y: &mut [T],
    wide: Option<&[T]>,
    col: &[T],
    w: usize,
    col_left: bool,
    f: impl Fn(T, T) -> T,
) {
    for (s, &c) in col.iter().enumerate() {
        let row = &mut y[s * w..(s + 1) * w];
        match (wide, col_left) {
            (Some(x), false) => {
                for (o, &v) in row.iter_mut().zip(&x[s * w..(s + 1) * w]) {
                    *o = f(v, c);
                }
            }
            (Some(x), true) => {
                for (o, &v) in row.iter_mut().zip(&x[s * w..(s + 1) * w]) {
                    *o = f(c, v);
                }
            }
            (None, false) => map(row, |v| f(v, c)),
            (None, true) => map(row, |v| f(c, v)),
        }
    }
}

#[inline(always)]
fn binary_with<T: Real>(
    y: &mut [T],
    a: Option<&[T]>,
    b: Option<&[T]>,
    wa: usize,
    wb: usize,
    f: impl Fn(T, T) -> T,
) {
    if wa == wb {
        zip2(y, a, b, f);
    } else if wa == 1 {
        // The column is never the output's buffer (widths differ).
        zip_col(y, b, a.unwrap_or(&[]), wb, true, f);
    } else {
        zip_col(y, a, b.unwrap_or(&[]), wa, false, f);
    }
}

/// `y = op(a, b)`, with `[B,1]` broadcasting (`wa`, `wb` batched widths, both 0 for globals).
#[inline(always)]
pub fn binary<T: Real>(
    op: BinaryOp,
    y: &mut [T],
    a: Option<&[T]>,
    b: Option<&[T]>,
    wa: usize,
    wb: usize,
) {
    match op {
        BinaryOp::Add => binary_with(y, a, b, wa, wb, |x, z| x + z),
        BinaryOp::Sub => binary_with(y, a, b, wa, wb, |x, z| x - z),
        BinaryOp::Mul => binary_with(y, a, b, wa, wb, |x, z| x * z),
        BinaryOp::Div => binary_with(y, a, b, wa, wb, |x, z| x / z),
    }
}

/// `y = op(a, b)` where one operand is one row `row [w]` read for every row of the other
/// (`row_left`: the row is `a`), the other `wide [B,w]` (`None`: read from `y`). Each element
/// is the same operation on the same values as [`binary`] on the row copied `B` times.
#[inline(always)]
pub fn binary_row<T: Real>(
    op: BinaryOp,
    y: &mut [T],
    wide: Option<&[T]>,
    row: &[T],
    row_left: bool,
) {
    match op {
        BinaryOp::Add => with_row(y, wide, row, row_left, |x, z| x + z),
        BinaryOp::Sub => with_row(y, wide, row, row_left, |x, z| x - z),
        BinaryOp::Mul => with_row(y, wide, row, row_left, |x, z| x * z),
        BinaryOp::Div => with_row(y, wide, row, row_left, |x, z| x / z),
    }
}

#[inline(always)]
fn with_row<T: Real>(
    y: &mut [T],
    wide: Option<&[T]>,
    row: &[T],
    row_left: bool,
    f: impl Fn(T, T) -> T,
) {
    let w = row.len();
    let g = |v: T, r: T| if row_left { f(r, v) } else { f(v, r) };
    match wide {
        Some(x) => {
            for (yr, xr) in y.chunks_exact_mut(w).zip(x.chunks_exact(w)) {
                for ((o, &v), &r) in yr.iter_mut().zip(xr).zip(row) {
                    *o = g(v, r);
                }
            }
        }
        None => {
            for yr in y.chunks_exact_mut(w) {
                for (o, &r) in yr.iter_mut().zip(row) {
                    *o = g(*o, r);
                }
            }
        }
    }
}

/// Copies `part [B,pw]` into columns `at..at + pw` of `y [B,w]`.
#[inline(always)]
pub fn concat_part<T: Real>(y: &mut [T], part: &[T], w: usize, at: usize, pw: usize) {
    for (r, p) in y.chunks_exact_mut(w).zip(part.chunks_exact(pw)) {
        r[at..at + pw].copy_from_slice(p);
    }
}

/// Columns `start..start + len` of `x [B,w]`.
#[inline(always)]
pub fn slice<T: Real>(y: &mut [T], x: &[T], w: usize, start: usize, len: usize) {
    for (r, xr) in y.chunks_exact_mut(len).zip(x.chunks_exact(w)) {
        r.copy_from_slice(&xr[start..start + len]);
    }
}

/// Sums of consecutive groups of `size`.
#[inline(always)]
pub fn sum_groups<T: Real>(y: &mut [T], x: &[T], size: usize) {
    for (o, grp) in y.iter_mut().zip(x.chunks_exact(size)) {
        let mut s = T::zero();
        for &v in grp {
            s += v;
        }
        *o = s;
    }
}

/// Each element repeated `size` times.
#[inline(always)]
pub fn repeat_groups<T: Real>(y: &mut [T], x: &[T], size: usize) {
    for (grp, &v) in y.chunks_exact_mut(size).zip(x) {
        grp.fill(v);
    }
}

/// `(shift) mod n` as the start of the periodic read: `x[(i + shift) mod n]` is `x[i + s]`
/// for `i < n − s` and `x[i + s − n]` after (no division per element: a `%` per element
/// took a fifth of the physics example's training time).
#[inline(always)]
fn start(shift: isize, n: usize) -> usize {
    shift.rem_euclid(n as isize) as usize
}

/// `y[i] += a · x[(i + shift) mod n]` for every `i < n = y.len() = x.len()`, in increasing
/// `i` (the same operations in the same order as an element loop with a modulo).
#[inline(always)]
fn add_shifted<T: Real>(y: &mut [T], x: &[T], a: T, shift: isize) {
    let n = y.len();
    if n == 0 {
        return;
    }
    let s = start(shift, n);
    let (head, tail) = y.split_at_mut(n - s);
    for (v, &xv) in head.iter_mut().zip(&x[s..]) {
        *v += a * xv;
    }
    for (v, &xv) in tail.iter_mut().zip(&x[..s]) {
        *v += a * xv;
    }
}

/// `Σ_i d[i] · x[(i + shift) mod n]`, summed from zero in increasing `i`.
#[inline(always)]
fn dot_shifted<T: Real>(d: &[T], x: &[T], shift: isize) -> T {
    let mut acc = T::zero();
    let n = d.len();
    if n == 0 {
        return acc;
    }
    let s = start(shift, n);
    for (&dv, &xv) in d[..n - s].iter().zip(&x[s..]) {
        acc += dv * xv;
    }
    for (&dv, &xv) in d[n - s..].iter().zip(&x[..s]) {
        acc += dv * xv;
    }
    acc
}

/// Periodic stencil on rows of `n` points (every channel of every sample):
/// `y[i] = Σ_j c_j x[(i + j − r) mod n]`, each sum from zero in increasing `j`.
pub fn stencil<T: Real>(y: &mut [T], x: &[T], coeffs: &[f64], n: usize) {
    let r = (coeffs.len() / 2) as isize;
    for (yr, xr) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        yr.fill(T::zero());
        for (j, &c) in coeffs.iter().enumerate() {
            add_shifted(yr, xr, T::of(c), j as isize - r);
        }
    }
}

/// Periodic convolution `y[o,i] = b[o] + Σ_c Σ_j w[o,c,j] x[c,(i+j−r) mod n]`.
pub fn conv1d<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    s: &ConvShape,
    batch: usize,
) {
    if s.k == 1 {
        return super::conv_gemm::conv1d_pointwise(y, x, w, b, s, batch);
    }
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = (k / 2) as isize;
    for bs in 0..batch {
        for o in 0..cout {
            let yr = &mut y[(bs * cout + o) * n..][..n];
            yr.fill(b.map_or(T::zero(), |b| b[o]));
            for c in 0..cin {
                let xr = &x[(bs * cin + c) * n..][..n];
                for j in 0..k {
                    add_shifted(yr, xr, w[(o * cin + c) * k + j], j as isize - r);
                }
            }
        }
    }
}

/// Input-transpose `x̄[c,i] = Σ_o Σ_j w[o,c,j] y[o,(i−j+r) mod n]`.
pub fn conv1d_t<T: Real>(xb: &mut [T], y: &[T], w: &[T], s: &ConvShape, batch: usize) {
    if s.k == 1 {
        return super::conv_gemm::conv1d_t_pointwise(xb, y, w, s, batch);
    }
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = (k / 2) as isize;
    xb.fill(T::zero());
    for bs in 0..batch {
        for c in 0..cin {
            let xr = &mut xb[(bs * cin + c) * n..][..n];
            for o in 0..cout {
                let yr = &y[(bs * cout + o) * n..][..n];
                for j in 0..k {
                    // x̄[i] += w · y[(i − j + r) mod n].
                    add_shifted(xr, yr, w[(o * cin + c) * k + j], r - j as isize);
                }
            }
        }
    }
}

/// Weight gradient `G[o,c,j] (+)= Σ_batch Σ_i dy[o,i] x[c,(i+j−r) mod n]`.
pub fn conv1d_wgrad<T: Real>(
    g: &mut [T],
    dy: &[T],
    x: &[T],
    s: &ConvShape,
    batch: usize,
    acc: bool,
) {
    if s.k == 1 {
        return super::conv_gemm::conv1d_wgrad_pointwise(g, dy, x, s, batch, acc);
    }
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = (k / 2) as isize;
    if !acc {
        g.fill(T::zero());
    }
    for bs in 0..batch {
        for o in 0..cout {
            let dr = &dy[(bs * cout + o) * n..][..n];
            for c in 0..cin {
                let xr = &x[(bs * cin + c) * n..][..n];
                for j in 0..k {
                    g[(o * cin + c) * k + j] += dot_shifted(dr, xr, j as isize - r);
                }
            }
        }
    }
}
