//! Shared by `examples/cnf.rs`, `examples/compare.rs` and `tests/cnf_*.rs` (included with
//! `#[path]`): FFJORD's 2-D toy densities, the FFJORD ODE net and its initialisation, the CNF
//! negative log-likelihood loss, exact log-densities on points, and sampling by time reversal.
//!
//! **Toy data**: the generators live in the library ([`symplode::train::toy`]); [`sample`]
//! wraps them with the error as text.
//!
//! **Sign convention** (FFJORD's): the augmented state `[z, Δlogp]` starts at `[x, 0]` at
//! `t0 = 0` and follows `ż = f(z, t)`, `d Δlogp/dt = −tr(∂f/∂z)` up to `t1`, so
//! `log p(x) = log N(z(t1); 0, I) − Δlogp(t1) = log N(z(t1); 0, I) + ∫ tr(∂f/∂z) dt`.
//! A network with zero output gives `log p(x) = log N(x; 0, I)`.
#![allow(dead_code)]

use symplode::codegen::ir::{Activation, Graph};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;

#[allow(unused_imports)]
pub use symplode::train::toy::DATASETS;

/// `log N(z; 0, I)` in 2-D is `−|z|²/2 − LOG_2PI`.
pub const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// `n` points of the toy density `name` ([`symplode::train::toy::sample`]); the error as text.
pub fn sample(name: &str, n: usize, rng: &mut Rng) -> Result<Vec<[f64; 2]>, String> {
    symplode::train::toy::sample(name, n, rng).map_err(|e| e.to_string())
}

/// FFJORD's toy ODE net: ConcatSquash layers 2 → hidden… → 2 with `activation` between them.
pub fn ode_net(hidden: &[usize], activation: Activation) -> Graph {
    Graph::concat_squash_mlp(2, hidden, activation).expect("a valid ConcatSquash MLP")
}

/// PyTorch's default `nn.Linear` initialisation of the net's parameters
/// ([`symplode::train::flow::init_params`]).
pub fn init_params(graph: &Graph, seed: u64) -> Vec<f64> {
    symplode::train::flow::init_params(graph, seed)
}

/// The augmented initial state `[x, 0]` per row, `[n·3]`.
pub fn augment<T: Real>(points: &[[f64; 2]]) -> Vec<T> {
    points
        .iter()
        .flat_map(|p| [T::of(p[0]), T::of(p[1]), T::zero()])
        .collect()
}

/// `log p(x)` of each row of the augmented final state `[z, Δlogp]`:
/// `log N(z; 0, I) − Δlogp`.
pub fn log_px<T: Real>(state: &[T]) -> Vec<f64> {
    state
        .chunks_exact(3)
        .map(|r| {
            let (z0, z1, dlogp) = (r[0].f64(), r[1].f64(), r[2].f64());
            -0.5 * (z0 * z0 + z1 * z1) - LOG_2PI - dlogp
        })
        .collect()
}

/// The loss `−mean log p(x)` of the final augmented state, writing its cotangents
/// (`∂L/∂z = z/B`, `∂L/∂Δlogp = 1/B`), for [`GradientMethod::gradient`].
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
    let (Some(last), Some(c)) = (
        out.last().and_then(|o| o.last()),
        cot.last_mut().and_then(|o| o.last_mut()),
    ) else {
        return f64::NAN;
    };
    let batch = (last.len() / 3).max(1) as f64;
    let inv = T::of(1.0 / batch);
    for (cr, r) in c.chunks_exact_mut(3).zip(last.chunks_exact(3)) {
        cr[0] = r[0] * inv;
        cr[1] = r[1] * inv;
        cr[2] = inv;
    }
    -log_px(last).iter().sum::<f64>() / batch
}

/// Hutchinson noise `ε [n·2]`: Rademacher (±1) or standard normal.
pub fn noise<T: Real>(n: usize, rademacher: bool, rng: &mut Rng) -> Vec<T> {
    (0..2 * n)
        .map(|_| {
            T::of(if rademacher {
                if rng.below(2) == 0 { -1.0 } else { 1.0 }
            } else {
                rng.normal()
            })
        })
        .collect()
}

/// `log p(x)` at `points` by solving a CNF (build it with an exact trace, or with the
/// Hutchinson noise already set for this batch) over `[0, t1]`, in batches of `chunk` points.
pub fn log_density<T: Real>(
    cnf: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    t1: f64,
    points: &[[f64; 2]],
    chunk: usize,
) -> Result<Vec<f64>, SolveError> {
    let mut out = Vec::with_capacity(points.len());
    for part in points.chunks(chunk.max(1)) {
        let x0 = augment::<T>(part);
        let sol = solve(cnf, scheme, stepping, &[0.0, t1], &x0)?;
        out.extend(log_px(&sol.states[0]));
    }
    Ok(out)
}

#[allow(unused_imports)]
pub use symplode::train::Reversed;

/// Samples of the model: `z ~ N(0, I)` at `t1` integrated back to `t0` through `reversed`
/// (a [`Reversed`] ODE net, possibly wrapped for threads).
pub fn model_samples<T: Real>(
    reversed: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    t1: f64,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<[f64; 2]>, SolveError> {
    let z: Vec<T> = (0..2 * n).map(|_| T::of(rng.normal())).collect();
    let sol = solve(reversed, scheme, stepping, &[0.0, t1], &z)?;
    Ok(sol.states[0]
        .chunks_exact(2)
        .map(|p| [p[0].f64(), p[1].f64()])
        .collect())
}

/// A gradient method by its command-line name (see `symplode::runtime::grad::method_by_name`).
pub fn method<T: Real>(name: &str) -> Result<Box<dyn GradientMethod<T>>, String> {
    symplode::runtime::grad::method_by_name(name)
}

/// Parses `"64-64-64"` (FFJORD's `--dims`) into widths.
pub fn parse_dims(s: &str) -> Result<Vec<usize>, String> {
    s.split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<usize>()
                .ok()
                .filter(|&w| w > 0)
                .ok_or_else(|| format!("bad width `{p}` in `{s}` (use e.g. 64-64-64)"))
        })
        .collect()
}
