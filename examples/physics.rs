//! The paper's physical-systems experiment (Matsubara et al. 2021, §4.2 of METHOD.md): the
//! HNN++ energy model `du/dt = D ∇H(u)` trained on DGNet's KdV or Cahn–Hilliard data by
//! one-interval prediction (from each state `u_k`, integrate `dt` with an adaptive solver,
//! fit `u_{k+1}` by MSE; Adam).
//!
//! Length: one file of about 740 lines because the example is one pipeline (data, training,
//! the six-method comparison, the markdown section); its plotting already lives in
//! `common/physics_plot.rs`. Splitting the report writer out is the next step if it grows.
//!
//! - Data: generated on first use with the discrete variational derivative scheme and cached
//!   (`--data`, default `target/physics/{system}.safetensors`).
//! - Train one method (default): `cargo run --release --example physics -- --system kdv
//!   --method symplectic --iters 200` (progress bar; `OUT/checkpoint`, continue with
//!   `--resume`; PNGs of a test rollout in `OUT`).
//! - The table: `cargo run --release --example physics -- --system kdv --compare` trains the
//!   same model from the same weights on the same batches with adjoint, backprop, ACA,
//!   checkpoint-per-component, symplectic and symplectic-stored and writes
//!   its section of `docs/physics.md` (test MSE of `du/dt` and of the one-interval prediction, peak
//!   heap measured and predicted, seconds per iteration, NFE, the paper's numbers).
//!
//! Flags: `--channels C` (200), `--batch B` (200), `--iters N`, `--lr`, `--tableau
//! dopri5|dopri8`, `--rtol`, `--atol`, `--form energy|node`, `--eval-stride S` (test states
//! used for the errors: every S-th), `--rollout-steps N` (length of the plotted rollout), `--seed`.

#[path = "common/font.rs"]
mod font;
#[path = "common/heap.rs"]
mod heap;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/physics_plot.rs"]
mod physics_plot;
use machine::{cpu, uptime};
#[path = "common/png.rs"]
mod png;

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::Parser;
use heap::{CURRENT, PEAK};
use symplode::physics::dvd::{DvdOptions, integrate};
use symplode::physics::system::mass;
use symplode::physics::train::{
    NextStatePairs, derivative_mse, prediction_mse, rollout, strided_states,
};
use symplode::physics::{Dataset, DatasetConfig, ModelForm, PhysicsModel, SystemKind};
use symplode::prelude::*;
use symplode::runtime::grad::method_by_name;
use symplode::runtime::optim::{Adam, AdamConfig, Optimizer};
use symplode::runtime::rng::Rng;
use symplode::train::{Batches, Loss, META_FILE, TrainConfig, Trainer, batch_seed};

#[global_allocator]
static GLOBAL: heap::Counting = heap::Counting;

#[derive(Parser, Debug, Clone)]
#[command(about = "HNN++ on DGNet's KdV / Cahn–Hilliard data: training and the method table")]
struct Args {
    /// `kdv` or `ch`.
    #[arg(long, default_value = "kdv")]
    system: String,
    /// Train every gradient method and write the table.
    #[arg(long)]
    compare: bool,
    /// Gradient method (without --compare).
    #[arg(long, default_value = "symplectic")]
    method: String,
    /// Hidden channels C.
    #[arg(long, default_value_t = 200)]
    channels: usize,
    /// Pairs per mini-batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Training iterations (per method with --compare).
    #[arg(long, default_value_t = 3)]
    iters: u64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// `dopri5` or `dopri8` (any built-in tableau).
    #[arg(long, default_value = "dopri5")]
    tableau: String,
    /// Relative tolerance of the adaptive solver.
    #[arg(long, default_value_t = 1e-6)]
    rtol: f64,
    /// Absolute tolerance of the adaptive solver.
    #[arg(long, default_value_t = 1e-8)]
    atol: f64,
    /// `energy` (HNN++) or `node` (plain neural ODE).
    #[arg(long, default_value = "energy")]
    form: String,
    /// Trajectories to generate (DGNet: 100, the last 10% test).
    #[arg(long, default_value_t = 100)]
    trajectories: usize,
    /// Data set file (generated and written when missing).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Every S-th state of the test trajectories enters the test errors.
    #[arg(long, default_value_t = 25)]
    eval_stride: usize,
    /// Steps of the plotted rollout (the data's dt; longer than the data's 500 extends the
    /// ground truth with the same scheme).
    #[arg(long, default_value_t = 500)]
    rollout_steps: usize,
    /// Seed of the weights and the batches (shared by all methods).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory of a training run (checkpoint, log, PNGs).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// The markdown report of --compare (`-` for none; default docs/physics.md, where only
    /// this system's section is replaced).
    #[arg(long)]
    report: Option<PathBuf>,
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Reads the cached data set or generates (and caches) it.
fn dataset(args: &Args, kind: SystemKind) -> Result<Dataset, Box<dyn Error>> {
    let path = args.data.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "target/physics/{}-{}.safetensors",
            kind.name(),
            args.trajectories
        ))
    });
    if path.exists() {
        let d = Dataset::read_safetensors(&path)?;
        println!(
            "data: {} ({} trajectories × {} states × {} points)",
            path.display(),
            d.trajectories,
            d.states,
            d.n()
        );
        return Ok(d);
    }
    let mut cfg = DatasetConfig::dgnet(kind);
    cfg.trajectories = args.trajectories;
    let start = Instant::now();
    let bar = indicatif_bar(cfg.trajectories as u64, "generating");
    let d = Dataset::generate(&cfg, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    d.write_safetensors(&path)?;
    println!(
        "data: generated {} trajectories in {:.1} s, wrote {}",
        d.trajectories,
        start.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(d)
}

fn indicatif_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed}<{eta}]")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// The test errors of a model: derivative MSE and one-interval prediction MSE.
fn test_errors(
    model: &dyn Dynamics<f64>,
    scheme: &Scheme<f64>,
    stepping: &Stepping,
    data: &Dataset,
    stride: usize,
) -> Result<(f64, f64), Box<dyn Error>> {
    let at = strided_states(data, data.test_range(), stride);
    let deriv = derivative_mse(model, data, &at, 100);
    let pairs: Vec<(usize, usize)> = at
        .into_iter()
        .filter(|&(_, k)| k + 1 < data.states)
        .collect();
    let pred = prediction_mse(model, scheme, stepping, data, &pairs, 100)?;
    Ok((deriv, pred))
}

/// Heat maps and invariants of the first test trajectory, rolled out for `steps` intervals.
fn plots(
    model: &dyn Dynamics<f64>,
    scheme: &Scheme<f64>,
    stepping: &Stepping,
    data: &Dataset,
    steps: usize,
    out: &Path,
    label: &str,
) -> Result<(), Box<dyn Error>> {
    let traj = data.n_train.min(data.trajectories - 1);
    let sys = data.system;
    let truth = if steps + 1 == data.states {
        data.trajectory(traj).to_vec()
    } else {
        integrate(
            &sys,
            data.state(traj, 0),
            &DvdOptions::new(data.dt, steps),
            traj,
        )?
    };
    let pred = rollout(model, scheme, stepping, data.state(traj, 0), data.dt, steps)?;
    let n = sys.n;
    let e = |u: &[f64]| -> Vec<f64> { u.chunks_exact(n).map(|s| sys.energy(s)).collect() };
    let m = |u: &[f64]| -> Vec<f64> { u.chunks_exact(n).map(mass).collect() };
    let (et, em, mt, mm) = (e(&truth), e(&pred), m(&truth), m(&pred));
    let times: Vec<f64> = (0..=steps).map(|k| k as f64 * data.dt).collect();
    let title = format!("{label}, test trajectory {traj}");
    let r = physics_plot::Rollout {
        title: &title,
        times: &times,
        n,
        truth: &truth,
        model: &pred,
        energy: (&et, &em),
        mass: (&mt, &mm),
    };
    let text = font::register_font();
    std::fs::create_dir_all(out)?;
    let a = out.join(format!("{}-rollout.png", sys.kind.name()));
    let b = out.join(format!("{}-invariants.png", sys.kind.name()));
    physics_plot::heat_maps(&a, &r, text)?;
    physics_plot::invariants(&b, &r, text)?;
    let mse: f64 = pred
        .iter()
        .zip(&truth)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / truth.len() as f64;
    println!(
        "rollout of {steps} steps: state MSE {mse:.3e}; energy {:.4e} → {:.4e} (truth {:.4e} → \
         {:.4e}); mass drift {:.1e}",
        em[0],
        em[steps],
        et[0],
        et[steps],
        (mm[steps] - mm[0]).abs()
    );
    println!("wrote {}\nwrote {}", a.display(), b.display());
    Ok(())
}

struct Setup {
    kind: SystemKind,
    data: Dataset,
    model: PhysicsModel,
    init: Vec<f64>,
    scheme: Scheme<f64>,
    stepping: Stepping,
}

fn setup(args: &Args) -> Result<Setup, Box<dyn Error>> {
    let kind: SystemKind = args.system.parse()?;
    let form: ModelForm = args.form.parse()?;
    let data = dataset(args, kind)?;
    let model = PhysicsModel {
        system: data.system,
        channels: args.channels,
        form,
    };
    let init = model.init_params(args.seed)?;
    let scheme = Scheme::<f64>::builtin(&args.tableau)?;
    let stepping = Stepping::adaptive(args.rtol, args.atol);
    Ok(Setup {
        kind,
        data,
        model,
        init,
        scheme,
        stepping,
    })
}

fn describe(args: &Args, s: &Setup) -> String {
    format!(
        "{} · {} model, C = {} ({} parameters) · {} rtol {:e} atol {:e} · batch {} pairs (u_k → \
         u_k+1 over dt = {}) · Adam lr {} · f64",
        match s.kind {
            SystemKind::Kdv => "KdV",
            SystemKind::CahnHilliard => "Cahn–Hilliard",
        },
        s.model.form.name(),
        s.model.channels,
        s.init.len(),
        s.scheme.name(),
        args.rtol,
        args.atol,
        args.batch,
        s.data.dt,
        args.lr,
    )
}

fn train_one(args: &Args) -> Result<(), Box<dyn Error>> {
    let s = setup(args)?;
    let method = method_by_name::<f64>(&args.method)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/physics/run-{}", s.kind.name())));
    std::fs::create_dir_all(&out)?;
    let mut model = s.model.build::<f64>(&s.init)?;
    let pairs = NextStatePairs::<f64>::train(&s.data, args.batch)?;
    let adam = Adam::new(AdamConfig {
        lr: args.lr,
        ..AdamConfig::default()
    })?;
    let checkpoint_dir = out.join("checkpoint");
    let config = TrainConfig {
        iterations: args.iters,
        seed: args.seed,
        loss: Loss::Mse,
        progress: true,
        log_path: Some(out.join("log.jsonl")),
        checkpoint_dir: Some(checkpoint_dir.clone()),
        checkpoint_every: (args.iters / 4).max(1),
        extra: serde_json::json!({
            "example": "physics",
            "system": s.kind.name(),
            "form": s.model.form.name(),
            "channels": args.channels,
            "batch": args.batch,
        }),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&*method, &s.scheme, s.stepping.clone(), adam, config)?;
    if args.resume && checkpoint_dir.join(META_FILE).exists() {
        let r = trainer.resume(&mut model, &checkpoint_dir)?;
        println!(
            "resumed from {} at iteration {}",
            checkpoint_dir.display(),
            r.iteration
        );
    }
    println!("{} · {}", describe(args, &s), method.name());
    let summary = trainer.run(&mut model, &pairs)?;
    println!(
        "{} iterations in {:.1} s, final loss {:.4e}, runtime-counted peak {:.1} MiB",
        summary.iterations - summary.start_iteration,
        summary.seconds,
        summary.final_loss(),
        mib(summary.peak_bytes)
    );
    let (d, p) = test_errors(&model, &s.scheme, &s.stepping, &s.data, args.eval_stride)?;
    println!("test MSE: du/dt {d:.4e}, one-interval prediction {p:.4e}");
    plots(
        &model,
        &s.scheme,
        &s.stepping,
        &s.data,
        args.rollout_steps,
        &out,
        s.kind.name(),
    )?;
    Ok(())
}

/// One method's run in the comparison.
struct Row {
    name: &'static str,
    losses: Vec<f64>,
    peak: usize,
    predicted: usize,
    counted: usize,
    seconds_per_iter: f64,
    nfe_forward: f64,
    nfe_backward: f64,
    vjp_backward: f64,
    steps: f64,
    deriv_mse: f64,
    pred_mse: f64,
    /// dL/dθ of the first iteration (same weights and batch for every method).
    first_grad: Vec<f64>,
}

fn compare(args: &Args) -> Result<(), Box<dyn Error>> {
    let wall = Instant::now();
    let s = setup(args)?;
    let setup_text = describe(args, &s);
    println!("{setup_text}");
    let pairs = NextStatePairs::<f64>::train(&s.data, args.batch)?;
    let names = [
        "adjoint",
        "backprop",
        "aca",
        "checkpoint-component",
        "symplectic",
        "symplectic-stored",
    ];
    let (d0, p0) = {
        let m = s.model.build::<f64>(&s.init)?;
        test_errors(&m, &s.scheme, &s.stepping, &s.data, args.eval_stride)?
    };
    println!("initial weights: test MSE du/dt {d0:.4e}, prediction {p0:.4e}");
    let mut rows = Vec::new();
    for name in names {
        let method = method_by_name::<f64>(name)?;
        let mut model = s.model.build::<f64>(&s.init)?;
        let mut adam = Adam::new(AdamConfig {
            lr: args.lr,
            ..AdamConfig::default()
        })?;
        let mut row = Row {
            name: method.name(),
            losses: Vec::new(),
            peak: 0,
            predicted: 0,
            counted: 0,
            seconds_per_iter: 0.0,
            nfe_forward: 0.0,
            nfe_backward: 0.0,
            vjp_backward: 0.0,
            steps: 0.0,
            deriv_mse: f64::NAN,
            pred_mse: f64::NAN,
            first_grad: Vec::new(),
        };
        let mut seconds = 0.0;
        for it in 0..args.iters {
            let batch = pairs.batch(&mut Rng::new(batch_seed(args.seed, it)))?;
            let start = Instant::now();
            let (g, peak, predicted) = {
                let problem = Problem::single(
                    &model,
                    &batch.times,
                    &s.scheme,
                    s.stepping.clone(),
                    &batch.x0,
                );
                let base = CURRENT.load(Ordering::Relaxed);
                PEAK.store(base, Ordering::Relaxed);
                let mut loss =
                    |o: &Outputs<f64>, c: &mut Outputs<f64>| match (o.first(), c.first_mut()) {
                        (Some(o), Some(c)) => Loss::Mse.evaluate(o, &batch.targets, c),
                        _ => f64::NAN,
                    };
                let g = method.gradient(&problem, &mut loss)?;
                let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
                let predicted = method
                    .predict(&ProblemSizes::of(&problem, &[g.stats.accepted]))
                    .total();
                (g, peak, predicted)
            };
            if !g.loss.is_finite() {
                return Err(format!("{name}: iteration {}: loss {}", it + 1, g.loss).into());
            }
            if it == 0 {
                row.first_grad = g.dtheta[0].clone();
            }
            adam.step(model.params_mut(), &g.dtheta[0])?;
            let secs = start.elapsed().as_secs_f64();
            seconds += secs;
            if peak > row.peak {
                row.peak = peak;
                row.predicted = predicted;
                row.counted = g.stats.peak_total_bytes;
            }
            row.losses.push(g.loss);
            row.nfe_forward += g.stats.nfe_forward as f64;
            row.nfe_backward += g.stats.nfe_backward as f64;
            row.vjp_backward += g.stats.vjp_backward as f64;
            row.steps += g.stats.accepted as f64;
            println!(
                "  {name:<21} it {:>3}: loss {:.6e}  {secs:.1} s  peak {:.1} MiB  steps {}",
                it + 1,
                g.loss,
                mib(peak),
                g.stats.accepted
            );
        }
        let n = args.iters.max(1) as f64;
        row.seconds_per_iter = seconds / n;
        row.nfe_forward /= n;
        row.nfe_backward /= n;
        row.vjp_backward /= n;
        row.steps /= n;
        let (d, p) = test_errors(&model, &s.scheme, &s.stepping, &s.data, args.eval_stride)?;
        row.deriv_mse = d;
        row.pred_mse = p;
        println!(
            "{:<22} test MSE du/dt {d:.4e} pred {p:.4e}  peak {:.1} MiB (predicted {:.1})  \
             {:.2} s/iter",
            row.name,
            mib(row.peak),
            mib(row.predicted),
            row.seconds_per_iter
        );
        rows.push(row);
    }
    let md = report(
        args,
        &s,
        &rows,
        &setup_text,
        (d0, p0),
        wall.elapsed().as_secs_f64(),
    );
    let path = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from("docs/physics.md"));
    if path.as_os_str() != "-" {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, splice(&old, s.kind.name(), &md))?;
        println!("wrote the {} section of {}", s.kind.name(), path.display());
    }
    Ok(())
}

/// `old` with the section of `system` (between `<!-- {system}:begin -->` and
/// `<!-- {system}:end -->`) replaced by `section`, or appended; other sections are kept.
fn splice(old: &str, system: &str, section: &str) -> String {
    let (begin, end) = (
        format!("<!-- {system}:begin -->"),
        format!("<!-- {system}:end -->"),
    );
    let block = format!("{begin}\n{section}{end}\n");
    match (old.find(&begin), old.find(&end)) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{block}{}",
                &old[..a],
                old[b + end.len()..].trim_start_matches('\n')
            )
        }
        _ if old.is_empty() => format!(
            "# The paper's physics table: HNN++ on KdV and Cahn–Hilliard\n\n{HEADER}\n{block}"
        ),
        _ => format!("{}\n{block}", old.trim_end()),
    }
}

/// The introduction of `docs/physics.md` (written when the file is new).
const HEADER: &str = "Each section below is written by `cargo run --release --example physics -- \
--system kdv|ch --compare` (see `examples/physics.rs`); re-running one system replaces only \
its section. Data: DGNet's generator (discrete variational derivative scheme, Newton to \
1e-10), 100 trajectories × 501 states × 50 points, 90 train / 10 test. Model: HNN++ \
(PeriodicPad(1) → Conv1d 1→C k=3 → tanh → Conv1d C→C k=1 → tanh → Conv1d C→1 k=1 without \
bias → Σ = H; du/dt = D∇H, D = δ₁ for KdV, δ₂ for CH), orthogonal initialisation. Training: \
from each sampled state integrate one data interval with the adaptive solver and fit the next \
state by MSE, Adam.\n";

/// The poster's physics table: (method, err, MiB, time) for KdV and CH.
fn paper(kind: SystemKind, name: &str) -> String {
    let rows: &[(&str, [f64; 3], [f64; 3])] = &[
        ("adjoint", [1.61, 93.7, 276.0], [5.58, 93.7, 942.0]),
        ("backprop", [1.61, 693.9, 105.0], [4.68, 3047.1, 425.0]),
        ("aca", [1.61, 647.8, 137.0], [5.82, 648.0, 484.0]),
        ("symplectic", [1.61, 79.8, 162.0], [5.47, 80.3, 568.0]),
    ];
    rows.iter()
        .find(|r| r.0 == name)
        .map(|r| {
            let v = if kind == SystemKind::Kdv { r.1 } else { r.2 };
            format!("{} / {} / {}", v[0], v[1], v[2])
        })
        .unwrap_or_else(|| "–".into())
}

fn report(
    args: &Args,
    s: &Setup,
    rows: &[Row],
    setup_text: &str,
    initial: (f64, f64),
    wall: f64,
) -> String {
    let by = |name: &str| rows.iter().find(|r| r.name == name);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| method | test MSE du/dt | test MSE one-interval prediction | peak heap MiB (measured) \
         | predicted MiB | runtime-counted MiB | sec / iter | NFE fwd | NFE bwd (f + VJP) | steps \
         | paper: err / MiB / time |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {:.4e} | {:.4e} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} + {:.1} | {:.2} \
             | {} |",
            r.name,
            r.deriv_mse,
            r.pred_mse,
            mib(r.peak),
            mib(r.predicted),
            mib(r.counted),
            r.seconds_per_iter,
            r.nfe_forward,
            r.nfe_backward,
            r.vjp_backward,
            r.steps,
            paper(s.kind, r.name)
        );
    }
    println!("\n{t}");
    let mut agree = String::new();
    let mut worst_exact = 0.0f64;
    let mut worst_grad = 0.0f64;
    if let Some(b) = by("backprop") {
        for r in rows.iter().filter(|r| r.name != "backprop") {
            let max = r
                .losses
                .iter()
                .zip(&b.losses)
                .map(|(x, y)| ((x - y) / y).abs())
                .fold(0.0, f64::max);
            if r.name != "adjoint" {
                worst_exact = worst_exact.max(max);
            }
            let num: f64 = r
                .first_grad
                .iter()
                .zip(&b.first_grad)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
            let den: f64 = b.first_grad.iter().map(|y| y * y).sum::<f64>().sqrt();
            if r.name != "adjoint" {
                worst_grad = worst_grad.max(num / den.max(1e-300));
            }
            let _ = writeln!(
                agree,
                "| {} | {max:.1e} | {:.1e} |",
                r.name,
                num / den.max(1e-300)
            );
        }
    }
    let peak = |n: &str| by(n).map_or(0, |r| r.peak);
    let (sym, aca, bp) = (peak("symplectic"), peak("aca"), peak("backprop"));
    let ratio = bp as f64 / sym.max(1) as f64;
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut md = String::new();
    let name = match s.kind {
        SystemKind::Kdv => "KdV",
        SystemKind::CahnHilliard => "Cahn–Hilliard",
    };
    let _ = writeln!(md, "## {name}\n");
    let _ = writeln!(
        md,
        "Command: `cargo run --release --example physics -- {command}` ({wall:.0} s in total, \
         data generation excluded when cached).\n\nMachine: {}; {} at the end (seconds per \
         iteration carry whatever else ran, which a load average above the CPUs in use shows; \
         errors, NFE and memory do not).\n",
        cpu(),
        uptime()
    );
    let _ = writeln!(
        md,
        "Setup: {setup_text}; {} iterations per method from the same orthogonal initial \
         weights (seed {}) on the same batches. Test errors on every {}-th state of the {} test \
         trajectories (derivative: against the exact right-hand side; prediction: one interval \
         dt from u_k against u_k+1). With the initial weights: du/dt {:.4e}, prediction \
         {:.4e}.\n",
        args.iters,
        args.seed,
        args.eval_stride,
        s.data.trajectories - s.data.n_train,
        initial.0,
        initial.1
    );
    let _ = writeln!(
        md,
        "Budget: this is a memory and exactness comparison, not a converged training run \
         (DGNet trains 10,000 iterations); the paper's error column is after full training and \
         its time unit is not stated, so only the memory columns compare directly.\n"
    );
    md.push_str(&t);
    let _ = writeln!(
        md,
        "\nColumns: *peak heap* is the largest heap growth during one `gradient` call, measured \
         by a counting global allocator; *predicted* is `GradientMethod::predict` for that call; \
         *runtime-counted* is `Stats::peak_total_bytes`; NFE are means per iteration.\n"
    );
    let _ = writeln!(
        md,
        "Against backprop: largest relative difference of the training loss over the iterations, \
         and the relative difference ‖g − g_backprop‖ / ‖g_backprop‖ of the first iteration's \
         parameter gradient (same weights, same batch):\n\n| method | max rel Δ loss | rel Δ \
         dL/dθ at iteration 1 |\n|---|---|---|\n{agree}"
    );
    let _ = writeln!(md, "### Checks\n");
    let _ = writeln!(
        md,
        "- symplectic peak {:.1} MiB {} ACA's {:.1} MiB.",
        mib(sym),
        if sym < aca { "<" } else { "NOT below" },
        mib(aca)
    );
    let _ = writeln!(
        md,
        "- backprop / symplectic peak = {ratio:.1}× ({}; the paper: {}).",
        if ratio >= 5.0 { "≥ 5×" } else { "below 5×" },
        if s.kind == SystemKind::Kdv {
            "693.9 / 79.8 = 8.7×"
        } else {
            "3047.1 / 80.3 = 37.9×"
        }
    );
    let _ = writeln!(
        md,
        "- exact methods' training loss vs backprop: worst relative difference {worst_exact:.1e} \
         ({} 1e-10); first-iteration gradient: worst relative difference {worst_grad:.1e} (the \
         adjoint method's, an approximation, is in the table above).",
        if worst_exact <= 1e-10 { "≤" } else { "ABOVE" }
    );
    md
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if args.compare {
        compare(&args)
    } else {
        train_one(&args)
    }
}
