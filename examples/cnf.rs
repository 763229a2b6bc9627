//! FFJORD on the 2-D toy densities: a continuous normalizing flow trained by maximum likelihood
//! with any of the five gradient methods, then plotted (true samples | learned density | model
//! samples).
//!
//! (Over 600 lines: one example holds the training run (on one thread or chunked over N), its
//! plots and the `--bench` mode that `bench/peers/cnf_table.py` times against torchdiffeq,
//! which share the model, data and threading setup.)
//!
//! **Model.** FFJORD's toy setup (`train_toy.py`): the ODE net is an MLP of ConcatSquash layers
//! 2 → 64 → 64 → 64 → 2 with tanh (`--dims`, `--activation`), built as an IR graph
//! ([`Graph::concat_squash_mlp`]) and turned into CNF dynamics on the augmented state
//! `[z, Δlogp]` (width 3) by [`cnf`]. Integration time `[0, T]` with `T = 0.5` (`--time`;
//! FFJORD's `time_length`, not trained here), dopri5 with rtol = atol = 1e-5.
//!
//! **Sign convention** (FFJORD's). Data `x` at `t0 = 0` is integrated to `z(T)` together with
//! `Δlogp`, `d Δlogp/dt = −tr(∂f/∂z)`, `Δlogp(0) = 0`; then
//! `log p(x) = log N(z(T); 0, I) − Δlogp(T) = log N(z(T); 0, I) + ∫ tr(∂f/∂z) dt`.
//! The loss is `−mean log p(x)` over a mini-batch of fresh samples.
//!
//! **Divergence.** Training uses Hutchinson's estimator `εᵀ(∂f/∂z)ε` (`Trace::Hutchinson`):
//! one `ε` (Gaussian, or Rademacher with `--rademacher`) is drawn per mini-batch, i.e. per
//! solve, and set with `set_aux(1, ε)` *before* the gradient call. The model keeps it until it
//! is replaced, so the forward sweep and every backward recomputation (the symplectic
//! adjoint's stage recomputation, ACA's step re-runs, the adjoint method's backward solve) see
//! the *same* `ε`, as FFJORD's stored `_e` does; a new `ε` is drawn only between gradients.
//! `--trace exact` trains with the exact trace instead. Test NLL, the density plot and
//! everything else reported use the exact trace (`Trace::Exact`, FFJORD's `brute_force`).
//!
//! **Samples** are drawn by integrating `z ~ N(0, I)` from `T` back to 0: the solvers need
//! increasing times, so the ODE net is wrapped as `dz/ds = −f(z, T − s)` and solved over
//! `s ∈ [0, T]`.
//!
//! **Threads.** `--threads N` runs training and evaluation (test NLL, density grid, sampling)
//! on N threads with [`Chunked`], in chunks of `--chunk-rows` rows (default: the batch split
//! evenly over the threads). The Hutchinson noise stays set for the
//! whole batch; each chunk reads its own rows of it ([`Dynamics::call_rows`]). Results depend
//! on the chunk size, not on N: with `--chunk-rows` fixed, any N gives the same bits (the
//! chunks' parameter gradients are summed in chunk order).
//!
//! Writes into `--out` (default `target/cnf`): `cnf-DATA.png`, `log-DATA.jsonl` (one line per
//! iteration) and `summary-DATA.json`.
//!
//! Run: `cargo run --release --example cnf -- --data 8gaussians`
//!
//! Benchmark against FFJORD's PyTorch loop (`bench/peers/ffjord_toy.py`, same settings):
//! `cargo run --release --example cnf -- --bench --iters 50 --lr 1e-3 [--f32]` prints one JSON
//! line (seconds per iteration over iterations 11–50, NFE), without evaluation or plot.
//!
//! Flags: `--data NAME` (8gaussians, 2spirals, checkerboard, moons, circles, pinwheel,
//! swissroll, rings, or `all`), `--method symplectic|symplectic-stored|backprop|adjoint|aca|checkpoint-component`,
//! `--tableau NAME`, `--rtol R --atol A` or `--steps N`, `--iters N`, `--batch N`, `--lr X`,
//! `--dims 64-64-64`, `--activation tanh|softplus`, `--time T`, `--trace hutchinson|exact`,
//! `--rademacher`, `--threads N`, `--chunk-rows N`, `--f32`, `--out DIR`, `--seed N`, `--test N`, `--grid N`,
//! `--bench`, `--warmup N`, `--jit` (with `--bench`: the network JIT instead of the interpreter).

#[path = "common/font.rs"]
mod font;
#[path = "common/png.rs"]
mod png;
#[path = "common/toy.rs"]
mod toy;

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plotters::prelude::*;
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::Activation;
use symplode::prelude::*;
use symplode::runtime::interp::{Interpreted, cnf};
use symplode::runtime::jit::{JitNetwork, JitOptions, JitReal};
use symplode::runtime::optim::{Adam, AdamConfig, LrSchedule, Optimizer, WeightDecay};
use symplode::runtime::parallel::Chunked;
use symplode::runtime::rng::Rng;
use symplode::train::{IterationLog, batch_seed};

#[derive(Parser, Debug, Clone)]
#[command(about = "Train an FFJORD continuous normalizing flow on a 2-D toy density")]
struct Args {
    /// Toy density (8gaussians, 2spirals, checkerboard, moons, circles, pinwheel, swissroll,
    /// rings), or `all`.
    #[arg(long, default_value = "8gaussians")]
    data: String,
    /// Gradient method: symplectic, symplectic-stored, backprop, adjoint, adjoint-seminorm, aca,
    /// checkpoint-component.
    #[arg(long, default_value = "symplectic")]
    method: String,
    /// Runge–Kutta tableau (a built-in name).
    #[arg(long, default_value = "dopri5")]
    tableau: String,
    /// Relative tolerance of adaptive steps (FFJORD toy default 1e-5).
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance of adaptive steps (FFJORD toy default 1e-5).
    #[arg(long)]
    atol: Option<f64>,
    /// Fixed steps over [0, T] (instead of adaptive steps).
    #[arg(long, conflicts_with_all = ["rtol", "atol"])]
    steps: Option<usize>,
    /// Training iterations.
    #[arg(long, default_value_t = 1500)]
    iters: u64,
    /// Fresh samples per mini-batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Adam's initial learning rate (cosine-annealed to 5% of it; weight decay 1e-5 as FFJORD).
    #[arg(long, default_value_t = 5e-3)]
    lr: f64,
    /// Hidden widths of the ConcatSquash MLP (FFJORD's `--dims`).
    #[arg(long, default_value = "64-64-64")]
    dims: String,
    /// Activation between layers: tanh or softplus.
    #[arg(long, default_value = "tanh")]
    activation: String,
    /// Integration time T (FFJORD's `time_length`).
    #[arg(long, default_value_t = 0.5)]
    time: f64,
    /// Divergence during training: hutchinson or exact (evaluation always uses exact).
    #[arg(long, default_value = "hutchinson")]
    trace: String,
    /// Rademacher instead of Gaussian Hutchinson noise.
    #[arg(long)]
    rademacher: bool,
    /// Threads for chunked training and evaluation (see the module documentation).
    #[arg(long)]
    threads: Option<usize>,
    /// Rows per chunk with `--threads` (default: the batch split evenly over the threads).
    /// Results depend on it, not on the thread count.
    #[arg(long, requires = "threads")]
    chunk_rows: Option<usize>,
    /// Compute in f32 instead of f64.
    #[arg(long)]
    f32: bool,
    /// Output directory.
    #[arg(long, default_value = "target/cnf")]
    out: PathBuf,
    /// Seed of the initial weights, the mini-batches, the noise and the test set.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Held-out test points (exact-trace NLL).
    #[arg(long, default_value_t = 2000)]
    test: usize,
    /// Density grid resolution per axis.
    #[arg(long, default_value_t = 120)]
    grid: usize,
    /// Progress lines printed during training (besides the bar).
    #[arg(long, default_value_t = 10)]
    reports: u64,
    /// Benchmark mode (`bench/peers/ffjord_toy.py`'s loop): train `--iters` iterations with a
    /// constant learning rate, no evaluation or plot, and print one JSON line with the mean
    /// and median seconds per iteration and the NFE over the iterations after `--warmup`.
    #[arg(long)]
    bench: bool,
    /// Iterations left out of the `--bench` figures.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// `--bench` on the network JIT (`JitNetwork`) instead of the interpreter.
    #[arg(long, requires = "bench")]
    jit: bool,
}

/// Half-width of the plotted square (FFJORD's toy plots use [−4, 4]²).
const BOX: f64 = 4.0;

/// The training dynamics: Hutchinson (the noise is set on the model's interpreter) or exact;
/// either possibly chunked over threads.
enum TrainModel<T: Real> {
    Hutchinson(Box<dyn Noisy<T>>),
    Exact(Box<dyn Dynamics<T>>),
}

/// A Hutchinson CNF whose noise is set on its interpreter: interpreted, JIT-compiled, or
/// either chunked over threads.
trait Noisy<T: Real>: Dynamics<T> {
    /// The interpreter that holds the noise (`set_aux(1, ε)`).
    fn interp_mut(&mut self) -> &mut Interpreted<T>;
}

impl<T: Real> Noisy<T> for Interpreted<T> {
    fn interp_mut(&mut self) -> &mut Interpreted<T> {
        self
    }
}

impl<T: JitReal> Noisy<T> for JitNetwork<T> {
    fn interp_mut(&mut self) -> &mut Interpreted<T> {
        self.interpreted_mut()
    }
}

impl<T: Real, D: Noisy<T>> Noisy<T> for Chunked<D> {
    fn interp_mut(&mut self) -> &mut Interpreted<T> {
        self.inner_mut().interp_mut()
    }
}

impl Args {
    /// `(threads, rows per chunk)` when `--threads` was given.
    fn chunking(&self) -> Option<(usize, usize)> {
        self.threads.map(|n| (n, self.chunk_rows()))
    }

    /// Rows per chunk: `--chunk-rows`, else the batch split evenly over the threads.
    fn chunk_rows(&self) -> usize {
        self.chunk_rows
            .unwrap_or_else(|| self.batch.div_ceil(self.threads.unwrap_or(1).max(1)))
    }
}

/// Wraps a Hutchinson CNF in [`Chunked`] when threads were asked for (`(threads, rows per
/// chunk)`).
fn threaded_noisy<T: Real, D: Noisy<T> + 'static>(
    d: D,
    threads: Option<(usize, usize)>,
) -> Result<Box<dyn Noisy<T>>, Box<dyn Error>> {
    Ok(match threads {
        Some((n, rows)) => Box::new(Chunked::new(d, rows)?.with_threads(n)?),
        None => Box::new(d),
    })
}

impl<T: Real> TrainModel<T> {
    fn dynamics(&self) -> &dyn Dynamics<T> {
        match self {
            TrainModel::Hutchinson(m) => &**m,
            TrainModel::Exact(m) => &**m,
        }
    }
    fn params_mut(&mut self) -> &mut [T] {
        match self {
            TrainModel::Hutchinson(m) => m.params_mut(),
            TrainModel::Exact(m) => m.params_mut(),
        }
    }
}

/// Wraps `d` in [`Chunked`] when threads were asked for (`(threads, rows per chunk)`).
fn threaded<T: Real, D: Dynamics<T> + 'static>(
    d: D,
    threads: Option<(usize, usize)>,
) -> Result<Box<dyn Dynamics<T>>, Box<dyn Error>> {
    Ok(match threads {
        Some((n, rows)) => Box::new(Chunked::new(d, rows)?.with_threads(n)?),
        None => Box::new(d),
    })
}

/// What one dataset's run produced.
struct Outcome {
    data: String,
    truth: Vec<[f64; 2]>,
    /// Grid resolution and `log p` on it (row-major, y outer).
    grid: usize,
    logp: Vec<f64>,
    samples: Vec<[f64; 2]>,
    test_nll: f64,
    summary: serde_json::Value,
}

fn stepping_of(args: &Args) -> Stepping {
    match (args.steps, args.rtol, args.atol) {
        (Some(n), _, _) => Stepping::fixed(n),
        (None, r, a) => Stepping::adaptive(r.unwrap_or(1e-5), a.unwrap_or(1e-5)),
    }
}

fn run<T: Real>(args: &Args, data: &str) -> Result<Outcome, Box<dyn Error>> {
    let stepping = stepping_of(args);
    let scheme = Scheme::<T>::builtin(&args.tableau)?;
    let method = toy::method::<T>(&args.method)?;
    let hidden = toy::parse_dims(&args.dims)?;
    let activation: Activation = args.activation.parse()?;
    let hutchinson = match args.trace.as_str() {
        "hutchinson" => true,
        "exact" => false,
        other => return Err(format!("unknown trace `{other}`; use hutchinson or exact").into()),
    };
    let t1 = args.time;
    let f = toy::ode_net(&hidden, activation);
    let params: Vec<T> = toy::init_params(&f, args.seed)
        .into_iter()
        .map(T::of)
        .collect();
    let n_params = params.len();
    let exact = cnf::<T>(&f, Trace::Exact, params.clone())?;
    let mut model = if hutchinson {
        TrainModel::Hutchinson(threaded_noisy(
            cnf::<T>(&f, Trace::Hutchinson, params)?,
            args.chunking(),
        )?)
    } else {
        TrainModel::Exact(threaded(exact.clone(), args.chunking())?)
    };
    let mut eval = threaded(exact, args.chunking())?;

    let mut test_rng = Rng::new(args.seed ^ 0x7E57_DA7A);
    let test = toy::sample(data, args.test, &mut test_rng)?;
    let test_nll = |m: &dyn Dynamics<T>| -> Result<f64, SolveError> {
        let lp = toy::log_density(m, &scheme, &stepping, t1, &test, 1000)?;
        Ok(-lp.iter().sum::<f64>() / lp.len().max(1) as f64)
    };
    let nll0 = test_nll(&*eval)?;

    let stepping_text = match &stepping {
        Stepping::Fixed { steps } => format!("{steps} fixed steps"),
        Stepping::Adaptive(a) => format!("adaptive rtol {:e} atol {:e}", a.rtol, a.atol),
    };
    println!(
        "cnf {data}: {} on {}, {stepping_text}, T = {t1}, ConcatSquash 2-{}-2 {} ({n_params} \
         parameters), {} iterations x {} samples, {} trace{}, {}",
        method.name(),
        scheme.name(),
        args.dims,
        activation,
        args.iters,
        args.batch,
        if hutchinson { "Hutchinson" } else { "exact" },
        if hutchinson {
            if args.rademacher {
                " (Rademacher ε)"
            } else {
                " (Gaussian ε)"
            }
        } else {
            ""
        },
        T::NAME
    );
    if let Some(n) = args.threads {
        println!(
            "threads: training and evaluation on {n} threads ({} rows per chunk)",
            args.chunk_rows()
        );
    }
    println!(
        "initial test NLL (exact trace, {} points): {nll0:.4}",
        test.len()
    );

    let mut adam = Adam::new(AdamConfig {
        lr: args.lr,
        weight_decay: WeightDecay::L2(1e-5),
        ..AdamConfig::default()
    })?;
    let schedule = LrSchedule::Cosine {
        total: args.iters.max(1),
        min_lr: 0.05 * args.lr,
    };
    std::fs::create_dir_all(&args.out)?;
    let log_path = args.out.join(format!("log-{data}.jsonl"));
    let mut log = std::io::BufWriter::new(std::fs::File::create(&log_path)?);
    let bar = ProgressBar::with_draw_target(Some(args.iters), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )?
        .progress_chars("=> "),
    );
    let report_every = (args.iters / args.reports.max(1)).max(1);
    let mut history: Vec<IterationLog> = Vec::new();
    let mut smooth = f64::NAN;
    let start = Instant::now();
    for it in 0..args.iters {
        let mut rng = Rng::new(batch_seed(args.seed, it));
        let pts = toy::sample(data, args.batch, &mut rng)?;
        let x0 = toy::augment::<T>(&pts);
        if let TrainModel::Hutchinson(m) = &mut model {
            // One ε per solve, set before the gradient call: forward and backward share it.
            m.interp_mut()
                .set_aux(1, &toy::noise::<T>(args.batch, args.rademacher, &mut rng))?;
        }
        let lr = schedule.lr(args.lr, it);
        Optimizer::<T>::set_lr(&mut adam, lr)?;
        let t_iter = Instant::now();
        let g = {
            let problem =
                Problem::single(model.dynamics(), &[0.0, t1], &scheme, stepping.clone(), &x0);
            method.gradient(&problem, &mut toy::nll_loss::<T>)?
        };
        if !g.loss.is_finite() {
            bar.abandon();
            return Err(format!("iteration {}: the loss is {}", it + 1, g.loss).into());
        }
        let grad = &g.dtheta[0];
        let grad_norm = grad.iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt();
        adam.step(model.params_mut(), grad)?;
        let record = IterationLog::new(
            it + 1,
            g.loss,
            lr,
            grad_norm,
            &g.stats,
            t_iter.elapsed().as_secs_f64(),
        );
        serde_json::to_writer(&mut log, &record)?;
        log.write_all(b"\n")?;
        smooth = if smooth.is_nan() {
            g.loss
        } else {
            0.98 * smooth + 0.02 * g.loss
        };
        bar.set_position(it + 1);
        bar.set_message(format!(
            "loss {:.3} (avg {smooth:.3}) nfe {}+{} steps {} peak {:.0} KiB",
            g.loss,
            g.stats.nfe_forward,
            g.stats.nfe_backward + g.stats.vjp_backward,
            g.stats.accepted,
            g.stats.peak_total_bytes as f64 / 1024.0
        ));
        if (it + 1) % report_every == 0 || it + 1 == args.iters {
            bar.suspend(|| {
                println!(
                    "iter {:>5}  loss {:.4}  avg {smooth:.4}  lr {lr:.2e}  nfe fwd {} bwd {}+{} vjp  \
                     steps {} (+{} rejected)  peak {:.1} KiB  {:.1} s",
                    it + 1,
                    g.loss,
                    g.stats.nfe_forward,
                    g.stats.nfe_backward,
                    g.stats.vjp_backward,
                    g.stats.accepted,
                    g.stats.rejected,
                    g.stats.peak_total_bytes as f64 / 1024.0,
                    start.elapsed().as_secs_f64()
                )
            });
        }
        history.push(record);
    }
    bar.finish_and_clear();
    log.flush()?;
    let seconds = start.elapsed().as_secs_f64();

    // Evaluation with the exact trace.
    eval.params_mut().copy_from_slice(model.dynamics().params());
    let t_eval = Instant::now();
    let nll = test_nll(&*eval)?;
    let g = args.grid.max(2);
    let cell = 2.0 * BOX / g as f64;
    let grid_pts: Vec<[f64; 2]> = (0..g * g)
        .map(|k| {
            let (i, j) = (k % g, k / g);
            [
                -BOX + (i as f64 + 0.5) * cell,
                -BOX + (j as f64 + 0.5) * cell,
            ]
        })
        .collect();
    let logp = toy::log_density(&*eval, &scheme, &stepping, t1, &grid_pts, 2000)?;
    let mass: f64 = logp.iter().map(|l| l.exp()).sum::<f64>() * cell * cell;
    let net = Interpreted::<T>::new(f.clone(), model.dynamics().params().to_vec())?;
    let reversed = threaded(toy::Reversed { inner: net, t1 }, args.chunking())?;
    let mut sample_rng = Rng::new(args.seed ^ 0x5A3F);
    let samples = toy::model_samples(&*reversed, &scheme, &stepping, t1, 5000, &mut sample_rng)?;
    let eval_seconds = t_eval.elapsed().as_secs_f64();
    let mut truth_rng = Rng::new(args.seed ^ 0x7127);
    let truth = toy::sample(data, 5000, &mut truth_rng)?;

    let n = history.len().max(1) as f64;
    let mean = |f: &dyn Fn(&IterationLog) -> f64| history.iter().map(f).sum::<f64>() / n;
    let tail = &history[history.len().saturating_sub(100)..];
    let tail_loss = tail.iter().map(|r| r.loss).sum::<f64>() / tail.len().max(1) as f64;
    let peak = history.iter().map(|r| r.peak_bytes).max().unwrap_or(0);
    println!(
        "{data}: test NLL (exact trace) {nll0:.4} -> {nll:.4}; training loss (mean of the last \
         100) {tail_loss:.4}; {seconds:.1} s ({:.1} ms/iter), mean NFE fwd {:.0} bwd {:.0}+{:.0} \
         vjp, steps {:.1}, peak {:.1} KiB; evaluation {eval_seconds:.1} s; density mass on \
         [-{BOX},{BOX}]² {mass:.3}",
        1e3 * seconds / n,
        mean(&|r| r.nfe_forward as f64),
        mean(&|r| r.nfe_backward as f64),
        mean(&|r| r.vjp_backward as f64),
        mean(&|r| r.steps as f64),
        peak as f64 / 1024.0
    );
    let summary = serde_json::json!({
        "data": data,
        "method": method.name(),
        "tableau": scheme.name(),
        "stepping": stepping_text,
        "dtype": T::NAME,
        "dims": args.dims,
        "activation": activation.name(),
        "time": t1,
        "trace": args.trace,
        "rademacher": args.rademacher,
        "params": n_params,
        "iterations": args.iters,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "chunk_rows": args.chunking().map(|(_, rows)| rows),
        "test_points": test.len(),
        "test_nll_initial": nll0,
        "test_nll": nll,
        "train_loss_last_100": tail_loss,
        "seconds": seconds,
        "seconds_per_iteration": seconds / n,
        "eval_seconds": eval_seconds,
        "mean_nfe_forward": mean(&|r| r.nfe_forward as f64),
        "mean_nfe_backward": mean(&|r| r.nfe_backward as f64),
        "mean_vjp_backward": mean(&|r| r.vjp_backward as f64),
        "mean_steps": mean(&|r| r.steps as f64),
        "peak_bytes": peak,
        "density_mass_in_box": mass,
    });
    Ok(Outcome {
        data: data.to_string(),
        truth,
        grid: g,
        logp,
        samples,
        test_nll: nll,
        summary,
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match main_inner(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main_inner(args: &Args) -> Result<(), Box<dyn Error>> {
    let names: Vec<&str> = if args.data == "all" {
        toy::DATASETS.to_vec()
    } else {
        vec![args.data.as_str()]
    };
    std::fs::create_dir_all(&args.out)?;
    let text = font::register_font();
    if !text {
        eprintln!(
            "no TrueType font found (set SYMPLODE_FONT=/path/to/font.ttf): plotting without text"
        );
    }
    if args.bench {
        for name in names {
            if args.f32 {
                bench::<f32>(args, name)?
            } else {
                bench::<f64>(args, name)?
            }
        }
        return Ok(());
    }
    let mut results = Vec::new();
    for name in names {
        let o = if args.f32 {
            run::<f32>(args, name)?
        } else {
            run::<f64>(args, name)?
        };
        let png = args.out.join(format!("cnf-{}.png", o.data));
        plot(&png, &o, text)?;
        let summary = args.out.join(format!("summary-{}.json", o.data));
        std::fs::write(&summary, serde_json::to_string_pretty(&o.summary)? + "\n")?;
        println!("wrote {}", png.display());
        println!("wrote {}", summary.display());
        println!(
            "wrote {}",
            args.out.join(format!("log-{}.jsonl", o.data)).display()
        );
        results.push((o.data.clone(), o.test_nll));
    }
    if results.len() > 1 {
        println!("\n| data | test NLL (nats, exact trace) |\n|---|---|");
        for (d, nll) in results {
            println!("| {d} | {nll:.4} |");
        }
    }
    Ok(())
}

/// `--bench`: the training loop only (Hutchinson trace, constant learning rate), each
/// iteration timed whole (sampling, noise, gradient, Adam step) like the PyTorch script's,
/// one JSON line of figures over the iterations after `--warmup`.
fn bench<T: JitReal>(args: &Args, data: &str) -> Result<(), Box<dyn Error>> {
    if args.trace != "hutchinson" {
        return Err("--bench times the Hutchinson loop: drop --trace".into());
    }
    if args.warmup >= args.iters {
        return Err(format!(
            "--warmup {} must be below --iters {}",
            args.warmup, args.iters
        )
        .into());
    }
    let stepping = stepping_of(args);
    let scheme = Scheme::<T>::builtin(&args.tableau)?;
    let method = toy::method::<T>(&args.method)?;
    let f = toy::ode_net(&toy::parse_dims(&args.dims)?, args.activation.parse()?);
    let params: Vec<T> = toy::init_params(&f, args.seed)
        .into_iter()
        .map(T::of)
        .collect();
    let interp = cnf::<T>(&f, Trace::Hutchinson, params)?;
    let mut model = if args.jit {
        let jit = JitNetwork::new(interp, &JitOptions::default())?;
        threaded_noisy(jit, args.chunking())?
    } else {
        threaded_noisy(interp, args.chunking())?
    };
    let mut adam = Adam::new(AdamConfig {
        lr: args.lr,
        weight_decay: WeightDecay::L2(1e-5),
        ..AdamConfig::default()
    })?;
    let (mut times, mut fwd, mut bwd, mut steps) = (vec![], vec![], vec![], vec![]);
    let mut losses = vec![];
    for it in 0..args.iters {
        let start = Instant::now();
        let mut rng = Rng::new(batch_seed(args.seed, it));
        let x0 = toy::augment::<T>(&toy::sample(data, args.batch, &mut rng)?);
        let eps = toy::noise::<T>(args.batch, args.rademacher, &mut rng);
        model.interp_mut().set_aux(1, &eps)?;
        let g = {
            let problem =
                Problem::single(&*model, &[0.0, args.time], &scheme, stepping.clone(), &x0);
            method.gradient(&problem, &mut toy::nll_loss::<T>)?
        };
        if !g.loss.is_finite() {
            return Err(format!("iteration {}: the loss is {}", it + 1, g.loss).into());
        }
        adam.step(model.params_mut(), &g.dtheta[0])?;
        times.push(start.elapsed().as_secs_f64());
        fwd.push(g.stats.nfe_forward as f64);
        bwd.push((g.stats.nfe_backward + g.stats.vjp_backward) as f64);
        steps.push(g.stats.accepted as f64);
        losses.push(g.loss);
    }
    let w = args.warmup as usize..;
    let mean = |v: &[f64]| v[w.clone()].iter().sum::<f64>() / v[w.clone()].len() as f64;
    let mut sorted = times[w.clone()].to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = 0.5 * (sorted[(sorted.len() - 1) / 2] + sorted[sorted.len() / 2]);
    let cpu = symplode::runtime::machine::machine().to_string();
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    });
    let line = serde_json::json!({
        "peer": "symplode",
        "mode": method.name(),
        "dtype": <T as Real>::NAME,
        "engine": if args.jit { "jit" } else { "interpreter" },
        "threads": args.threads.unwrap_or(1),
        "chunk_rows": args.chunking().map(|(_, rows)| rows),
        "data": data,
        "iterations": format!("{}..{}", args.warmup + 1, args.iters),
        "s_per_iter_mean": mean(&times),
        "s_per_iter_median": median,
        "nfe_forward": mean(&fwd),
        "nfe_backward": mean(&bwd),
        "steps": mean(&steps),
        "loss_first": losses[0],
        "loss_last": losses[losses.len() - 1],
        "batch": args.batch,
        "dims": args.dims,
        "time": args.time,
        "lr": args.lr,
        "cpu": cpu,
        "load_avg": load,
    });
    println!("{line}");
    Ok(())
}

/// A perceptually ordered colour map (viridis, by linear interpolation of 6 anchors).
fn viridis(u: f64) -> RGBColor {
    const A: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let x = u.clamp(0.0, 1.0) * (A.len() - 1) as f64;
    let i = (x.floor() as usize).min(A.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(A[i].0, A[i + 1].0),
        mix(A[i].1, A[i + 1].1),
        mix(A[i].2, A[i + 1].2),
    )
}

/// Three square panels: true samples, the learned density `exp(log p)` on the grid, model
/// samples.
fn plot(path: &Path, o: &Outcome, text: bool) -> Result<(), Box<dyn Error>> {
    let tmp = png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (1200, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    let titles = [
        format!("{}: true samples", o.data),
        format!("learned density (test NLL {:.3})", o.test_nll),
        "samples from the model".to_string(),
    ];
    let ink = RGBColor(20, 40, 120);
    for (k, panel) in panels.iter().enumerate() {
        let mut b = ChartBuilder::on(panel);
        b.margin(8);
        if text {
            b.caption(&titles[k], ("sans-serif", 17));
        }
        let mut c = b.build_cartesian_2d(-BOX..BOX, -BOX..BOX)?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()?;
        match k {
            1 => {
                let g = o.grid;
                let cell = 2.0 * BOX / g as f64;
                let max = o.logp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                c.draw_series(o.logp.iter().enumerate().map(|(idx, &l)| {
                    let (i, j) = (idx % g, idx / g);
                    let x0 = -BOX + i as f64 * cell;
                    let y0 = -BOX + j as f64 * cell;
                    let u = (l - max).exp();
                    Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], viridis(u).filled())
                }))?;
            }
            _ => {
                let pts = if k == 0 { &o.truth } else { &o.samples };
                c.draw_series(
                    pts.iter()
                        .filter(|p| p[0].abs() < BOX && p[1].abs() < BOX)
                        .map(|p| Circle::new((p[0], p[1]), 1, ink.mix(0.5).filled())),
                )?;
            }
        }
    }
    root.present()?;
    png::commit(&tmp, path)?;
    Ok(())
}
