//! The model type and its `Dynamics` implementation as Rust tokens.
//!
//! Layout and arithmetic follow the hand-written `Mlp` (runtime/src/models/mlp.rs): layer l
//! stores its weight `[out, in]` row-major then its bias `[out]`; the time column of layer 0
//! is folded into its bias (`b + t·W[:, d]`); products use
//! `::symplode::runtime::models::matmul`. Per-layer activations are allowed (also after the
//! last layer).
//!
//! Tape (per batch row, in order): for every layer that is not the last, or the last when it
//! has an activation, the pre-activation (only for `silu`) then the output. Scratch: the tape,
//! two gradient buffers of `batch·G` (G = the widest layer) and `G` column sums; `eval` alone
//! uses two ping-pong buffers of the widest hidden layer.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::dsl::{CheckedModel, FormSpec, LayerKind, LayerSpec, SteppingSpec, build_graph};
use crate::ir::Graph;
use crate::tableau::Q;

/// Sizes and offsets of one dense layer.
#[derive(Clone, Debug)]
struct Layer {
    inp: usize,
    out: usize,
    /// Columns multiplied as a matrix (`inp − 1` for layer 0 with time input).
    k: usize,
    w: usize,
    b: usize,
    act: Option<String>,
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
            if spec.activation.as_deref() == Some("silu") {
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
            act: spec.activation.clone(),
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

fn act_path(a: &str) -> TokenStream {
    let v = format_ident!("{}", {
        let mut c = a.chars();
        let first = c.next().map(|x| x.to_ascii_uppercase()).unwrap_or('X');
        format!("{first}{}", c.as_str())
    });
    quote!(::symplode::runtime::models::Activation::#v)
}

/// `&tape[batch·off .. batch·(off + w)]` (mutable when `mutable`).
fn seg(buf: &TokenStream, off: usize, w: usize) -> TokenStream {
    quote!(#buf[batch * #off..batch * (#off + #w)])
}

fn dense_call(l: &Layer, input: TokenStream, output: TokenStream) -> TokenStream {
    let (w, b, inp, out, k) = (l.w, l.b, l.inp, l.out, l.k);
    quote!(self.__dense(#w, #b, #inp, #out, #k, t, #input, #output, batch);)
}

/// The body of `stepping()`.
fn stepping_tokens(m: &CheckedModel) -> TokenStream {
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
    // The time column is folded into the first layer's bias, on the stack when it fits.
    let time_bias_len = p.layers[0].out.min(4096);
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
        if let Some(a) = &ly.act {
            let ap = act_path(a);
            eval.extend(quote!(#ap.apply(&mut #dst);));
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
        let ap = ly.act.as_deref().map(act_path);
        let body = match (ly.pre, ap) {
            (Some(_), Some(ap)) => {
                let d = dense_call(ly, input, quote!(__pre));
                quote! {
                    let (__pre, __y) = __cur.split_at_mut(batch * #out);
                    let __y = &mut __y[..batch * #out];
                    #d
                    #ap.apply_to(__pre, __y);
                }
            }
            (_, ap) => {
                let d = dense_call(ly, input, quote!(__y));
                let a = ap.map(|ap| quote!(#ap.apply(__y);));
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
    let mut cur = if let Some(a) = &last.act {
        let ap = act_path(a);
        let saved = seg(&quote!(tape), last.pre.or(last.y).expect("kept"), last_out);
        bwd.extend(quote! {
            __ga[..batch * #last_out].copy_from_slice(&lam[..batch * #last_out]);
            #ap.mul_derivative(&#saved, &mut __ga[..batch * #last_out]);
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
            if let Some(a) = &prev.act {
                let ap = act_path(a);
                let saved = seg(&quote!(tape), prev.pre.or(prev.y).expect("kept"), pw);
                bwd.extend(quote!(#ap.mul_derivative(&#saved, &mut #dst[..batch * #pw]);));
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
    let kernel_impl = super::kernels::emit(&kernels, &m.tableau, m.f64);
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

            #[inline(always)]
            fn __dense(&self, w: usize, b: usize, inp: usize, out: usize, k: usize, t: #ty, input: &[#ty], output: &mut [#ty], batch: usize) {
                use ::symplode::runtime::models::matmul::{MatMut, MatRef, matmul, matmul_bias};
                let wm = &self.params[w..w + out * inp];
                let output = &mut output[..batch * out];
                let bias = &self.params[b..b + out];
                let a = MatRef::row_major(&input[..batch * k], batch, k);
                let bt = MatRef::new(wm, out, k, inp, 1).t();
                // The bias goes into the GEMM's store; with the time column (first layer only)
                // it is b + t·W[:, k], in a stack buffer of exactly that layer's width.
                if k == inp {
                    matmul_bias(MatMut::row_major(output, batch, out), a, bt, bias);
                } else if out <= #time_bias_len {
                    let mut eff = [0.0 as #ty; #time_bias_len];
                    for (j, (e, &bj)) in eff.iter_mut().zip(bias).enumerate() {
                        *e = bj + t * wm[j * inp + k];
                    }
                    matmul_bias(MatMut::row_major(output, batch, out), a, bt, &eff[..out]);
                } else {
                    let (row0, rest) = output.split_at_mut(out);
                    row0.copy_from_slice(bias);
                    for (j, r) in row0.iter_mut().enumerate() {
                        *r += t * wm[j * inp + k];
                    }
                    for r in rest.chunks_exact_mut(out) {
                        r.copy_from_slice(row0);
                    }
                    matmul(MatMut::row_major(output, batch, out), a, bt, true);
                }
            }

            #[inline(always)]
            fn __dense_grad_params(&self, w: usize, b: usize, inp: usize, out: usize, k: usize, t: #ty, delta: &[#ty], input: &[#ty], gp: &mut [#ty], colsum: &mut [#ty], batch: usize) {
                use ::symplode::runtime::models::matmul::{MatMut, MatRef, matmul};
                let delta = &delta[..batch * out];
                matmul(
                    MatMut::new(&mut gp[w..w + out * inp], out, k, inp),
                    MatRef::row_major(delta, batch, out).t(),
                    MatRef::row_major(&input[..batch * k], batch, k),
                    true,
                );
                let s = &mut colsum[..out];
                s.fill(0.0);
                for row in delta.chunks_exact(out) {
                    for (sj, &dj) in s.iter_mut().zip(row) {
                        *sj += dj;
                    }
                }
                for (g, &sj) in gp[b..b + out].iter_mut().zip(s.iter()) {
                    *g += sj;
                }
                if k < inp {
                    for (j, &sj) in s.iter().enumerate() {
                        gp[w + j * inp + k] += t * sj;
                    }
                }
            }

            #[inline(always)]
            fn __dense_grad_input(&self, w: usize, inp: usize, out: usize, k: usize, delta: &[#ty], gin: &mut [#ty], batch: usize) {
                use ::symplode::runtime::models::matmul::{MatMut, MatRef, matmul};
                matmul(
                    MatMut::row_major(&mut gin[..batch * k], batch, k),
                    MatRef::row_major(&delta[..batch * out], batch, out),
                    MatRef::new(&self.params[w..w + out * inp], out, k, inp, 1),
                    false,
                );
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

/// A [`LayerSpec`] as an expression.
fn layer_tokens(l: &LayerSpec) -> TokenStream {
    let kind = match l.kind {
        LayerKind::Dense => quote!(Dense),
        LayerKind::ConcatSquash => quote!(ConcatSquash),
        LayerKind::Conv1d { kernel, bias } => quote!(Conv1d { kernel: #kernel, bias: #bias }),
    };
    let width = l.width;
    let act = match &l.activation {
        Some(a) => quote!(::std::option::Option::Some(::std::string::String::from(#a))),
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
fn form_tokens(f: &FormSpec) -> TokenStream {
    match *f {
        FormSpec::Field => quote!(::symplode::codegen::dsl::FormSpec::Field),
        FormSpec::Cnf { hutchinson } => {
            quote!(::symplode::codegen::dsl::FormSpec::Cnf { hutchinson: #hutchinson })
        }
        FormSpec::Energy { laplacian, n, dx } => {
            let dx = Literal::f64_suffixed(dx);
            quote!(::symplode::codegen::dsl::FormSpec::Energy { laplacian: #laplacian, n: #n, dx: #dx })
        }
    }
}

/// A model on the interpreter (a CNF, an energy, or `concat_squash` layers): the type holds
/// an `::symplode::runtime::interp::Interpreted` built from [`build_graph`] at construction
/// and delegates `Dynamics` to it; the tableau's kernels are generated as for any model.
fn emit_interpreted(m: &CheckedModel) -> TokenStream {
    let name = &m.name;
    let vis = &m.vis;
    let attrs = &m.attrs;
    let ty = if m.f64 { quote!(f64) } else { quote!(f32) };
    let kernels = format_ident!("{}Kernels", name);
    let name_str = name.to_string();
    let dim = m.dim;
    let time = m.time;
    // The checks built this graph already; a model with errors still gets coherent items.
    let graph = build_graph(m.dim, m.time, &m.layers, &m.form).ok();
    let n_params = graph.as_ref().map_or(0, Graph::param_len);
    let state_dim = graph
        .as_ref()
        .and_then(|g| g.inputs().first())
        .map_or(dim, |i| i.width);
    let layers = m.layers.iter().map(layer_tokens);
    let form = form_tokens(&m.form);
    let tab_name = m.tableau.tableau.name().to_string();
    let tableau_fn = tableau_tokens(m);
    let stepping = stepping_tokens(m);
    let kernel_impl = super::kernels::emit(&kernels, &m.tableau, m.f64);
    let of = if m.f64 {
        quote!(__v)
    } else {
        quote!(__v as f32)
    };
    let form_name = match m.form {
        FormSpec::Field => "vector field",
        FormSpec::Cnf { hutchinson: false } => "CNF (exact trace)",
        FormSpec::Cnf { hutchinson: true } => "CNF (Hutchinson trace)",
        FormSpec::Energy { .. } => "energy-based model",
    };
    let kernels_doc = format!(
        "Step kernels of [`{name_str}`]'s tableau `{tab_name}` with the coefficients inlined \
         (generated by `neural_ode!`); attached by [`{name_str}::scheme`]."
    );
    let doc = format!(
        "Generated by `neural_ode!`: a {form_name} of {} layers on the interpreter ({n_params} \
         parameters, state dimension {state_dim}), tableau `{tab_name}`.",
        m.layers.len()
    );
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #[derive(Clone, Debug)]
        #vis struct #name {
            inner: ::symplode::runtime::interp::Interpreted<#ty>,
        }

        #[doc = #kernels_doc]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #kernels;

        #[allow(dead_code, clippy::all)]
        impl #name {
            /// State dimension of the dynamics (`dim + 1` for a CNF: `[z, log p]`).
            pub const DIM: usize = #state_dim;
            /// Number of parameters.
            pub const N_PARAMS: usize = #n_params;
            /// Whether a leading dense layer reads `[x, t]`.
            pub const TIME_INPUT: bool = #time;
            /// The tableau's name.
            pub const TABLEAU: &'static str = #tab_name;

            /// The IR graph of the dynamics, built from the declaration (it was built and
            /// differentiated at compile time, so this does not fail).
            pub fn graph() -> ::symplode::codegen::ir::Graph {
                ::symplode::codegen::dsl::build_graph(#dim, #time, &[#(#layers),*], &#form)
                    .expect("the graph was checked by neural_ode!")
            }

            /// A model with PyTorch's default initialisation drawn from `Rng::new(seed)`:
            /// every tensor uniform in ±1/√fan_in (a bias takes its weight's fan-in).
            pub fn new(seed: u64) -> Self {
                let __g = Self::graph();
                let mut __rng = ::symplode::runtime::rng::Rng::new(seed);
                let mut params = ::std::vec::Vec::with_capacity(#n_params);
                let mut __fan = 1usize;
                for __p in __g.params() {
                    if __p.shape.len() >= 2 {
                        __fan = __p.shape[1..].iter().product();
                    }
                    let __count: usize = __p.shape.iter().product();
                    let __bound = 1.0 / (__fan as f64).sqrt();
                    for _ in 0..__count {
                        let __v = __rng.uniform_range(-__bound, __bound);
                        params.push(#of);
                    }
                }
                Self::from_params(params).expect("a fresh initialisation is valid")
            }

            /// A model with the given flat parameters (the graph's tensors in order, see
            /// `param_tensors`).
            ///
            /// # Errors
            /// A wrong count or a non-finite value.
            pub fn from_params(params: ::std::vec::Vec<#ty>) -> ::std::result::Result<Self, ::symplode::runtime::interp::InterpError> {
                ::std::result::Result::Ok(#name {
                    inner: ::symplode::runtime::interp::Interpreted::new(Self::graph(), params)?,
                })
            }

            /// The interpreted dynamics.
            pub fn interpreted(&self) -> &::symplode::runtime::interp::Interpreted<#ty> {
                &self.inner
            }

            /// The interpreted dynamics, mutably (e.g. `set_aux(1, eps)` for the noise of a
            /// Hutchinson CNF).
            pub fn interpreted_mut(&mut self) -> &mut ::symplode::runtime::interp::Interpreted<#ty> {
                &mut self.inner
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
        }

        #[allow(clippy::all)]
        impl ::symplode::runtime::Dynamics<#ty> for #name {
            fn dim(&self) -> usize {
                ::symplode::runtime::Dynamics::<#ty>::dim(&self.inner)
            }
            fn params(&self) -> &[#ty] {
                ::symplode::runtime::Dynamics::<#ty>::params(&self.inner)
            }
            fn params_mut(&mut self) -> &mut [#ty] {
                ::symplode::runtime::Dynamics::<#ty>::params_mut(&mut self.inner)
            }
            fn param_tensors(&self) -> ::std::vec::Vec<::symplode::runtime::ParamTensor> {
                ::symplode::runtime::Dynamics::<#ty>::param_tensors(&self.inner)
            }
            fn scratch_len(&self, batch: usize) -> usize {
                ::symplode::runtime::Dynamics::<#ty>::scratch_len(&self.inner, batch)
            }
            fn tape_len(&self, batch: usize) -> usize {
                ::symplode::runtime::Dynamics::<#ty>::tape_len(&self.inner, batch)
            }
            fn eval(&self, t: #ty, x: &[#ty], dx: &mut [#ty], scratch: &mut [#ty]) {
                ::symplode::runtime::Dynamics::<#ty>::eval(&self.inner, t, x, dx, scratch)
            }
            fn vjp(&self, t: #ty, x: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                ::symplode::runtime::Dynamics::<#ty>::vjp(&self.inner, t, x, lam, gx, gp, scratch)
            }
            fn eval_taped(&self, t: #ty, x: &[#ty], dx: &mut [#ty], tape: &mut [#ty]) {
                ::symplode::runtime::Dynamics::<#ty>::eval_taped(&self.inner, t, x, dx, tape)
            }
            fn backward_taped(&self, t: #ty, x: &[#ty], tape: &[#ty], lam: &[#ty], gx: &mut [#ty], gp: &mut [#ty], scratch: &mut [#ty]) {
                ::symplode::runtime::Dynamics::<#ty>::backward_taped(&self.inner, t, x, tape, lam, gx, gp, scratch)
            }
        }

        #[allow(unused_mut, unused_variables, clippy::all)]
        #kernel_impl
    }
}

fn q_strs(v: &[Q]) -> Vec<String> {
    v.iter().map(|q| q.to_string()).collect()
}

/// The body of `tableau()`: the built-in by name, or the exact rationals rebuilt.
fn tableau_tokens(m: &CheckedModel) -> TokenStream {
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
