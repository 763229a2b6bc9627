//! Timing of the network JIT against the interpreter and the hand-written `Mlp` (ignored by
//! default; run with `cargo test --release -p symplode-runtime --features jit --test
//! jit_network_perf -- --ignored --nocapture`): eval, VJP, taped forward and taped backward
//! at batch 256 and 4096, hidden 64, for the MLP `[x, t] → 64 tanh → 64 tanh → 2` —
//! interpreter, chains-only JIT (`NetworkMode::Chains`), GEMM-path JIT
//! (`NetworkMode::Segments`: generated functions calling the GEMM through a function
//! pointer) and `Mlp` — and the ConcatSquash CNF 2 → 64 → 64 → 2 (exact trace).
#![cfg(feature = "jit")]

use std::time::Instant;

use crate::common::*;
use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::jit::{JitNetwork, JitOptions, NetworkMode};

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

/// µs per call of eval, vjp, eval_taped, backward_taped.
fn times(f: &dyn Dynamics<f64>, batch: usize) -> [f64; 4] {
    let d = f.dim();
    let x = random_state::<f64>(batch * d, 1);
    let lam = random_state::<f64>(batch * d, 2);
    let mut scratch = vec![0.0; f.scratch_len(batch)];
    let mut tape = vec![0.0; f.tape_len(batch)];
    let mut dx = vec![0.0; batch * d];
    let mut gx = vec![0.0; batch * d];
    let mut gp = vec![0.0; f.n_params()];
    let inner = (12_800 / batch).max(2);
    let e = best(15, inner, || f.eval(0.3, &x, &mut dx, &mut scratch));
    let v = best(15, inner, || {
        f.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch)
    });
    let fw = best(15, inner, || f.eval_taped(0.3, &x, &mut dx, &mut tape));
    f.eval_taped(0.3, &x, &mut dx, &mut tape);
    let bw = best(15, inner, || {
        f.backward_taped(0.3, &x, &tape, &lam, &mut gx, &mut gp, &mut scratch)
    });
    [e, v, fw, bw]
}

fn table(what: &str, m: &Interpreted<f64>, mlp: Option<&dyn Dynamics<f64>>, batches: &[usize]) {
    let chains =
        JitNetwork::with_mode(m.clone(), &JitOptions::default(), NetworkMode::Chains).unwrap();
    let segs = JitNetwork::new(m.clone(), &JitOptions::default()).unwrap();
    println!(
        "{what}: segments {:?} (steps generated {:?} of {:?}, fn-pointer calls {:?}), compile {:.2} ms; chains-only: chains {:?}, compile {:.2} ms",
        segs.segments(),
        segs.fused_steps(),
        segs.steps(),
        segs.calls(),
        segs.report().compile_time.as_secs_f64() * 1e3,
        chains.chains(),
        chains.report().compile_time.as_secs_f64() * 1e3,
    );
    for &batch in batches {
        let ti = times(m, batch);
        let tc = times(&chains, batch);
        let ts = times(&segs, batch);
        let tm = mlp.map(|f| times(f, batch));
        for (k, name) in ["eval", "vjp", "eval_taped", "backward_taped"]
            .iter()
            .enumerate()
        {
            let mlp_col = tm.map_or(String::from("-"), |t| {
                format!("{:.1} ({:.2}x)", t[k], ti[k] / t[k])
            });
            println!(
                "  batch {batch:>5} {name:<14} interp {:>8.1} µs | chains {:>8.1} ({:.2}x) | gemm-jit {:>8.1} ({:.2}x) | Mlp {mlp_col}",
                ti[k],
                tc[k],
                ti[k] / tc[k],
                ts[k],
                ti[k] / ts[k],
            );
        }
    }
}

#[test]
#[ignore]
fn network_jit_timing() {
    let mlp = mlp::<f64>(2, 64, 3);
    let g = Graph::mlp(2, &[64, 64], Activation::Tanh, true).unwrap();
    let p = if mlp.n_params() == g.param_len() {
        mlp.params().to_vec()
    } else {
        random_state::<f64>(g.param_len(), 3)
    };
    let m = Interpreted::new(g, p).unwrap();
    table(
        "mlp [x,t] → 64 tanh → 64 tanh → 2",
        &m,
        Some(&mlp),
        &[256, 4096],
    );
    let f = Graph::concat_squash_mlp(2, &[64, 64], Activation::Tanh).unwrap();
    let p = random_state::<f64>(f.param_len(), 4)
        .into_iter()
        .map(|v| 0.3 * v)
        .collect();
    table(
        "cnf exact 2 → 64 → 64 → 2",
        &cnf(&f, Trace::Exact, p).unwrap(),
        None,
        &[256],
    );
}
