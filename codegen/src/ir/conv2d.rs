//! 2-D convolutions and the 2×2 squeeze of the IR: their shapes, their reference (direct
//! loop) definitions, the builder methods and the image layers FFJORD's multiscale flow uses
//! (`ConcatConv2d`: the time as an extra input channel).
//!
//! # Layout
//!
//! A batched image with `c` channels of `h × w` pixels is a `[B, c·h·w]` value, channel-major
//! per sample (PyTorch's `NCHW` with the batch as rows): feature index `(channel·h + row)·w +
//! column`. A kernel is `[cout, cin, k, k]` (PyTorch `Conv2d` layout).

use super::Activation;
use super::builder::GraphBuilder;
use super::entities::Value;
use super::error::IrError;
use super::ops::Op;

/// Sizes of a 2-D convolution with zero padding ([`Op::Conv2d`], [`Op::Conv2dT`],
/// [`Op::Conv2dWeightGrad`]), as PyTorch `Conv2d(cin, cout, k, stride, pad)`:
///
/// `y[o, i, j] = b[o] + Σ_c Σ_{u,v<k} w[o, c, u, v] · x[c, i·s + u − p, j·s + v − p]`
/// (`x` read as 0 outside the image), for `i < ho = (h + 2p − k) / s + 1`,
/// `j < wo = (w + 2p − k) / s + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dShape {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size (square `k × k`).
    pub k: usize,
    /// Stride (≥ 1).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl Conv2dShape {
    /// Output height `(h + 2p − k) / s + 1` (0 when the kernel does not fit).
    pub fn out_h(&self) -> usize {
        Self::out(self.h, self.k, self.stride, self.pad)
    }

    /// Output width `(w + 2p − k) / s + 1` (0 when the kernel does not fit).
    pub fn out_w(&self) -> usize {
        Self::out(self.w, self.k, self.stride, self.pad)
    }

    fn out(n: usize, k: usize, s: usize, p: usize) -> usize {
        match (n + 2 * p).checked_sub(k) {
            Some(d) if s > 0 => d / s + 1,
            _ => 0,
        }
    }

    /// Width of the input value, `cin·h·w`.
    pub fn in_width(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// Width of the output value, `cout·ho·wo`.
    pub fn out_width(&self) -> usize {
        self.cout * self.out_h() * self.out_w()
    }

    /// Elements of one sample's im2col matrix `[cin·k·k, ho·wo]` (the runtime kernels'
    /// scratch).
    pub fn cols_len(&self) -> usize {
        self.cin * self.k * self.k * self.out_h() * self.out_w()
    }

    /// Why the shape is invalid, if it is.
    pub fn invalid(&self) -> Option<String> {
        let s = self;
        if s.cin == 0 || s.cout == 0 || s.h == 0 || s.w == 0 || s.k == 0 || s.stride == 0 {
            return Some(format!(
                "cin = {}, cout = {}, h = {}, w = {}, k = {}, stride = {} must all be at least 1",
                s.cin, s.cout, s.h, s.w, s.k, s.stride
            ));
        }
        let big = 1usize << 24;
        if [s.cin, s.cout, s.h, s.w, s.k, s.stride, s.pad]
            .iter()
            .any(|&d| d > big)
        {
            return Some(format!("a size above 2^24 in {s:?}"));
        }
        if s.pad >= s.k {
            return Some(format!(
                "the padding {} must be smaller than the kernel size {}",
                s.pad, s.k
            ));
        }
        if s.out_h() == 0 || s.out_w() == 0 {
            return Some(format!(
                "the {}×{} kernel does not fit the {}×{} image padded by {}",
                s.k, s.k, s.h, s.w, s.pad
            ));
        }
        let fits = s
            .cin
            .checked_mul(s.h)
            .and_then(|v| v.checked_mul(s.w))
            .and(s.cout.checked_mul(s.out_h() * s.out_w()))
            .and(s.cout.checked_mul(s.cin * s.k * s.k))
            .and((s.cin * s.k * s.k).checked_mul(s.out_h() * s.out_w()))
            .is_some();
        (!fits).then(|| "the sizes overflow usize".into())
    }
}

/// The 2×2 space-to-channel reshape of a `c × h × w` image ([`Op::Squeeze`], and its inverse
/// [`Op::Unsqueeze`]), as FFJORD's `SqueezeLayer(2)`: output channel `4c + 2u + v` holds
/// pixel `(2i + u, 2j + v)` of channel `c` at `(i, j)`. `h` and `w` even.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SqueezeShape {
    /// Channels of the full-resolution image.
    pub c: usize,
    /// Its height (even).
    pub h: usize,
    /// Its width (even).
    pub w: usize,
}

impl SqueezeShape {
    /// Width of the value (the same before and after), `c·h·w`.
    pub fn width(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Why the shape is invalid, if it is.
    pub fn invalid(&self) -> Option<String> {
        if self.c == 0 || self.h == 0 || self.w == 0 || self.h % 2 == 1 || self.w % 2 == 1 {
            return Some(format!(
                "c = {}, h = {}, w = {}: every size must be at least 1 and h, w even",
                self.c, self.h, self.w
            ));
        }
        self.c
            .checked_mul(self.h)
            .and_then(|v| v.checked_mul(self.w))
            .is_none()
            .then(|| "the sizes overflow usize".into())
    }

    /// The index in the squeezed image of pixel `(y, x)` of channel `c` (for every element,
    /// the permutation squeeze applies).
    pub fn squeezed_index(&self, c: usize, y: usize, x: usize) -> usize {
        let (h2, w2) = (self.h / 2, self.w / 2);
        let oc = 4 * c + 2 * (y % 2) + x % 2;
        (oc * h2 + y / 2) * w2 + x / 2
    }
}

/// The input value `x[c, y, x]` of sample `bs`, 0 outside the image.
fn pixel(x: &[f64], s: &Conv2dShape, bs: usize, c: usize, y: isize, xx: isize) -> f64 {
    if y < 0 || xx < 0 || y >= s.h as isize || xx >= s.w as isize {
        return 0.0;
    }
    x[bs * s.in_width() + (c * s.h + y as usize) * s.w + xx as usize]
}

/// Visits every (output position, kernel tap, input position inside the image) triple of one
/// sample: `f(o_index_within_channel, tap = (u, v), input index within channel)`.
fn taps(s: &Conv2dShape, mut f: impl FnMut(usize, usize, Option<usize>)) {
    let (ho, wo) = (s.out_h(), s.out_w());
    for i in 0..ho {
        for j in 0..wo {
            for u in 0..s.k {
                for v in 0..s.k {
                    let y = (i * s.stride + u) as isize - s.pad as isize;
                    let x = (j * s.stride + v) as isize - s.pad as isize;
                    let inside = y >= 0 && x >= 0 && y < s.h as isize && x < s.w as isize;
                    let at = inside.then(|| y as usize * s.w + x as usize);
                    f(i * wo + j, u * s.k + v, at);
                }
            }
        }
    }
}

/// Reference convolution (direct loops over every output, channel and tap).
pub(crate) fn conv2d(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    s: &Conv2dShape,
    batch: usize,
) -> Vec<f64> {
    let (ho, wo, kk) = (s.out_h(), s.out_w(), s.k * s.k);
    let mut y = vec![0.0; batch * s.out_width()];
    for bs in 0..batch {
        for o in 0..s.cout {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b[o]);
                    for c in 0..s.cin {
                        for u in 0..s.k {
                            for v in 0..s.k {
                                let yy = (i * s.stride + u) as isize - s.pad as isize;
                                let xx = (j * s.stride + v) as isize - s.pad as isize;
                                acc += w[(o * s.cin + c) * kk + u * s.k + v]
                                    * pixel(x, s, bs, c, yy, xx);
                            }
                        }
                    }
                    y[bs * s.out_width() + (o * ho + i) * wo + j] = acc;
                }
            }
        }
    }
    y
}

/// Reference input-transpose: `x̄[c, y, x] = Σ over the outputs and taps that read (y, x)`.
pub(crate) fn conv2d_t(y: &[f64], w: &[f64], s: &Conv2dShape, batch: usize) -> Vec<f64> {
    let (hw, howo, kk) = (s.h * s.w, s.out_h() * s.out_w(), s.k * s.k);
    let mut xb = vec![0.0; batch * s.in_width()];
    for bs in 0..batch {
        taps(s, |oi, tap, at| {
            let Some(at) = at else { return };
            for c in 0..s.cin {
                let mut acc = 0.0;
                for o in 0..s.cout {
                    acc += w[(o * s.cin + c) * kk + tap] * y[bs * s.out_width() + o * howo + oi];
                }
                xb[bs * s.in_width() + c * hw + at] += acc;
            }
        });
    }
    xb
}

/// Reference weight gradient `G[o, c, u, v] = Σ_batch Σ_{i,j} dy[o, i, j] · x[c, i·s + u − p,
/// j·s + v − p]`.
pub(crate) fn conv2d_wgrad(dy: &[f64], x: &[f64], s: &Conv2dShape, batch: usize) -> Vec<f64> {
    let (hw, howo, kk) = (s.h * s.w, s.out_h() * s.out_w(), s.k * s.k);
    let mut g = vec![0.0; s.cout * s.cin * kk];
    for bs in 0..batch {
        taps(s, |oi, tap, at| {
            let Some(at) = at else { return };
            for o in 0..s.cout {
                let d = dy[bs * s.out_width() + o * howo + oi];
                for c in 0..s.cin {
                    g[(o * s.cin + c) * kk + tap] += d * x[bs * s.in_width() + c * hw + at];
                }
            }
        });
    }
    g
}

/// Reference squeeze (`inverse`: unsqueeze) of a batch.
pub(crate) fn squeeze(x: &[f64], s: &SqueezeShape, batch: usize, inverse: bool) -> Vec<f64> {
    let n = s.width();
    let mut y = vec![0.0; batch * n];
    for bs in 0..batch {
        for c in 0..s.c {
            for yy in 0..s.h {
                for xx in 0..s.w {
                    let plain = bs * n + (c * s.h + yy) * s.w + xx;
                    let sq = bs * n + s.squeezed_index(c, yy, xx);
                    if inverse {
                        y[plain] = x[sq];
                    } else {
                        y[sq] = x[plain];
                    }
                }
            }
        }
    }
    y
}

impl GraphBuilder {
    /// 2-D convolution `x [B, cin·h·w]`, `w [cout, cin, k, k]`, `b [cout]` →
    /// `[B, cout·ho·wo]`.
    pub fn conv2d(
        &mut self,
        x: Value,
        w: Value,
        b: Option<Value>,
        shape: Conv2dShape,
    ) -> Result<Value, IrError> {
        self.push(Op::Conv2d { x, w, b, shape })
    }

    /// Input-transpose of a 2-D convolution: `y [B, cout·ho·wo]` → `[B, cin·h·w]`.
    pub fn conv2d_t(&mut self, y: Value, w: Value, shape: Conv2dShape) -> Result<Value, IrError> {
        self.push(Op::Conv2dT { y, w, shape })
    }

    /// Weight gradient of a 2-D convolution: `dy [B, cout·ho·wo]`, `x [B, cin·h·w]` →
    /// `[cout, cin, k, k]`.
    pub fn conv2d_weight_grad(
        &mut self,
        dy: Value,
        x: Value,
        shape: Conv2dShape,
    ) -> Result<Value, IrError> {
        self.push(Op::Conv2dWeightGrad { dy, x, shape })
    }

    /// 2×2 space-to-channel: `[B, c·h·w]` → `[B, 4c·(h/2)·(w/2)]` (see [`SqueezeShape`]).
    pub fn squeeze(&mut self, x: Value, shape: SqueezeShape) -> Result<Value, IrError> {
        self.push(Op::Squeeze { x, shape })
    }

    /// The inverse of [`GraphBuilder::squeeze`] (`shape` is the full-resolution image's).
    pub fn unsqueeze(&mut self, x: Value, shape: SqueezeShape) -> Result<Value, IrError> {
        self.push(Op::Unsqueeze { x, shape })
    }

    /// `activation(conv2d(x))` with new parameters `{name}.weight [cout, cin, k, k]` and,
    /// when `bias`, `{name}.bias [cout]` (PyTorch `Conv2d(cin, cout, k, stride, pad)`);
    /// `image = (cin, h, w)` is `x`'s image shape. Returns the output and its image shape.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d_layer(
        &mut self,
        x: Value,
        name: &str,
        image: (usize, usize, usize),
        cout: usize,
        (k, stride, pad): (usize, usize, usize),
        activation: Activation,
        bias: bool,
    ) -> Result<(Value, (usize, usize, usize)), IrError> {
        let (cin, h, w) = image;
        let shape = Conv2dShape {
            cin,
            cout,
            h,
            w,
            k,
            stride,
            pad,
        };
        let wt = self.param(&format!("{name}.weight"), &[cout, cin, k, k])?;
        let b = if bias {
            Some(self.param(&format!("{name}.bias"), &[cout])?)
        } else {
            None
        };
        let y = self.conv2d(x, wt, b, shape)?;
        let y = self.activation(y, activation)?;
        Ok((y, (cout, shape.out_h(), shape.out_w())))
    }

    /// FFJORD's `ConcatConv2d`: the time as an extra first input channel, then a convolution
    /// with parameters `{name}._layer.weight [cout, cin + 1, k, k]`, `{name}._layer.bias
    /// [cout]` (FFJORD's state-dict names). `image = (cin, h, w)` is `x`'s image shape.
    pub fn concat_conv2d(
        &mut self,
        x: Value,
        name: &str,
        image: (usize, usize, usize),
        cout: usize,
        (k, stride, pad): (usize, usize, usize),
    ) -> Result<(Value, (usize, usize, usize)), IrError> {
        let (cin, h, w) = image;
        let t = self.time()?;
        let tt = self.repeat_groups(t, h * w)?;
        let tx = self.concat(&[tt, x])?;
        self.conv2d_layer(
            tx,
            &format!("{name}._layer"),
            (cin + 1, h, w),
            cout,
            (k, stride, pad),
            Activation::Identity,
            true,
        )
    }
}
