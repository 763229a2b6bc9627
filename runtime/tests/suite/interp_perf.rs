//! Timings of the interpreter against the hand-written `Mlp` (ignored by default; run with
//! `cargo test --release -p symplode-runtime --test suite interp_perf:: -- --ignored --nocapture`).

use std::hint::black_box;
use std::time::Instant;

use symplode_codegen::ir::{self, Graph};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real};

/// Best seconds per call of `a` and of `b`, measured in alternation (`reps` rounds of
/// `inner` calls each), so that load on the machine affects both alike.
fn best2(reps: usize, inner: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut ba, mut bb) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..inner {
            a();
        }
        ba = ba.min(t.elapsed().as_secs_f64() / inner as f64);
        let t = Instant::now();
        for _ in 0..inner {
            b();
        }
        bb = bb.min(t.elapsed().as_secs_f64() / inner as f64);
    }
    (ba, bb)
}

/// The buffers of one model at one point.
struct Bufs<T> {
    x: Vec<T>,
    lam: Vec<T>,
    dx: Vec<T>,
    gx: Vec<T>,
    gp: Vec<T>,
    scratch: Vec<T>,
    tape: Vec<T>,
}

fn bufs<T: Real>(m: &dyn Dynamics<T>, batch: usize) -> Bufs<T> {
    let d = m.dim();
    let mut rng = Rng::new(1);
    Bufs {
        x: (0..batch * d).map(|_| T::of(rng.normal())).collect(),
        lam: (0..batch * d).map(|_| T::of(rng.normal())).collect(),
        dx: vec![T::zero(); batch * d],
        gx: vec![T::zero(); batch * d],
        gp: vec![T::zero(); m.n_params()],
        scratch: vec![T::zero(); m.scratch_len(batch)],
        tape: vec![T::zero(); m.tape_len(batch)],
    }
}

fn eval<T: Real>(m: &dyn Dynamics<T>, b: &mut Bufs<T>) {
    m.eval(T::of(0.5), black_box(&b.x), &mut b.dx, &mut b.scratch);
}

fn vjp<T: Real>(m: &dyn Dynamics<T>, b: &mut Bufs<T>) {
    m.vjp(
        T::of(0.5),
        &b.x,
        &b.lam,
        &mut b.gx,
        &mut b.gp,
        &mut b.scratch,
    );
}

fn eval_taped<T: Real>(m: &dyn Dynamics<T>, b: &mut Bufs<T>) {
    m.eval_taped(T::of(0.5), &b.x, &mut b.dx, &mut b.tape);
}

fn backward_taped<T: Real>(m: &dyn Dynamics<T>, b: &mut Bufs<T>) {
    let t = T::of(0.5);
    m.backward_taped(
        t,
        &b.x,
        &b.tape,
        &b.lam,
        &mut b.gx,
        &mut b.gp,
        &mut b.scratch,
    );
}

fn compare<T: Real>() {
    let cfg = MlpConfig::new(2, vec![64, 64], Activation::Tanh, true);
    let mlp = Mlp::<T>::new(cfg, 1).unwrap();
    let g = Graph::mlp(2, &[64, 64], ir::Activation::Tanh, true).unwrap();
    let f = Interpreted::new(g, mlp.params().to_vec()).unwrap();
    let batch = 256;
    let (mut bf, mut bm) = (bufs(&f, batch), bufs(&mlp, batch));
    eprintln!(
        "{} mlp(2, [64,64], tanh, time) batch {batch}: scratch {} / {} elements, tape {} / {}",
        T::NAME,
        f.scratch_len(batch),
        mlp.scratch_len(batch),
        f.tape_len(batch),
        mlp.tape_len(batch)
    );
    type Run<T> = fn(&dyn Dynamics<T>, &mut Bufs<T>);
    let runs: [(&str, Run<T>); 4] = [
        ("eval", eval),
        ("vjp", vjp),
        ("eval_taped", eval_taped),
        ("backward_taped", backward_taped),
    ];
    for (name, r) in runs {
        let (a, b) = best2(15, 200, || r(&f, &mut bf), || r(&mlp, &mut bm));
        eprintln!(
            "  {name:15} interp {:8.2} µs   Mlp {:8.2} µs   ratio {:.2}",
            a * 1e6,
            b * 1e6,
            a / b
        );
    }
}

#[test]
#[ignore]
fn interpreter_vs_mlp_timings() {
    compare::<f64>();
    compare::<f32>();
}
