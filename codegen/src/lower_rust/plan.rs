//! A [`Plan`] lowered to Rust statements: one block per step, with every size and buffer
//! offset inlined (as `c + batch·r`) and the step's kernel called from the runtime's
//! `::symplode::runtime::interp::op_kernels` — the functions the interpreter calls for the
//! same step, so each kernel's code exists once and the generated model computes bit for bit
//! what the interpreter (and the JIT) compute.
//!
//! **Adding a plan kernel** (e.g. a new layer kind's op): one arm in [`kernel_call`] naming
//! its runtime function in `op_kernels` (beside the interpreter's arm in `interp/exec.rs`).
//!
//! Buffers are sub-slices of the caller's slices (`x`, `lam`, `dx`, `gx`, `gp`, `scratch`,
//! `tape`) or of the model's own (`self.params`, the plan's constants, the auxiliary
//! inputs). A step writes its output while reading operands from the same scratch, so the
//! generated code takes the output and those operands with one `get_disjoint_mut` (safe
//! code; the plan guarantees they do not overlap). An elementwise step that runs in place
//! gets that operand as `None`, as in the interpreter.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::plan::{Arena, Finish, Kernel, Len, Plan, Slot};

/// The slice a buffer lives in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Region {
    X,
    Lam,
    Aux(usize),
    Params,
    Consts,
    Scratch,
    Tape,
    Dx,
    Gx,
    Gp,
}

impl Region {
    /// The slice expression (a local of the generated method).
    fn var(self) -> TokenStream {
        match self {
            Region::X => quote!(x),
            Region::Lam => quote!(lam),
            Region::Aux(i) => quote!(__aux[#i]),
            Region::Params => quote!(__params),
            Region::Consts => quote!(__CONSTS),
            Region::Scratch => quote!(scratch),
            Region::Tape => quote!(tape),
            Region::Dx => quote!(dx),
            Region::Gx => quote!(gx),
            Region::Gp => quote!(gp),
        }
    }
}

/// Element offsets of a run: `c + batch·r` for the arenas' batched parts.
#[derive(Clone, Copy)]
struct Offsets {
    /// Global elements at the start of the scratch (this plan's global arena).
    scratch_globals: usize,
    /// Global elements at the start of the tape (the forward plan's global arena).
    tape_globals: usize,
}

/// `c + batch·r` as a `usize` expression.
fn lin(c: usize, r: usize) -> TokenStream {
    match (c, r) {
        (c, 0) => quote!(#c),
        (0, r) => quote!(batch * #r),
        (c, r) => quote!(#c + batch * #r),
    }
}

/// Region and element range of `len` elements at `slot`.
fn locate(slot: Slot, len: Len, o: Offsets) -> (Region, TokenStream) {
    // Start as (constant, per batch row).
    let (region, c, r) = match slot {
        Slot::X => (Region::X, 0, 0),
        Slot::Lam => (Region::Lam, 0, 0),
        Slot::Aux(i) => (Region::Aux(i), 0, 0),
        Slot::Param(off) => (Region::Params, off, 0),
        Slot::Const(off) => (Region::Consts, off, 0),
        Slot::Buf(Arena::ScratchG, off) => (Region::Scratch, off, 0),
        Slot::Buf(Arena::ScratchB, off) => (Region::Scratch, o.scratch_globals, off),
        Slot::Buf(Arena::TapeG, off) => (Region::Tape, off, 0),
        Slot::Buf(Arena::TapeB, off) => (Region::Tape, o.tape_globals, off),
        Slot::Dx => (Region::Dx, 0, 0),
        Slot::Gx => (Region::Gx, 0, 0),
        Slot::Gp(off) => (Region::Gp, off, 0),
    };
    let (start, end) = (lin(c, r), lin(c + len.fixed, r + len.per_row));
    (region, quote!((#start)..(#end)))
}

/// The operands of a step as expressions: `Some(slice)` or `None` (in place on the output).
struct Args(Vec<Option<TokenStream>>);

impl Args {
    /// Operand `i` as `&[T]` (`&[]` when in place, which only elementwise kernels see).
    fn a(&self, i: usize) -> TokenStream {
        match &self.0[i] {
            Some(e) => e.clone(),
            None => quote!(&[]),
        }
    }

    /// Operand `i` as `Option<&[T]>`.
    fn opt(&self, i: usize) -> TokenStream {
        match &self.0[i] {
            Some(e) => quote!(::std::option::Option::Some(#e)),
            None => quote!(::std::option::Option::None),
        }
    }

    /// Operand `i` if there is one (a dense layer's bias).
    fn maybe(&self, i: usize) -> TokenStream {
        if i < self.0.len() {
            self.opt(i)
        } else {
            quote!(::std::option::Option::None)
        }
    }
}

/// An `f64` constant as a literal.
fn f64_lit(v: f64) -> Literal {
    Literal::f64_suffixed(v)
}

/// A `ConvShape` expression.
fn conv_shape(s: &crate::ir::ConvShape) -> TokenStream {
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    quote!(&::symplode::codegen::ir::ConvShape { n: #n, cin: #cin, cout: #cout, k: #k })
}

/// A `Conv2dShape` expression.
fn conv2d_shape(s: &crate::ir::Conv2dShape) -> TokenStream {
    let (cin, cout, h, w, k, stride, pad) = (s.cin, s.cout, s.h, s.w, s.k, s.stride, s.pad);
    quote!(&::symplode::codegen::ir::Conv2dShape {
        cin: #cin, cout: #cout, h: #h, w: #w, k: #k, stride: #stride, pad: #pad,
    })
}

/// The call of the runtime kernel of `kernel` writing `__y` (one arm per plan kernel;
/// `__cols` is the step's own scratch when it has one, see [`work_slot`]).
fn kernel_call(kernel: &Kernel, a: &Args, ty: &TokenStream) -> TokenStream {
    let k = quote!(::symplode::runtime::interp::op_kernels);
    let c2 = quote!(::symplode::runtime::linalg::conv2d);
    match kernel {
        Kernel::Fill(v) => {
            let v = f64_lit(*v);
            quote!(__y.fill(<#ty as ::symplode::runtime::Real>::of(#v));)
        }
        Kernel::Time => quote!(__y.fill(t);),
        Kernel::Dense { inp, out } => {
            let (x, w, b) = (a.a(0), a.a(1), a.maybe(2));
            quote!(#k::dense(__y, #x, #w, #b, batch, #inp, #out);)
        }
        Kernel::DenseTime { k: kk, out } => {
            let (x, w, b) = (a.a(0), a.a(1), a.a(2));
            quote!(#k::dense_time(__y, #x, #w, #b, t, batch, #kk, #out);)
        }
        Kernel::DenseNT { k: kk, m } => {
            let (x, w) = (a.a(0), a.a(1));
            quote!(#k::dense_nt(__y, #x, #w, batch, #kk, #m);)
        }
        Kernel::DenseNTCols { k: kk, m, cols } => {
            let (x, w) = (a.a(0), a.a(1));
            quote!(#k::dense_nt_cols(__y, #x, #w, batch, #kk, #m, #cols);)
        }
        Kernel::BatchOuter { p, q, acc } => {
            let (x, z) = (a.a(0), a.a(1));
            quote!(#k::batch_outer(__y, #x, #z, batch, #p, #q, #acc);)
        }
        Kernel::BatchOuterTime { p, k: kk, acc } => {
            let (x, z) = (a.a(0), a.a(1));
            quote!(#k::batch_outer_time(__y, #x, #z, t, batch, #p, #kk, #acc);)
        }
        Kernel::BatchSum { w, acc } => {
            let x = a.a(0);
            quote!(#k::batch_sum(__y, #x, #w, #acc);)
        }
        Kernel::BroadcastRows { w } => {
            let x = a.a(0);
            quote!(#k::broadcast_rows(__y, #x, #w);)
        }
        Kernel::Unary(op) => {
            let op = format_ident!("{}", format!("{op:?}"));
            let x = a.opt(0);
            quote!(#k::unary(::symplode::codegen::ir::UnaryOp::#op, __y, #x);)
        }
        Kernel::TanhGrad => {
            let (g, y) = (a.opt(0), a.opt(1));
            quote!(#k::tanh_grad(__y, #g, #y);)
        }
        Kernel::Binary { op, wa, wb } => {
            let op = format_ident!("{}", format!("{op:?}"));
            let (x, z) = (a.opt(0), a.opt(1));
            quote!(#k::binary(::symplode::codegen::ir::BinaryOp::#op, __y, #x, #z, #wa, #wb);)
        }
        Kernel::Scale(c) => {
            let (x, c) = (a.opt(0), f64_lit(*c));
            quote!(#k::scale(__y, #x, #c);)
        }
        Kernel::Concat(widths) => {
            let w: usize = widths.iter().sum();
            let mut at = 0;
            let parts = widths.iter().enumerate().map(|(i, &pw)| {
                let (p, here) = (a.a(i), at);
                at += pw;
                quote!(#k::concat_part(__y, #p, #w, #here, #pw);)
            });
            quote!(#(#parts)*)
        }
        Kernel::Slice { w, start, len } => {
            let x = a.a(0);
            quote!(#k::slice(__y, #x, #w, #start, #len);)
        }
        Kernel::SumGroups(size) => {
            let x = a.a(0);
            quote!(#k::sum_groups(__y, #x, #size);)
        }
        Kernel::RepeatGroups(size) => {
            let x = a.a(0);
            quote!(#k::repeat_groups(__y, #x, #size);)
        }
        Kernel::Stencil { coeffs, n } => {
            let x = a.a(0);
            let c = coeffs.iter().map(|&v| f64_lit(v));
            quote!(#k::stencil(__y, #x, &[#(#c),*], #n);)
        }
        Kernel::Conv1d(shape) => {
            let (x, w, b, s) = (a.a(0), a.a(1), a.maybe(2), conv_shape(shape));
            quote!(#k::conv1d(__y, #x, #w, #b, #s, batch);)
        }
        Kernel::Conv1dT(shape) => {
            let (y, w, s) = (a.a(0), a.a(1), conv_shape(shape));
            quote!(#k::conv1d_t(__y, #y, #w, #s, batch);)
        }
        Kernel::Conv1dWGrad { shape, acc } => {
            let (dy, x, s) = (a.a(0), a.a(1), conv_shape(shape));
            quote!(#k::conv1d_wgrad(__y, #dy, #x, #s, batch, #acc);)
        }
        Kernel::Conv2d { shape, .. } => {
            let (x, w, b, s) = (a.a(0), a.a(1), a.maybe(2), conv2d_shape(shape));
            quote!(#c2::conv2d(__y, #x, #w, #b, __cols, #s, batch);)
        }
        Kernel::Conv2dT { shape, .. } => {
            let (y, w, s) = (a.a(0), a.a(1), conv2d_shape(shape));
            quote!(#c2::conv2d_t(__y, #y, #w, __cols, #s, batch);)
        }
        Kernel::Conv2dWGrad { shape, acc, .. } => {
            let (dy, x, s) = (a.a(0), a.a(1), conv2d_shape(shape));
            quote!(#c2::conv2d_wgrad(__y, #dy, #x, __cols, #s, batch, #acc);)
        }
        Kernel::Squeeze(s) => {
            let (x, c, h, w) = (a.a(0), s.c, s.h, s.w);
            quote!(#c2::squeeze(__y, #x, #c, #h, #w, false);)
        }
        Kernel::Unsqueeze(s) => {
            let (x, c, h, w) = (a.a(0), s.c, s.h, s.w);
            quote!(#c2::squeeze(__y, #x, #c, #h, #w, true);)
        }
    }
}

/// The step's own work buffer (the im2col matrix of a 2-D convolution), if any.
fn work_slot(kernel: &Kernel) -> Option<(Slot, Len)> {
    match kernel {
        Kernel::Conv2d { shape, cols }
        | Kernel::Conv2dT { shape, cols }
        | Kernel::Conv2dWGrad { shape, cols, .. } => Some((
            *cols,
            Len {
                per_row: 0,
                fixed: shape.cols_len(),
            },
        )),
        _ => None,
    }
}

/// The block of one step: the output (and the step's work buffer) taken mutably with the
/// operands sharing their slices, disjointly; the other operands borrowed; then the call.
fn step_block(step: &crate::plan::Step, o: Offsets, ty: &TokenStream) -> TokenStream {
    let (out_region, out_range) = locate(step.out, step.len, o);
    let work = work_slot(&step.kernel).map(|(slot, len)| locate(slot, len, o));
    // Mutable groups: (region, [(name, range)]), the output's first.
    let mut groups: Vec<(Region, Vec<(TokenStream, TokenStream)>)> =
        vec![(out_region, vec![(quote!(__y), out_range)])];
    if let Some((region, range)) = &work {
        let name = quote!(__cols);
        match groups.iter_mut().find(|(r, _)| r == region) {
            Some((_, g)) => g.push((name, range.clone())),
            None => groups.push((*region, vec![(name, range.clone())])),
        }
    }
    let mut n = 0usize;
    let mut args = Vec::with_capacity(step.args.len());
    // An operand read twice by one step (`a ⊙ a`) is taken once and borrowed twice.
    let mut taken: Vec<((Slot, Len), TokenStream)> = Vec::new();
    for &(slot, len) in &step.args {
        if slot == step.out {
            args.push(None);
            continue;
        }
        if let Some((_, d)) = taken.iter().find(|(k, _)| *k == (slot, len)) {
            args.push(Some(quote!(&*#d)));
            continue;
        }
        let (region, range) = locate(slot, len, o);
        if let Some((_, g)) = groups.iter_mut().find(|(r, _)| *r == region) {
            n += 1;
            let d = format_ident!("__d{}", n);
            g.push((quote!(#d), range));
            taken.push(((slot, len), quote!(#d)));
            args.push(Some(quote!(&*#d)));
        } else {
            let v = region.var();
            args.push(Some(quote!(&#v[#range])));
        }
    }
    let take = groups.iter().map(|(region, g)| {
        let var = region.var();
        if g.len() == 1 {
            let (name, r) = &g[0];
            quote!(let #name = &mut #var[#r];)
        } else {
            let names = g.iter().map(|(n, _)| n);
            let ranges = g.iter().map(|(_, r)| r);
            quote! {
                let [#(#names),*] = #var
                    .get_disjoint_mut([#(#ranges),*])
                    .expect("a plan's buffers are disjoint and fit the caller's slices");
            }
        }
    });
    let call = kernel_call(&step.kernel, &Args(args), ty);
    quote!({ #(#take)* #call })
}

/// The statements of a finishing copy or accumulation.
fn finish_block(f: &Finish, o: Offsets) -> TokenStream {
    let k = quote!(::symplode::runtime::interp::op_kernels);
    match *f {
        Finish::Copy { from, to, len } => {
            let (fr, frange) = locate(from, len, o);
            let (tr, trange) = locate(to, len, o);
            let (fv, tv) = (fr.var(), tr.var());
            quote!(#tv[#trange].copy_from_slice(&#fv[#frange]);)
        }
        Finish::AddGp { from, off, n } => {
            let len = Len {
                per_row: 0,
                fixed: n,
            };
            let (fr, frange) = locate(from, len, o);
            let (_, trange) = locate(Slot::Gp(off), len, o);
            let fv = fr.var();
            quote!(#k::add_into(&mut gp[#trange], &#fv[#frange]);)
        }
    }
}

/// The statements of `plan` for element type `ty` (locals in scope: `t`, `batch`, the
/// caller's slices the plan uses, `__params`, `__aux`); `tape_globals` is the forward plan's
/// global arena.
pub(super) fn lower(plan: &Plan, tape_globals: usize, ty: &TokenStream) -> TokenStream {
    let o = Offsets {
        scratch_globals: plan.globals,
        tape_globals,
    };
    let n = plan.consts.len();
    let consts = (n > 0).then(|| {
        let c = plan.consts.iter().map(|&v| f64_lit(v));
        quote!(const __CONSTS: [#ty; #n] = [#(#c as #ty),*];)
    });
    let steps = plan.steps.iter().map(|s| step_block(s, o, ty));
    let finish = plan.finish.iter().map(|f| finish_block(f, o));
    quote! {
        #consts
        #(#steps)*
        #(#finish)*
    }
}

/// `batch·rows + globals` (saturating, as [`Plan::arena_len`]).
pub(super) fn arena_len(plan: &Plan) -> TokenStream {
    let (rows, globals) = (plan.rows, plan.globals);
    quote!(batch.saturating_mul(#rows).saturating_add(#globals))
}
