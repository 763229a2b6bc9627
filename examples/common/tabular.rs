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
use symplode::runtime::solver::solve;

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

/// The outcome of training the tabular flow.
pub struct Trained {
    /// Training NLL (Hutchinson estimate) per iteration.
    pub losses: Vec<f64>,
    /// (iteration, validation NLL with the exact trace).
    pub validation: Vec<(usize, f64)>,
    /// Test NLL with the exact trace, nats.
    pub test_nll: f64,
    /// Seconds of training.
    pub seconds: f64,
    /// Mean accepted steps per block per iteration.
    pub steps: f64,
}

/// Exact-trace NLL (nats) of `samples` under the chained flow with parameters `params` (one
/// vector per block), in chunks.
pub fn exact_nll(
    f: &Graph,
    params: &[Vec<f64>],
    samples: &[f64],
    stepping: &Stepping,
) -> Result<f64, Box<dyn Error>> {
    let scheme = Scheme::<f64>::builtin("dopri5")?;
    let exact: Vec<Interpreted<f64>> = params
        .iter()
        .map(|p| cnf::<f64>(f, Trace::Exact, p.clone()))
        .collect::<Result<_, _>>()?;
    let w = DIM + 1;
    let mut total = 0.0;
    let n = samples.len() / DIM;
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    for chunk in samples.chunks(DIM * 250) {
        let mut x: Vec<f64> = chunk
            .chunks_exact(DIM)
            .flat_map(|s| s.iter().copied().chain([0.0]))
            .collect();
        for (b, m) in exact.iter().enumerate() {
            let sol = solve(m, &scheme, stepping, &[b as f64, b as f64 + 1.0], &x)?;
            x.copy_from_slice(&sol.states[0]);
        }
        for r in x.chunks_exact(w) {
            let sq: f64 = r[..DIM].iter().map(|v| v * v).sum();
            total += 0.5 * sq + 0.5 * DIM as f64 * log_2pi + r[DIM];
        }
    }
    Ok(total / n.max(1) as f64)
}

/// Trains the M-block flow with `method` on the training patches (Adam, Gaussian Hutchinson ε
/// per block and solve), evaluating the validation NLL every `eval_every` iterations and the
/// test NLL at the end.
#[allow(clippy::too_many_arguments)]
pub fn train(
    method: &dyn GradientMethod<f64>,
    data: &patches::Patches,
    blocks: usize,
    hidden: &[usize],
    batch: usize,
    iters: usize,
    lr: f64,
    stepping: &Stepping,
    eval_every: usize,
    seed: u64,
) -> Result<Trained, Box<dyn Error>> {
    use symplode::runtime::optim::{Adam, AdamConfig, Optimizer, WeightDecay};
    let scheme = Scheme::<f64>::builtin("dopri5")?;
    let f = block_net(hidden);
    let mut models: Vec<Interpreted<f64>> = (0..blocks)
        .map(|b| {
            cnf::<f64>(
                &f,
                Trace::Hutchinson,
                super::toy::init_params(&f, seed + b as u64),
            )
        })
        .collect::<Result<_, _>>()?;
    let mut adams: Vec<Adam> = (0..blocks)
        .map(|_| {
            Adam::new(AdamConfig {
                lr,
                weight_decay: WeightDecay::L2(1e-6),
                ..AdamConfig::default()
            })
        })
        .collect::<Result<_, _>>()?;
    let train = &data.train.data;
    let n = train.len() / DIM;
    let eval_n = 500.min(data.validation.len());
    let validation = &data.validation.data[..eval_n * DIM];
    let mut out = Trained {
        losses: Vec::with_capacity(iters),
        validation: Vec::new(),
        test_nll: f64::NAN,
        seconds: 0.0,
        steps: 0.0,
    };
    let start = Instant::now();
    for it in 0..iters {
        let mut rng = Rng::new(seed ^ (it as u64 + 1).wrapping_mul(0xA24B_AED4));
        let mut x0 = Vec::with_capacity(batch * (DIM + 1));
        for _ in 0..batch {
            let i = rng.below(n as u64) as usize;
            x0.extend_from_slice(&train[i * DIM..(i + 1) * DIM]);
            x0.push(0.0);
        }
        for m in models.iter_mut() {
            let eps: Vec<f64> = (0..batch * DIM).map(|_| rng.normal()).collect();
            m.set_aux(1, &eps)?;
        }
        let g = {
            let problem = Problem {
                chain: models
                    .iter()
                    .enumerate()
                    .map(|(b, m)| Component {
                        dynamics: m as &dyn Dynamics<f64>,
                        times: vec![b as f64, b as f64 + 1.0],
                    })
                    .collect(),
                scheme: &scheme,
                stepping: stepping.clone(),
                x0: &x0,
            };
            method.gradient(&problem, &mut nll_loss::<f64>)?
        };
        if !g.loss.is_finite() {
            return Err(format!("iteration {}: loss {}", it + 1, g.loss).into());
        }
        for ((m, adam), d) in models.iter_mut().zip(&mut adams).zip(&g.dtheta) {
            adam.step(m.params_mut(), d)?;
        }
        out.losses.push(g.loss);
        out.steps += g.stats.accepted as f64 / (blocks * iters) as f64;
        if (it + 1) % eval_every == 0 || it + 1 == iters {
            let params: Vec<Vec<f64>> = models.iter().map(|m| m.params().to_vec()).collect();
            let v = exact_nll(&f, &params, validation, stepping)?;
            println!(
                "  iteration {:>5}: train NLL {:.3} · validation NLL {:.3} · {:.0} s",
                it + 1,
                g.loss,
                v,
                start.elapsed().as_secs_f64()
            );
            out.validation.push((it + 1, v));
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    let params: Vec<Vec<f64>> = models.iter().map(|m| m.params().to_vec()).collect();
    let test_n = 1000.min(data.test.len());
    out.test_nll = exact_nll(&f, &params, &data.test.data[..test_n * DIM], stepping)?;
    Ok(out)
}

/// The learning curve: training NLL per iteration and validation NLL, as a PNG.
pub fn plot_learning(
    path: &std::path::Path,
    t: &Trained,
    title: &str,
) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    let text = super::font::register_font();
    let tmp = super::png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let all: Vec<f64> = t
        .losses
        .iter()
        .copied()
        .chain(t.validation.iter().map(|v| v.1))
        .filter(|v| v.is_finite())
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(1e-9);
    let mut b = ChartBuilder::on(&root);
    b.margin(12).x_label_area_size(40).y_label_area_size(60);
    if text {
        b.caption(title, ("sans-serif", 18));
    }
    let mut c = b.build_cartesian_2d(0f64..t.losses.len().max(1) as f64, (lo - pad)..(hi + pad))?;
    let mut mesh = c.configure_mesh();
    if text {
        mesh.x_desc("iteration").y_desc("NLL (nats)");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    let train_line = c.draw_series(LineSeries::new(
        t.losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as f64 + 1.0, l)),
        BLUE.mix(0.6),
    ))?;
    if text {
        train_line
            .label("train (Hutchinson)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    }
    let val_line = c.draw_series(LineSeries::new(
        t.validation.iter().map(|&(i, v)| (i as f64, v)),
        RED.stroke_width(2),
    ))?;
    if text {
        val_line
            .label("validation (exact trace)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    super::png::commit(&tmp, path)?;
    Ok(())
}
