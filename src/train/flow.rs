//! Continuous normalizing flows (FFJORD) trained by maximum likelihood with the ordinary
//! [`Trainer`](super::Trainer): the flow's dynamics as a graph, samples `[n, dim]` as
//! [`Batches`], and the negative log-likelihood ([`Loss::Nll`](super::Loss::Nll)).
//!
//! **Sign convention** (FFJORD's). A sample `x` starts the augmented state `[z, Δlogp] = [x, 0]`
//! at `t = 0`; it follows `ż = f(z, t)`, `d Δlogp/dt = −tr(∂f/∂z)` up to `T`, and
//! `log p(x) = log N(z(T); 0, I) − Δlogp(T)`. The loss is `−mean log p(x)` in nats.
//!
//! **Hutchinson noise in the state.** Training with Hutchinson's estimator `εᵀ(∂f/∂z)ε` needs
//! one `ε` per sample and solve, the same in the forward and every backward sweep. Here `ε` is
//! part of the state, `[z, Δlogp, ε]` with `dε/dt = 0` ([`hutchinson_in_state`]), drawn with the
//! batch from the iteration's generator (`Rng::new(batch_seed(seed, iteration))`, after the
//! sample indices, row by row). So `ε` of a sample is a function of (seed, iteration, position
//! in the global batch) only: sharding the batch, MPI ranks and resuming do not change it,
//! and the trained weights stay bit-identical (see [`shard_ranges`](super::shard_ranges)). The price: the adjoint
//! also carries `λ_ε` (exact, never used), and adaptive steps see the `d` constant components
//! as zero error, which loosens the RMS error norm by `√((2d+1)/(d+1))` (≈ 1.29 in 2-D)
//! compared with a noise held outside the state; `symplode train` scales the tolerances by
//! the inverse, so the step control on `[z, Δlogp]` is FFJORD's.
//!
//! **Evaluation** (validation NLL) uses the exact trace ([`Trace::Exact`], state `[z, Δlogp]`)
//! when `dim ≤` [`EXACT_EVAL_MAX_DIM`], else Hutchinson with a fixed seeded noise.

use std::f64::consts::PI;

use symplode_codegen::ad::{Trace, cnf_dynamics};
use symplode_codegen::ir::{Graph, GraphBuilder, IrError, Type, passes};
use symplode_runtime::Real;
use symplode_runtime::rng::Rng;

use super::{Batch, Batches, TrainError};

/// Largest dimension evaluated with the exact trace (`dim` JVPs per evaluation).
pub const EXACT_EVAL_MAX_DIM: usize = 16;

/// The distribution of Hutchinson's `ε`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Noise {
    /// Standard normal (FFJORD's default).
    #[default]
    Gaussian,
    /// ±1 with equal probability.
    Rademacher,
}

impl Noise {
    fn draw(self, rng: &mut Rng) -> f64 {
        match self {
            Noise::Gaussian => rng.normal(),
            Noise::Rademacher => {
                if rng.below(2) == 0 {
                    -1.0
                } else {
                    1.0
                }
            }
        }
    }
}

/// How the divergence is computed in a flow's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowTrace {
    /// Exactly; state `[z, Δlogp]`, width `d + 1`.
    Exact,
    /// Hutchinson with `ε` in the state: `[z, Δlogp, ε]`, width `2d + 1`.
    Hutchinson(Noise),
}

impl FlowTrace {
    /// The state width for dimension `d`.
    pub fn width(self, d: usize) -> usize {
        match self {
            FlowTrace::Exact => d + 1,
            FlowTrace::Hutchinson(_) => 2 * d + 1,
        }
    }

    /// The name (`exact`, `hutchinson`).
    pub fn name(self) -> &'static str {
        match self {
            FlowTrace::Exact => "exact",
            FlowTrace::Hutchinson(_) => "hutchinson",
        }
    }
}

/// The flow dynamics of the vector field `f(z, t)` (one input `z [B,d]`, one output `[B,d]`)
/// with the given trace: [`cnf_dynamics`] for the exact trace, [`hutchinson_in_state`] else.
pub fn flow_graph(f: &Graph, trace: FlowTrace) -> Result<Graph, IrError> {
    match trace {
        FlowTrace::Exact => cnf_dynamics(f, Trace::Exact),
        FlowTrace::Hutchinson(_) => hutchinson_in_state(f),
    }
}

/// The Hutchinson CNF with its noise in the state: reads `[z, Δlogp, ε]` `[B, 2d+1]`, gives
/// `[f(z, t), −εᵀ(∂f/∂z)ε, 0]`. Parameters are `f`'s (names and order).
pub fn hutchinson_in_state(f: &Graph) -> Result<Graph, IrError> {
    let g = cnf_dynamics(f, Trace::Hutchinson)?;
    let d = g.inputs()[1].width;
    let mut b = GraphBuilder::new();
    let state = b.input("state", 2 * d + 1)?;
    let params = b.import_params(&g)?;
    let zl = b.slice(state, 0, d + 1)?;
    let eps = b.slice(state, d + 1, d)?;
    let out = b.inline(&g, &[zl, eps], &params)?;
    let zero = b.constant(0.0, Type::batched(d))?;
    let all = b.concat(&[out[g.outputs()[0].index()], zero])?;
    Ok(passes::simplify(&b.finish(&[all])?))
}

/// PyTorch's default `nn.Linear` initialisation of a graph's parameters from `seed`: every
/// tensor uniform in `±1/√k`, `k` the fan-in of the last 2-D tensor before it (its own for a
/// weight `[out, in]`; 1 for ConcatSquash's hyper-networks of `t`).
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

/// `log N(z; 0, I) − Δlogp` of every row of a flow state (rows of `width`, the first `dim`
/// entries `z`, then `Δlogp`).
pub fn log_px<T: Real>(state: &[T], width: usize, dim: usize) -> Vec<f64> {
    let c = 0.5 * dim as f64 * (2.0 * PI).ln();
    state
        .chunks_exact(width)
        .map(|r| {
            let sq: f64 = r[..dim].iter().map(|v| v.f64() * v.f64()).sum();
            -0.5 * sq - c - r[dim].f64()
        })
        .collect()
}

/// The rows' contribution `−Σ log p(x) / count` to the mean NLL of `count` samples, writing
/// its cotangent (`z / count`, `1 / count`, zero on `ε`) into `cot` (same layout).
pub fn nll_contribution<T: Real>(
    state: &[T],
    width: usize,
    dim: usize,
    count: usize,
    cot: &mut [T],
) -> f64 {
    let inv = 1.0 / count.max(1) as f64;
    for (c, r) in cot.chunks_exact_mut(width).zip(state.chunks_exact(width)) {
        for (cv, &v) in c[..dim].iter_mut().zip(&r[..dim]) {
            *cv = T::of(v.f64() * inv);
        }
        c[dim] = T::of(inv);
        for cv in &mut c[dim + 1..] {
            *cv = T::zero();
        }
    }
    -log_px(state, width, dim).iter().sum::<f64>() * inv
}

/// Samples `[n, dim]` for a flow: mini-batches of distinct samples of the training pool,
/// each the initial state `[x, 0]` (exact trace) or `[x, 0, ε]` (Hutchinson, `ε` drawn from
/// the batch's generator after the indices, row by row).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSamples {
    data: Vec<f64>,
    dim: usize,
    batch: usize,
    trace: FlowTrace,
    time: f64,
    probes: usize,
}

impl FlowSamples {
    /// `data` `[n·dim]` (finite), `batch` samples per mini-batch (1 ≤ batch ≤ n), integrated
    /// over `[0, time]`.
    pub fn new(
        data: Vec<f64>,
        dim: usize,
        batch: usize,
        trace: FlowTrace,
        time: f64,
    ) -> Result<Self, TrainError> {
        let bad = |what: &str, reason: String| {
            Err(TrainError::Data {
                what: what.to_string(),
                reason,
            })
        };
        if dim == 0 || data.is_empty() || !data.len().is_multiple_of(dim) {
            return bad(
                "samples",
                format!(
                    "{} values is not a non-empty multiple of the dimension {dim}",
                    data.len()
                ),
            );
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return bad(
                &format!("samples[{}][{}]", i / dim, i % dim),
                format!("{} is not finite", data[i]),
            );
        }
        if !(time.is_finite() && time > 0.0) {
            return bad("time_length", format!("{time}; must be finite and > 0"));
        }
        let s = FlowSamples {
            data,
            dim,
            batch,
            trace,
            time,
            probes: 1,
        };
        s.check_batch()?;
        Ok(s)
    }

    /// With `probes` Hutchinson probes per sample instead of one (a chain of CNF blocks, one
    /// probe each: rows `[x, 0, ε₀, …, ε_{probes−1}]`; see
    /// [`FlowChain`](super::FlowChain)). No effect with the exact trace.
    pub fn with_probes(mut self, probes: usize) -> Self {
        self.probes = probes.max(1);
        self
    }

    fn check_batch(&self) -> Result<(), TrainError> {
        if self.batch == 0 || self.batch > self.len() {
            return Err(TrainError::Data {
                what: "batch".into(),
                reason: format!(
                    "{}; need 1 ≤ batch ≤ {} (the training samples)",
                    self.batch,
                    self.len()
                ),
            });
        }
        Ok(())
    }

    /// Training samples.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// True without samples (never, once built).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The sample dimension `d` (the state is wider, see [`FlowTrace::width`]).
    pub fn sample_dim(&self) -> usize {
        self.dim
    }

    /// Moves a seeded random `fraction` of the samples into a validation set, returned as
    /// `[m·dim]`.
    pub fn split_validation(&mut self, fraction: f64, seed: u64) -> Result<Vec<f64>, TrainError> {
        let bad = |reason: String| {
            Err(TrainError::Config {
                field: "validation.fraction",
                reason,
            })
        };
        if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
            return bad(format!("{fraction}; must be in (0, 1)"));
        }
        let n = self.len();
        if n < 2 {
            return bad(format!("{n} sample(s) cannot be split"));
        }
        let mut rng = Rng::new(seed ^ 0x05EE_D0F7_A11D);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let m = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
        let mut held = vec![false; n];
        for &u in &order[..m] {
            held[u] = true;
        }
        let d = self.dim;
        let (mut val, mut train) = (Vec::with_capacity(m * d), Vec::with_capacity((n - m) * d));
        for (i, row) in self.data.chunks_exact(d).enumerate() {
            if held[i] { &mut val } else { &mut train }.extend_from_slice(row);
        }
        self.data = train;
        if self.check_batch().is_err() {
            return bad(format!(
                "{fraction} leaves {} training samples, fewer than the batch ({})",
                self.len(),
                self.batch
            ));
        }
        Ok(val)
    }

    /// The batch of the given sample rows (`[m·dim]`) with trace `trace`, noise from `rng`.
    pub fn states<T: Real>(
        rows: &[f64],
        dim: usize,
        trace: FlowTrace,
        time: f64,
        rng: &mut Rng,
    ) -> Batch<T> {
        Self::states_with_probes(rows, dim, trace, 1, time, rng)
    }

    /// As [`FlowSamples::states`] with `probes` Hutchinson probes per row (`[x, 0, ε₀, …]`,
    /// drawn row after row); 1 is [`FlowSamples::states`].
    pub fn states_with_probes<T: Real>(
        rows: &[f64],
        dim: usize,
        trace: FlowTrace,
        probes: usize,
        time: f64,
        rng: &mut Rng,
    ) -> Batch<T> {
        let n = rows.len() / dim.max(1);
        let width = row_width(trace, dim, probes);
        let mut x0 = Vec::with_capacity(n * width);
        for row in rows.chunks_exact(dim) {
            x0.extend(row.iter().map(|&v| T::of(v)));
            x0.push(T::zero());
            x0.extend(std::iter::repeat_n(T::zero(), width - dim - 1));
        }
        if let FlowTrace::Hutchinson(noise) = trace {
            for r in x0.chunks_exact_mut(width) {
                for e in &mut r[dim + 1..] {
                    *e = T::of(noise.draw(rng));
                }
            }
        }
        Batch {
            times: vec![0.0, time],
            x0,
            targets: Vec::new(),
        }
    }

    /// The training samples, `[n·dim]`.
    pub fn samples(&self) -> &[f64] {
        &self.data
    }

    /// The integration time `T`.
    pub fn time(&self) -> f64 {
        self.time
    }
}

/// Values per sample row: `[x, Δlogp]` (exact trace) or `[x, Δlogp, ε₀, …]` with `probes`
/// probes of `dim` values (Hutchinson).
pub fn row_width(trace: FlowTrace, dim: usize, probes: usize) -> usize {
    match trace {
        FlowTrace::Exact => dim + 1,
        FlowTrace::Hutchinson(_) => dim + 1 + probes.max(1) * dim,
    }
}

impl<T: Real> Batches<T> for FlowSamples {
    fn dim(&self) -> usize {
        row_width(self.trace, self.dim, self.probes)
    }

    fn batch(&self, rng: &mut Rng) -> Result<Batch<T>, TrainError> {
        let n = self.len();
        // Partial Fisher–Yates: the first `batch` entries are a sample without replacement.
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..self.batch {
            let j = i + rng.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
        let d = self.dim;
        let mut rows = Vec::with_capacity(self.batch * d);
        for &i in &idx[..self.batch] {
            rows.extend_from_slice(&self.data[i * d..(i + 1) * d]);
        }
        Ok(FlowSamples::states_with_probes(
            &rows,
            d,
            self.trace,
            self.probes,
            self.time,
            rng,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symplode_codegen::ir::Activation;
    use symplode_runtime::Dynamics;
    use symplode_runtime::interp::{Interpreted, cnf};

    /// The noise-in-state graph gives the Hutchinson graph's output with the noise as an
    /// auxiliary input, and zero for ε's derivative.
    #[test]
    fn noise_in_state_matches_the_auxiliary_input_graph() {
        let f = Graph::concat_squash_mlp(2, &[5], Activation::Tanh).unwrap();
        let p = init_params(&f, 3);
        let mut aux = cnf::<f64>(&f, Trace::Hutchinson, p.clone()).unwrap();
        let inner = Interpreted::<f64>::new(hutchinson_in_state(&f).unwrap(), p).unwrap();
        assert_eq!(inner.dim(), 5);
        let (z, eps) = ([0.3, -1.2, 0.7, 0.1], [1.0, -0.5, 0.25, 2.0]);
        aux.set_aux(1, &eps).unwrap();
        let x_aux = [z[0], z[1], 0.4, z[2], z[3], -0.2];
        let mut dx_aux = [0.0; 6];
        let mut s = vec![0.0; aux.scratch_len(2)];
        aux.eval(0.3, &x_aux, &mut dx_aux, &mut s);
        let x = [
            z[0], z[1], 0.4, eps[0], eps[1], z[2], z[3], -0.2, eps[2], eps[3],
        ];
        let mut dx = [9.0; 10];
        let mut s = vec![0.0; inner.scratch_len(2)];
        inner.eval(0.3, &x, &mut dx, &mut s);
        for r in 0..2 {
            assert_eq!(&dx[5 * r..5 * r + 3], &dx_aux[3 * r..3 * r + 3], "row {r}");
            assert_eq!(&dx[5 * r + 3..5 * r + 5], &[0.0, 0.0], "dε/dt row {r}");
        }
        assert!(dx_aux[2] != 0.0);
        // The VJP with λ_ε = 0: the same parameter gradient and z, Δlogp cotangents.
        let lam_aux = [0.5, -1.0, 0.3, 2.0, 0.1, -0.7];
        let lam = [0.5, -1.0, 0.3, 0.0, 0.0, 2.0, 0.1, -0.7, 0.0, 0.0];
        let np = aux.params().len();
        let (mut gx_aux, mut gp_aux) = ([0.0; 6], vec![0.0; np]);
        let mut s = vec![0.0; aux.scratch_len(2)];
        aux.vjp(0.3, &x_aux, &lam_aux, &mut gx_aux, &mut gp_aux, &mut s);
        let (mut gx, mut gp) = ([0.0; 10], vec![0.0; np]);
        let mut s = vec![0.0; inner.scratch_len(2)];
        inner.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut s);
        for (a, b) in gp.iter().zip(&gp_aux) {
            assert!((a - b).abs() <= 1e-14 * (1.0 + b.abs()), "{a} vs {b}");
        }
        assert!(gp_aux.iter().any(|v| *v != 0.0));
        for r in 0..2 {
            for k in 0..3 {
                let (a, b) = (gx[5 * r + k], gx_aux[3 * r + k]);
                assert!(
                    (a - b).abs() <= 1e-14 * (1.0 + b.abs()),
                    "gx row {r}: {a} vs {b}"
                );
            }
        }
    }

    /// The NLL of a state at the origin with Δlogp = 0 is log(2π) in 2-D, and the cotangent
    /// is z/count, 1/count, 0.
    #[test]
    fn nll_of_known_states() {
        let state = [0.0, 0.0, 0.0, 7.0, 7.0, 1.0, 2.0, 0.5, 3.0, 3.0];
        let mut cot = [9.0; 10];
        let l = nll_contribution(&state, 5, 2, 4, &mut cot);
        let lp1 = -0.5 * 5.0 - (2.0 * PI).ln() - 0.5;
        let want = ((2.0 * PI).ln() - lp1) / 4.0;
        assert!((l - want).abs() < 1e-14, "{l} vs {want}");
        assert_eq!(cot, [0.0, 0.0, 0.25, 0.0, 0.0, 0.25, 0.5, 0.25, 0.0, 0.0]);
    }
}
