//! The paper's tabular flow on real data: FFJORD's BSDS300 architecture (M = 2 CNF blocks, each
//! a ConcatSquash MLP 63-1260-1260-1260-63 with softplus, T = 1, dopri5 at rtol 1e-6 / atol
//! 1e-8, Gaussian Hutchinson ε per block and solve) on 63-D natural-image patches cut from
//! skimage's photographs by the BSDS300 recipe (`symplode::datasets::patches`).
//!
//! A CPU cannot run the paper's batch of 10,000 in minutes, so each method is measured at small
//! batches (peak heap of a gradient call by the counting allocator, the method's own
//! prediction, seconds per iteration, steps, NFE), and its prediction at the paper's batch
//! comes from `GradientMethod::predict` with the step counts measured, validated by the ratio
//! measured / predicted at the measured batches.

use std::error::Error;
use std::sync::atomic::Ordering;
use std::time::Instant;

use symplode::codegen::ad::Trace;
use symplode::codegen::ir::{Activation, Graph};
use symplode::datasets::patches::{self, DIM, PatchConfig};
use symplode::prelude::*;
use symplode::runtime::grad::Component;
use symplode::runtime::interp::{Interpreted, cnf};
use symplode::runtime::rng::Rng;

use super::heap::{CURRENT, PEAK};

/// The machine's memory, for the "does not fit" verdicts.
pub const MACHINE_BYTES: usize = 24 << 30;

/// One (method, batch) measurement.
pub struct Point {
    /// The method.
    pub method: &'static str,
    /// Samples per batch.
    pub batch: usize,
    /// Largest heap peak of a gradient call, bytes.
    pub peak: usize,
    /// The method's prediction for that call.
    pub predicted: usize,
    /// Seconds per gradient call.
    pub seconds: f64,
    /// Accepted steps per block (mean over iterations, first block / all blocks).
    pub steps: Vec<usize>,
    /// Forward and backward evaluations (mean).
    pub nfe: (f64, f64),
    /// The prediction at the paper's batch with these step counts.
    pub predicted_paper: usize,
    /// The loss of the first iteration (same weights and noise for every method).
    pub first_loss: f64,
}

/// The FFJORD tabular net of one block.
pub fn block_net(hidden: &[usize]) -> Graph {
    Graph::concat_squash_mlp(DIM, hidden, Activation::Softplus).expect("a valid ConcatSquash MLP")
}

/// The negative log-likelihood of the final state of the last block (z, Δlogp), mean over the
/// batch, with its cotangent.
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
    let w = DIM + 1;
    let (Some(last), Some(c)) = (
        out.last().and_then(|o| o.last()),
        cot.last_mut().and_then(|o| o.last_mut()),
    ) else {
        return f64::NAN;
    };
    let batch = (last.len() / w).max(1) as f64;
    let inv = T::of(1.0 / batch);
    let mut nll = 0.0;
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    for (cr, r) in c.chunks_exact_mut(w).zip(last.chunks_exact(w)) {
        let mut sq = 0.0;
        for k in 0..DIM {
            sq += r[k].f64() * r[k].f64();
            cr[k] = r[k] * inv;
        }
        cr[DIM] = inv;
        nll += 0.5 * sq + 0.5 * DIM as f64 * log_2pi + r[DIM].f64();
    }
    nll / batch
}

/// Measures every method at `batch` on the patches for `iters` gradient calls with the same
/// weights, batches and noise.
#[allow(clippy::too_many_arguments)]
pub fn measure<T: Real>(
    methods: &[Box<dyn GradientMethod<T>>],
    data: &[f64],
    blocks: usize,
    hidden: &[usize],
    batch: usize,
    iters: usize,
    stepping: &Stepping,
    seed: u64,
    paper_batch: usize,
) -> Result<Vec<Point>, Box<dyn Error>> {
    let scheme = Scheme::<T>::builtin("dopri5")?;
    let f = block_net(hidden);
    let n = data.len() / DIM;
    let mut points = Vec::new();
    for method in methods {
        let mut models: Vec<Interpreted<T>> = (0..blocks)
            .map(|b| {
                let init: Vec<T> = super::toy::init_params(&f, seed + b as u64)
                    .into_iter()
                    .map(T::of)
                    .collect();
                cnf::<T>(&f, Trace::Hutchinson, init)
            })
            .collect::<Result<_, _>>()?;
        let mut point = Point {
            method: method.name(),
            batch,
            peak: 0,
            predicted: 0,
            seconds: 0.0,
            steps: vec![0; blocks],
            nfe: (0.0, 0.0),
            predicted_paper: 0,
            first_loss: f64::NAN,
        };
        for it in 0..iters {
            let mut rng = Rng::new(seed ^ (it as u64 + 1).wrapping_mul(0x9E37_79B9));
            let mut x0 = Vec::with_capacity(batch * (DIM + 1));
            for _ in 0..batch {
                let i = rng.below(n as u64) as usize;
                x0.extend(data[i * DIM..(i + 1) * DIM].iter().map(|&v| T::of(v)));
                x0.push(T::zero());
            }
            for m in models.iter_mut() {
                let eps: Vec<T> = (0..batch * DIM).map(|_| T::of(rng.normal())).collect();
                m.set_aux(1, &eps)?;
            }
            let problem = Problem {
                chain: models
                    .iter()
                    .enumerate()
                    .map(|(b, m)| Component {
                        dynamics: m as &dyn Dynamics<T>,
                        times: vec![b as f64, b as f64 + 1.0],
                    })
                    .collect(),
                scheme: &scheme,
                stepping: stepping.clone(),
                x0: &x0,
            };
            let start = Instant::now();
            let base = CURRENT.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let g = method.gradient(&problem, &mut nll_loss::<T>)?;
            let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            point.seconds += start.elapsed().as_secs_f64();
            let steps: Vec<usize> = g.grids.iter().map(|gr| gr.steps()).collect();
            if it == 0 {
                point.first_loss = g.loss;
            }
            if peak >= point.peak {
                point.peak = peak;
                point.predicted = method.predict(&ProblemSizes::of(&problem, &steps)).total();
                // The same problem at the paper's batch (x0 only sizes it).
                let big = vec![T::zero(); paper_batch * (DIM + 1)];
                let paper = Problem {
                    x0: &big,
                    chain: problem
                        .chain
                        .iter()
                        .map(|c| Component {
                            dynamics: c.dynamics,
                            times: c.times.clone(),
                        })
                        .collect(),
                    scheme: &scheme,
                    stepping: stepping.clone(),
                };
                point.predicted_paper = method.predict(&ProblemSizes::of(&paper, &steps)).total();
                point.steps = steps;
            }
            point.nfe.0 += g.stats.nfe_forward as f64 / iters as f64;
            point.nfe.1 += (g.stats.nfe_backward + g.stats.vjp_backward) as f64 / iters as f64;
        }
        point.seconds /= iters.max(1) as f64;
        println!(
            "  {:<22} batch {:>5}: peak {:>9.1} MiB (predicted {:>9.1}, ratio {:.3}) · {:.2} s/iter \
             · steps {:?} · NFE {:.0}+{:.0} · at batch {paper_batch}: {:.0} MiB",
            point.method,
            batch,
            mib(point.peak),
            mib(point.predicted),
            point.peak as f64 / point.predicted.max(1) as f64,
            point.seconds,
            point.steps,
            point.nfe.0,
            point.nfe.1,
            mib(point.predicted_paper)
        );
        points.push(point);
    }
    Ok(points)
}

/// Bytes as MiB.
pub fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The patches from `dir` (or `SYMPLODE_SKIMAGE_DIR`, or the package's path).
pub fn load_patches(dir: Option<&str>, seed: u64) -> Result<patches::Patches, Box<dyn Error>> {
    let dir = dir
        .map(str::to_string)
        .or_else(|| std::env::var("SYMPLODE_SKIMAGE_DIR").ok())
        .unwrap_or_else(|| patches::SKIMAGE_DATA_DIR.to_string());
    let config = PatchConfig {
        seed,
        ..PatchConfig::default()
    };
    Ok(patches::load(&dir, &config)?)
}
