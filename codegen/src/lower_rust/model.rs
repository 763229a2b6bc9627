//! The model type and its `Dynamics` implementation as Rust tokens, for a vector field of
//! dense layers (models on the interpreter are emitted by `interpreted.rs`).
//!
//! Layout and arithmetic follow the hand-written `Mlp` (runtime/src/models/mlp.rs): layer l
//! stores its weight `[out, in]` row-major then its bias `[out]`; the time column of layer 0
//! is folded into its bias (`b + t·W[:, d]`); every layer's forward pass and gradients are
//! `::symplode::runtime::linalg::dense::DenseLayer`'s (the code `Mlp` and the interpreter run). Per-layer activations are allowed (also after the
//! last layer).
//!
//! Tape (per batch row, in order): for every layer that is not the last, or the last when it
//! has an activation, the pre-activation (only for `silu`) then the output. Scratch: the tape,
//! two gradient buffers of `batch·G` (G = the widest layer) and `G` column sums; `eval` alone
//! uses two ping-pong buffers of the widest hidden layer.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::interpreted::emit_interpreted;
use super::shared::{stepping_tokens, tableau_tokens};
use crate::dsl::CheckedModel;
use crate::ir::{Activation, Saved};

/// Sizes and offsets of one dense layer.
#[derive(Clone, Debug)]
struct Layer {
    inp: usize,
    out: usize,
    /// Columns multiplied as a matrix (`inp − 1` for layer 0 with time input).
    k: usize,
    w: usize,
    b: usize,
    act: Option<Activation>,
    /// Tape offsets (per row) of the pre-activation (silu) and of the output, if kept.
    pre: Option<usize>,
    y: Option<usize>,
}

struct Plan {
    layers: Vec<Layer>,
    n_params: usize,
    tape_row: usize,
    /// Widest hidden layer (eval ping-pong).
    hidden_max: usize,
    /// Widest layer (backward buffers, column sums).
    widest: usize,
}

fn plan(m: &CheckedModel) -> Plan {
    let mut layers = Vec::new();
    let mut off = 0;
    let mut tape = 0;
    let mut inp = m.dim + usize::from(m.time);
    let n = m.layers.len();
    for (l, spec) in m.layers.iter().enumerate() {
        let out = spec.width;
        let last = l + 1 == n;
        let mut pre = None;
        let mut y = None;
        if !last || spec.activation.is_some() {
            if spec.activation.map(Activation::saves) == Some(Saved::Input) {
                pre = Some(tape);
                tape += out;
            }
            y = Some(tape);
            tape += out;
        }
        layers.push(Layer {
            inp,
            out,
            k: if l == 0 && m.time { m.dim } else { inp },
            w: off,
            b: off + out * inp,
            act: spec.activation,
            pre,
            y,
        });
        off += out * inp + out;
        inp = out;
    }
    let hidden_max = layers[..n - 1].iter().map(|l| l.out).max().unwrap_or(0);
    let widest = layers.iter().map(|l| l.out).max().unwrap_or(0);
    Plan {
        layers,
        n_params: off,
        tape_row: tape,
        hidden_max,
        widest,
    }
}

/// A call of the runtime's kernel `method` of activation `a` with `args` (the trait named in
/// full, so the generated code needs no import).
fn act_call(a: Activation, method: &str, args: TokenStream) -> TokenStream {
    let v = format_ident!("{}", a.variant_name());
    let m = format_ident!("{}", method);
    quote! {
        <::symplode::runtime::models::Activation as ::symplode::runtime::models::ActivationKernels>::#m(
            ::symplode::runtime::models::Activation::#v, #args
        );
    }
}

/// `&tape[batch·off .. batch·(off + w)]` (mutable when `mutable`).
fn seg(buf: &TokenStream, off: usize, w: usize) -> TokenStream {
    quote!(#buf[batch * #off..batch * (#off + #w)])
}

fn dense_call(l: &Layer, input: TokenStream, output: TokenStream) -> TokenStream {
    let (w, b, inp, out, k) = (l.w, l.b, l.inp, l.out, l.k);
    quote!(self.__dense(#w, #b, #inp, #out, #k, t, #input, #output, batch);)
}

/// Every item `neural_ode!` emits for a checked model.
pub fn emit(m: &CheckedModel) -> TokenStream {
    if m.form.interpreted(&m.layers) {
        return emit_interpreted(m);
    }
    let p = plan(m);
    let name = &m.name;
    let vis = &m.vis;
    let attrs = &m.attrs;
    let ty = if m.f64 { quote!(f64) } else { quote!(f32) };
    let kernels = format_ident!("{}Kernels", name);
    let name_str = name.to_string();
    let dim = m.dim;
    let n_params = p.n_params;
    let tape_row = p.tape_row;
    let hidden_max = p.hidden_max;
    let widest = p.widest;
    let nl = p.layers.len();
    let widths: Vec<usize> = std::iter::once(p.layers[0].inp)
        .chain(p.layers.iter().map(|l| l.out))
        .collect();
    let time = m.time;
    let eval_bufs = (nl - 1).min(2);
    let tab = &m.tableau.tableau;
    let tab_name = tab.name().to_string();

    // eval: ping-pong through __b0/__b1, last layer into dx.
    let mut eval = TokenStream::new();
    for (l, ly) in p.layers.iter().enumerate() {
        let input = if l == 0 {
            quote!(x)
        } else {
            let src = format_ident!("__b{}", (l - 1) % 2);
            let w = p.layers[l - 1].out;
            quote!(&#src[..batch * #w])
        };
        let out_w = ly.out;
        let dst = if l + 1 == nl {
            quote!(dx[..batch * #out_w])
        } else {
            let d = format_ident!("__b{}", l % 2);
            quote!(#d[..batch * #out_w])
        };
        eval.extend(dense_call(ly, input, quote!(&mut #dst)));
        if let Some(a) = ly.act {
            eval.extend(act_call(a, "apply", quote!(&mut #dst)));
        }
    }
    let eval_split = match eval_bufs {
        0 => quote!(let _ = scratch;),
        1 => quote!(let __b0 = &mut scratch[..batch * #hidden_max];),
        _ => quote! {
            let (__b0, __rest) = scratch.split_at_mut(batch * #hidden_max);
            let __b1 = &mut __rest[..batch * #hidden_max];
        },
    };

    // forward_taped: every kept layer into the tape.
    let mut fwd = TokenStream::new();
    for (l, ly) in p.layers.iter().enumerate() {
        let Some(y) = ly.y else { continue };
        let input = if l == 0 {
            quote!(x)
        } else {
            let prev = &p.layers[l - 1];
            let s = seg(
                &quote!(__done),
                prev.y.expect("hidden layers are kept"),
                prev.out,
            );
            quote!(&#s)
        };
        let start = ly.pre.unwrap_or(y);
        let out = ly.out;
        let body = match (ly.pre, ly.act) {
            (Some(_), Some(act)) => {
                let d = dense_call(ly, input, quote!(__pre));
                let a = act_call(act, "apply_to", quote!(__pre, __y));
                quote! {
                    let (__pre, __y) = __cur.split_at_mut(batch * #out);
                    let __y = &mut __y[..batch * #out];
                    #d
                    #a
                }
            }
            (_, act) => {
                let d = dense_call(ly, input, quote!(__y));
                let a = act.map(|act| act_call(act, "apply", quote!(__y)));
                quote! {
                    let __y = &mut __cur[..batch * #out];
                    #d
                    #a
                }
            }
        };
        fwd.extend(quote! {{
            let (__done, __cur) = tape.split_at_mut(batch * #start);
            let _ = &__done;
            #body
        }});
    }

    // eval_taped's last layer.
    let last = &p.layers[nl - 1];
    let last_out = last.out;
    let taped_last = match last.y {
        Some(y) => {
            let s = seg(&quote!(tape), y, last_out);
            quote!(dx[..batch * #last_out].copy_from_slice(&#s);)
        }
        None => {
            let input = if nl == 1 {
                quote!(x)
            } else {
                let prev = &p.layers[nl - 2];
                let s = seg(&quote!(tape), prev.y.expect("kept"), prev.out);
                quote!(&#s)
            };
            dense_call(last, input, quote!(&mut dx[..batch * #last_out]))
        }
    };

    // backward.
    let mut bwd = TokenStream::new();
    // The delta of the last layer: λ, or λ·σ'(saved) in __ga.
    let mut cur = if let Some(a) = last.act {
        let saved = seg(&quote!(tape), last.pre.or(last.y).expect("kept"), last_out);
        let md = act_call(
            a,
            "mul_derivative",
            quote!(&#saved, &mut __ga[..batch * #last_out]),
        );
        bwd.extend(quote! {
            __ga[..batch * #last_out].copy_from_slice(&lam[..batch * #last_out]);
            #md
        });
        1u8
    } else {
        0u8
    };
    for l in (0..nl).rev() {
        let ly = &p.layers[l];
        let o = ly.out;
        let delta = match cur {
            0 => quote!(&lam[..batch * #o]),
            1 => quote!(&__ga[..batch * #o]),
            _ => quote!(&__gb[..batch * #o]),
        };
        let input = if l == 0 {
            quote!(x)
        } else {
            let prev = &p.layers[l - 1];
            let s = seg(&quote!(tape), prev.y.expect("kept"), prev.out);
            quote!(&#s)
        };
        let (w, b, inp, k) = (ly.w, ly.b, ly.inp, ly.k);
        bwd.extend(quote!(self.__dense_grad_params(#w, #b, #inp, #o, #k, t, #delta, #input, gp, __colsum, batch);));
        if l > 0 {
            let prev = &p.layers[l - 1];
            let pw = prev.out;
            let (dst, next) = if cur == 1 {
                (quote!(__gb), 2)
            } else {
                (quote!(__ga), 1)
            };
            bwd.extend(quote!(self.__dense_grad_input(#w, #inp, #o, #k, #delta, &mut #dst[..batch * #pw], batch);));
            if let Some(a) = prev.act {
                let saved = seg(&quote!(tape), prev.pre.or(prev.y).expect("kept"), pw);
                bwd.extend(act_call(
                    a,
                    "mul_derivative",
                    quote!(&#saved, &mut #dst[..batch * #pw]),
                ));
            }
            cur = next;
        } else {
            bwd.extend(quote!(self.__dense_grad_input(#w, #inp, #o, #k, #delta, gx, batch);));
        }
    }

    // Parameter tensors and initialisation.
    let tensors = p.layers.iter().enumerate().map(|(l, ly)| {
        let wn = format!("layers.{l}.weight");
        let bn = format!("layers.{l}.bias");
        let (inp, out, w, b) = (ly.inp, ly.out, ly.w, ly.b);
        quote! {
            ::symplode::runtime::ParamTensor { name: ::std::string::String::from(#wn), shape: ::std::vec![#out, #inp], offset: #w },
            ::symplode::runtime::ParamTensor { name: ::std::string::String::from(#bn), shape: ::std::vec![#out], offset: #b },
        }
    });
    let fans = p.layers.iter().map(|ly| {
        let (inp, count) = (ly.inp, ly.out * ly.inp + ly.out);
        quote!((#inp, #count))
    });
    let n_layers = nl;
    let of = if m.f64 {
        quote!(__v)
    } else {
        quote!(__v as f32)
    };

    let tableau_fn = tableau_tokens(m);
    let stepping = stepping_tokens(m);
    let kernel_impl = super::step_kernels::emit(&kernels, &m.tableau, m.f64);
    let kernels_doc = format!(
        "Step kernels of [`{name_str}`]'s tableau `{tab_name}` with the coefficients inlined \
         (generated by `neural_ode!`); attached by [`{name_str}::scheme`]."
    );
    let widths_doc = format!(
        "Generated by `neural_ode!`: a {}-layer network on {} ({} parameters), tableau `{tab_name}`.",
        nl,
        if time { "[x, t]" } else { "x" },
        n_params
    );

    quote! {
        #(#attrs)*
        #[doc = #widths_doc]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #name {
            params: ::std::vec::Vec<#ty>,
        }

        #[doc = #kernels_doc]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #kernels;

        #[allow(dead_code, clippy::all)]
        impl #name {
            /// State dimension d.
            pub const DIM: usize = #dim;
            /// Number of parameters.
            pub const N_PARAMS: usize = #n_params;
            /// Layer widths, input first.
            pub const WIDTHS: [usize; #n_layers + 1] = [#(#widths),*];
            /// Whether the network reads `[x, t]`.
            pub const TIME_INPUT: bool = #time;
            /// The tableau's name.
            pub const TABLEAU: &'static str = #tab_name;

            /// A model with PyTorch's default `nn.Linear` initialisation drawn from
            /// `Rng::new(seed)` (the same values as `Mlp::new` with the same shape and seed).
            pub fn new(seed: u64) -> Self {
                let mut __rng = ::symplode::runtime::rng::Rng::new(seed);
                let mut params = ::std::vec::Vec::with_capacity(#n_params);
                for (__fan_in, __count) in [#(#fans),*] {
                    let __bound = 1.0 / (__fan_in as f64).sqrt();
                    for _ in 0..__count {
                        let __v = __rng.uniform_range(-__bound, __bound);
                        params.push(#of);
                    }
                }
                #name { params }
            }

            /// A model with the given flat parameters (PyTorch layout, `layers.{k}.weight`
            /// then `layers.{k}.bias`).
            ///
            /// # Errors
            /// A wrong count or a non-finite value.
            pub fn from_params(params: ::std::vec::Vec<#ty>) -> ::std::result::Result<Self, ::symplode::runtime::models::ModelError> {
                let __m = #name { params: ::std::vec::Vec::new() };
                if params.len() != #n_params {
                    let layout = ::symplode::runtime::Dynamics::<#ty>::param_tensors(&__m)
                        .iter()
                        .map(|t| ::std::format!("{} {:?}", t.name, t.shape))
                        .collect::<::std::vec::Vec<_>>()
                        .join(" + ");
                    return ::std::result::Result::Err(::symplode::runtime::models::ModelError::ParamCount {
                        model: #name_str, expected: #n_params, got: params.len(), layout,
                    });
                }
                for t in ::symplode::runtime::Dynamics::<#ty>::param_tensors(&__m) {
                    if let ::std::option::Option::Some(i) = params[t.range()].iter().position(|v| !v.is_finite()) {
                        return ::std::result::Result::Err(::symplode::runtime::models::ModelError::NonFinite {
                            model: #name_str, value: params[t.offset + i].to_string(), tensor: t.name, index: i,
                        });
                    }
                }
                ::std::result::Result::Ok(#name { params })
            }

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

            /// Layer sizes and parameter offsets as the runtime's dense layer.
            #[inline(always)]
            fn __layer(w: usize, b: usize, inp: usize, out: usize, k: usize) -> ::symplode::runtime::linalg::dense::DenseLayer {
                ::symplode::runtime::linalg::dense::DenseLayer { inp, out, k, w, b }
            }

            #[inline(always)]
            fn __dense(&self, w: usize, b: usize, inp: usize, out: usize, k: usize, t: #ty, input: &[#ty], output: &mut [#ty], batch: usize) {
                // The bias goes into the GEMM's store; with the time column (first layer only)
                // it is b + t·W[:, k].
                let ly = Self::__layer(w, b, inp, out, k);
                ly.forward(&self.params, ly.weight_t(&self.params), t, input, output, batch);
            }

            #[inline(always)]
            fn __dense_grad_params(&self, w: usize, b: usize, inp: usize, out: usize, k: usize, t: #ty, delta: &[#ty], input: &[#ty], gp: &mut [#ty], colsum: &mut [#ty], batch: usize) {
                Self::__layer(w, b, inp, out, k).grad_params(t, delta, input, gp, colsum, batch);
            }

            #[inline(always)]
            fn __dense_grad_input(&self, w: usize, inp: usize, out: usize, k: usize, delta: &[#ty], gin: &mut [#ty], batch: usize) {
                Self::__layer(w, 0, inp, out, k).grad_input(&self.params, delta, gin, batch);
            }

            fn __forward_taped(&self, t: #ty, x: &[#ty], tape: &mut [#ty], batch: usize) {
                let _ = (t, x, &tape, batch);
                #fwd
            }

            fn __backward(&self, t: #ty, x: &[#ty], tape: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty], batch: usize) {
                let (__ga, __rest) = scratch.split_at_mut(batch * #widest);
                let (__gb, __rest) = __rest.split_at_mut(batch * #widest);
                let __colsum = &mut __rest[..#widest];
                let _ = (&__ga, &__gb);
                #bwd
            }

            fn __backward_len(batch: usize) -> usize {
                if batch == 0 { 0 } else { 2 * batch * #widest + #widest }
            }
        }

        #[allow(clippy::all)]
        impl ::symplode::runtime::Dynamics<#ty> for #name {
            fn dim(&self) -> usize {
                #dim
            }
            fn params(&self) -> &[#ty] {
                &self.params
            }
            fn params_mut(&mut self) -> &mut [#ty] {
                &mut self.params
            }
            fn param_tensors(&self) -> ::std::vec::Vec<::symplode::runtime::ParamTensor> {
                ::std::vec![#(#tensors)*]
            }
            fn scratch_len(&self, batch: usize) -> usize {
                let eval = #eval_bufs * batch * #hidden_max;
                eval.max(self.tape_len(batch) + Self::__backward_len(batch))
            }
            fn tape_len(&self, batch: usize) -> usize {
                batch * #tape_row
            }
            fn eval(&self, t: #ty, x: &[#ty], dx: &mut [#ty], scratch: &mut [#ty]) {
                let batch = x.len() / #dim;
                if batch == 0 {
                    return;
                }
                #eval_split
                #eval
            }
            fn vjp(&self, t: #ty, x: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                let batch = x.len() / #dim;
                if batch == 0 {
                    return;
                }
                let (tape, rest) = scratch.split_at_mut(batch * #tape_row);
                self.__forward_taped(t, x, tape, batch);
                self.__backward(t, x, tape, lam, gx, gp, rest, batch);
            }
            fn eval_taped(&self, t: #ty, x: &[#ty], dx: &mut [#ty], tape: &mut [#ty]) {
                let batch = x.len() / #dim;
                if batch == 0 {
                    return;
                }
                self.__forward_taped(t, x, tape, batch);
                #taped_last
            }
            fn backward_taped(&self, t: #ty, x: &[#ty], tape: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                let batch = x.len() / #dim;
                if batch == 0 {
                    return;
                }
                self.__backward(t, x, tape, lam, gx, gp, scratch, batch);
            }
        }

        #[allow(unused_mut, unused_variables, clippy::all)]
        #kernel_impl
    }
}
