//! Items every generated model has besides its network: `tableau()` (the exact tableau
//! rebuilt, or the built-in by name), `stepping()`, and the declaration's layers and form as
//! expressions (for `graph()`).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::dsl::{CheckedModel, FormSpec, LayerKind, LayerSpec, SteppingSpec};
use crate::tableau::Q;

/// The body of `stepping()`.
pub(super) fn stepping_tokens(m: &CheckedModel) -> TokenStream {
    match &m.stepping {
        SteppingSpec::Fixed(n) => quote!(::symplode::runtime::Stepping::fixed(#n)),
        SteppingSpec::Adaptive {
            rtol,
            atol,
            max_steps,
        } => {
            let r = Literal::f64_suffixed(*rtol);
            let a = Literal::f64_suffixed(*atol);
            let ms = max_steps.map(|n| quote!(__a.max_steps = #n;));
            quote! {{
                #[allow(unused_mut)]
                let mut __a = ::symplode::runtime::Adaptive::tol(#r, #a);
                #ms
                ::symplode::runtime::Stepping::Adaptive(__a)
            }}
        }
    }
}

fn q_strs(v: &[Q]) -> Vec<String> {
    v.iter().map(|q| q.to_string()).collect()
}

/// The body of `tableau()`: the built-in by name, or the exact rationals rebuilt.
pub(super) fn tableau_tokens(m: &CheckedModel) -> TokenStream {
    let t = &m.tableau;
    if let Some(name) = &t.builtin {
        return quote!(::symplode::codegen::tableau::builtin(#name));
    }
    let tab = &t.tableau;
    let name = tab.name();
    let rows = tab.a().iter().map(|r| {
        let r = q_strs(r);
        quote!(::std::vec![#(__q(#r)?),*])
    });
    let b = q_strs(tab.b());
    let c = q_strs(tab.c());
    let b_hat = match tab.b_hat() {
        Some(bh) => {
            let bh = q_strs(bh);
            quote!(::std::option::Option::Some(::std::vec![#(__q(#bh)?),*]))
        }
        None => quote!(::std::option::Option::None),
    };
    let order = tab.order();
    let eo = match tab.embedded_order() {
        Some(p) => quote!(::std::option::Option::Some(#p)),
        None => quote!(::std::option::Option::None),
    };
    let tol = tab.tolerance().to_string();
    quote! {
        let __q = ::symplode::codegen::tableau::parse_q;
        ::symplode::codegen::tableau::Tableau::new_with_tolerance(
            #name,
            ::std::vec![#(#rows),*],
            ::std::vec![#(__q(#b)?),*],
            ::std::vec![#(__q(#c)?),*],
            #b_hat,
            #order,
            #eo,
            __q(#tol)?,
        )
    }
}

/// A [`LayerSpec`] as an expression.
pub(super) fn layer_tokens(l: &LayerSpec) -> TokenStream {
    let kind = match l.kind {
        LayerKind::Dense => quote!(Dense),
        LayerKind::ConcatSquash => quote!(ConcatSquash),
        LayerKind::Conv1d { kernel, bias } => quote!(Conv1d { kernel: #kernel, bias: #bias }),
        LayerKind::Conv2d {
            kernel,
            stride,
            padding,
            bias,
            concat_time,
        } => quote!(Conv2d {
            kernel: #kernel,
            stride: #stride,
            padding: #padding,
            bias: #bias,
            concat_time: #concat_time,
        }),
        LayerKind::Squeeze => quote!(Squeeze),
        LayerKind::Unsqueeze => quote!(Unsqueeze),
    };
    let width = l.width;
    let act = match l.activation {
        Some(a) => {
            let v = format_ident!("{}", a.variant_name());
            quote!(::std::option::Option::Some(::symplode::codegen::ir::Activation::#v))
        }
        None => quote!(::std::option::Option::None),
    };
    quote! {
        ::symplode::codegen::dsl::LayerSpec {
            kind: ::symplode::codegen::dsl::LayerKind::#kind,
            width: #width,
            activation: #act,
        }
    }
}

/// A [`FormSpec`] as an expression.
pub(super) fn form_tokens(f: &FormSpec) -> TokenStream {
    match *f {
        FormSpec::Field => quote!(::symplode::codegen::dsl::FormSpec::Field),
        FormSpec::Cnf { hutchinson } => {
            quote!(::symplode::codegen::dsl::FormSpec::Cnf { hutchinson: #hutchinson })
        }
        FormSpec::Energy { laplacian, n, dx } => {
            let dx = Literal::f64_suffixed(dx);
            quote!(::symplode::codegen::dsl::FormSpec::Energy { laplacian: #laplacian, n: #n, dx: #dx })
        }
        FormSpec::Multiscale { scales, blocks } => {
            quote!(::symplode::codegen::dsl::FormSpec::Multiscale { scales: #scales, blocks: #blocks })
        }
    }
}

/// `let __named = |e: ModelError, model: &'static str| …;`: a block's parameter error renamed
/// after its place in a flow (`Flow (block 3)`), for a flow's `from_params`.
pub(super) fn block_error_renamer() -> TokenStream {
    quote! {
        let __named = |e: ::symplode::runtime::models::ModelError, model: &'static str| {
            use ::symplode::runtime::models::ModelError as __E;
            match e {
                __E::ParamCount { expected, got, layout, .. } => __E::ParamCount { model, expected, got, layout },
                __E::NonFinite { tensor, index, value, .. } => __E::NonFinite { model, tensor, index, value },
                other => other,
            }
        };
    }
}
