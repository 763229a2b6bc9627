//! `form: multiscale(scales: S, blocks: B)`: FFJORD's multiscale image flow declared in the
//! DSL. The layers are the ODE net of every block as written for the state's own image (the
//! first block); block `b` of [`architecture`]`(c, S, B)` runs them on the state squeezed
//! `squeezes` times, on its first `channels` channels, with the last `conv2d`'s channel count
//! (written as the state's `c`) replaced by `channels` ([`block_layers`]), and zero velocity
//! for the factored-out channels ([`crate::ir::image_flow::block_field`], shared with the
//! library's `block_net`). Each block is a Hutchinson CNF.
//!
//! Here: the form's arguments, the checks that every block's net fits its image (each misfit a
//! spanned error naming the blocks), and the graphs ([`build_block_field`],
//! [`build_block_graph`]) that `neural_ode!` lowers and the generated flow's `field(b)` /
//! `graph(b)` rebuild.

use syn::LitInt;

use super::image::{MisfitPart, image_shapes};
use super::layers::{LayerKind, LayerSpec, layer_stack};
use super::model::FormSpec;
use super::{err, int_arg};
use crate::ad::{Trace, cnf_dynamics};
use crate::dsl::{FormDecl, LayerDecl};
use crate::ir::image_flow::{BlockSpec, architecture, block_field};
use crate::ir::{Graph, IrError};

/// Most blocks per side of a squeeze.
const MAX_BLOCKS: usize = 256;

/// The sizes of `multiscale(scales: S, blocks: B)` checked against the state's `image`;
/// `None` (with the errors recorded) when they do not hold.
pub(super) fn form(
    f: &FormDecl,
    image: Option<[usize; 3]>,
    errors: &mut Vec<syn::Error>,
) -> Option<FormSpec> {
    let before = errors.len();
    let (mut scales, mut blocks): (Option<(usize, proc_macro2::Span)>, Option<usize>) =
        (None, None);
    for (key, value) in &f.options {
        let k = key.to_string();
        let slot_given = match k.as_str() {
            "scales" => scales.is_some(),
            "blocks" => blocks.is_some(),
            _ => {
                errors.push(err(
                    key.span(),
                    format!("unknown multiscale argument `{k}`; expected `scales` and `blocks`"),
                ));
                continue;
            }
        };
        if slot_given {
            errors.push(err(key.span(), format!("`{k}` is given twice")));
            continue;
        }
        let max = if k == "scales" {
            usize::BITS as usize - 1
        } else {
            MAX_BLOCKS
        };
        match int_arg(value, max) {
            Some(n) => {
                if k == "scales" {
                    scales = Some((n, value.span));
                } else {
                    blocks = Some(n);
                }
            }
            None => errors.push(value.error(format!("`{k}` must be an integer from 1 to {max}"))),
        }
    }
    if errors.len() > before {
        return None;
    }
    let (Some((scales, scales_span)), Some(blocks)) = (scales, blocks) else {
        errors.push(err(
            f.kind.span(),
            "`multiscale` needs both sizes: `multiscale(scales: S, blocks: B)` (FFJORD's MNIST \
             flow: `scales: 3, blocks: 2`)",
        ));
        return None;
    };
    let Some([c, h, w]) = image else {
        errors.push(err(
            f.kind.span(),
            "`multiscale` needs an image: give the model the state's image shape, \
             `shape: [channels, height, width]`",
        ));
        return None;
    };
    let squeezes = scales - 1;
    let factor = 1usize << squeezes;
    if let Some(side) = [h, w].into_iter().find(|s| s % factor != 0) {
        errors.push(err(
            scales_span,
            format!(
                "{scales} scales squeeze the {c}×{h}×{w} image {squeezes} times, so its height \
                 and width must be multiples of 2^(scales − 1) = {factor}, but {side} is not"
            ),
        ));
        return None;
    }
    Some(FormSpec::Multiscale { scales, blocks })
}

/// The layers of the block keeping `channels` channels: the declared ones with the last
/// `conv2d`'s channel count (the velocity of the kept channels) set to `channels`.
pub fn block_layers(layers: &[LayerSpec], channels: usize) -> Vec<LayerSpec> {
    let mut out = layers.to_vec();
    if let Some(last) = out.last_mut()
        && matches!(last.kind, LayerKind::Conv2d { .. })
    {
        last.width = channels;
    }
    out
}

/// The distinct blocks of a multiscale flow on a `c`-channel image, in order of first
/// appearance, each with the indices of the blocks that have it.
pub fn distinct_blocks(c: usize, scales: usize, blocks: usize) -> Vec<(BlockSpec, Vec<usize>)> {
    let mut out: Vec<(BlockSpec, Vec<usize>)> = Vec::new();
    for (b, s) in architecture(c, scales, blocks).into_iter().enumerate() {
        match out.iter_mut().find(|(t, _)| *t == s) {
            Some((_, v)) => v.push(b),
            None => out.push((s, vec![b])),
        }
    }
    out
}

/// The image block `spec` runs its net on: `[channels, h / 2^s, w / 2^s]`.
fn block_image([_, h, w]: [usize; 3], spec: BlockSpec) -> [usize; 3] {
    [spec.channels, h >> spec.squeezes, w >> spec.squeezes]
}

/// Every layer of a multiscale flow must be an image layer (checked before the image walk, so
/// a `dense` layer gets this message, not the walk's).
pub(super) fn check_kinds(decls: &[LayerDecl], layers: &[LayerSpec], errors: &mut Vec<syn::Error>) {
    for (d, l) in decls.iter().zip(layers) {
        if !l.kind.is_image() {
            errors.push(err(
                d.kind.span(),
                format!(
                    "a multiscale flow's layers are the image net of each block: `conv2d`, \
                     `squeeze` or `unsqueeze`, not `{}`",
                    d.kind
                ),
            ));
        }
    }
}

/// The net of every block of a multiscale flow fits its squeezed, kept image (after
/// `image::check_layers` checked the layers on the state's own image, the first block); the
/// first misfit is reported, naming the blocks.
pub(super) fn check_blocks(
    decls: &[LayerDecl],
    layers: &[LayerSpec],
    image: [usize; 3],
    (scales, blocks): (usize, usize),
    errors: &mut Vec<syn::Error>,
) {
    for (spec, ids) in distinct_blocks(image[0], scales, blocks) {
        let im = block_image(image, spec);
        let Err(m) = image_shapes(Some(im), &block_layers(layers, spec.channels), true) else {
            continue;
        };
        let d = &decls[m.index];
        let span = match m.part {
            MisfitPart::Kind => d.kind.span(),
            MisfitPart::Kernel => d.kernel.as_ref().map_or(d.kind.span(), LitInt::span),
            MisfitPart::Channels => d.width.span(),
        };
        let list: Vec<String> = ids.iter().map(usize::to_string).collect();
        let [c, h, w] = im;
        errors.push(err(
            span,
            format!(
                "in block{} {} of the multiscale flow (the state squeezed {} times, its first \
                 {c} channels: a {c}×{h}×{w} image): {}",
                if ids.len() > 1 { "s" } else { "" },
                list.join(", "),
                spec.squeezes,
                m.reason
            ),
        ));
        return;
    }
}

/// The vector field of block `spec` of a multiscale flow on `image` whose blocks' net is
/// `layers` ([`block_layers`] inside [`block_field`]).
///
/// # Errors
/// A net that does not fit the block's image (checked by [`super::check_model`]).
pub fn build_block_field(
    image: [usize; 3],
    spec: BlockSpec,
    layers: &[LayerSpec],
) -> Result<Graph, IrError> {
    let layers = block_layers(layers, spec.channels);
    block_field(image, spec, |b, x, im| {
        layer_stack(b, x, Some(im), &layers, im.0 * im.1 * im.2)
    })
}

/// The dynamics of block `spec`: [`build_block_field`] as a Hutchinson CNF (state `[z,
/// Δlogp]`, the probe as auxiliary input 1), as the library's `ImageFlow` blocks.
///
/// # Errors
/// Those of [`build_block_field`].
pub fn build_block_graph(
    image: [usize; 3],
    spec: BlockSpec,
    layers: &[LayerSpec],
) -> Result<Graph, IrError> {
    cnf_dynamics(&build_block_field(image, spec, layers)?, Trace::Hutchinson)
}
