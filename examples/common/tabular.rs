//! The paper's tabular flow on real data: FFJORD's BSDS300 architecture (M = 2 CNF blocks, each
//! a ConcatSquash MLP 63-1260-1260-1260-63 with softplus, T = 1, dopri5 at rtol 1e-6 / atol
//! 1e-8, Gaussian Hutchinson ε per block and solve) on 63-D natural-image patches cut from
//! skimage's photographs by the BSDS300 recipe (`symplode::datasets::patches`). The flow is
//! the library's `TabularFlow` (`symplode_runtime::models::tabular_flow`).
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
use symplode::codegen::ir::Activation;
use symplode::datasets::patches::{self, DIM, PatchConfig};
use symplode::prelude::*;
use symplode::runtime::grad::Component;
use symplode::runtime::models::tabular_flow::{self, ProbeNoise, TabularFlow, TabularFlowConfig};
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

/// The library's tabular flow (FFJORD's BSDS300 shape with `hidden` widths and `blocks`
/// blocks, softplus, T = 1), block `b` initialised from seed `seed + b`, Hutchinson trace.
pub fn flow<T: Real>(
    blocks: usize,
    hidden: &[usize],
    seed: u64,
) -> Result<TabularFlow<T>, Box<dyn Error>> {
    let config = TabularFlowConfig {
        dim: DIM,
        hidden: hidden.to_vec(),
        activation: Activation::Softplus,
        blocks,
        time_length: 1.0,
    };
    Ok(TabularFlow::new(&config, Trace::Hutchinson, seed)?)
}

/// The negative log-likelihood of the final state of the last block (z, Δlogp), mean over the
/// batch, with its cotangent ([`tabular_flow::nll_loss`] at d = 63).
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
    tabular_flow::nll_loss(out, cot, DIM)
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
    let n = data.len() / DIM;
    let mut points = Vec::new();
    for method in methods {
        let mut flow = flow::<T>(blocks, hidden, seed)?;
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
            flow.draw_probes(batch, ProbeNoise::Gaussian, &mut rng)?;
            let problem = flow.problem(&scheme, stepping, &x0);
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

/// Exact-trace NLL (nats) of `samples` under the chained flow `flow` (its parameters, the
/// exact trace: [`TabularFlow::with_trace`], [`TabularFlow::nll`]), in chunks of 250.
pub fn exact_nll(
    flow: &TabularFlow<f64>,
    samples: &[f64],
    stepping: &Stepping,
) -> Result<f64, Box<dyn Error>> {
    let scheme = Scheme::<f64>::builtin("dopri5")?;
    let exact = flow.with_trace(Trace::Exact)?;
    let mut total = 0.0;
    let n = samples.len() / DIM;
    for chunk in samples.chunks(DIM * 250) {
        for v in exact.nll(chunk, &scheme, stepping)? {
            total += v;
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
    let mut flow = flow::<f64>(blocks, hidden, seed)?;
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
        flow.draw_probes(batch, ProbeNoise::Gaussian, &mut rng)?;
        let g = {
            let problem = flow.problem(&scheme, stepping, &x0);
            method.gradient(&problem, &mut nll_loss::<f64>)?
        };
        if !g.loss.is_finite() {
            return Err(format!("iteration {}: loss {}", it + 1, g.loss).into());
        }
        for ((m, adam), d) in flow.blocks_mut().iter_mut().zip(&mut adams).zip(&g.dtheta) {
            adam.step(m.params_mut(), d)?;
        }
        out.losses.push(g.loss);
        out.steps += g.stats.accepted as f64 / (blocks * iters) as f64;
        if (it + 1) % eval_every == 0 || it + 1 == iters {
            let v = exact_nll(&flow, validation, stepping)?;
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
    let test_n = 1000.min(data.test.len());
    out.test_nll = exact_nll(&flow, &data.test.data[..test_n * DIM], stepping)?;
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
