//! The one `unsafe` boundary of the JIT: finalised code pointers become callable kernels.
//!
//! Safety argument, in one place:
//! 1. Every kernel is defined by `lower::Builder::define` with the Cranelift signature
//!    `(F, ptr, ptr, ptr, ptr)` in the ISA's default calling convention, which on every host
//!    Cranelift supports is the C ABI; [`RawKernel`] is the matching `extern "C"` type, and
//!    [`Kernel::new`] is the only place a code pointer is cast to it.
//! 2. A kernel reads `n` elements from `x` (if [`KernelSpec::reads_x`](super::KernelSpec))
//!    and from the `k` slices it names, and writes `n` elements to `out`, nothing else.
//!    [`Kernel::call`] checks every one of these lengths before the call (panicking like an
//!    out-of-bounds index otherwise), and passes pointers derived from live Rust slices;
//!    `out` is a `&mut` slice, so it does not alias the inputs.
//! 3. The code memory is owned by [`CodeMemory`], shared by `Arc` with every kernel, and
//!    freed only when the last kernel is dropped, so no pointer outlives its code.
//! 4. The module is never touched after finalisation except to free it (which needs unique
//!    ownership), so sharing it between threads is sound.
//! 5. Network segments ([`SegmentKernel`]) call back into the runtime through the function
//!    pointers of a [`Callbacks`] table passed with every call (GEMM and `tanh`, as
//!    [`GemmFn`] / [`TanhFn`]: `extern "C"`, so a panic in them aborts instead of unwinding
//!    into generated code). The implementations are the runtime's shims
//!    (`symplode_runtime::jit`'s `ffi.rs`, which must live in the runtime because they call
//!    its GEMM); their contract — and the pointer contract of [`SegmentKernel::call`] — is
//!    stated on the types. Code pointers become callable only in this file.

use std::marker::PhantomData;
use std::sync::Arc;

use cranelift_jit::JITModule;
use cranelift_module::FuncId;

use super::JitFloat;

/// The native signature of every step kernel: `(h, x, k, out, n)`.
pub type RawKernel<F> = unsafe extern "C" fn(F, *const F, *const *const F, *mut F, usize);

/// Owns the finalised code of one compilation.
pub(crate) struct CodeMemory {
    module: Option<JITModule>,
}

// SAFETY: see point 4 of the module documentation.
unsafe impl Send for CodeMemory {}
// SAFETY: see point 4 of the module documentation.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    pub(crate) fn new(module: JITModule) -> Arc<CodeMemory> {
        Arc::new(CodeMemory {
            module: Some(module),
        })
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the last `Kernel` holding this memory is gone (point 3), so no pointer
            // into it can be called any more.
            unsafe { m.free_memory() }
        }
    }
}

/// A compiled step kernel: `out = program(h, x, k)` over `out.len()` elements.
#[derive(Clone)]
pub struct Kernel<F: JitFloat> {
    f: RawKernel<F>,
    reads_x: bool,
    slots: Vec<usize>,
    _code: Arc<CodeMemory>,
    _f: PhantomData<F>,
}

impl<F: JitFloat> std::fmt::Debug for Kernel<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("reads_x", &self.reads_x)
            .field("slots", &self.slots)
            .finish()
    }
}

impl<F: JitFloat> Kernel<F> {
    /// Wraps function `id` of the finalised `code`, defined from a spec reading `x` when
    /// `reads_x` and the `k` slots `slots`.
    pub(crate) fn new(
        code: &Arc<CodeMemory>,
        id: FuncId,
        reads_x: bool,
        slots: Vec<usize>,
    ) -> Self {
        let module = code.module.as_ref().expect("live module");
        let p = module.get_finalized_function(id);
        // SAFETY: `id` was defined by `Builder::define` with exactly this signature (point 1).
        let f = unsafe { std::mem::transmute::<*const u8, RawKernel<F>>(p) };
        Kernel {
            f,
            reads_x,
            slots,
            _code: code.clone(),
            _f: PhantomData,
        }
    }

    /// The `k` slots the kernel reads.
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// Runs the kernel over `n = out.len()` elements.
    ///
    /// # Panics
    /// If it reads `x` and `x.len() < n`, or a slot it reads is missing from `k` or shorter
    /// than `n`.
    pub fn call<K: AsRef<[F]>>(&self, h: F, x: &[F], k: &[K], out: &mut [F]) {
        let n = out.len();
        if self.reads_x {
            assert!(x.len() >= n, "jit kernel: x has {} < {n} elements", x.len());
        }
        let mut stack = [std::ptr::null::<F>(); 16];
        let mut heap = Vec::new();
        let ptrs: &mut [*const F] = match self.slots.last() {
            Some(&m) if m >= 16 => {
                heap.resize(m + 1, std::ptr::null());
                &mut heap
            }
            _ => &mut stack,
        };
        for &j in &self.slots {
            let kj = k
                .get(j)
                .unwrap_or_else(|| panic!("jit kernel: slot {j} missing ({} given)", k.len()))
                .as_ref();
            assert!(kj.len() >= n, "jit kernel: k[{j}] has {} < {n}", kj.len());
            ptrs[j] = kj.as_ptr();
        }
        // SAFETY: the lengths read and written were checked above (point 2); the code is
        // alive (point 3).
        unsafe { (self.f)(h, x.as_ptr(), ptrs.as_ptr(), out.as_mut_ptr(), n) }
    }
}

/// The native signature of a fused elementwise chain (network JIT): `(ptrs, n)`.
pub type RawFused<F> = unsafe extern "C" fn(*const *mut F, usize);

/// A compiled fused elementwise chain ([`FusedSpec`](super::FusedSpec)).
///
/// Safety argument (as points 1–4 above): the function is defined by
/// `Builder::define_fused` with the signature `(ptr, ptr)` in the C ABI, matching
/// `RawFused`; `FusedKernel::new` is the only cast. It reads and writes `n` elements
/// at the pointer slots its spec names and nothing else; [`FusedKernel::call`] is `unsafe`
/// and states what the caller guarantees about those pointers.
#[derive(Clone)]
pub struct FusedKernel<F: JitFloat> {
    f: RawFused<F>,
    ptrs: usize,
    _code: Arc<CodeMemory>,
    _f: PhantomData<F>,
}

impl<F: JitFloat> std::fmt::Debug for FusedKernel<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedKernel")
            .field("ptrs", &self.ptrs)
            .finish()
    }
}

impl<F: JitFloat> FusedKernel<F> {
    /// Wraps function `id` of the finalised `code`, defined by `define_fused` over `ptrs`
    /// pointer slots.
    pub(crate) fn new(code: &Arc<CodeMemory>, id: FuncId, ptrs: usize) -> Self {
        let module = code.module.as_ref().expect("live module");
        let p = module.get_finalized_function(id);
        // SAFETY: `id` was defined by `Builder::define_fused` with exactly this signature.
        let f = unsafe { std::mem::transmute::<*const u8, RawFused<F>>(p) };
        FusedKernel {
            f,
            ptrs,
            _code: code.clone(),
            _f: PhantomData,
        }
    }

    /// Number of pointer slots.
    pub fn ptrs(&self) -> usize {
        self.ptrs
    }

    /// Runs the chain over `n` elements.
    ///
    /// # Safety
    /// `ptrs.len()` must equal [`ptrs`](Self::ptrs) (checked); every pointer the spec reads
    /// must be valid for reads of `n` elements, every pointer it stores to valid for writes
    /// of `n` elements, and no two slots may point into overlapping memory unless they are
    /// equal pointers, with no live Rust reference to the written memory.
    pub unsafe fn call(&self, ptrs: &[*mut F], n: usize) {
        assert_eq!(ptrs.len(), self.ptrs, "jit fused kernel: pointer count");
        // SAFETY: the caller guarantees the pointers (see above); the code is alive.
        unsafe { (self.f)(ptrs.as_ptr(), n) }
    }

    /// Runs the chain on slices: `slots[i]` is pointer slot `i`, all at least `n` long.
    /// Safe, but copies nothing: the written slots are the `&mut` ones.
    ///
    /// # Panics
    /// If a slot is shorter than `n` or the count is wrong.
    pub fn call_slices(&self, slots: &mut [&mut [F]], n: usize) {
        assert_eq!(slots.len(), self.ptrs, "jit fused kernel: slot count");
        let ptrs: Vec<*mut F> = slots
            .iter_mut()
            .map(|s| {
                assert!(s.len() >= n, "jit fused kernel: slot of {} < {n}", s.len());
                s.as_mut_ptr()
            })
            .collect();
        // SAFETY: distinct `&mut` slices of at least `n` elements never overlap.
        unsafe { self.call(&ptrs, n) }
    }
}

/// The runtime's GEMM as the generated code calls it:
/// `(m, n, k, a, rs_a, cs_a, b, rs_b, cs_b, c, ldc, bias, accumulate)` computes
/// `C (+)= A·B` with `A` `m × k` at `a` (strides `rs_a`, `cs_a`), `B` `k × n` at `b`,
/// `C` `m × n` row-major at `c` with leading dimension `ldc`; `accumulate != 0` adds; a
/// non-null `bias` (`n` elements, only with `accumulate == 0`) is added to every row in the
/// GEMM's store.
///
/// An implementation must not unwind (an `extern "C"` function that panics aborts the
/// process) and may assume what a segment guarantees: every view lies inside live memory,
/// `C` does not overlap `A` or `B`.
pub type GemmFn<F> = unsafe extern "C" fn(
    usize,
    usize,
    usize,
    *const F,
    usize,
    usize,
    *const F,
    usize,
    usize,
    *mut F,
    usize,
    *const F,
    u32,
);

/// The runtime's vectorised `tanh` as the generated code calls it: `(v, n)` replaces
/// `v[0..n]` by `tanh(v[0..n])`. Must not unwind; may assume `v` is valid for `n` elements.
pub type TanhFn<F> = unsafe extern "C" fn(*mut F, usize);

/// The function pointers a segment calls, read by the generated code from this table
/// (`#[repr(C)]`: the offsets 0 and one pointer width are baked into the code).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Callbacks<F> {
    /// Matrix products.
    pub gemm: GemmFn<F>,
    /// `tanh` in place.
    pub tanh: TanhFn<F>,
}

/// The native signature of a network segment: `(ptrs, batch, t, calls)`.
pub type RawSegment<F> = unsafe extern "C" fn(*const *mut F, usize, F, *const Callbacks<F>);

/// A compiled network segment ([`SegmentSpec`](super::SegmentSpec)).
///
/// Safety argument (as points 1–4 above): the function is defined by
/// `Builder::define_segment` with the signature `(ptr, ptr, F, ptr)` in the C ABI, matching
/// [`RawSegment`]; `SegmentKernel::new` is the only cast. It reads the two function
/// pointers of the [`Callbacks`] table and calls them with views its spec describes; it
/// reads and writes, at the pointer slots its spec names, exactly the elements the spec's
/// ops address for the given batch size, and nothing else. [`SegmentKernel::call`] is
/// `unsafe` and states what the caller guarantees about the pointers and the callbacks.
#[derive(Clone)]
pub struct SegmentKernel<F: JitFloat> {
    f: RawSegment<F>,
    ptrs: usize,
    _code: Arc<CodeMemory>,
    _f: PhantomData<F>,
}

impl<F: JitFloat> std::fmt::Debug for SegmentKernel<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentKernel")
            .field("ptrs", &self.ptrs)
            .finish()
    }
}

impl<F: JitFloat> SegmentKernel<F> {
    /// Wraps function `id` of the finalised `code`, defined by `define_segment` over `ptrs`
    /// pointer slots.
    pub(crate) fn new(code: &Arc<CodeMemory>, id: FuncId, ptrs: usize) -> Self {
        let module = code.module.as_ref().expect("live module");
        let p = module.get_finalized_function(id);
        // SAFETY: `id` was defined by `Builder::define_segment` with exactly this signature.
        let f = unsafe { std::mem::transmute::<*const u8, RawSegment<F>>(p) };
        SegmentKernel {
            f,
            ptrs,
            _code: code.clone(),
            _f: PhantomData,
        }
    }

    /// Number of pointer slots.
    pub fn ptrs(&self) -> usize {
        self.ptrs
    }

    /// Runs the segment for batch size `batch` at time `t`.
    ///
    /// # Safety
    /// `ptrs.len()` must equal [`ptrs`](Self::ptrs) (checked). Every slot must be valid for
    /// the reads and writes the spec's ops make at this batch size (its largest extent), the
    /// buffers one op writes must not overlap the buffers it reads unless the spec allows it
    /// (a chain's equal slots), no live Rust reference may point into written memory, and
    /// `calls` must hold implementations honouring the contracts of [`GemmFn`] and
    /// [`TanhFn`].
    pub unsafe fn call(&self, ptrs: &[*mut F], batch: usize, t: F, calls: &Callbacks<F>) {
        assert_eq!(ptrs.len(), self.ptrs, "jit segment: pointer count");
        // SAFETY: the caller guarantees the pointers and callbacks (see above); the code is
        // alive (point 3).
        unsafe { (self.f)(ptrs.as_ptr(), batch, t, calls) }
    }
}
