//! The classic neural-ODE demo (torchdiffeq's `ode_demo.py`): learn a 2-D spiral from a noisy
//! trajectory, then plot the fit and the learned vector field.
//!
//! Length: about 670 lines, one pipeline (data, training, checkpoints, report and two plots)
//! kept in one file so the demo reads top to bottom like torchdiffeq's `ode_demo.py`.
//!
//! Data: dy/dt = (y³) A with A = [[-0.1, 2.0], [-2.0, -0.1]], y(0) = (2, 0), observed at 1000
//! uniform times in [0, 25] with Gaussian noise (σ = `--noise`, seeded). Model: dy/dt = g(y³)
//! with g an MLP 2 → 50 tanh → 2 (ode_demo's `net(y**3)`, weights N(0, 0.1²), biases 0).
//! Training: Adam with a cosine schedule on mini-batches of `--batch` random windows of
//! `--window` consecutive observations (ode_demo's `get_batch`), MSE at every observation time
//! of a window, gradients by `--method`. Afterwards the learned ODE is solved from y(0) over the
//! whole interval and compared with the noise-free trajectory.
//!
//! Writes into `--out` (default `target/spiral`): `spiral.png` (x, y against t; the phase
//! plane; the learned vector field; the loss curve), `log.jsonl` (one line per iteration),
//! `summary.json`, and `checkpoint/` (resume with `--resume`).
//!
//! Run: `cargo run --release --example spiral -- --method symplectic`
//!
//! Flags: `--method symplectic|symplectic-stored|backprop|adjoint|aca|checkpoint-component`, `--tableau NAME`,
//! `--rtol R --atol A` (adaptive, default 1e-7 / 1e-9 as torchdiffeq) or `--steps N` (fixed
//! steps per observation interval), `--iters N`, `--batch N`, `--window N`, `--lr X`,
//! `--threads N` (rayon chunks; results do not depend on it), `--f32`, `--out DIR`, `--seed N`,
//! `--noise S`, `--resume`.

#[path = "common/font.rs"]
mod font;
#[path = "common/png.rs"]
mod png;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use plotters::prelude::*;
use symplode::prelude::*;
use symplode::runtime::ParamTensor;
use symplode::runtime::optim::{Adam, AdamConfig, LrSchedule};
use symplode::runtime::parallel::Chunked;
use symplode::runtime::rng::Rng;
use symplode::train::{IterationLog, META_FILE, TrainConfig, Trainer, TrajectoryWindows};

/// The true dynamics' matrix (row-vector convention: dy/dt = (y³) A).
const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];
/// Observation interval and count.
const T_END: f64 = 25.0;
const POINTS: usize = 1000;
const Y0: [f64; 2] = [2.0, 0.0];

#[derive(Parser, Debug, Clone)]
#[command(about = "Fit a neural ODE to a noisy 2-D spiral and plot the result")]
struct Args {
    /// Gradient method: symplectic, symplectic-stored, backprop, adjoint, adjoint-seminorm, aca,
    /// checkpoint-component.
    #[arg(long, default_value = "symplectic")]
    method: String,
    /// Runge–Kutta tableau (a built-in name).
    #[arg(long, default_value = "dopri5")]
    tableau: String,
    /// Relative tolerance of adaptive steps.
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance of adaptive steps.
    #[arg(long)]
    atol: Option<f64>,
    /// Fixed steps per observation interval (instead of adaptive steps).
    #[arg(long, conflicts_with_all = ["rtol", "atol"])]
    steps: Option<usize>,
    /// Training iterations.
    #[arg(long, default_value_t = 10000)]
    iters: u64,
    /// Windows per mini-batch.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Observations per window (the start and window − 1 output times).
    #[arg(long, default_value_t = 10)]
    window: usize,
    /// Adam's initial learning rate (cosine-annealed to 1% of it).
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Hidden width of the MLP.
    #[arg(long, default_value_t = 50)]
    hidden: usize,
    /// Evaluate the network in chunks of 8 samples on this many threads (results are
    /// bit-identical for any count; without the flag the batch is evaluated whole).
    #[arg(long)]
    threads: Option<usize>,
    /// Compute in f32 instead of f64.
    #[arg(long)]
    f32: bool,
    /// Output directory.
    #[arg(long, default_value = "target/spiral")]
    out: PathBuf,
    /// Seed of the noise, the initial weights and the mini-batches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Standard deviation of the observation noise.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Continue from the checkpoint in OUT/checkpoint.
    #[arg(long)]
    resume: bool,
}

/// f(y) = g(y ⊙ y ⊙ y): the network reads the cubed state.
struct Cubed<D>(D);

fn cube<T: Real>(x: &[T], out: &mut [T]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v * v * v;
    }
}

/// gx ← gx ⊙ 3x² (the chain rule through the cube).
fn chain<T: Real>(x: &[T], gx: &mut [T]) {
    for (g, &v) in gx.iter_mut().zip(x) {
        *g *= T::of(3.0) * v * v;
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Cubed<D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn params(&self) -> &[T] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.0.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.0.param_tensors()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        batch * self.dim() + self.0.scratch_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        batch * self.dim() + self.0.tape_len(batch)
    }
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let (c, rest) = scratch.split_at_mut(x.len());
        cube(x, c);
        self.0.eval(t, c, dx, rest);
    }
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let (c, rest) = scratch.split_at_mut(x.len());
        cube(x, c);
        self.0.vjp(t, c, lam, gx, gp, rest);
        chain(x, gx);
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        let (c, rest) = tape.split_at_mut(x.len());
        cube(x, c);
        self.0.eval_taped(t, c, dx, rest);
    }
    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let (c, rest) = tape.split_at(x.len());
        self.0.backward_taped(t, c, rest, lam, gx, gp, scratch);
        chain(x, gx);
    }
}

/// dy/dt of the true system.
fn true_rhs(y: [f64; 2]) -> [f64; 2] {
    let c = [y[0].powi(3), y[1].powi(3)];
    [
        c[0] * A[0][0] + c[1] * A[1][0],
        c[0] * A[0][1] + c[1] * A[1][1],
    ]
}

/// The true trajectory at `times` (classical RK4, 40 sub-steps per interval: error ≪ 1e-10).
fn true_trajectory(times: &[f64]) -> Vec<[f64; 2]> {
    let mut y = Y0;
    let mut out = vec![y];
    for w in times.windows(2) {
        let h = (w[1] - w[0]) / 40.0;
        for _ in 0..40 {
            let add = |a: [f64; 2], k: [f64; 2], s: f64| [a[0] + s * k[0], a[1] + s * k[1]];
            let k1 = true_rhs(y);
            let k2 = true_rhs(add(y, k1, h / 2.0));
            let k3 = true_rhs(add(y, k2, h / 2.0));
            let k4 = true_rhs(add(y, k3, h));
            for i in 0..2 {
                y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        out.push(y);
    }
    out
}

/// ode_demo's initialisation: weights N(0, 0.1²), biases 0.
fn init_mlp<T: Real>(hidden: usize, seed: u64) -> Result<Mlp<T>, Box<dyn Error>> {
    let config = MlpConfig::new(2, vec![hidden], Activation::Tanh, false);
    let template = Mlp::<T>::new(config.clone(), seed)?;
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut params = vec![T::zero(); template.n_params()];
    for t in template.param_tensors() {
        if t.name.ends_with("weight") {
            for p in &mut params[t.range()] {
                *p = T::of(0.1 * rng.normal());
            }
        }
    }
    Ok(Mlp::from_params(config, params)?)
}

/// The learned trajectory from y(0) at every observation time (`None` if the solve fails).
fn predict<T: Real>(
    model: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    times: &[f64],
) -> Option<Vec<[f64; 2]>> {
    let y0 = [T::of(Y0[0]), T::of(Y0[1])];
    let sol = solve(model, scheme, stepping, times, &y0).ok()?;
    let mut out = vec![Y0];
    out.extend(sol.states.iter().map(|s| [s[0].f64(), s[1].f64()]));
    Some(out)
}

fn mse(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2))
        .sum();
    s / (2 * a.len()) as f64
}

/// What the run produced, for the plot and the summary.
struct Outcome {
    times: Vec<f64>,
    truth: Vec<[f64; 2]>,
    observed: Vec<[f64; 2]>,
    learned: Option<Vec<[f64; 2]>>,
    /// Grid points and the learned f there.
    field: Vec<([f64; 2], [f64; 2])>,
    history: Vec<IterationLog>,
    tests: Vec<(u64, f64)>,
    summary: serde_json::Value,
}

fn run<T: Real>(args: &Args) -> Result<Outcome, Box<dyn Error>> {
    let stepping = match (args.steps, args.rtol, args.atol) {
        (Some(n), _, _) => Stepping::fixed(n),
        (None, r, a) => Stepping::adaptive(r.unwrap_or(1e-7), a.unwrap_or(1e-9)),
    };
    let scheme = Scheme::<T>::builtin(&args.tableau)?;
    let method = symplode::runtime::grad::method_by_name::<T>(&args.method)?;

    let times: Vec<f64> = (0..POINTS)
        .map(|i| T_END * i as f64 / (POINTS - 1) as f64)
        .collect();
    let truth = true_trajectory(&times);
    let mut noise = Rng::new(args.seed ^ 0xDA7A);
    let observed: Vec<[f64; 2]> = truth
        .iter()
        .map(|y| {
            [
                y[0] + args.noise * noise.normal(),
                y[1] + args.noise * noise.normal(),
            ]
        })
        .collect();
    let flat: Vec<T> = observed.iter().flatten().map(|&v| T::of(v)).collect();
    let data = TrajectoryWindows::new(times.clone(), flat, 2, args.batch, args.window)?;

    let cubed = Cubed(init_mlp::<T>(args.hidden, args.seed)?);
    let mut model: Box<dyn Dynamics<T>> = match args.threads {
        Some(n) => Box::new(Chunked::new(cubed, 8)?.with_threads(n)?),
        None => Box::new(cubed),
    };

    let adam = Adam::new(AdamConfig {
        lr: args.lr,
        ..AdamConfig::default()
    })?;
    let checkpoint_dir = args.out.join("checkpoint");
    let config = TrainConfig {
        iterations: args.iters,
        seed: args.seed,
        schedule: LrSchedule::Cosine {
            total: args.iters.max(1),
            min_lr: args.lr * 0.01,
        },
        progress: true,
        log_path: Some(args.out.join("log.jsonl")),
        checkpoint_dir: Some(checkpoint_dir.clone()),
        checkpoint_every: (args.iters / 4).max(1),
        extra: serde_json::json!({
            "example": "spiral",
            "model": format!("dy/dt = MLP(y^3), 2 -> {} tanh -> 2", args.hidden),
            "hidden": args.hidden,
            "batch": args.batch,
            "window": args.window,
            "noise": args.noise,
            "threads": args.threads,
        }),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&*method, &scheme, stepping.clone(), adam, config)?;
    if args.resume && checkpoint_dir.join(META_FILE).exists() {
        let r = trainer.resume(&mut *model, &checkpoint_dir)?;
        println!(
            "resumed from {} at iteration {}",
            checkpoint_dir.display(),
            r.iteration
        );
    }

    let steps = match &stepping {
        Stepping::Fixed { steps } => format!("{steps} fixed steps per interval"),
        Stepping::Adaptive(a) => format!("adaptive rtol {:e} atol {:e}", a.rtol, a.atol),
    };
    println!(
        "spiral: {} on {}, {steps}, {} iterations of {} windows x {} points, {}",
        method.name(),
        scheme.name(),
        args.iters,
        args.batch,
        args.window,
        T::NAME
    );
    // Evaluate the whole trajectory 50 times, print 10 of them.
    let every = (args.iters / 50).max(1);
    let print = (args.iters / 10).max(1);
    let mut tests = Vec::new();
    let start = Instant::now();
    let summary = trainer.run_with(&mut *model, &data, &mut |r, m| {
        let last = r.iteration == args.iters;
        if r.iteration % every != 0 && !last {
            return;
        }
        let test = predict(m, &scheme, &stepping, &times).map_or(f64::NAN, |p| mse(&p, &truth));
        tests.push((r.iteration, test));
        if r.iteration % print == 0 || last {
            println!(
                "iter {:>5}  batch loss {:.3e}  whole-trajectory mse {:.3e}  nfe fwd {} bwd {}+{} vjp  steps {}  peak {:.1} KiB",
                r.iteration,
                r.loss,
                test,
                r.nfe_forward,
                r.nfe_backward,
                r.vjp_backward,
                r.steps,
                r.peak_bytes as f64 / 1024.0
            );
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();

    let learned = predict(&*model, &scheme, &stepping, &times);
    let test_mse = learned.as_ref().map_or(f64::NAN, |p| mse(p, &truth));
    let n = 21;
    let grid: Vec<[f64; 2]> = (0..n * n)
        .map(|k| {
            let (i, j) = (k % n, k / n);
            [
                -2.0 + 4.0 * i as f64 / (n - 1) as f64,
                -2.0 + 4.0 * j as f64 / (n - 1) as f64,
            ]
        })
        .collect();
    let x: Vec<T> = grid.iter().flatten().map(|&v| T::of(v)).collect();
    let mut dx = vec![T::zero(); x.len()];
    let mut scratch = vec![T::zero(); model.scratch_len(grid.len())];
    model.eval(T::zero(), &x, &mut dx, &mut scratch);
    let field = grid
        .iter()
        .zip(dx.chunks(2))
        .map(|(&p, d)| (p, [d[0].f64(), d[1].f64()]))
        .collect();

    let h = &summary.history;
    let tail = &h[h.len().saturating_sub(50)..];
    let mean = |f: &dyn Fn(&IterationLog) -> f64| {
        tail.iter().map(f).sum::<f64>() / tail.len().max(1) as f64
    };
    let all =
        |f: &dyn Fn(&IterationLog) -> f64| h.iter().map(f).sum::<f64>() / h.len().max(1) as f64;
    let report = serde_json::json!({
        "method": method.name(),
        "tableau": scheme.name(),
        "stepping": steps,
        "dtype": T::NAME,
        "iterations": summary.iterations,
        "start_iteration": summary.start_iteration,
        "batch": args.batch,
        "window": args.window,
        "threads": args.threads,
        "seconds": seconds,
        "final_batch_loss_mean_last_50": mean(&|r| r.loss),
        "whole_trajectory_mse": test_mse,
        "mean_nfe_forward": all(&|r| r.nfe_forward as f64),
        "mean_nfe_backward": all(&|r| r.nfe_backward as f64),
        "mean_vjp_backward": all(&|r| r.vjp_backward as f64),
        "mean_steps": all(&|r| r.steps as f64),
        "peak_bytes": summary.peak_bytes,
    });
    println!(
        "done in {seconds:.1} s: batch loss (mean of the last 50) {:.3e}, whole-trajectory mse {test_mse:.3e}, \
         mean NFE per iteration fwd {:.0} bwd {:.0}+{:.0} vjp, peak {:.1} KiB",
        mean(&|r| r.loss),
        all(&|r| r.nfe_forward as f64),
        all(&|r| r.nfe_backward as f64),
        all(&|r| r.vjp_backward as f64),
        summary.peak_bytes as f64 / 1024.0
    );
    Ok(Outcome {
        times,
        truth,
        observed,
        learned,
        field,
        history: summary.history,
        tests,
        summary: report,
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
    std::fs::create_dir_all(&args.out)?;
    let outcome = if args.f32 {
        run::<f32>(args)?
    } else {
        run::<f64>(args)?
    };
    let summary_path = args.out.join("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&outcome.summary)? + "\n",
    )?;
    let png = args.out.join("spiral.png");
    plot(&png, &outcome)?;
    println!("wrote {}", png.display());
    println!("wrote {}", summary_path.display());
    println!("wrote {}", args.out.join("log.jsonl").display());
    println!(
        "wrote {}",
        args.out.join("checkpoint").join(META_FILE).display()
    );
    Ok(())
}

/// Draws a chart's mesh: axis descriptions with text, bare grid lines without.
macro_rules! mesh {
    ($c:expr, $text:expr, $x:expr, $y:expr $(, $fmt:expr)?) => {{
        let mut m = $c.configure_mesh();
        m.max_light_lines(2)
            .light_line_style(RGBColor(242, 242, 242))
            .bold_line_style(RGBColor(215, 215, 215));
        if $text {
            m.x_desc($x).y_desc($y);
            $(m.x_label_formatter($fmt);)?
        } else {
            m.x_labels(0).y_labels(0);
        }
        m.draw()
    }};
}

/// Draws a chart's legend (only with text).
macro_rules! legend {
    ($c:expr, $text:expr, $pos:expr) => {
        if $text {
            $c.configure_series_labels()
                .position($pos)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()?;
        }
    };
}

/// A legend entry: a short line.
fn swatch(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// A 2 × 2 figure: x, y against t; the phase plane; the learned vector field; the loss.
fn plot(path: &Path, o: &Outcome) -> Result<(), Box<dyn Error>> {
    let text = font::register_font();
    if !text {
        eprintln!(
            "no TrueType font found (set SYMPLODE_FONT=/path/to/font.ttf): plotting without text"
        );
    }
    let tmp = png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 2));
    let x_col = RGBColor(34, 139, 34);
    let y_col = RGBColor(210, 120, 0);
    let learned = RGBColor(30, 70, 200).stroke_width(2);
    let grey = RGBColor(160, 160, 160);
    let builder = |area, title: &str| {
        let mut b = ChartBuilder::on(area);
        b.margin(12).margin_right(26);
        if text {
            b.caption(title, ("sans-serif", 20))
                .x_label_area_size(34)
                .y_label_area_size(44);
        }
        b
    };

    // 1. x and y against t.
    let mut c = builder(&panels[0], "x(t), y(t): true (solid) vs learned (dashed)")
        .build_cartesian_2d(0f64..T_END, -2.3f64..2.3f64)?;
    mesh!(c, text, "t", "x, y")?;
    for (k, col, name) in [(0usize, x_col, "x true"), (1, y_col, "y true")] {
        let truth = o.times.iter().zip(&o.truth).map(|(&t, y)| (t, y[k]));
        let s = c.draw_series(LineSeries::new(truth, col.stroke_width(2)))?;
        if text {
            s.label(name).legend(swatch(col.stroke_width(2)));
        }
    }
    if let Some(l) = &o.learned {
        for k in 0..2 {
            let pts: Vec<(f64, f64)> = o.times.iter().zip(l).map(|(&t, y)| (t, y[k])).collect();
            let s = c.draw_series(DashedLineSeries::new(pts, 6, 4, learned))?;
            if text && k == 0 {
                s.label("learned").legend(swatch(learned));
            }
        }
    }
    legend!(c, text, SeriesLabelPosition::UpperRight);

    // 2. Phase plane (room above the spiral for the legend).
    let mut c =
        builder(&panels[1], "Phase plane").build_cartesian_2d(-2.3f64..2.3f64, -2.1f64..2.9f64)?;
    mesh!(c, text, "x", "y")?;
    let obs = c.draw_series(
        o.observed
            .iter()
            .map(|y| Circle::new((y[0], y[1]), 1, grey.filled())),
    )?;
    if text {
        obs.label("noisy observations")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
    }
    let s = c.draw_series(LineSeries::new(
        o.truth.iter().map(|y| (y[0], y[1])),
        x_col.stroke_width(2),
    ))?;
    if text {
        s.label("true").legend(swatch(x_col.stroke_width(2)));
    }
    if let Some(l) = &o.learned {
        let pts: Vec<(f64, f64)> = l.iter().map(|y| (y[0], y[1])).collect();
        let s = c.draw_series(DashedLineSeries::new(pts, 6, 4, learned))?;
        if text {
            s.label("learned from y(0)").legend(swatch(learned));
        }
    }
    legend!(c, text, SeriesLabelPosition::UpperLeft);

    // 3. Learned vector field: unit arrows coloured by log |f| (blue slow, red fast), over the
    //    true orbit.
    let mut c = builder(&panels[2], "Learned vector field (colour: log |f|)")
        .build_cartesian_2d(-2.2f64..2.2f64, -2.2f64..2.2f64)?;
    mesh!(c, text, "x", "y")?;
    c.draw_series(LineSeries::new(
        o.truth.iter().map(|y| (y[0], y[1])),
        RGBColor(205, 205, 205).stroke_width(1),
    ))?;
    let mags: Vec<f64> = o
        .field
        .iter()
        .map(|(_, f)| f[0].hypot(f[1]).max(1e-12).ln())
        .collect();
    let (lo, hi) = mags
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &m| {
            (a.min(m), b.max(m))
        });
    let len = 0.15;
    let arrows = o.field.iter().zip(&mags).map(|((p, f), &m)| {
        let n = f[0].hypot(f[1]).max(1e-300);
        let d = [f[0] / n, f[1] / n];
        let a = (p[0] - 0.5 * len * d[0], p[1] - 0.5 * len * d[1]);
        let b = (p[0] + 0.5 * len * d[0], p[1] + 0.5 * len * d[1]);
        let head = |s: f64| {
            let (cs, sn) = (0.5f64.cos(), s * 0.5f64.sin());
            let back = [-(d[0] * cs - d[1] * sn), -(d[0] * sn + d[1] * cs)];
            (b.0 + 0.35 * len * back[0], b.1 + 0.35 * len * back[1])
        };
        let u = if hi > lo { (m - lo) / (hi - lo) } else { 0.5 };
        let col = HSLColor(0.66 * (1.0 - u), 0.85, 0.42);
        PathElement::new(vec![a, b, head(1.0), b, head(-1.0)], col.stroke_width(2))
    });
    c.draw_series(arrows)?;

    // 4. Loss: every mini-batch, its running mean over 100 iterations, and the whole
    //    trajectory's error at the reporting points.
    let losses: Vec<(f64, f64)> = o
        .history
        .iter()
        .map(|r| (r.iteration as f64, r.loss.max(1e-12)))
        .collect();
    let smooth: Vec<(f64, f64)> = losses
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let w = &losses[i.saturating_sub(99)..=i];
            (x, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
        })
        .collect();
    let tests: Vec<(f64, f64)> = o
        .tests
        .iter()
        .filter(|(_, m)| m.is_finite())
        .map(|&(i, m)| (i as f64, m.max(1e-12)))
        .collect();
    let ys = losses.iter().chain(&tests).map(|p| p.1);
    let (ylo, yhi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (ylo, yhi) = if ylo.is_finite() {
        (ylo * 0.5, yhi * 4.0)
    } else {
        (1e-6, 1.0)
    };
    let x0 = losses.first().map_or(0.0, |p| p.0);
    let x1 = losses.last().map_or(1.0, |p| p.0).max(x0 + 1.0);
    let mut c =
        builder(&panels[3], "Loss (MSE)").build_cartesian_2d(x0..x1, (ylo..yhi).log_scale())?;
    mesh!(c, text, "iteration", "MSE", &|x: &f64| format!("{x:.0}"))?;
    let light = RGBColor(175, 195, 235).stroke_width(1);
    let s = c.draw_series(LineSeries::new(losses, light))?;
    if text {
        s.label("mini-batch").legend(swatch(light));
    }
    let dark = RGBColor(20, 50, 150).stroke_width(2);
    let s = c.draw_series(LineSeries::new(smooth, dark))?;
    if text {
        s.label("mini-batch, mean of 100").legend(swatch(dark));
    }
    let s = c.draw_series(LineSeries::new(tests.clone(), RED.stroke_width(2)))?;
    if text {
        s.label("whole trajectory from y(0)")
            .legend(swatch(RED.stroke_width(2)));
    }
    c.draw_series(tests.iter().map(|&p| Circle::new(p, 4, RED.filled())))?;
    legend!(c, text, SeriesLabelPosition::UpperRight);
    root.present()?;
    png::commit(&tmp, path)?;
    Ok(())
}
