//! The model type and its `Dynamics` implementation as Rust tokens, for every model the DSL
//! accepts (dense, `concat_squash` and `conv1d` layers, a vector field, a CNF or an energy
//! form): the declaration's graph ([`build_graph`](crate::dsl::build_graph)) is compiled at expansion time into the
//! four plans of [`NetworkPlans`] (eval, VJP, taped forward, taped backward), and each plan
//! is lowered to Rust by `lower_rust/plan.rs` with its sizes, offsets and constants inlined. The
//! generated code calls the runtime kernels the interpreter calls for the same plans, so a
//! macro model, `runtime::interp::Interpreted` on the same graph and the network JIT agree
//! bit for bit; a dense network reading `[x, t]` computes as the hand-written `Mlp`.
//!
//! The parameter vector holds the graph's tensors in declaration order (PyTorch layout:
//! `layers.{k}.weight [out, in]` then `layers.{k}.bias`). Auxiliary inputs (the noise of a
//! Hutchinson CNF) are held by the model (`set_aux`), as by the interpreter.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::plan::{arena_len, lower};
use super::shared::{form_tokens, layer_tokens, stepping_tokens, tableau_tokens};
use crate::dsl::{CheckedModel, FormSpec, LayerKind, build_shaped_graph};
use crate::ir::Graph;
use crate::plan::NetworkPlans;

/// The generated `Dynamics` bodies of a model whose plans compiled.
struct Bodies {
    eval: TokenStream,
    vjp: TokenStream,
    forward: TokenStream,
    backward: TokenStream,
    scratch_len: TokenStream,
    tape_len: TokenStream,
}

/// The NaN guard of a plan that reads auxiliary inputs (as the interpreter's).
fn aux_guard(used: &[usize], outs: TokenStream) -> TokenStream {
    if used.is_empty() {
        return TokenStream::new();
    }
    quote! {
        if !self.__aux.ready(&[#(#used),*], batch) {
            #outs
            return;
        }
    }
}

fn bodies(plans: &NetworkPlans, ty: &TokenStream) -> Bodies {
    let tg = plans.tape_globals();
    let nan = quote!(<#ty>::NAN);
    let grads_nan = quote!(gx.fill(#nan); gp.fill(#nan););
    let body = |plan: &crate::plan::Plan, outs: TokenStream| {
        let guard = aux_guard(&plan.aux_used, outs);
        let code = lower(plan, tg, ty);
        quote!(#guard #code)
    };
    let (eval, vjp, fwd, bwd) = (&plans.eval, &plans.vjp, &plans.forward, &plans.backward);
    let (le, lv, lb) = (arena_len(eval), arena_len(vjp), arena_len(bwd));
    Bodies {
        eval: body(eval, quote!(dx.fill(#nan);)),
        vjp: body(vjp, grads_nan.clone()),
        forward: body(fwd, quote!(dx.fill(#nan);)),
        backward: body(bwd, grads_nan),
        scratch_len: quote!((#le).max(#lv).max(#lb)),
        tape_len: arena_len(fwd),
    }
}

/// The items of a `Dynamics` type lowered from a graph: shared by a model and by the block
/// types of a multiscale flow (`lower_rust/multiscale.rs`). Assembled by the caller.
pub(super) struct DynamicsParts {
    /// `DIM` and `N_PARAMS`.
    pub consts: TokenStream,
    /// `graph()`.
    pub graph_fn: TokenStream,
    /// `new(seed)`.
    pub new_fn: TokenStream,
    /// `from_params`, `set_aux`, `aux` and the private `__tensors`.
    pub param_fns: TokenStream,
    /// The struct's fields (`{ … }`).
    pub fields: TokenStream,
    /// `impl Dynamics<F> for NAME`.
    pub dynamics_impl: TokenStream,
    /// Parameters.
    pub n_params: usize,
    /// State dimension (`dim + 1` for a CNF).
    pub state_dim: usize,
}

/// The parts of the `Dynamics` type `name` (element type f64 when `f64`, else f32) lowered
/// from `graph` (`None` after an error: coherent items without a network), whose `graph()`
/// evaluates `graph_call` (an `Result<Graph, IrError>` expression); `dim` is the state
/// dimension when there is no graph.
pub(super) fn dynamics_parts(
    name: &Ident,
    f64: bool,
    graph: Option<&Graph>,
    graph_call: TokenStream,
    dim: usize,
) -> DynamicsParts {
    let ty = if f64 { quote!(f64) } else { quote!(f32) };
    let name_str = name.to_string();
    let plans = graph.and_then(|g| NetworkPlans::new(g).ok());
    let bodies = plans.as_ref().map(|p| bodies(p, &ty));
    let (eval, vjp, forward, backward, scratch_len, tape_len) = match bodies {
        Some(b) => (
            b.eval,
            b.vjp,
            b.forward,
            b.backward,
            b.scratch_len,
            b.tape_len,
        ),
        None => (
            quote!(let _ = (t, x, dx, scratch);),
            quote!(let _ = (t, x, lam, gx, gp, scratch);),
            quote!(let _ = (t, x, dx, tape);),
            quote!(let _ = (t, x, tape, lam, gx, gp, scratch);),
            quote!(0),
            quote!(0),
        ),
    };
    let g = graph;
    let n_params = g.map_or(0, Graph::param_len);
    let state_dim = g
        .and_then(|g| g.inputs().first())
        .map_or(dim, |i| i.width)
        .max(1);
    // A model that reads auxiliary inputs cannot address a part of the batch's rows of them:
    // it refuses a sub-batch window with NaN (the interpreter reads the window's rows).
    let reads_aux = plans
        .as_ref()
        .is_some_and(|p| p.all().iter().any(|plan| !plan.aux_used.is_empty()));
    let call_rows = if reads_aux {
        quote! {
            fn call_rows(&self, window: ::symplode::runtime::RowWindow, call: ::symplode::runtime::Call<'_, #ty>) {
                if call.x().len() / #state_dim < window.total {
                    call.fill_nan();
                } else {
                    call.run(self);
                }
            }
        }
    } else {
        TokenStream::new()
    };
    let inputs = g.map_or_else(Vec::new, |g| {
        g.inputs()
            .iter()
            .map(|i| {
                let (n, w) = (&i.name, i.width);
                quote!((::std::string::String::from(#n), #w))
            })
            .collect()
    });
    let tensors = g.map_or_else(Vec::new, |g| {
        g.params()
            .iter()
            .zip(g.param_offsets())
            .map(|(p, offset)| {
                let (n, shape) = (&p.name, &p.shape);
                quote! {
                    ::symplode::runtime::ParamTensor {
                        name: ::std::string::String::from(#n),
                        shape: ::std::vec![#(#shape),*],
                        offset: #offset,
                    }
                }
            })
            .collect()
    });
    // PyTorch's default initialisation: uniform in ±1/√fan_in, a bias taking the fan-in of
    // the weight before it.
    let mut fan = 1usize;
    let fans: Vec<TokenStream> = g.map_or_else(Vec::new, |g| {
        g.params()
            .iter()
            .map(|p| {
                if p.shape.len() >= 2 {
                    fan = p.shape[1..].iter().product();
                }
                let count: usize = p.shape.iter().product();
                quote!((#fan, #count))
            })
            .collect()
    });
    let of = if f64 { quote!(__v) } else { quote!(__v as f32) };
    DynamicsParts {
        consts: quote! {
            /// State dimension of the dynamics (`dim + 1` for a CNF: `[z, log p]`).
            pub const DIM: usize = #state_dim;
            /// Number of parameters.
            pub const N_PARAMS: usize = #n_params;
        },
        graph_fn: quote! {
            /// The IR graph of the dynamics, built from the declaration (it was built, planned
            /// and lowered at compile time, so this does not fail).
            pub fn graph() -> ::symplode::codegen::ir::Graph {
                #graph_call
                    .expect("the graph was checked by neural_ode!")
            }
        },
        new_fn: quote! {
            /// A model with PyTorch's default initialisation drawn from `Rng::new(seed)`:
            /// every tensor uniform in ±1/√fan_in (a bias takes its weight's fan-in; the
            /// same values as `Mlp::new` for a dense network of the same shape and seed).
            pub fn new(seed: u64) -> Self {
                let mut __rng = ::symplode::runtime::rng::Rng::new(seed);
                let mut params = ::std::vec::Vec::with_capacity(#n_params);
                let __fans: &[(usize, usize)] = &[#(#fans),*];
                for &(__fan_in, __count) in __fans {
                    let __bound = 1.0 / (__fan_in as f64).sqrt();
                    for _ in 0..__count {
                        let __v = __rng.uniform_range(-__bound, __bound);
                        params.push(#of);
                    }
                }
                Self::from_params(params).expect("a fresh initialisation is valid")
            }
        },
        param_fns: quote! {
            /// A model with the given flat parameters (the graph's tensors in order, see
            /// `param_tensors`).
            ///
            /// # Errors
            /// A wrong count or a non-finite value.
            pub fn from_params(params: ::std::vec::Vec<#ty>) -> ::std::result::Result<Self, ::symplode::runtime::models::ModelError> {
                let __tensors = Self::__tensors();
                if params.len() != #n_params {
                    let layout = __tensors
                        .iter()
                        .map(|t| ::std::format!("{} {:?}", t.name, t.shape))
                        .collect::<::std::vec::Vec<_>>()
                        .join(" + ");
                    return ::std::result::Result::Err(::symplode::runtime::models::ModelError::ParamCount {
                        model: #name_str, expected: #n_params, got: params.len(), layout,
                    });
                }
                for t in __tensors {
                    if let ::std::option::Option::Some(i) = params[t.range()].iter().position(|v| !v.is_finite()) {
                        return ::std::result::Result::Err(::symplode::runtime::models::ModelError::NonFinite {
                            model: #name_str, value: params[t.offset + i].to_string(), tensor: t.name, index: i,
                        });
                    }
                }
                ::std::result::Result::Ok(#name {
                    params,
                    __aux: ::symplode::runtime::interp::AuxInputs::new(::std::vec![#(#inputs),*]),
                })
            }

            /// Sets auxiliary input `index` (e.g. `1`, the noise `ε [B, d]` of a Hutchinson
            /// CNF) for the batch of the coming evaluations; kept until changed. An
            /// evaluation whose auxiliary inputs are missing or of another batch fills its
            /// outputs with NaN.
            ///
            /// # Errors
            /// Not an auxiliary input, a length that is not whole rows, a non-finite value.
            pub fn set_aux(&mut self, index: usize, data: &[#ty]) -> ::std::result::Result<(), ::symplode::runtime::interp::InterpError> {
                self.__aux.set(index, data)
            }

            /// The data of auxiliary input `index` (empty if unset).
            pub fn aux(&self, index: usize) -> &[#ty] {
                self.__aux.get(index)
            }

            fn __tensors() -> ::std::vec::Vec<::symplode::runtime::ParamTensor> {
                ::std::vec![#(#tensors),*]
            }
        },
        fields: quote! {
            {
                params: ::std::vec::Vec<#ty>,
                __aux: ::symplode::runtime::interp::AuxInputs<#ty>,
            }
        },
        dynamics_impl: quote! {
            #[allow(unused_variables, unused_braces, clippy::all)]
            impl ::symplode::runtime::Dynamics<#ty> for #name {
                fn dim(&self) -> usize {
                    #state_dim
                }
                fn params(&self) -> &[#ty] {
                    &self.params
                }
                fn params_mut(&mut self) -> &mut [#ty] {
                    &mut self.params
                }
                fn param_tensors(&self) -> ::std::vec::Vec<::symplode::runtime::ParamTensor> {
                    Self::__tensors()
                }
                fn scratch_len(&self, batch: usize) -> usize {
                    #scratch_len
                }
                fn tape_len(&self, batch: usize) -> usize {
                    #tape_len
                }
                fn eval(&self, t: #ty, x: &[#ty], dx: &mut [#ty], scratch: &mut [#ty]) {
                    let batch = x.len() / #state_dim;
                    if batch == 0 {
                        return;
                    }
                    let (__params, __aux) = (&self.params[..], self.__aux.all());
                    #eval
                }
                fn vjp(&self, t: #ty, x: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                    let batch = x.len() / #state_dim;
                    if batch == 0 {
                        return;
                    }
                    let (__params, __aux) = (&self.params[..], self.__aux.all());
                    #vjp
                }
                fn eval_taped(&self, t: #ty, x: &[#ty], dx: &mut [#ty], tape: &mut [#ty]) {
                    let batch = x.len() / #state_dim;
                    if batch == 0 {
                        return;
                    }
                    let (__params, __aux) = (&self.params[..], self.__aux.all());
                    #forward
                }
                fn backward_taped(&self, t: #ty, x: &[#ty], tape: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                    let batch = x.len() / #state_dim;
                    if batch == 0 {
                        return;
                    }
                    let (__params, __aux) = (&self.params[..], self.__aux.all());
                    #backward
                }
                #call_rows
            }
        },
        n_params,
        state_dim,
    }
}

/// Every item `neural_ode!` emits for a checked model.
pub fn emit(m: &CheckedModel) -> TokenStream {
    let name = &m.name;
    let vis = &m.vis;
    let attrs = &m.attrs;
    let kernels = format_ident!("{}Kernels", name);
    let name_str = name.to_string();
    let dim = m.dim;
    let time = m.time;
    // Layer widths, input first, for a plain dense network.
    let dense_field =
        m.form == FormSpec::Field && m.layers.iter().all(|l| matches!(l.kind, LayerKind::Dense));
    let widths_const = dense_field.then(|| {
        let n = m.layers.len() + 1;
        let widths =
            std::iter::once(dim + usize::from(time)).chain(m.layers.iter().map(|l| l.width));
        quote! {
            /// Layer widths, input first.
            pub const WIDTHS: [usize; #n] = [#(#widths),*];
        }
    });
    let layer_list = m.layers.iter().map(layer_tokens);
    let form = form_tokens(&m.form);
    // `build_graph` for a state that is not an image, `build_shaped_graph` for one.
    let graph_call = match m.image {
        Some([c, h, w]) => quote! {
            ::symplode::codegen::dsl::build_shaped_graph(
                #dim, #time, ::std::option::Option::Some([#c, #h, #w]), &[#(#layer_list),*], &#form)
        },
        None => quote! {
            ::symplode::codegen::dsl::build_graph(#dim, #time, &[#(#layer_list),*], &#form)
        },
    };
    // The checks built this graph already; a model with errors still gets coherent items.
    let graph = build_shaped_graph(m.dim, m.time, m.image, &m.layers, &m.form).ok();
    let DynamicsParts {
        consts,
        graph_fn,
        new_fn,
        param_fns,
        fields,
        dynamics_impl,
        n_params,
        state_dim,
    } = dynamics_parts(name, m.f64, graph.as_ref(), graph_call, dim);
    let tab_name = m.tableau.tableau.name().to_string();
    let kernel_impl = super::step_kernels::emit(&kernels, &m.tableau, m.f64);
    let form_name = match m.form {
        FormSpec::Field => "vector field",
        FormSpec::Cnf { hutchinson: false } => "CNF (exact trace)",
        FormSpec::Cnf { hutchinson: true } => "CNF (Hutchinson trace)",
        FormSpec::Energy { .. } => "energy-based model",
        FormSpec::Multiscale { .. } => "multiscale flow", // emitted by `multiscale.rs`
    };
    let kernels_doc = format!(
        "Step kernels of [`{name_str}`]'s tableau `{tab_name}` with the coefficients inlined \
         (generated by `neural_ode!`); attached by [`{name_str}::scheme`]."
    );
    let doc = format!(
        "Generated by `neural_ode!`: a {form_name} of {} layers lowered from its plan \
         ({n_params} parameters, state dimension {state_dim}), tableau `{tab_name}`.",
        m.layers.len()
    );
    let scheme_fns = scheme_fns(m, &kernels);
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #name #fields

        #[doc = #kernels_doc]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #kernels;

        #[allow(dead_code, clippy::all)]
        impl #name {
            #consts
            /// Whether a leading dense layer reads `[x, t]`.
            pub const TIME_INPUT: bool = #time;
            /// The tableau's name.
            pub const TABLEAU: &'static str = #tab_name;
            #widths_const

            #graph_fn

            #new_fn

            #param_fns

            #scheme_fns
        }

        #dynamics_impl

        #[allow(unused_mut, unused_variables, clippy::all)]
        #kernel_impl
    }
}

/// `tableau()`, `scheme()` (the generated kernels `kernels` attached) and `stepping()` of a
/// checked model or flow.
pub(super) fn scheme_fns(m: &CheckedModel, kernels: &Ident) -> TokenStream {
    let ty = if m.f64 { quote!(f64) } else { quote!(f32) };
    let tableau_fn = tableau_tokens(m);
    let stepping = stepping_tokens(m);
    quote! {
        /// The exact tableau the kernels were generated from.
        ///
        /// # Errors
        /// None in practice (it was checked at compile time).
        pub fn tableau() -> ::std::result::Result<::symplode::codegen::tableau::Tableau, ::symplode::codegen::tableau::TableauError> {
            #tableau_fn
        }

        /// The scheme with the generated kernels attached: every solver and gradient
        /// method runs them.
        ///
        /// # Errors
        /// None in practice (the partner was proved at compile time).
        pub fn scheme() -> ::std::result::Result<::symplode::runtime::Scheme<#ty>, ::symplode::runtime::SolveError> {
            ::std::result::Result::Ok(
                ::symplode::runtime::Scheme::<#ty>::new(&Self::tableau()?)?
                    .with_kernels(::std::sync::Arc::new(#kernels)),
            )
        }

        /// The step control given in the declaration.
        pub fn stepping() -> ::symplode::runtime::Stepping {
            #stepping
        }
    }
}
