//! The kernel IR and its lowering to Cranelift IR.
//!
//! A step kernel is an elementwise program over `n` elements:
//! `out[e] = scale · (init[e] + Σ_t coef_t · k_{slot_t}[e])`, described by a list of
//! [`Node`]s. [`Translator`] lowers one node per match arm, once for the vector body
//! (128-bit vectors, unrolled) and once for the scalar tail.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, Function, InstBuilder, MemFlagsData, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, verify_function};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::{FunctionReport, JitError, JitFloat, JitOptions, OptLevel};

mod fused;
mod segment;
pub use fused::{FusedOp, FusedSpec, FusedStep};
pub use segment::{Dim, FillValue, GemmSpec, SegOp, SegmentSpec};

/// A coefficient, baked into the generated code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coef {
    /// A constant.
    Const(f64),
    /// `h · c` for a constant `c` (computed once per call, rounded as the interpreter does).
    HTimes(f64),
    /// The step size `h`.
    H,
}

/// Where the accumulator starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The `x` argument (state, or the adjoint's λ).
    X,
    /// Zero.
    Zero,
}

/// One node of a step kernel's elementwise program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    /// `acc = source`.
    Init(Source),
    /// `acc += coef · k[slot]` (a fused multiply–add when enabled).
    Axpy {
        /// The coefficient.
        coef: Coef,
        /// Which slice of the `k` argument.
        slot: usize,
    },
    /// `acc *= coef`.
    Scale(Coef),
    /// `out = acc`.
    Store,
}

/// A named kernel: its node list. Kernels with equal node lists compile once.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSpec {
    /// The function's name in reports.
    pub name: String,
    /// The elementwise program.
    pub nodes: Vec<Node>,
}

impl KernelSpec {
    /// Whether the kernel reads `x`.
    pub fn reads_x(&self) -> bool {
        self.nodes.contains(&Node::Init(Source::X))
    }

    /// The `k` slots it reads, ascending.
    pub fn slots(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Axpy { slot, .. } => Some(*slot),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn key(&self) -> SpecKey {
        let coef = |c: &Coef| match c {
            Coef::Const(v) => (0u8, v.to_bits()),
            Coef::HTimes(v) => (1, v.to_bits()),
            Coef::H => (2, 0),
        };
        self.nodes
            .iter()
            .map(|n| match n {
                Node::Init(Source::X) => (0, 0, 0),
                Node::Init(Source::Zero) => (1, 0, 0),
                Node::Axpy { coef: c, slot } => {
                    let (t, v) = coef(c);
                    (2 + t, v, *slot)
                }
                Node::Scale(c) => {
                    let (t, v) = coef(c);
                    (5 + t, v, 0)
                }
                Node::Store => (9, 0, 0),
            })
            .collect()
    }
}

/// A kernel's identity for deduplication: one (kind, coefficient bits, slot) per node.
type SpecKey = Vec<(u8, u64, usize)>;

/// The scalar/vector types of a float.
#[derive(Clone, Copy)]
struct Float {
    scalar: Type,
    vector: Type,
    lanes: usize,
    bytes: usize,
}

impl Float {
    fn of<F: JitFloat>() -> Float {
        if F::BYTES == 8 {
            Float {
                scalar: types::F64,
                vector: types::F64X2,
                lanes: 2,
                bytes: 8,
            }
        } else {
            Float {
                scalar: types::F32,
                vector: types::F32X4,
                lanes: 4,
                bytes: 4,
            }
        }
    }
}

/// Per-call values of a kernel: the slot pointers and coefficients (scalar and splatted).
struct Prologue {
    x: Value,
    out: Value,
    slots: HashMap<usize, Value>,
    scalars: Vec<Value>,
    vectors: Vec<Value>,
    zero: (Value, Value),
}

/// Lowers one kernel's nodes into the body of a Cranelift function.
struct Translator<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    fl: Float,
    fma: bool,
    pro: Prologue,
    coefs: Vec<Coef>,
}

impl Translator<'_, '_> {
    fn coef_index(&self, c: Coef) -> usize {
        self.coefs
            .iter()
            .position(|x| *x == c)
            .expect("coefficient collected")
    }

    fn coef(&self, c: Coef, vector: bool) -> Value {
        let i = self.coef_index(c);
        if vector {
            self.pro.vectors[i]
        } else {
            self.pro.scalars[i]
        }
    }

    /// Emits the program for one register of type `ty` at byte offset `off`.
    fn element(&mut self, nodes: &[Node], off: Value, vector: bool) {
        let ty = if vector {
            self.fl.vector
        } else {
            self.fl.scalar
        };
        let flags = MemFlagsData::new().with_notrap();
        let mut acc = None;
        for node in nodes {
            match *node {
                Node::Init(Source::X) => {
                    let p = self.b.ins().iadd(self.pro.x, off);
                    acc = Some(self.b.ins().load(ty, flags, p, 0));
                }
                Node::Init(Source::Zero) => {
                    acc = Some(if vector {
                        self.pro.zero.1
                    } else {
                        self.pro.zero.0
                    });
                }
                Node::Axpy { coef, slot } => {
                    let c = self.coef(coef, vector);
                    let p = self.b.ins().iadd(self.pro.slots[&slot], off);
                    let k = self.b.ins().load(ty, flags, p, 0);
                    let a = acc.expect("Init precedes Axpy");
                    acc = Some(if self.fma {
                        self.b.ins().fma(c, k, a)
                    } else {
                        let m = self.b.ins().fmul(c, k);
                        self.b.ins().fadd(a, m)
                    });
                }
                Node::Scale(coef) => {
                    let c = self.coef(coef, vector);
                    let a = acc.expect("Init precedes Scale");
                    acc = Some(self.b.ins().fmul(a, c));
                }
                Node::Store => {
                    let p = self.b.ins().iadd(self.pro.out, off);
                    let a = acc.expect("Init precedes Store");
                    self.b.ins().store(flags, a, p, 0);
                }
            }
        }
    }
}

/// A JIT module under construction: defines kernels, then hands the finalised module to the
/// boundary.
pub(crate) struct Builder {
    module: JITModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    opts: JitOptions,
    fma: bool,
    fl: Float,
    ptr: Type,
    seen: Vec<(SpecKey, FuncId)>,
    pub(crate) reports: Vec<FunctionReport>,
}

impl Builder {
    pub(crate) fn new<F: JitFloat>(opts: &JitOptions) -> Result<Builder, JitError> {
        let isa_err = |e: &dyn std::fmt::Display| JitError::Isa(e.to_string());
        let mut flags = settings::builder();
        flags
            .set(
                "opt_level",
                match opts.opt_level {
                    OptLevel::None => "none",
                    OptLevel::Speed => "speed",
                },
            )
            .map_err(|e| isa_err(&e))?;
        flags
            .set("use_colocated_libcalls", "false")
            .map_err(|e| isa_err(&e))?;
        flags.set("is_pic", "false").map_err(|e| isa_err(&e))?;
        let isa: OwnedTargetIsa = cranelift_native::builder()
            .map_err(|e| isa_err(&e))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| isa_err(&e))?;
        let fma = opts.fma && isa.has_native_fma();
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ptr = module.target_config().pointer_type();
        Ok(Builder {
            ctx: module.make_context(),
            module,
            fctx: FunctionBuilderContext::new(),
            opts: opts.clone(),
            fma,
            fl: Float::of::<F>(),
            ptr,
            seen: Vec::new(),
            reports: Vec::new(),
        })
    }

    pub(crate) fn fma(&self) -> bool {
        self.fma
    }

    pub(crate) fn lanes(&self) -> usize {
        self.fl.lanes
    }

    pub(crate) fn target(&self) -> String {
        self.module.isa().triple().to_string()
    }

    /// Declares a local function `name` with C-ABI parameters `params` (no results), builds
    /// its body with `build(self, spec)`, runs the verifier (when asked), compiles it and
    /// records its report. Every kind of generated function goes through here.
    pub(crate) fn define_function<S>(
        &mut self,
        name: &str,
        params: &[Type],
        spec: &S,
        build: fn(&mut Builder, &S),
    ) -> Result<FuncId, JitError> {
        let mut sig = self.module.make_signature();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        let id = self
            .module
            .declare_function(name, Linkage::Local, &sig)
            .map_err(|e| JitError::Module(e.to_string()))?;
        self.ctx.func = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), sig);
        build(self, spec);
        let ir_insts = self
            .ctx
            .func
            .layout
            .blocks()
            .map(|b| self.ctx.func.layout.block_insts(b).count())
            .sum();
        if self.opts.verify {
            verify_function(&self.ctx.func, self.module.isa()).map_err(|e| JitError::Verifier {
                function: name.to_owned(),
                message: e.to_string(),
            })?;
        }
        self.ctx.set_disasm(self.opts.disasm);
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| JitError::Module(format!("{name}: {e:?}")))?;
        let code = self.ctx.compiled_code().expect("compiled");
        self.reports.push(FunctionReport {
            name: name.to_owned(),
            ir_insts,
            code_bytes: code.code_info().total_size as usize,
            verified: self.opts.verify,
            disasm: code.vcode.clone(),
        });
        self.module.clear_context(&mut self.ctx);
        Ok(id)
    }

    /// Defines a kernel `fn(h: F, x: *const F, k: *const *const F, out: *mut F, n: usize)`
    /// (the signature `boundary::RawKernel` casts to), or returns the id of an identical
    /// kernel defined before.
    pub(crate) fn define(&mut self, spec: &KernelSpec) -> Result<FuncId, JitError> {
        let key = spec.key();
        if let Some((_, id)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Ok(*id);
        }
        let mut params = vec![self.fl.scalar];
        params.extend([self.ptr; 4]);
        let id = self.define_function(&spec.name, &params, spec, Self::build_body)?;
        self.seen.push((key, id));
        Ok(id)
    }

    fn build_body(&mut self, spec: &KernelSpec) {
        let fl = self.fl;
        let ptr = self.ptr;
        let target = self.module.target_config();
        let unroll = self.opts.unroll.clamp(1, 4).next_power_of_two();
        let mut coefs: Vec<Coef> = Vec::new();
        for n in &spec.nodes {
            if let Node::Axpy { coef, .. } | Node::Scale(coef) = n
                && !coefs.contains(coef)
            {
                coefs.push(*coef);
            }
        }
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (h, x, kp, out, n) = (p[0], p[1], p[2], p[3], p[4]);
        let flags = MemFlagsData::new().with_notrap();
        let mut slots = HashMap::new();
        for slot in spec.slots() {
            let v = b
                .ins()
                .load(ptr, flags, kp, (slot * ptr.bytes() as usize) as i32);
            slots.insert(slot, v);
        }
        let constant = |b: &mut FunctionBuilder, c: f64| {
            if fl.bytes == 8 {
                b.ins().f64const(c)
            } else {
                b.ins().f32const(c as f32)
            }
        };
        let mut scalars = Vec::new();
        let mut vectors = Vec::new();
        for c in &coefs {
            let s = match *c {
                Coef::Const(v) => constant(&mut b, v),
                Coef::HTimes(v) => {
                    let k = constant(&mut b, v);
                    b.ins().fmul(h, k)
                }
                Coef::H => h,
            };
            scalars.push(s);
            vectors.push(b.ins().splat(fl.vector, s));
        }
        let z = constant(&mut b, 0.0);
        let zv = b.ins().splat(fl.vector, z);
        let step = (fl.lanes * unroll) as i64;
        let nvec = b.ins().band_imm_s(n, !(step - 1));
        let vhead = b.create_block();
        let vbody = b.create_block();
        let thead = b.create_block();
        let tbody = b.create_block();
        let exit = b.create_block();
        b.append_block_param(vhead, ptr);
        b.append_block_param(thead, ptr);
        let zero = b.ins().iconst(ptr, 0);
        b.ins().jump(vhead, &[BlockArg::Value(zero)]);

        let shift = fl.bytes.trailing_zeros() as i64;
        let mut tr = Translator {
            b: &mut b,
            fl,
            fma: self.fma,
            pro: Prologue {
                x,
                out,
                slots,
                scalars,
                vectors,
                zero: (z, zv),
            },
            coefs,
        };
        // Vector body: `unroll` registers of `lanes` elements per iteration.
        tr.b.switch_to_block(vhead);
        let i = tr.b.block_params(vhead)[0];
        let more = tr.b.ins().icmp(IntCC::UnsignedLessThan, i, nvec);
        tr.b.ins()
            .brif(more, vbody, &[], thead, &[BlockArg::Value(i)]);
        tr.b.switch_to_block(vbody);
        let off = tr.b.ins().ishl_imm_u(i, shift);
        for u in 0..unroll {
            let o = if u == 0 {
                off
            } else {
                tr.b.ins().iadd_imm_s(off, (u * fl.lanes * fl.bytes) as i64)
            };
            tr.element(&spec.nodes, o, true);
        }
        let next = tr.b.ins().iadd_imm_s(i, step);
        tr.b.ins().jump(vhead, &[BlockArg::Value(next)]);
        // Scalar tail.
        tr.b.switch_to_block(thead);
        let j = tr.b.block_params(thead)[0];
        let more = tr.b.ins().icmp(IntCC::UnsignedLessThan, j, n);
        tr.b.ins().brif(more, tbody, &[], exit, &[]);
        tr.b.switch_to_block(tbody);
        let off = tr.b.ins().ishl_imm_u(j, shift);
        tr.element(&spec.nodes, off, false);
        let next = tr.b.ins().iadd_imm_s(j, 1);
        tr.b.ins().jump(thead, &[BlockArg::Value(next)]);
        tr.b.switch_to_block(exit);
        tr.b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(target);
    }

    /// Links every defined function.
    pub(crate) fn finish(mut self) -> Result<JITModule, JitError> {
        self.module
            .finalize_definitions()
            .map_err(|e| JitError::Module(e.to_string()))?;
        Ok(self.module)
    }
}
