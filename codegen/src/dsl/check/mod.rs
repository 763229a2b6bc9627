//! Compile-time validation of a parsed `neural_ode!` / `tableau!` input, in exact rationals:
//! [`model`] checks a model declaration (fields, layers, form, stepping), [`tableau`] checks a
//! tableau (shape, consistency, order conditions, symplectic partner).
//!
//! Every check records its error (with the span of the offending token) and goes on, so one
//! invocation reports all its mistakes at once; checks that depend on earlier ones (order
//! conditions need a well-formed tableau, the partner needs the claimed order) are skipped
//! when those failed, so one mistake gives one message. The result is always a complete,
//! *sanitised* model (a failing tableau is replaced by `euler`, a misfitting output width by
//! `dim`) from which code is emitted next to the errors, so user code naming the model does
//! not produce follow-on errors.

mod cnf_stack;
mod image;
mod layers;
mod model;
mod multiscale;
mod tableau;

pub use cnf_stack::CnfStack;
pub use image::{LayerMisfit, MisfitPart, image_shapes};
pub use layers::{LayerKind, LayerSpec, build_graph, build_shaped_graph};
pub use model::{CheckedModel, FormSpec, SteppingSpec, check_model};
pub use multiscale::{block_layers, build_block_field, build_block_graph, distinct_blocks};
pub use tableau::{CheckedTableau, check_tableau};

use proc_macro2::Span;

use crate::dsl::Coef;

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, msg)
}

/// A form's integer argument (`blocks: 2`) in `1..=max`: one integer literal (as `LitInt`
/// reads it, a suffix allowed), no sign, fraction or expression; `None` otherwise.
fn int_arg(value: &Coef, max: usize) -> Option<usize> {
    syn::parse2::<syn::LitInt>(value.tokens.clone())
        .ok()?
        .base10_parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
}
