//! `form: cnf(TRACE, blocks: M, time_length: T)`: FFJORD's tabular flow, M stacked CNF blocks
//! of the same net with their own parameters, block `b` integrated over `[b·T, (b+1)·T]`
//! (BSDS300: M = 2). The keyed arguments follow the trace, as `multiscale`'s sizes are named:
//! `blocks: 2` cannot be mistaken for a width, a grid or a step count. `blocks: 1` (or no
//! `blocks`) is the single CNF model of today.
//!
//! Here: the arguments' checks (each error on the offending token); the lowering is
//! `lower_rust/cnf_stack.rs`.

use syn::Ident;

use super::{err, int_arg};
use crate::dsl::{Coef, FormDecl};
use crate::tableau::{Q, q_to_f64};
use num_traits::Zero;

/// Most blocks in a stack (FFJORD's tabular flows use 1 to 10).
const MAX_BLOCKS: usize = 256;

/// A block's interval when `time_length` is not given (FFJORD's BSDS300 run, and the
/// multiscale form's `[b, b + 1]`).
pub const DEFAULT_TIME_LENGTH: f64 = 1.0;

/// M ≥ 2 stacked CNF blocks of one declared net (`cnf(TRACE, blocks: M, time_length: T)`).
#[derive(Clone, Debug, PartialEq)]
pub struct CnfStack {
    /// Number of blocks M (≥ 2).
    pub blocks: usize,
    /// Each block's interval T: block `b` runs over `[b·T, (b+1)·T]`.
    pub time_length: f64,
}

/// The keyed arguments after a `cnf` trace: `Some` for a stack of two or more blocks,
/// `None` for one block or after an error (recorded in `errors`). `image` is whether the
/// model has a `shape:`.
pub(super) fn stack(f: &FormDecl, image: bool, errors: &mut Vec<syn::Error>) -> Option<CnfStack> {
    let before = errors.len();
    let mut blocks: Option<(usize, &Ident)> = None;
    let mut time_length: Option<(f64, &Ident)> = None;
    for (key, value) in &f.options {
        let k = key.to_string();
        let given = match k.as_str() {
            "blocks" => blocks.is_some(),
            "time_length" => time_length.is_some(),
            _ => {
                errors.push(err(
                    key.span(),
                    format!(
                        "unknown `cnf` argument `{k}`; expected `blocks: M` (M stacked CNF \
                         blocks) and/or `time_length: T` (each block's interval)"
                    ),
                ));
                continue;
            }
        };
        if given {
            errors.push(err(key.span(), format!("`{k}` is given twice")));
            continue;
        }
        if k == "blocks" {
            match int_arg(value, MAX_BLOCKS) {
                Some(n) => blocks = Some((n, key)),
                None => errors.push(value.error(format!(
                    "`blocks` must be an integer from 1 to {MAX_BLOCKS}"
                ))),
            }
        } else if let Some(t) = positive(value, errors) {
            time_length = Some((t, key));
        }
    }
    if errors.len() > before {
        return None;
    }
    if let (true, Some((2.., key))) = (image, blocks) {
        errors.push(err(
            key.span(),
            "stacked CNF blocks are FFJORD's tabular flow on flat samples; for an image \
             state write `form: multiscale(scales: 1, blocks: M)` (M Hutchinson CNF blocks on \
             the whole image)",
        ));
        return None;
    }
    let n = blocks.map_or(1, |(n, _)| n);
    if n == 1 {
        if let Some((_, key)) = time_length {
            errors.push(err(
                key.span(),
                "`time_length` is each block's interval in a stack of CNF blocks (`blocks: M`, \
                 M ≥ 2); a single CNF is integrated over the times given to its `Problem`",
            ));
        }
        return None;
    }
    Some(CnfStack {
        blocks: n,
        time_length: time_length.map_or(DEFAULT_TIME_LENGTH, |(t, _)| t),
    })
}

/// A positive rational (`1/2`, `0.5`, `1`) whose f64 is positive and finite.
fn positive(value: &Coef, errors: &mut Vec<syn::Error>) -> Option<f64> {
    match value.value() {
        Ok(q) if q > Q::zero() => {
            let t = q_to_f64(&q);
            if t > 0.0 && t.is_finite() {
                Some(t)
            } else {
                errors.push(value.error("`time_length` is out of the range of f64"));
                None
            }
        }
        Ok(_) => {
            errors.push(value.error("`time_length` must be positive"));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    }
}
