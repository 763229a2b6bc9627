//! [`JitNetwork`] `eval`, `vjp`, `eval_taped` and `backward_taped` must not touch the heap
//! after warm-up (like the interpreter). A counting global allocator counts the allocation
//! calls made by this test's own thread while counting is switched on.
#![cfg(feature = "jit")]

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::jit::{JitNetwork, JitOptions};

use crate::thread_alloc::count;

fn calls(f: impl FnOnce()) -> usize {
    count(f).0
}

fn check(m: Interpreted<f64>, what: &str) {
    let net = JitNetwork::new(m, &JitOptions::default()).unwrap();
    let batch = 6;
    let n = batch * net.dim();
    let x = vec![0.3; n];
    let lam = vec![0.7; n];
    let mut scratch = vec![0.0; net.scratch_len(batch)];
    let mut tape = vec![0.0; net.tape_len(batch)];
    let (mut dx, mut gx, mut gp) = (vec![0.0; n], vec![0.0; n], vec![0.0; net.n_params()]);
    let mut all = || {
        net.eval(0.1, &x, &mut dx, &mut scratch);
        net.vjp(0.1, &x, &lam, &mut gx, &mut gp, &mut scratch);
        net.eval_taped(0.1, &x, &mut dx, &mut tape);
        net.backward_taped(0.1, &x, &tape, &lam, &mut gx, &mut gp, &mut scratch);
    };
    all();
    assert_eq!(calls(all), 0, "{what}: allocated after warm-up");
}

#[test]
fn no_allocation_after_warm_up() {
    let g = Graph::mlp(2, &[16, 16], Activation::Tanh, true).unwrap();
    let p = vec![0.05; g.param_len()];
    check(Interpreted::new(g, p).unwrap(), "mlp");
    let f = Graph::concat_squash_mlp(2, &[8, 8], Activation::Tanh).unwrap();
    let p = vec![0.05; f.param_len()];
    check(cnf(&f, Trace::Exact, p).unwrap(), "cnf");
}
