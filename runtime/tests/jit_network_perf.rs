//! Timing of the network JIT against the interpreter (ignored by default; run with
//! `cargo test --release -p symplode-runtime --features jit --test jit_network_perf --
//! --ignored --nocapture`): eval and VJP at batch 256, hidden 64, for the MLP
//! `[x, t] → 64 tanh → 64 tanh → 2` and the ConcatSquash CNF 2 → 64 → 64 → 2 (exact trace).
#![cfg(feature = "jit")]

mod common;

use std::time::Instant;

use common::*;
use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::jit::{JitNetwork, JitOptions};

/// Best of `reps` batches of `inner` calls, µs per call.
fn best(reps: usize, inner: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let s = Instant::now();
        for _ in 0..inner {
            f();
        }
        b = b.min(s.elapsed().as_secs_f64() * 1e6 / inner as f64);
    }
    b
}

fn time(what: &str, m: &Interpreted<f64>, batch: usize) {
    let net = JitNetwork::new(m.clone(), &JitOptions::default()).unwrap();
    let d = m.dim();
    let x = random_state::<f64>(batch * d, 1);
    let lam = random_state::<f64>(batch * d, 2);
    let mut scratch = vec![0.0; m.scratch_len(batch)];
    let mut dx = vec![0.0; batch * d];
    let mut gx = vec![0.0; batch * d];
    let mut gp = vec![0.0; m.n_params()];
    let mut row = Vec::new();
    for f in [m as &dyn Dynamics<f64>, &net] {
        let e = best(15, 50, || f.eval(0.3, &x, &mut dx, &mut scratch));
        let v = best(15, 20, || {
            f.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch)
        });
        row.push((e, v));
    }
    println!(
        "{what} batch {batch}: chains {:?} fused steps {:?} compile {:.2} ms | eval interp {:.1} µs jit {:.1} µs ({:.2}x) | vjp interp {:.1} µs jit {:.1} µs ({:.2}x)",
        net.chains(),
        net.fused_steps(),
        net.report().compile_time.as_secs_f64() * 1e3,
        row[0].0,
        row[1].0,
        row[0].0 / row[1].0,
        row[0].1,
        row[1].1,
        row[0].1 / row[1].1
    );
}

#[test]
#[ignore]
fn network_jit_timing() {
    let g = Graph::mlp(2, &[64, 64], Activation::Tanh, true).unwrap();
    let p = random_state::<f64>(g.param_len(), 3)
        .into_iter()
        .map(|v| 0.3 * v)
        .collect();
    time("mlp", &Interpreted::new(g, p).unwrap(), 256);
    let f = Graph::concat_squash_mlp(2, &[64, 64], Activation::Tanh).unwrap();
    let p = random_state::<f64>(f.param_len(), 4)
        .into_iter()
        .map(|v| 0.3 * v)
        .collect();
    time("cnf exact", &cnf(&f, Trace::Exact, p).unwrap(), 256);
}
