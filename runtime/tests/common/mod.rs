//! Shared helpers of the runtime's integration tests.
#![allow(dead_code)]

use symplode_runtime::grad::{GradResult, GradientMethod, Outputs, Problem, losses};
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::{
    Adjoint, Backprop, CheckpointComponent, CheckpointStep, Dynamics, Real, Scheme, Stepping,
    SymplecticAdjoint, SymplecticAdjointStored,
};

pub const TABLEAUX: &[&str] = &[
    "euler",
    "midpoint",
    "heun2",
    "ralston2",
    "rk4",
    "rk38",
    "bosh3",
    "fehlberg45",
    "cash_karp45",
    "dopri5",
    "tsit5",
    "dopri8",
];

pub const ADAPTIVE: &[&str] = &[
    "heun2",
    "bosh3",
    "fehlberg45",
    "cash_karp45",
    "dopri5",
    "tsit5",
    "dopri8",
];

/// The small MLP of the tests: [x, t] → hidden tanh → hidden tanh → dim.
pub fn mlp<T: Real>(dim: usize, hidden: usize, seed: u64) -> Mlp<T> {
    Mlp::new(
        MlpConfig {
            dim,
            hidden: vec![hidden, hidden],
            activation: Activation::Tanh,
            time_input: true,
        },
        seed,
    )
    .expect("valid MLP config")
}

pub fn random_state<T: Real>(len: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| T::of(rng.uniform_range(-1.0, 1.0)))
        .collect()
}

/// Fixed random cotangents at every output of every component.
pub fn random_cotangents<T: Real>(problem: &Problem<'_, T>, seed: u64) -> Outputs<T> {
    let mut rng = Rng::new(seed);
    let mut out = problem.zero_outputs();
    for v in out.iter_mut().flatten().flatten() {
        *v = T::of(rng.uniform_range(-1.0, 1.0));
    }
    out
}

pub fn run<T: Real>(
    method: &dyn GradientMethod<T>,
    problem: &Problem<'_, T>,
    cot: &Outputs<T>,
) -> GradResult<T> {
    let mut loss = losses::linear(cot.clone());
    method
        .gradient(problem, &mut loss)
        .unwrap_or_else(|e| panic!("{} failed: {e}", method.name()))
}

/// max |a − b| / max |b| over a slice; infinite when the lengths differ or a value is not
/// finite (`symplode_runtime::compare::max_rel_diff`).
pub fn rel(a: &[f64], b: &[f64]) -> f64 {
    symplode_runtime::compare::max_rel_diff(a, b)
}

pub fn to64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.f64()).collect()
}

/// Worst relative error of `a` against `b` over dx0 and every parameter tensor of every component.
pub fn worst_rel<T: Real>(problem: &Problem<'_, T>, a: &GradResult<T>, b: &GradResult<T>) -> f64 {
    let mut worst = rel(&to64(&a.dx0), &to64(&b.dx0));
    for (m, c) in problem.chain.iter().enumerate() {
        for t in c.dynamics.param_tensors() {
            worst = worst.max(rel(
                &to64(&a.dtheta[m][t.range()]),
                &to64(&b.dtheta[m][t.range()]),
            ));
        }
    }
    worst
}

pub fn exact_methods<T: Real>() -> Vec<Box<dyn GradientMethod<T>>> {
    vec![
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
        Box::new(CheckpointStep),
        Box::new(CheckpointComponent),
    ]
}

pub fn all_methods<T: Real>() -> Vec<Box<dyn GradientMethod<T>>> {
    vec![
        Box::new(Backprop),
        Box::new(Adjoint::default()),
        Box::new(CheckpointComponent),
        Box::new(CheckpointStep),
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
    ]
}

pub fn scheme<T: Real>(name: &str) -> Scheme<T> {
    Scheme::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn stepping_for(name: &str, adaptive: bool) -> Stepping {
    if adaptive {
        Stepping::adaptive(1e-6, 1e-8)
    } else {
        let _ = name;
        Stepping::fixed(3)
    }
}

pub fn dyn_ref<T: Real>(m: &Mlp<T>) -> &dyn Dynamics<T> {
    m
}

/// A chain of one component per net, component m over [m, m + 0.3, m + 1] (two outputs).
pub fn chain<'a>(
    nets: &'a [Mlp<f64>],
    sch: &'a Scheme<f64>,
    stepping: Stepping,
    x0: &'a [f64],
) -> Problem<'a, f64> {
    Problem {
        chain: nets
            .iter()
            .enumerate()
            .map(|(m, n)| symplode_runtime::grad::Component {
                dynamics: dyn_ref(n),
                times: vec![m as f64, m as f64 + 0.3, m as f64 + 1.0],
            })
            .collect(),
        scheme: sch,
        stepping,
        x0,
    }
}
