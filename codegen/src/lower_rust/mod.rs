//! Lowering to Rust tokens: what `neural_ode!` and `tableau!` expand to.
//!
//! [`expand_neural_ode`] parses and checks a model ([`crate::dsl`]) and emits
//! - the model type (its flat parameter vector) implementing
//!   `::symplode::runtime::Dynamics<F>` ([`model`]): the declaration's graph
//!   ([`crate::dsl::build_graph`]) compiled into the four plans of
//!   [`crate::plan::NetworkPlans`], each lowered to Rust with its sizes, offsets and
//!   constants inlined (`plan.rs`, one arm per plan kernel), calling the runtime kernels
//!   the interpreter calls — for every layer kind and form the DSL accepts;
//! - `<Name>Kernels`, the tableau's step kernels with the coefficients inlined as float
//!   constants, zero coefficients skipped ([`step_kernels`]), attached by `<Name>::scheme()`;
//! - for `form: multiscale(…)`, the flow type and one block type per distinct block instead
//!   of the model type ([`multiscale`]);
//! - for `form: cnf(TRACE, blocks: M)` with M ≥ 2, the stacked flow type, its block type and
//!   (Hutchinson) the exact-trace twin instead of the model type ([`cnf_stack`]).
//!
//! Generated code names runtime items through `::symplode::…`.

pub mod cnf_stack;
pub mod model;
pub mod multiscale;
mod plan;
mod shared;
pub mod step_kernels;

use proc_macro2::TokenStream;
use quote::quote;

use crate::dsl::{NeuralOde, TableauItem, TableauRef, check_model, check_tableau};

/// All errors as `compile_error!` invocations.
fn errors_to_tokens(errors: Vec<syn::Error>) -> TokenStream {
    errors.into_iter().map(|e| e.to_compile_error()).collect()
}

/// Expands a `neural_ode!` invocation (see [`crate::dsl::NeuralOde`] for the grammar).
pub fn expand_neural_ode(input: TokenStream) -> TokenStream {
    let parsed: NeuralOde = match syn::parse2(input.clone()) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error(),
    };
    // A tableau named by path: let the item's macro hand its tokens back to us.
    if parsed.callback.is_none() {
        for f in &parsed.model.fields {
            if let crate::dsl::Field::Tableau(_, TableauRef::Item(path)) = f {
                return quote! { #path! { #input } };
            }
        }
    }
    let (model, errors) = check_model(&parsed);
    let mut out = errors_to_tokens(errors);
    out.extend(match (&model.form, &model.stack) {
        (&crate::dsl::FormSpec::Multiscale { scales, blocks }, _) => {
            multiscale::emit(&model, scales, blocks)
        }
        (_, Some(stack)) => cnf_stack::emit(&model, stack),
        _ => model::emit(&model),
    });
    out
}

/// Expands a `tableau!` item: checks it at once and emits a `macro_rules!` macro of the same
/// name that `neural_ode!` calls back when the tableau is named by path.
pub fn expand_tableau(input: TokenStream) -> TokenStream {
    let item: TableauItem = match syn::parse2(input) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error(),
    };
    let (checked, errors) = check_tableau(&item.name.to_string(), &item.body, item.span);
    let valid = if checked.is_some() && errors.is_empty() {
        quote!(valid)
    } else {
        quote!(invalid)
    };
    let name = &item.name;
    let attrs = &item.attrs;
    let body = &item.body.tokens;
    let doc = match &checked {
        Some(t) => format!(
            "Butcher tableau `{name}` ({} stages, order {}), checked by `tableau!`; name it as \
             `tableau: {name}` in `neural_ode!`.",
            t.tableau.stages(),
            t.tableau.order()
        ),
        None => format!("Butcher tableau `{name}` (invalid)."),
    };
    let reexport = match &item.vis {
        syn::Visibility::Inherited => quote!(),
        _ => quote! {
            #[allow(unused_imports)]
            pub(crate) use #name;
        },
    };
    let mut out = errors_to_tokens(errors);
    out.extend(quote! {
        #(#attrs)*
        #[doc = #doc]
        #[allow(unused_macros, non_snake_case)]
        macro_rules! #name {
            ($($rest:tt)*) => {
                ::symplode::neural_ode! { @tableau #name #valid { #body } $($rest)* }
            };
        }
        #reexport
    });
    out
}

#[cfg(test)]
mod tests;
