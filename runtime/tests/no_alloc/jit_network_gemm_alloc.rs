//! The network JIT's GEMM path must not touch the heap after warm-up: `eval`, `vjp`,
//! `eval_taped` and `backward_taped` of a [`JitNetwork`] whose programs are generated
//! functions calling the GEMM and `tanh` through function pointers (the pointer table is on
//! the stack, the shims build slices from raw parts). A counting global allocator counts the
//! allocation calls made by this test's own thread while counting is on.
#![cfg(feature = "jit")]

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::jit::{JitNetwork, JitOptions, JitReal};

use crate::thread_alloc::count;

fn check<T: JitReal>(m: Interpreted<T>, batch: usize, what: &str) {
    let net = JitNetwork::new(m, &JitOptions::default()).unwrap();
    assert!(net.calls()[0] > 0, "{what}: no GEMM in generated code");
    let n = batch * net.dim();
    let x = vec![T::of(0.3); n];
    let lam = vec![T::of(0.7); n];
    let mut scratch = vec![T::zero(); net.scratch_len(batch)];
    let mut tape = vec![T::zero(); net.tape_len(batch)];
    let (mut dx, mut gx, mut gp) = (
        vec![T::zero(); n],
        vec![T::zero(); n],
        vec![T::zero(); net.n_params()],
    );
    let t = T::of(0.1);
    let mut all = || {
        net.eval(t, &x, &mut dx, &mut scratch);
        net.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
        net.eval_taped(t, &x, &mut dx, &mut tape);
        net.backward_taped(t, &x, &tape, &lam, &mut gx, &mut gp, &mut scratch);
    };
    all();
    let (calls, bytes) = count(all);
    assert_eq!(
        calls, 0,
        "{what}: {calls} allocations ({bytes} B) after warm-up"
    );
}

#[test]
fn no_allocation_after_warm_up() {
    let g = Graph::mlp(2, &[64, 64], Activation::Tanh, true).unwrap();
    let p = vec![0.05; g.param_len()];
    for batch in [1, 7, 256] {
        check::<f64>(
            Interpreted::new(g.clone(), p.clone()).unwrap(),
            batch,
            "mlp f64",
        );
    }
    let p32 = vec![0.05f32; g.param_len()];
    check::<f32>(Interpreted::new(g, p32).unwrap(), 256, "mlp f32");
    let f = Graph::concat_squash_mlp(2, &[16, 16], Activation::Tanh).unwrap();
    let p = vec![0.05; f.param_len()];
    check::<f64>(cnf(&f, Trace::Exact, p).unwrap(), 7, "cnf");
}
