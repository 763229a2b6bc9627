//! The step kernels of a tableau as Rust tokens: one `match` arm per stage with the non-zero
//! coefficients inlined as float constants and one fused loop over the state.
//!
//! Each arm computes exactly what `Scheme`'s interpreted loops compute, term by term in the
//! same order (`o = x; o += (h·a_ij)·k_j; …`), so the results are bit-identical. FSAL: the
//! last stage of an FSAL tableau has `b_s = 0`, so `update(s)` equals `update(S)` (one arm
//! for both), and the solver reuses the last stage input as x_{n+1}.

use num_traits::Zero;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::dsl::CheckedTableau;
use crate::tableau::{Q, q_to_f64};

/// A float literal of the kernel's type, rounded like `Scheme` (`T::of(q_to_f64(q))`).
pub fn float_lit(q: &Q, f64: bool) -> Literal {
    let v = q_to_f64(q);
    if f64 {
        Literal::f64_suffixed(v)
    } else {
        Literal::f32_suffixed(v as f32)
    }
}

/// The body `out[e] = (init + Σ w_j·src_j[e]) · scale` as one loop.
///
/// `init` is `x`, `lam` or zero (`None`); `terms` are `(index into src, coefficient)` with
/// zero coefficients already removed; with `scaled_by_h` each weight is `h·c_j` (the
/// adjoint's coupling terms are not scaled); `scale` multiplies the result.
fn fused(
    init: Option<TokenStream>,
    src: TokenStream,
    terms: &[(usize, Q)],
    scaled_by_h: bool,
    scale: Option<TokenStream>,
    f64: bool,
) -> TokenStream {
    let zero = if f64 { quote!(0.0f64) } else { quote!(0.0f32) };
    let mut lets = TokenStream::new();
    let mut adds = TokenStream::new();
    for (j, c) in terms {
        let kj = format_ident!("__k{}", j);
        let wj = format_ident!("__w{}", j);
        let lit = float_lit(c, f64);
        let w = if scaled_by_h {
            quote!(h * #lit)
        } else {
            quote!(#lit)
        };
        lets.extend(quote! {
            let #kj = &#src[#j][..__n];
            let #wj = #w;
        });
        adds.extend(quote!(__o += #wj * #kj[__e];));
    }
    let (init_let, init_val) = match init {
        Some(v) => (quote!(let __init = &#v[..__n];), quote!(__init[__e])),
        None => (quote!(), zero),
    };
    let (scale_let, store) = match scale {
        Some(s) => (quote!(let __scale = #s;), quote!(out[__e] = __o * __scale;)),
        None => (quote!(), quote!(out[__e] = __o;)),
    };
    quote! {{
        let __n = out.len();
        #init_let
        #lets
        #scale_let
        for __e in 0..__n {
            let mut __o = #init_val;
            #adds
            #store
        }
    }}
}

fn nonzero(coefs: &[Q]) -> Vec<(usize, Q)> {
    coefs
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_zero())
        .map(|(j, c)| (j, c.clone()))
        .collect()
}

/// Arms `pattern => body`, merging patterns with identical bodies; the last arm is `_` so
/// the match is total (indices outside the tableau never occur).
fn arms(bodies: Vec<(usize, TokenStream)>) -> TokenStream {
    let mut groups: Vec<(Vec<usize>, String, TokenStream)> = Vec::new();
    for (k, body) in bodies {
        let key = body.to_string();
        match groups.iter_mut().find(|g| g.1 == key) {
            Some(g) => g.0.push(k),
            None => groups.push((vec![k], key, body)),
        }
    }
    let n = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(g, (ks, _, body))| {
            if g + 1 == n {
                quote!(_ => #body)
            } else {
                quote!(#(#ks)|* => #body)
            }
        })
        .collect()
}

/// `impl StepKernels<F> for #kernels` with the coefficients of `t` inlined.
pub fn emit(kernels: &syn::Ident, t: &CheckedTableau, f64: bool) -> TokenStream {
    let ty = if f64 { quote!(f64) } else { quote!(f32) };
    let tab = &t.tableau;
    let s = tab.stages();
    let a = tab.a();
    let b = tab.b();
    let stage_input = arms(
        (0..s)
            .map(|i| {
                let body = fused(
                    Some(quote!(x)),
                    quote!(k),
                    &nonzero(&a[i][..i]),
                    true,
                    None,
                    f64,
                );
                (i, body)
            })
            .collect(),
    );
    let update = arms(
        (1..=s)
            .map(|m| {
                let body = fused(
                    Some(quote!(x)),
                    quote!(k),
                    &nonzero(&b[..m]),
                    true,
                    None,
                    f64,
                );
                (m, body)
            })
            .collect(),
    );
    let error_estimate = match tab.error_weights() {
        Some(e) => fused(None, quote!(k), &nonzero(&e), true, None, f64),
        None => quote!({
            out.fill(0.0);
        }),
    };
    let p = &t.partner;
    let adjoint = arms(
        (0..p.stages)
            .map(|i| {
                let terms: Vec<(usize, Q)> = nonzero(&p.coupling[i])
                    .into_iter()
                    .filter(|(j, _)| *j > i)
                    .collect();
                let body = if p.zero_weight[i] {
                    fused(None, quote!(u), &terms, false, Some(quote!(h)), f64)
                } else {
                    let bi = float_lit(&p.b[i], f64);
                    fused(
                        Some(quote!(lam)),
                        quote!(u),
                        &terms,
                        false,
                        Some(quote!(h * #bi)),
                        f64,
                    )
                };
                (i, body)
            })
            .collect(),
    );
    quote! {
        impl ::symplode::runtime::step_kernels::StepKernels<#ty> for #kernels {
            #[inline]
            fn stage_input(
                &self,
                i: usize,
                h: #ty,
                x: &[#ty],
                k: &[::std::vec::Vec<#ty>],
                out: &mut [#ty],
            ) {
                let _ = (h, k);
                match i { #stage_input }
            }
            #[inline]
            fn update(
                &self,
                m: usize,
                h: #ty,
                x: &[#ty],
                k: &[::std::vec::Vec<#ty>],
                out: &mut [#ty],
            ) {
                let _ = (h, k);
                match m { #update }
            }
            #[inline]
            fn error_estimate(&self, h: #ty, k: &[::std::vec::Vec<#ty>], out: &mut [#ty]) {
                let _ = (h, k);
                #error_estimate
            }
            #[inline]
            fn adjoint_cotangent(
                &self,
                i: usize,
                h: #ty,
                lam: &[#ty],
                u: &[::std::vec::Vec<#ty>],
                out: &mut [#ty],
            ) {
                let _ = (lam, u);
                match i { #adjoint }
            }
        }
    }
}
