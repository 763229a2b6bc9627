//! The image layers of a `neural_ode!` declaration: `conv2d`, `squeeze` and `unsqueeze` on
//! a state declared as an image (`shape: [c, h, w]`). Here: the `shape` field, a `conv2d`'s
//! kind from its arguments, the walk of the image shape through the layers (each misfit a
//! spanned error: no image to read, a kernel that does not fit, an odd side to squeeze, a
//! last layer that does not give back the state's shape) and the layers' graph nodes.

use proc_macro2::Span;
use syn::{Ident, LitInt};

use super::err;
use super::layers::{LayerKind, LayerSpec};
use crate::dsl::LayerDecl;
use crate::ir::{Activation, Conv2dShape, GraphBuilder, IrError, SqueezeShape, Value};

/// Largest side or channel count of an image (2^24, as a layer width).
const MAX: usize = 1 << 24;

/// An image shape `(channels, height, width)`.
type Image = (usize, usize, usize);

/// The `shape: [c, h, w]` field, checked against `dim` when both are given.
pub(super) fn shape_field(
    key: &Ident,
    dims: &[LitInt],
    dim: Option<(usize, Span)>,
    errors: &mut Vec<syn::Error>,
) -> Option<[usize; 3]> {
    if dims.len() != 3 {
        errors.push(err(
            key.span(),
            format!(
                "`shape` is `[channels, height, width]`: 3 integers, {} given",
                dims.len()
            ),
        ));
        return None;
    }
    let mut out = [0; 3];
    for (o, l) in out.iter_mut().zip(dims) {
        match l.base10_parse::<usize>() {
            Ok(v) if (1..=MAX).contains(&v) => *o = v,
            _ => {
                errors.push(err(
                    l.span(),
                    format!("an image size must be an integer from 1 to {MAX}"),
                ));
                return None;
            }
        }
    }
    let [c, h, w] = out;
    let Some(n) = c.checked_mul(h).and_then(|v| v.checked_mul(w)) else {
        errors.push(err(key.span(), "the image's size c·h·w overflows usize"));
        return None;
    };
    if let Some((d, span)) = dim
        && d != n
    {
        errors.push(err(
            span,
            format!(
                "the state dimension is {d} but `shape` is {c}×{h}×{w} = {n} values; \
                 leave `dim` out or make it {n}"
            ),
        ));
    }
    Some(out)
}

/// The kind of a `conv2d(channels, kernel, stride?, padding?, …)` declaration.
pub(super) fn conv2d_kind(l: &LayerDecl, errors: &mut Vec<syn::Error>) -> LayerKind {
    let mut int = |lit: &Option<LitInt>, default: usize, min: usize, what: &str| match lit {
        None => default,
        Some(v) => match v.base10_parse::<usize>() {
            Ok(n) if (min..=MAX).contains(&n) => n,
            _ => {
                errors.push(err(
                    v.span(),
                    format!("a conv2d {what} must be an integer from {min} to {MAX}"),
                ));
                default.max(min)
            }
        },
    };
    let kernel = int(&l.kernel, 1, 1, "kernel size");
    let stride = int(&l.stride, 1, 1, "stride");
    let padding = int(&l.padding, 0, 0, "padding");
    LayerKind::Conv2d {
        kernel,
        stride,
        padding,
        bias: l.no_bias.is_none(),
        concat_time: l.concat_time.is_some(),
    }
}

/// Which part of a layer a [`LayerMisfit`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MisfitPart {
    /// The layer itself (its kind).
    Kind,
    /// A convolution's kernel, stride or padding.
    Kernel,
    /// Its output channels.
    Channels,
}

/// Why layer `index` does not fit the image it reads ([`image_shapes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerMisfit {
    /// The layer's position.
    pub index: usize,
    /// The part to point at.
    pub part: MisfitPart,
    /// What is wrong, in words.
    pub reason: String,
}

/// Walks the image shape through `layers` from the state's `image` (`[c, h, w]`): an image
/// layer (`conv2d`, `squeeze`, `unsqueeze`) needs an image (the state's, or the one the
/// image layer before gives), a `conv2d` must fit it, `squeeze` needs an even height and
/// width, `unsqueeze` a multiple of 4 channels; when `field` (the output is dx/dt) a last
/// image layer must give back the state's shape. Returns each layer's output image (`None`
/// for a flat output). Shared by `neural_ode!`'s checks and the TOML model files.
///
/// # Errors
/// The first layer that does not fit.
pub fn image_shapes(
    image: Option<[usize; 3]>,
    layers: &[LayerSpec],
    field: bool,
) -> Result<Vec<Option<[usize; 3]>>, LayerMisfit> {
    let mut out = Vec::with_capacity(layers.len());
    let mut cur = image;
    let mut before = "the state";
    for (index, l) in layers.iter().enumerate() {
        let misfit = |part, reason: String| LayerMisfit {
            index,
            part,
            reason,
        };
        if !l.kind.is_image() {
            cur = None;
            before = match l.kind {
                LayerKind::Dense => "a dense layer",
                LayerKind::ConcatSquash => "a concat_squash layer",
                _ => "a conv1d layer",
            };
            out.push(None);
            continue;
        }
        let name = kind_name(l.kind);
        let Some([c, h, w]) = cur else {
            let why = if image.is_none() {
                "give the model the state's image shape, `shape: [channels, height, width]`"
                    .to_string()
            } else {
                format!("the layer before is {before}, whose output is a flat vector")
            };
            return Err(misfit(
                MisfitPart::Kind,
                format!("`{name}` needs an image: {why}"),
            ));
        };
        let next = match l.kind {
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
                concat_time,
                ..
            } => {
                let shape = Conv2dShape {
                    cin: c + usize::from(concat_time),
                    cout: l.width,
                    h,
                    w,
                    k: kernel,
                    stride,
                    pad: padding,
                };
                if let Some(why) = shape.invalid() {
                    return Err(misfit(
                        MisfitPart::Kernel,
                        format!("this conv2d does not fit its {c}×{h}×{w} input image: {why}"),
                    ));
                }
                [l.width, shape.out_h(), shape.out_w()]
            }
            LayerKind::Squeeze => {
                if h % 2 == 1 || w % 2 == 1 {
                    return Err(misfit(
                        MisfitPart::Kind,
                        format!(
                            "`squeeze` needs an even height and width, but its input image is \
                             {c}×{h}×{w}"
                        ),
                    ));
                }
                [4 * c, h / 2, w / 2]
            }
            _ => {
                if c % 4 != 0 || h.max(w) > MAX / 2 {
                    return Err(misfit(
                        MisfitPart::Kind,
                        format!(
                            "`unsqueeze` needs a multiple of 4 channels, but its input image is \
                             {c}×{h}×{w}"
                        ),
                    ));
                }
                [c / 4, 2 * h, 2 * w]
            }
        };
        cur = Some(next);
        before = "an image layer";
        out.push(cur);
        if field
            && index + 1 == layers.len()
            && let Some(s) = image
            && next != s
        {
            let part = if matches!(l.kind, LayerKind::Conv2d { .. }) {
                MisfitPart::Channels
            } else {
                MisfitPart::Kind
            };
            return Err(misfit(
                part,
                format!(
                    "the last layer gives a {}×{}×{} image but the state is {}×{}×{}: the \
                     network's output is dx/dt, so it must have the state's shape (a stride-1 \
                     conv2d keeps the size with padding (kernel − 1) / 2)",
                    next[0], next[1], next[2], s[0], s[1], s[2]
                ),
            ));
        }
    }
    Ok(out)
}

/// The DSL name of an image layer kind.
fn kind_name(k: LayerKind) -> &'static str {
    match k {
        LayerKind::Conv2d { .. } => "conv2d",
        LayerKind::Squeeze => "squeeze",
        _ => "unsqueeze",
    }
}

/// [`image_shapes`] on a declaration: a misfit becomes a spanned error; sets the output
/// channel count of `squeeze`/`unsqueeze` as their width.
pub(super) fn check_layers(
    decls: &[LayerDecl],
    layers: &mut [LayerSpec],
    image: Option<[usize; 3]>,
    field: bool,
    errors: &mut Vec<syn::Error>,
) {
    match image_shapes(image, layers, field) {
        Ok(shapes) => {
            for (l, s) in layers.iter_mut().zip(shapes) {
                if let Some([c, _, _]) = s {
                    l.width = c;
                }
            }
        }
        Err(m) => {
            let d = &decls[m.index];
            let span = match m.part {
                MisfitPart::Kind => d.kind.span(),
                MisfitPart::Kernel => d.kernel.as_ref().map_or(d.kind.span(), LitInt::span),
                MisfitPart::Channels => d.width.span(),
            };
            errors.push(err(span, m.reason));
        }
    }
}

/// The state's image shape for [`super::build_shaped_graph`], checked against `dim`.
pub(super) fn input_image(dim: usize, image: Option<[usize; 3]>) -> Result<Option<Image>, IrError> {
    match image {
        None => Ok(None),
        Some([c, h, w]) if c.checked_mul(h).and_then(|v| v.checked_mul(w)) == Some(dim) => {
            Ok(Some((c, h, w)))
        }
        Some([c, h, w]) => Err(IrError::Signature {
            context: "build_graph",
            detail: format!("the image shape {c}×{h}×{w} does not have {dim} values"),
        }),
    }
}

/// The nodes of image layer `l` (named `name`) on `x` of image shape `image`; returns the
/// output (before the activation) and its image shape.
pub(super) fn build_layer(
    b: &mut GraphBuilder,
    x: Value,
    name: &str,
    l: &LayerSpec,
    image: Option<Image>,
) -> Result<(Value, Image), IrError> {
    let signature = |detail: String| IrError::Signature {
        context: "build_graph",
        detail,
    };
    let Some((c, h, w)) = image else {
        return Err(signature(format!(
            "layer `{name}` ({:?}) needs an image input",
            l.kind
        )));
    };
    match l.kind {
        LayerKind::Conv2d {
            kernel,
            stride,
            padding,
            bias,
            concat_time,
        } => {
            let conv = (kernel, stride, padding);
            if concat_time {
                let t = b.time()?;
                let tt = b.repeat_groups(t, h * w)?;
                let tx = b.concat(&[tt, x])?;
                let layer = format!("{name}._layer");
                let id = Activation::Identity;
                b.conv2d_layer(tx, &layer, (c + 1, h, w), l.width, conv, id, bias)
            } else {
                b.conv2d_layer(
                    x,
                    name,
                    (c, h, w),
                    l.width,
                    conv,
                    Activation::Identity,
                    bias,
                )
            }
        }
        LayerKind::Squeeze => {
            let s = SqueezeShape { c, h, w };
            Ok((b.squeeze(x, s)?, (4 * c, h / 2, w / 2)))
        }
        LayerKind::Unsqueeze if c % 4 == 0 => {
            let s = SqueezeShape {
                c: c / 4,
                h: 2 * h,
                w: 2 * w,
            };
            Ok((b.unsqueeze(x, s)?, (c / 4, 2 * h, 2 * w)))
        }
        _ => Err(signature(format!(
            "layer `{name}` ({:?}) does not fit its {c}×{h}×{w} input image",
            l.kind
        ))),
    }
}
