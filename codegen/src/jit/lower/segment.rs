//! Segments of a network program: dense layers, the elementwise work around them and calls
//! into the runtime, lowered to one Cranelift function (the network JIT's GEMM path).
//!
//! A [`SegmentSpec`] is a list of [`SegOp`]s over pointer slots. The generated function
//! `fn(ptrs: *const *mut F, batch: usize, t: F, calls: *const Callbacks<F>)` runs the ops in
//! order. Matrix products and `tanh` are *calls through function pointers* read from the
//! `calls` table (`boundary::Callbacks`: the runtime's GEMM and vectorised `tanh` behind
//! `extern "C"` shims); everything else — bias rows, broadcasts, concatenations, slices,
//! fills, column sums and the fused elementwise chains — is lowered inline as `f64x2` /
//! `f32x4` loops (unrolled by [`JitOptions::unroll`](crate::jit::JitOptions)) with a scalar
//! tail, using the interpreter's expressions without contraction to fused multiply–add, so a
//! segment computes exactly what the interpreter's steps compute.
//!
//! Sizes are [`Dim`]s, `per_batch·B + fixed`, evaluated from the `batch` argument, so one
//! function serves every batch size.

use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, SigRef, Signature, Type, Value, types,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{FuncId, Module};

use super::fused::{counted_loop, elementwise, emit_chain, used_slots};
use super::{Builder, Float, FusedStep};
use crate::jit::JitError;

/// A size that may depend on the batch: `per_batch·B + fixed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dim {
    /// Multiple of the batch size.
    pub per_batch: usize,
    /// Constant part.
    pub fixed: usize,
}

impl Dim {
    /// A constant.
    pub fn fixed(n: usize) -> Dim {
        Dim {
            per_batch: 0,
            fixed: n,
        }
    }

    /// `w·B`.
    pub fn rows(w: usize) -> Dim {
        Dim {
            per_batch: w,
            fixed: 0,
        }
    }

    /// The value for batch size `batch`.
    pub fn at(self, batch: usize) -> usize {
        self.per_batch * batch + self.fixed
    }
}

/// What a [`SegOp::Fill`] writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FillValue {
    /// A constant (rounded to the kernel's float type).
    Const(f64),
    /// The time argument `t`.
    Time,
}

/// A strided matrix product `C (+)= A·B` (or `C = A·B + 1·biasᵀ`), run by the runtime's GEMM through the function
/// pointer `Callbacks::gemm`. `A` is `m × k` with strides `(rs_a, cs_a)` at slot `a`, `B`
/// is `k × n` with strides `(rs_b, cs_b)` at slot `b`, `C` is `m × n` row-major with leading
/// dimension `ldc` at slot `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmSpec {
    /// Rows of `C`.
    pub m: Dim,
    /// Columns of `C`.
    pub n: Dim,
    /// Inner dimension.
    pub k: Dim,
    /// Slot of `A`.
    pub a: usize,
    /// Row stride of `A`.
    pub rs_a: usize,
    /// Column stride of `A`.
    pub cs_a: usize,
    /// Slot of `B`.
    pub b: usize,
    /// Row stride of `B`.
    pub rs_b: usize,
    /// Column stride of `B`.
    pub cs_b: usize,
    /// Slot of `C`.
    pub c: usize,
    /// Leading dimension of `C`.
    pub ldc: usize,
    /// Add to `C` instead of overwriting it.
    pub acc: bool,
    /// Slot of a row of `n` elements added to every row of the product in the GEMM's store
    /// (`matmul_bias`; only with `acc == false`).
    pub bias: Option<usize>,
}

/// One node of a segment. The translator has one match arm per variant.
#[derive(Clone, Debug, PartialEq)]
pub enum SegOp {
    /// A matrix product, called through the GEMM function pointer.
    Gemm(GemmSpec),
    /// `rows` rows of `len` elements: `dst[dst_off + r·dst_stride + j] = src[src_off +
    /// r·src_stride + j]` (`src_stride = 0` broadcasts one row, e.g. a bias as the GEMM's
    /// initial value). Inline vector loop.
    RowCopy {
        /// Number of rows.
        rows: Dim,
        /// Elements per row.
        len: usize,
        /// Source slot.
        src: usize,
        /// Source offset (elements).
        src_off: usize,
        /// Source row stride (elements).
        src_stride: usize,
        /// Destination slot.
        dst: usize,
        /// Destination offset (elements).
        dst_off: usize,
        /// Destination row stride (elements).
        dst_stride: usize,
    },
    /// `dst[0..n] = value`. Inline vector loop.
    Fill {
        /// Destination slot.
        dst: usize,
        /// Elements.
        n: Dim,
        /// The value.
        value: FillValue,
    },
    /// `dst[0..n] = tanh(dst[0..n])` in place, called through the `tanh` function pointer.
    Tanh {
        /// Slot.
        dst: usize,
        /// Elements.
        n: Dim,
    },
    /// Column sums `dst[j] (+)= Σ_r src[r·w + j]`, rows in order. Inline vector loop.
    ColSum {
        /// Destination slot (`w` elements).
        dst: usize,
        /// Source slot (`rows × w`).
        src: usize,
        /// Row width.
        w: usize,
        /// Number of rows.
        rows: Dim,
        /// Add to `dst` instead of overwriting it.
        acc: bool,
    },
    /// Rows of a time-folded bias: `dst[r·out + j] = b[j] + t·w[j·inp + k]` for every row
    /// (the initial value of a `[x, t]` layer's GEMM, `linalg::dense::affine_time`'s
    /// effective bias). Inline scalar loops.
    BiasTimeRows {
        /// Destination slot (`rows × out`).
        dst: usize,
        /// Bias slot (`out`).
        bias: usize,
        /// Weight slot (`[out, inp]`).
        w: usize,
        /// Output width.
        out: usize,
        /// Weight row length.
        inp: usize,
        /// The time column.
        k: usize,
        /// Number of rows.
        rows: Dim,
    },
    /// A time column's weight gradient, row by row: `dst[j·ld + col] (+)= t·src[r·p + j]`
    /// (`linalg::dense::time_col_grad`). Inline scalar loops.
    TimeColGrad {
        /// Destination slot (`[p, ld]`).
        dst: usize,
        /// Source slot (`rows × p`).
        src: usize,
        /// Source row width.
        p: usize,
        /// Destination row stride.
        ld: usize,
        /// Destination column.
        col: usize,
        /// Number of rows.
        rows: Dim,
        /// Add to `dst` instead of overwriting it.
        acc: bool,
    },
    /// A fused elementwise chain over `n` elements (slots are the segment's).
    Chain {
        /// Elements.
        n: Dim,
        /// The steps (as in [`FusedSpec`](super::FusedSpec)).
        steps: Vec<FusedStep>,
    },
}

/// A segment over `ptrs` pointer slots.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentSpec {
    /// The function's name in reports.
    pub name: String,
    /// Number of pointer slots.
    pub ptrs: usize,
    /// The ops, run in order.
    pub ops: Vec<SegOp>,
}

impl SegmentSpec {
    /// Checks slot indices and chain arities.
    ///
    /// # Errors
    /// [`JitError::Module`] naming the bad op.
    pub fn check(&self) -> Result<(), JitError> {
        let n = self.ptrs;
        for (i, op) in self.ops.iter().enumerate() {
            let ok = match op {
                SegOp::Gemm(g) => {
                    g.a < n && g.b < n && g.c < n && g.bias.is_none_or(|b| b < n && !g.acc)
                }
                SegOp::RowCopy { src, dst, .. } => *src < n && *dst < n,
                SegOp::Fill { dst, .. } | SegOp::Tanh { dst, .. } => *dst < n,
                SegOp::ColSum { dst, src, .. } | SegOp::TimeColGrad { dst, src, .. } => {
                    *dst < n && *src < n
                }
                SegOp::BiasTimeRows { dst, bias, w, .. } => *dst < n && *bias < n && *w < n,
                SegOp::Chain { steps, .. } => steps.iter().all(|s| {
                    s.args.len() == s.op.arity() && s.out < n && s.args.iter().all(|&a| a < n)
                }),
            };
            if !ok {
                return Err(JitError::Module(format!(
                    "{}: op {i} ({op:?}) has a bad slot over {n} slots",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Number of calls through function pointers (GEMM, `tanh`) per run.
    pub fn calls(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o, SegOp::Gemm(_) | SegOp::Tanh { .. }))
            .count()
    }
}

/// Lowers a segment's ops into the body of a Cranelift function, one match arm per op.
struct SegTranslator<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    fl: Float,
    ptr: Type,
    unroll: usize,
    /// The pointer table argument.
    ptrs: Value,
    batch: Value,
    t: Value,
    gemm: (SigRef, Value),
    tanh: (SigRef, Value),
}

impl SegTranslator<'_, '_> {
    fn flags() -> MemFlagsData {
        MemFlagsData::new().with_notrap()
    }

    /// The base address in pointer slot `i` (loaded at the point of use).
    fn base(&mut self, i: usize) -> Value {
        let off = (i * self.ptr.bytes() as usize) as i32;
        self.b.ins().load(self.ptr, Self::flags(), self.ptrs, off)
    }

    fn dim(&mut self, d: Dim) -> Value {
        let ptr = self.ptr;
        match (d.per_batch, d.fixed) {
            (0, f) => self.b.ins().iconst(ptr, f as i64),
            (p, f) => {
                let v = if p == 1 {
                    self.batch
                } else {
                    self.b.ins().imul_imm_s(self.batch, p as i64)
                };
                if f == 0 {
                    v
                } else {
                    self.b.ins().iadd_imm_s(v, f as i64)
                }
            }
        }
    }

    fn iconst(&mut self, v: usize) -> Value {
        self.b.ins().iconst(self.ptr, v as i64)
    }

    fn float(&mut self, c: f64) -> Value {
        if self.fl.bytes == 8 {
            self.b.ins().f64const(c)
        } else {
            self.b.ins().f32const(c as f32)
        }
    }

    /// `dst[0..n] = s` (splatted for the vector body).
    fn fill(&mut self, dst: Value, n: Value, s: Value) {
        let (fl, ptr, unroll) = (self.fl, self.ptr, self.unroll);
        let v = self.b.ins().splat(fl.vector, s);
        elementwise(self.b, fl, ptr, unroll, n, &mut |b, off, vector| {
            let p = b.ins().iadd(dst, off);
            b.ins()
                .store(Self::flags(), if vector { v } else { s }, p, 0);
        });
    }

    fn op(&mut self, op: &SegOp) {
        let (fl, ptr, unroll) = (self.fl, self.ptr, self.unroll);
        let bytes = fl.bytes;
        match op {
            SegOp::Gemm(g) => {
                let m = self.dim(g.m);
                let n = self.dim(g.n);
                let k = self.dim(g.k);
                let a = self.base(g.a);
                let rs_a = self.iconst(g.rs_a);
                let cs_a = self.iconst(g.cs_a);
                let bb = self.base(g.b);
                let rs_b = self.iconst(g.rs_b);
                let cs_b = self.iconst(g.cs_b);
                let c = self.base(g.c);
                let ldc = self.iconst(g.ldc);
                let bias = match g.bias {
                    Some(slot) => self.base(slot),
                    None => self.iconst(0),
                };
                let acc = self.b.ins().iconst(types::I32, i64::from(g.acc));
                let (sig, f) = self.gemm;
                self.b.ins().call_indirect(
                    sig,
                    f,
                    &[m, n, k, a, rs_a, cs_a, bb, rs_b, cs_b, c, ldc, bias, acc],
                );
            }
            SegOp::RowCopy {
                rows,
                len,
                src,
                src_off,
                src_stride,
                dst,
                dst_off,
                dst_stride,
            } => {
                let rows = self.dim(*rows);
                let s0 = self.base(*src);
                let d0 = self.base(*dst);
                let s0 = self.b.ins().iadd_imm_s(s0, (src_off * bytes) as i64);
                let d0 = self.b.ins().iadd_imm_s(d0, (dst_off * bytes) as i64);
                let len = self.iconst(*len);
                let zero = self.iconst(0);
                let (ss, ds) = ((src_stride * bytes) as i64, (dst_stride * bytes) as i64);
                counted_loop(self.b, ptr, zero, rows, 1, &mut |b, r| {
                    let so = b.ins().imul_imm_s(r, ss);
                    let srow = b.ins().iadd(s0, so);
                    let dof = b.ins().imul_imm_s(r, ds);
                    let drow = b.ins().iadd(d0, dof);
                    elementwise(b, fl, ptr, unroll, len, &mut |b, off, vector| {
                        let ty = if vector { fl.vector } else { fl.scalar };
                        let sp = b.ins().iadd(srow, off);
                        let v = b.ins().load(ty, Self::flags(), sp, 0);
                        let dp = b.ins().iadd(drow, off);
                        b.ins().store(Self::flags(), v, dp, 0);
                    });
                });
            }
            SegOp::Fill { dst, n, value } => {
                let n = self.dim(*n);
                let d = self.base(*dst);
                let s = match value {
                    FillValue::Const(c) => self.float(*c),
                    FillValue::Time => self.t,
                };
                self.fill(d, n, s);
            }
            SegOp::Tanh { dst, n } => {
                let n = self.dim(*n);
                let d = self.base(*dst);
                let (sig, f) = self.tanh;
                self.b.ins().call_indirect(sig, f, &[d, n]);
            }
            SegOp::ColSum {
                dst,
                src,
                w,
                rows,
                acc,
            } => {
                let rows = self.dim(*rows);
                let d = self.base(*dst);
                let s0 = self.base(*src);
                let wv = self.iconst(*w);
                if !acc {
                    let z = self.float(0.0);
                    self.fill(d, wv, z);
                }
                let zero = self.iconst(0);
                let rb = (w * bytes) as i64;
                counted_loop(self.b, ptr, zero, rows, 1, &mut |b, r| {
                    let ro = b.ins().imul_imm_s(r, rb);
                    let srow = b.ins().iadd(s0, ro);
                    elementwise(b, fl, ptr, unroll, wv, &mut |b, off, vector| {
                        let ty = if vector { fl.vector } else { fl.scalar };
                        let gp = b.ins().iadd(d, off);
                        let g = b.ins().load(ty, Self::flags(), gp, 0);
                        let xp = b.ins().iadd(srow, off);
                        let x = b.ins().load(ty, Self::flags(), xp, 0);
                        let s = b.ins().fadd(g, x);
                        b.ins().store(Self::flags(), s, gp, 0);
                    });
                });
            }
            SegOp::BiasTimeRows {
                dst,
                bias,
                w,
                out,
                inp,
                k,
                rows,
            } => {
                let rows = self.dim(*rows);
                let d0 = self.base(*dst);
                let b0 = self.base(*bias);
                let w0 = self.base(*w);
                let w0 = self.b.ins().iadd_imm_s(w0, (k * bytes) as i64);
                let (zero, outv, t) = (self.iconst(0), self.iconst(*out), self.t);
                let (rb, wb) = ((out * bytes) as i64, (inp * bytes) as i64);
                counted_loop(self.b, ptr, zero, rows, 1, &mut |b, r| {
                    let ro = b.ins().imul_imm_s(r, rb);
                    let drow = b.ins().iadd(d0, ro);
                    counted_loop(b, ptr, zero, outv, 1, &mut |b, j| {
                        let jo = b.ins().imul_imm_s(j, bytes as i64);
                        let bp = b.ins().iadd(b0, jo);
                        let bj = b.ins().load(fl.scalar, Self::flags(), bp, 0);
                        let wo = b.ins().imul_imm_s(j, wb);
                        let wp = b.ins().iadd(w0, wo);
                        let wj = b.ins().load(fl.scalar, Self::flags(), wp, 0);
                        let tw = b.ins().fmul(t, wj);
                        let e = b.ins().fadd(bj, tw);
                        let dp = b.ins().iadd(drow, jo);
                        b.ins().store(Self::flags(), e, dp, 0);
                    });
                });
            }
            SegOp::TimeColGrad {
                dst,
                src,
                p,
                ld,
                col,
                rows,
                acc,
            } => {
                let rows = self.dim(*rows);
                let d0 = self.base(*dst);
                let d0 = self.b.ins().iadd_imm_s(d0, (col * bytes) as i64);
                let s0 = self.base(*src);
                let (zero, pv, t) = (self.iconst(0), self.iconst(*p), self.t);
                let (rb, db) = ((p * bytes) as i64, (ld * bytes) as i64);
                if !acc {
                    let z = self.float(0.0);
                    counted_loop(self.b, ptr, zero, pv, 1, &mut |b, j| {
                        let jo = b.ins().imul_imm_s(j, db);
                        let dp = b.ins().iadd(d0, jo);
                        b.ins().store(Self::flags(), z, dp, 0);
                    });
                }
                counted_loop(self.b, ptr, zero, rows, 1, &mut |b, r| {
                    let ro = b.ins().imul_imm_s(r, rb);
                    let srow = b.ins().iadd(s0, ro);
                    counted_loop(b, ptr, zero, pv, 1, &mut |b, j| {
                        let so = b.ins().imul_imm_s(j, bytes as i64);
                        let sp = b.ins().iadd(srow, so);
                        let x = b.ins().load(fl.scalar, Self::flags(), sp, 0);
                        let jo = b.ins().imul_imm_s(j, db);
                        let dp = b.ins().iadd(d0, jo);
                        let g = b.ins().load(fl.scalar, Self::flags(), dp, 0);
                        let tx = b.ins().fmul(t, x);
                        let sum = b.ins().fadd(g, tx);
                        b.ins().store(Self::flags(), sum, dp, 0);
                    });
                });
            }
            SegOp::Chain { n, steps } => {
                let n = self.dim(*n);
                let nptrs = steps
                    .iter()
                    .flat_map(|s| s.args.iter().chain([&s.out]))
                    .max()
                    .map_or(0, |m| m + 1);
                let used = used_slots(nptrs, steps);
                let bases: Vec<Option<Value>> =
                    (0..nptrs).map(|i| used[i].then(|| self.base(i))).collect();
                emit_chain(self.b, fl, ptr, unroll, &bases, steps, n);
            }
        }
    }
}

impl Builder {
    /// `(m, n, k, a, rs_a, cs_a, b, rs_b, cs_b, c, ldc, bias, acc: i32)`: `boundary::GemmFn`.
    fn gemm_signature(&self) -> Signature {
        let mut sig = self.module.make_signature();
        for _ in 0..12 {
            sig.params.push(AbiParam::new(self.ptr));
        }
        sig.params.push(AbiParam::new(types::I32));
        sig
    }

    /// `(v, n)`: `boundary::TanhFn`.
    fn tanh_signature(&self) -> Signature {
        let mut sig = self.module.make_signature();
        sig.params.push(AbiParam::new(self.ptr));
        sig.params.push(AbiParam::new(self.ptr));
        sig
    }

    /// Defines a segment `fn(ptrs: *const *mut F, batch: usize, t: F, calls: *const
    /// Callbacks<F>)` (the signature `boundary::RawSegment` casts to).
    pub(crate) fn define_segment(&mut self, spec: &SegmentSpec) -> Result<FuncId, JitError> {
        spec.check()?;
        self.define_function(
            &spec.name,
            &[self.ptr, self.ptr, self.fl.scalar, self.ptr],
            spec,
            Self::build_segment,
        )
    }

    fn build_segment(&mut self, spec: &SegmentSpec) {
        let fl = self.fl;
        let ptr = self.ptr;
        let target = self.module.target_config();
        let unroll = self.opts.unroll.clamp(1, 4).next_power_of_two();
        let gemm_sig = self.gemm_signature();
        let tanh_sig = self.tanh_signature();
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (ptrs, batch, t, calls) = (p[0], p[1], p[2], p[3]);
        let flags = MemFlagsData::new().with_notrap();
        let needs_gemm = spec.ops.iter().any(|o| matches!(o, SegOp::Gemm(_)));
        let needs_tanh = spec.ops.iter().any(|o| matches!(o, SegOp::Tanh { .. }));
        let gs = b.import_signature(gemm_sig);
        let ts = b.import_signature(tanh_sig);
        // The function pointers of the `Callbacks` table (`#[repr(C)]`: gemm, then tanh).
        let gf = if needs_gemm {
            b.ins().load(ptr, flags, calls, 0)
        } else {
            b.ins().iconst(ptr, 0)
        };
        let tf = if needs_tanh {
            b.ins().load(ptr, flags, calls, ptr.bytes() as i32)
        } else {
            b.ins().iconst(ptr, 0)
        };
        let mut tr = SegTranslator {
            b: &mut b,
            fl,
            ptr,
            unroll,
            ptrs,
            batch,
            t,
            gemm: (gs, gf),
            tanh: (ts, tf),
        };
        for op in &spec.ops {
            tr.op(op);
        }
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(target);
    }
}
