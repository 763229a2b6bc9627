//! Shared by `examples/cnf.rs`, `examples/compare.rs` and `tests/cnf_*.rs` (included with
//! `#[path]`): FFJORD's 2-D toy densities, the FFJORD ODE net and its initialisation, the CNF
//! negative log-likelihood loss, exact log-densities on points, and sampling by time reversal.
//!
//! **Toy data** (`lib/toy_data.py` of rtqichen/ffjord, `inf_train_gen`), re-implemented on the
//! seeded [`Rng`] (the sklearn generators `make_swiss_roll`, `make_circles` and `make_moons`
//! written out): every generator returns exactly `n` points, so `2spirals` and `pinwheel`
//! split the batch as evenly as possible where FFJORD returns `2⌊n/2⌋` / `5⌊n/5⌋` points.
//!
//! **Sign convention** (FFJORD's): the augmented state `[z, Δlogp]` starts at `[x, 0]` at
//! `t0 = 0` and follows `ż = f(z, t)`, `d Δlogp/dt = −tr(∂f/∂z)` up to `t1`, so
//! `log p(x) = log N(z(t1); 0, I) − Δlogp(t1) = log N(z(t1); 0, I) + ∫ tr(∂f/∂z) dt`.
//! A network with zero output gives `log p(x) = log N(x; 0, I)`.
#![allow(dead_code)]

use std::f64::consts::{PI, TAU};

use symplode::codegen::ir::{Activation, Graph};
use symplode::prelude::*;
use symplode::runtime::ParamTensor;
use symplode::runtime::rng::Rng;

/// The toy densities, in FFJORD's names.
pub const DATASETS: [&str; 8] = [
    "8gaussians",
    "2spirals",
    "checkerboard",
    "moons",
    "circles",
    "pinwheel",
    "swissroll",
    "rings",
];

/// `log N(z; 0, I)` in 2-D is `−|z|²/2 − LOG_2PI`.
pub const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// Shuffles `v` in place (Fisher–Yates).
fn shuffle<X>(v: &mut [X], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// `numpy.linspace(a, b, n, endpoint)`.
fn linspace(a: f64, b: f64, n: usize, endpoint: bool) -> impl Iterator<Item = f64> {
    let div = if endpoint {
        n.saturating_sub(1).max(1)
    } else {
        n.max(1)
    } as f64;
    (0..n).map(move |i| a + (b - a) * i as f64 / div)
}

/// `n` points of the toy density `name` (one of [`DATASETS`]), a pure function of `rng`'s
/// state. Errors name the unknown dataset and list the known ones.
pub fn sample(name: &str, n: usize, rng: &mut Rng) -> Result<Vec<[f64; 2]>, String> {
    let mut pts: Vec<[f64; 2]> = Vec::with_capacity(n);
    match name {
        "swissroll" => {
            // make_swiss_roll(noise = 1): t = 1.5π(1 + 2u), (t cos t, 21u, t sin t) + noise;
            // FFJORD keeps columns 0 and 2 and divides by 5.
            for _ in 0..n {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                let _height = 21.0 * rng.uniform();
                let x = t * t.cos() + rng.normal();
                let y = t * t.sin() + rng.normal();
                pts.push([x / 5.0, y / 5.0]);
            }
        }
        "circles" => {
            // make_circles(factor = .5, noise = .08), times 3.
            let n_out = n / 2;
            let n_in = n - n_out;
            for a in linspace(0.0, TAU, n_out, false) {
                pts.push([a.cos(), a.sin()]);
            }
            for a in linspace(0.0, TAU, n_in, false) {
                pts.push([0.5 * a.cos(), 0.5 * a.sin()]);
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] = 3.0 * (p[0] + 0.08 * rng.normal());
                p[1] = 3.0 * (p[1] + 0.08 * rng.normal());
            }
        }
        "rings" => {
            // Four circles of radii 1, .75, .5, .25 (times 3), shuffled, noise .08.
            let q = n / 4;
            let counts = [q, q, q, n - 3 * q];
            for (radius, &count) in [1.0, 0.75, 0.5, 0.25].iter().zip(&counts) {
                for a in linspace(0.0, TAU, count, false) {
                    pts.push([3.0 * radius * a.cos(), 3.0 * radius * a.sin()]);
                }
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] += 0.08 * rng.normal();
                p[1] += 0.08 * rng.normal();
            }
        }
        "moons" => {
            // make_moons(noise = .1), times 2, shifted by (−1, −0.2).
            let n_out = n / 2;
            let n_in = n - n_out;
            for a in linspace(0.0, PI, n_out, true) {
                pts.push([a.cos(), a.sin()]);
            }
            for a in linspace(0.0, PI, n_in, true) {
                pts.push([1.0 - a.cos(), 1.0 - a.sin() - 0.5]);
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] = 2.0 * (p[0] + 0.1 * rng.normal()) - 1.0;
                p[1] = 2.0 * (p[1] + 0.1 * rng.normal()) - 0.2;
            }
        }
        "8gaussians" => {
            let s = std::f64::consts::FRAC_1_SQRT_2;
            let centers = [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (s, s),
                (s, -s),
                (-s, s),
                (-s, -s),
            ];
            for _ in 0..n {
                let (px, py) = (0.5 * rng.normal(), 0.5 * rng.normal());
                let c = centers[rng.below(8) as usize];
                pts.push([(px + 4.0 * c.0) / 1.414, (py + 4.0 * c.1) / 1.414]);
            }
        }
        "pinwheel" => {
            // Five arms: radial N(1, .3²), tangential N(0, .1²), rotated by the arm's angle plus
            // 0.25·exp(radial), times 2.
            for i in 0..n {
                let arm = (i % 5) as f64;
                let r = 0.3 * rng.normal() + 1.0;
                let tang = 0.1 * rng.normal();
                let a = TAU * arm / 5.0 + 0.25 * r.exp();
                let (sn, cs) = a.sin_cos();
                pts.push([2.0 * (r * cs + tang * sn), 2.0 * (-r * sn + tang * cs)]);
            }
            shuffle(&mut pts, rng);
        }
        "2spirals" => {
            for i in 0..n {
                let t = rng.uniform().sqrt() * 540.0 * TAU / 360.0;
                let dx = -t.cos() * t + 0.5 * rng.uniform();
                let dy = t.sin() * t + 0.5 * rng.uniform();
                let sign = if i < n / 2 { 1.0 } else { -1.0 };
                pts.push([
                    sign * dx / 3.0 + 0.1 * rng.normal(),
                    sign * dy / 3.0 + 0.1 * rng.normal(),
                ]);
            }
        }
        "checkerboard" => {
            for _ in 0..n {
                let x1 = 4.0 * rng.uniform() - 2.0;
                let x2 = rng.uniform() - 2.0 * rng.below(2) as f64 + x1.floor().rem_euclid(2.0);
                pts.push([2.0 * x1, 2.0 * x2]);
            }
        }
        other => {
            return Err(format!(
                "unknown dataset `{other}`; use one of {}",
                DATASETS.join(", ")
            ));
        }
    }
    Ok(pts)
}

/// FFJORD's toy ODE net: ConcatSquash layers 2 → hidden… → 2 with `activation` between them.
pub fn ode_net(hidden: &[usize], activation: Activation) -> Graph {
    Graph::concat_squash_mlp(2, hidden, activation).expect("a valid ConcatSquash MLP")
}

/// PyTorch's default `nn.Linear` initialisation of the net's parameters: every weight and bias
/// of a layer with fan-in `k` uniform in `±1/√k` (`k = 1` for the hyper-networks of `t`).
pub fn init_params(graph: &Graph, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut params = Vec::with_capacity(graph.param_len());
    let mut fan_in = 1usize;
    for p in graph.params() {
        if p.shape.len() == 2 {
            fan_in = p.shape[1];
        }
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let count: usize = p.shape.iter().product();
        params.extend((0..count).map(|_| rng.uniform_range(-bound, bound)));
    }
    params
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

/// `dz/ds = −f(z, t1 − s)`: the ODE net run backwards in time, so that solving it from
/// `s = 0` to `s = t1` (the solvers need increasing times) maps `z(t1)` to `x = z(t0)`.
pub struct Reversed<D> {
    /// The forward vector field `f`.
    pub inner: D,
    /// The end time `t1` of the forward flow.
    pub t1: f64,
}

impl<D> Reversed<D> {
    fn time<T: Real>(&self, s: T) -> T {
        T::of(self.t1) - s
    }
}

fn negate<T: Real>(v: &mut [T]) {
    for x in v {
        *x = -*x;
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Reversed<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn params(&self) -> &[T] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.inner.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.inner.param_tensors()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        batch * self.dim() + self.inner.scratch_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.inner.tape_len(batch)
    }
    fn eval(&self, s: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.inner.eval(self.time(s), x, dx, scratch);
        negate(&mut dx[..x.len()]);
    }
    fn vjp(&self, s: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        // λᵀ ∂(−f) = (−λ)ᵀ ∂f.
        let (neg, rest) = scratch.split_at_mut(x.len());
        neg.copy_from_slice(&lam[..x.len()]);
        negate(neg);
        self.inner.vjp(self.time(s), x, neg, gx, gp, rest);
    }
    fn eval_taped(&self, s: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.inner.eval_taped(self.time(s), x, dx, tape);
        negate(&mut dx[..x.len()]);
    }
    fn backward_taped(
        &self,
        s: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let (neg, rest) = scratch.split_at_mut(x.len());
        neg.copy_from_slice(&lam[..x.len()]);
        negate(neg);
        self.inner
            .backward_taped(self.time(s), x, tape, neg, gx, gp, rest);
    }
}

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
