//! Fused elementwise chains of a network (the network JIT's kernels).
//!
//! A [`FusedSpec`] is a list of elementwise steps over pointer slots; the generated function
//! `fn(ptrs: *const *mut F, n: usize)` runs, for every element `e`, each step in order:
//! it reads its operands at `e` (from a register when an earlier step of the chain wrote the
//! same slot, else from memory), computes the operation with the interpreter's exact
//! expression (`fadd`, `fsub`, `fmul`, `fdiv`, no contraction, so results are bit-equal to
//! the interpreted loops), and stores the result unless the step is marked dead.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{FuncId, Module};

use super::{Builder, Float};
use crate::jit::JitError;

/// An elementwise operation of a fused chain (operands in [`FusedStep::args`] order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FusedOp {
    /// `−a`.
    Neg,
    /// `a·a`.
    Square,
    /// `1/a`.
    Recip,
    /// `a < 0 ? 0 : a`.
    Relu,
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a·b`.
    Mul,
    /// `a / b`.
    Div,
    /// `c·a` (`c` rounded to the kernel's float type).
    Scale(f64),
    /// `g·(1 − y·y)`, args `g, y`.
    TanhGrad,
}

impl FusedOp {
    /// Number of operands.
    pub fn arity(self) -> usize {
        match self {
            FusedOp::Neg | FusedOp::Square | FusedOp::Recip | FusedOp::Relu | FusedOp::Scale(_) => {
                1
            }
            _ => 2,
        }
    }
}

/// One step of a fused chain.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedStep {
    /// The operation.
    pub op: FusedOp,
    /// Pointer slots of the operands.
    pub args: Vec<usize>,
    /// Pointer slot of the result.
    pub out: usize,
    /// Whether the result is stored (false: only later steps of the chain read it).
    pub store: bool,
}

/// A fused elementwise chain over `ptrs` pointer slots.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedSpec {
    /// The function's name in reports.
    pub name: String,
    /// Number of pointer slots.
    pub ptrs: usize,
    /// The steps, run in order for every element.
    pub steps: Vec<FusedStep>,
}

impl FusedSpec {
    /// Checks arities and slot indices.
    pub fn check(&self) -> Result<(), JitError> {
        for (i, s) in self.steps.iter().enumerate() {
            if s.args.len() != s.op.arity()
                || s.out >= self.ptrs
                || s.args.iter().any(|&a| a >= self.ptrs)
            {
                return Err(JitError::Module(format!(
                    "{}: step {i} ({:?}) has bad operands {:?} -> {} over {} slots",
                    self.name, s.op, s.args, s.out, self.ptrs
                )));
            }
        }
        Ok(())
    }
}

impl Builder {
    /// Defines a fused chain `fn(ptrs: *const *mut F, n: usize)` (the signature
    /// `boundary::RawFused` casts to).
    pub(crate) fn define_fused(&mut self, spec: &FusedSpec) -> Result<FuncId, JitError> {
        spec.check()?;
        self.define_function(&spec.name, &[self.ptr, self.ptr], spec, Self::build_fused)
    }

    fn build_fused(&mut self, spec: &FusedSpec) {
        let fl = self.fl;
        let ptr = self.ptr;
        let target = self.module.target_config();
        let unroll = self.opts.unroll.clamp(1, 4).next_power_of_two();
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (pp, n) = (p[0], p[1]);
        let flags = MemFlagsData::new().with_notrap();
        let used = used_slots(spec.ptrs, &spec.steps);
        let bases: Vec<Option<Value>> = (0..spec.ptrs)
            .map(|i| {
                used[i].then(|| {
                    b.ins()
                        .load(ptr, flags, pp, (i * ptr.bytes() as usize) as i32)
                })
            })
            .collect();
        emit_chain(&mut b, fl, ptr, unroll, &bases, &spec.steps, n);
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(target);
    }
}

/// Which of `ptrs` slots the steps read or store to.
pub(super) fn used_slots(ptrs: usize, steps: &[FusedStep]) -> Vec<bool> {
    let mut used = vec![false; ptrs];
    for s in steps {
        for &a in &s.args {
            used[a] = true;
        }
        if s.store {
            used[s.out] = true;
        }
    }
    used
}

/// Emits `body(b, byte_offset, vector)` over `n` elements at the current position: a loop
/// over `unroll` vectors of `fl.lanes` elements per iteration, then a scalar tail. Leaves
/// the builder in the block after the loops.
pub(super) fn elementwise(
    b: &mut FunctionBuilder,
    fl: Float,
    ptr: Type,
    unroll: usize,
    n: Value,
    body: &mut dyn FnMut(&mut FunctionBuilder, Value, bool),
) {
    let step = (fl.lanes * unroll) as i64;
    let shift = fl.bytes.trailing_zeros() as i64;
    let nvec = b.ins().band_imm_s(n, !(step - 1));
    let zero = b.ins().iconst(ptr, 0);
    counted_loop(b, ptr, zero, nvec, step, &mut |b, i| {
        let off = b.ins().ishl_imm_u(i, shift);
        for u in 0..unroll {
            let o = if u == 0 {
                off
            } else {
                b.ins().iadd_imm_s(off, (u * fl.lanes * fl.bytes) as i64)
            };
            body(b, o, true);
        }
    });
    counted_loop(b, ptr, nvec, n, 1, &mut |b, j| {
        let off = b.ins().ishl_imm_u(j, shift);
        body(b, off, false);
    });
}

/// `for (i = start; i < end; i += step) body(b, i)` at the current position (unsigned
/// compare; `end − start` a multiple of `step` or `step = 1`). Leaves the builder in the
/// block after the loop.
pub(super) fn counted_loop(
    b: &mut FunctionBuilder,
    ptr: Type,
    start: Value,
    end: Value,
    step: i64,
    body: &mut dyn FnMut(&mut FunctionBuilder, Value),
) {
    let head = b.create_block();
    let inner = b.create_block();
    let exit = b.create_block();
    b.append_block_param(head, ptr);
    b.ins().jump(head, &[BlockArg::Value(start)]);
    b.switch_to_block(head);
    let i = b.block_params(head)[0];
    let more = b.ins().icmp(IntCC::UnsignedLessThan, i, end);
    b.ins().brif(more, inner, &[], exit, &[]);
    b.switch_to_block(inner);
    body(b, i);
    let next = b.ins().iadd_imm_s(i, step);
    b.ins().jump(head, &[BlockArg::Value(next)]);
    b.switch_to_block(exit);
}

/// Emits a fused chain over `n` elements at the current position (`bases[i]`: the base
/// address of pointer slot `i`, present for every slot the steps use).
pub(super) fn emit_chain(
    b: &mut FunctionBuilder,
    fl: Float,
    ptr: Type,
    unroll: usize,
    bases: &[Option<Value>],
    steps: &[FusedStep],
    n: Value,
) {
    let flags = MemFlagsData::new().with_notrap();
    let constant = |b: &mut FunctionBuilder, c: f64| {
        if fl.bytes == 8 {
            b.ins().f64const(c)
        } else {
            b.ins().f32const(c as f32)
        }
    };
    // Constants: 0, 1 and every scale factor, scalar and splatted.
    let mut consts: Vec<(u64, Value, Value)> = Vec::new();
    let mut want = vec![0.0, 1.0];
    for s in steps {
        if let FusedOp::Scale(c) = s.op {
            want.push(c);
        }
    }
    for c in want {
        let c = if fl.bytes == 8 { c } else { c as f32 as f64 };
        if consts.iter().any(|(k, _, _)| *k == c.to_bits()) {
            continue;
        }
        let s = constant(b, c);
        let v = b.ins().splat(fl.vector, s);
        consts.push((c.to_bits(), s, v));
    }
    let nptrs = bases.len();
    let mut element = |b: &mut FunctionBuilder, off: Value, vector: bool| {
        let ty = if vector { fl.vector } else { fl.scalar };
        let k = |c: f64| {
            let c = if fl.bytes == 8 { c } else { c as f32 as f64 };
            let (_, s, v) = consts
                .iter()
                .find(|(k, _, _)| *k == c.to_bits())
                .expect("constant");
            if vector { *v } else { *s }
        };
        let mut regs: Vec<Option<Value>> = vec![None; nptrs];
        let mut addr: Vec<Option<Value>> = vec![None; nptrs];
        let mut at = |b: &mut FunctionBuilder, i: usize| -> Value {
            *addr[i].get_or_insert_with(|| b.ins().iadd(bases[i].expect("used slot"), off))
        };
        for s in steps {
            let mut a = Vec::with_capacity(2);
            for &i in &s.args {
                let v = match regs[i] {
                    Some(v) => v,
                    None => {
                        let p = at(b, i);
                        let v = b.ins().load(ty, flags, p, 0);
                        regs[i] = Some(v);
                        v
                    }
                };
                a.push(v);
            }
            let r = match s.op {
                FusedOp::Neg => b.ins().fneg(a[0]),
                FusedOp::Square => b.ins().fmul(a[0], a[0]),
                FusedOp::Recip => b.ins().fdiv(k(1.0), a[0]),
                FusedOp::Relu => {
                    let z = k(0.0);
                    let lt = b.ins().fcmp(FloatCC::LessThan, a[0], z);
                    if vector {
                        // The lane mask as the float vector type, then a bit select.
                        let le = MemFlagsData::new().with_endianness(Endianness::Little);
                        let m = b.ins().bitcast(fl.vector, le, lt);
                        b.ins().bitselect(m, z, a[0])
                    } else {
                        b.ins().select(lt, z, a[0])
                    }
                }
                FusedOp::Add => b.ins().fadd(a[0], a[1]),
                FusedOp::Sub => b.ins().fsub(a[0], a[1]),
                FusedOp::Mul => b.ins().fmul(a[0], a[1]),
                FusedOp::Div => b.ins().fdiv(a[0], a[1]),
                FusedOp::Scale(c) => b.ins().fmul(k(c), a[0]),
                FusedOp::TanhGrad => {
                    let yy = b.ins().fmul(a[1], a[1]);
                    let d = b.ins().fsub(k(1.0), yy);
                    b.ins().fmul(a[0], d)
                }
            };
            regs[s.out] = Some(r);
            if s.store {
                let p = at(b, s.out);
                b.ins().store(flags, r, p, 0);
            }
        }
    };
    elementwise(b, fl, ptr, unroll, n, &mut element);
}
