//! 2-D convolutions as matrix products (im2col), the kernels of the plan's `Conv2d`,
//! `Conv2dT`, `Conv2dWGrad`, `Squeeze` and `Unsqueeze` steps (the interpreter calls them; code
//! generated from a plan may call them too). Layout: a batch of images `[B, c·h·w]`,
//! channel-major per sample (`symplode_codegen::ir::conv2d`); the kernel `[cout, cin, k, k]`.
//!
//! Per sample, the image `x [cin, h·w]` is
//! unfolded into `cols [cin·k·k, ho·wo]` (row `(c·k + u)·k + v`, column `i·wo + j` holds
//! `x[c, i·s + u − p, j·s + v − p]`, 0 in the padding), so that with the kernel as the
//! row-major matrix `W [cout, cin·k·k]`:
//!
//! - convolution: `y = W · cols (+ b)`,
//! - input-transpose: `cols = Wᵀ · ȳ`, then folded back (col2im, summing overlapping taps),
//! - weight gradient: `G (+)= ȳ · colsᵀ`, summed over the batch,
//!
//! each one call of the runtime GEMM ([`matmul`]) per sample; the unfolding is row copies.
//! The `cols` scratch is one sample's matrix: at least [`Conv2dShape::cols_len`] elements (a
//! plan buffer); nothing allocates. Slices shorter than the shapes say panic, as the GEMM's
//! views do (the plan sizes every buffer from the same shapes).

use symplode_codegen::ir::Conv2dShape;

use super::matmul::{MatMut, MatRef, matmul};
use crate::real::Real;

/// For kernel offset `u` (or `v`) along one axis of size `n`: the output positions `i`
/// whose input `i·s + u − p` is inside `0..n`, as a range.
fn valid(out: usize, n: usize, s: usize, u: usize, p: usize) -> std::ops::Range<usize> {
    // i·s + u ≥ p  ⇔  i ≥ ceil((p − u) / s);  i·s + u − p < n  ⇔  i < ceil((n + p − u) / s).
    let lo = p.saturating_sub(u).div_ceil(s);
    let hi = (n + p).saturating_sub(u).div_ceil(s).min(out);
    lo.min(hi)..hi
}

/// Unfolds one sample `x [cin, h, w]` into `cols [cin·k·k, ho·wo]`.
fn im2col<T: Real>(cols: &mut [T], x: &[T], s: &Conv2dShape) {
    let (ho, wo, k, st, p) = (s.out_h(), s.out_w(), s.k, s.stride, s.pad);
    for c in 0..s.cin {
        let xc = &x[c * s.h * s.w..][..s.h * s.w];
        for u in 0..k {
            let rows = valid(ho, s.h, st, u, p);
            for v in 0..k {
                let cr = &mut cols[((c * k + u) * k + v) * ho * wo..][..ho * wo];
                let cs = valid(wo, s.w, st, v, p);
                for i in 0..ho {
                    let line = &mut cr[i * wo..][..wo];
                    if !rows.contains(&i) || cs.is_empty() {
                        line.fill(T::zero());
                        continue;
                    }
                    line[..cs.start].fill(T::zero());
                    line[cs.end..].fill(T::zero());
                    let y = i * st + u - p;
                    let x0 = cs.start * st + v - p;
                    let src = &xc[y * s.w..][..s.w];
                    if st == 1 {
                        line[cs.clone()].copy_from_slice(&src[x0..x0 + cs.len()]);
                    } else {
                        for (d, j) in line[cs.clone()].iter_mut().zip(0..) {
                            *d = src[x0 + j * st];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `cols [cin·k·k, ho·wo]` back into one sample `x [cin, h, w]`, summing the taps
/// that read the same pixel (the transpose of [`im2col`]); `x` is overwritten.
fn col2im<T: Real>(x: &mut [T], cols: &[T], s: &Conv2dShape) {
    let (ho, wo, k, st, p) = (s.out_h(), s.out_w(), s.k, s.stride, s.pad);
    x.fill(T::zero());
    for c in 0..s.cin {
        let xc = &mut x[c * s.h * s.w..][..s.h * s.w];
        for u in 0..k {
            let rows = valid(ho, s.h, st, u, p);
            for v in 0..k {
                let cr = &cols[((c * k + u) * k + v) * ho * wo..][..ho * wo];
                let cs = valid(wo, s.w, st, v, p);
                if cs.is_empty() {
                    continue;
                }
                for i in rows.clone() {
                    let line = &cr[i * wo..][..wo];
                    let y = i * st + u - p;
                    let x0 = cs.start * st + v - p;
                    let dst = &mut xc[y * s.w..][..s.w];
                    for (j, &val) in line[cs.clone()].iter().enumerate() {
                        dst[x0 + j * st] += val;
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, w) + b` for every sample: `x [batch, cin·h·w]`, `w [cout, cin, k, k]`,
/// `b [cout]` → `y [batch, cout·ho·wo]` (overwritten).
pub fn conv2d<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    cols: &mut [T],
    s: &Conv2dShape,
    batch: usize,
) {
    let (kin, npix) = (s.cin * s.k * s.k, s.out_h() * s.out_w());
    let (inw, outw) = (s.in_width(), s.out_width());
    let wm = MatRef::row_major(w, s.cout, kin);
    let cols = &mut cols[..kin * npix];
    for bs in 0..batch {
        im2col(cols, &x[bs * inw..][..inw], s);
        let yb = &mut y[bs * outw..][..outw];
        match b {
            Some(b) => {
                for (row, &bo) in yb.chunks_exact_mut(npix).zip(b) {
                    row.fill(bo);
                }
            }
            None => yb.fill(T::zero()),
        }
        matmul(
            MatMut::row_major(yb, s.cout, npix),
            wm,
            MatRef::row_major(cols, kin, npix),
            true,
        );
    }
}

/// `x̄ = conv2d_t(ȳ, w)` for every sample (the VJP w.r.t. the input): `ȳ [batch,
/// cout·ho·wo]` → `x̄ [batch, cin·h·w]` (overwritten).
pub fn conv2d_t<T: Real>(
    xb: &mut [T],
    y: &[T],
    w: &[T],
    cols: &mut [T],
    s: &Conv2dShape,
    batch: usize,
) {
    let (kin, npix) = (s.cin * s.k * s.k, s.out_h() * s.out_w());
    let (inw, outw) = (s.in_width(), s.out_width());
    let wt = MatRef::row_major(w, s.cout, kin).t();
    let cols = &mut cols[..kin * npix];
    for bs in 0..batch {
        let yb = MatRef::row_major(&y[bs * outw..][..outw], s.cout, npix);
        matmul(MatMut::row_major(cols, kin, npix), wt, yb, false);
        col2im(&mut xb[bs * inw..][..inw], cols, s);
    }
}

/// `G (+)= Σ_batch ȳ · colsᵀ`: the weight gradient `[cout, cin, k, k]` of `ȳ [batch,
/// cout·ho·wo]` and `x [batch, cin·h·w]`; `acc`: add into `g` instead of overwriting it.
pub fn conv2d_wgrad<T: Real>(
    g: &mut [T],
    dy: &[T],
    x: &[T],
    cols: &mut [T],
    s: &Conv2dShape,
    batch: usize,
    acc: bool,
) {
    let (kin, npix) = (s.cin * s.k * s.k, s.out_h() * s.out_w());
    let (inw, outw) = (s.in_width(), s.out_width());
    let g = &mut g[..s.cout * kin];
    if !acc {
        g.fill(T::zero());
    }
    let cols = &mut cols[..kin * npix];
    for bs in 0..batch {
        im2col(cols, &x[bs * inw..][..inw], s);
        let d = MatRef::row_major(&dy[bs * outw..][..outw], s.cout, npix);
        let ct = MatRef::row_major(&*cols, kin, npix).t();
        matmul(MatMut::row_major(g, s.cout, kin), d, ct, true);
    }
}

/// 2×2 space-to-channel (`inverse`: back) of every sample of `x` (whole samples of `c·h·w`,
/// `h`, `w` even) into `y`: channel `4c + 2u + v` of the squeezed image holds the pixels
/// `(2i + u, 2j + v)` of channel `c` (FFJORD's `SqueezeLayer(2)`).
pub fn squeeze<T: Real>(y: &mut [T], x: &[T], c: usize, h: usize, w: usize, inverse: bool) {
    let (h2, w2, n) = (h / 2, w / 2, c * h * w);
    for (yb, xb) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        for ch in 0..c {
            for u in 0..2 {
                for v in 0..2 {
                    let plane = (4 * ch + 2 * u + v) * h2 * w2;
                    for i in 0..h2 {
                        let full = (ch * h + 2 * i + u) * w + v;
                        let sq = plane + i * w2;
                        for j in 0..w2 {
                            if inverse {
                                yb[full + 2 * j] = xb[sq + j];
                            } else {
                                yb[sq + j] = xb[full + 2 * j];
                            }
                        }
                    }
                }
            }
        }
    }
}
