//! The memory frontier against McCallum & Foster's anchors (arXiv 2410.11648): peak memory and
//! time of one gradient, for every method, as N grows.
//!
//! **(a) Complexity workload** (their `experiments/complexity/complexity.py`): a 1 → 10 → 1
//! tanh MLP (no time input), y0 = 1, Tsit5 with h = 0.01 over [0, N·h], loss Σ y(t₁)², N from
//! 100 to 10,000. Every method: backprop, ACA, checkpoint per component, the symplectic
//! adjoint (stored and recomputed stages), the symplectic adjoint over binomial checkpoints
//! (C = 9), the reversible scheme (λ = 0.999) and backprop through it, and the continuous
//! adjoint. They report 0.072 s per gradient for the reversible method at N = 1000.
//!
//! **(b) CNF on moons** (`--cnf`; their `experiments/cnf/cnf.py`): 1000 points of
//! `make_moons(noise = 0.05)` standardised, the ODE net four ConcatSquash layers 2 → 128 →
//! 128 → 128 → 2 with tanh, exact trace, T = 1, h = 0.01 (dopri5, fixed steps: their
//! 13,092 MB backprop and ≈ 720 MB reversible figures are for dopri5). One gradient per method.
//!
//! Peak memory: the real heap of the gradient call (a counting global allocator) and the
//! method's own counted peak (`Stats::peak_total_bytes`). Time: the best of `--repeats` calls.
//! Writes `memory-frontier-{complexity,cnf}.csv` and the plots `memory-frontier-memory.png`
//! (real heap), `memory-frontier-counted.png` (counted peak) and `memory-frontier-time.png`
//! into `--out` (default `target/memory-frontier`).
//!
//! Run: `cargo run --release --example memory_frontier -- [--cnf] [--max-n 10000]`

#[path = "common/font.rs"]
mod font;
#[path = "common/heap.rs"]
mod heap;
#[path = "common/machine.rs"]
#[allow(dead_code)] // this example prints the CPU, not the load
mod machine;
#[path = "common/png.rs"]
mod png;
#[path = "common/toy.rs"]
mod toy;

use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::Parser;
use heap::{CURRENT, PEAK};
use plotters::prelude::*;
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::Activation as IrActivation;
use symplode::prelude::*;
use symplode::runtime::grad::{Reversible, ReversibleBackprop, SymplecticBinomial};
use symplode::runtime::interp::cnf;
use symplode::runtime::rng::Rng;

#[global_allocator]
static GLOBAL: heap::Counting = heap::Counting;

/// Command-line flags.
#[derive(Parser, Debug)]
struct Args {
    /// Also run the CNF-on-moons configuration (one gradient per method; slow).
    #[arg(long)]
    cnf: bool,
    /// Skip the complexity workload.
    #[arg(long)]
    no_complexity: bool,
    /// Largest N of the complexity workload.
    #[arg(long, default_value_t = 10_000)]
    max_n: usize,
    /// Timed calls per point (the best is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// CNF: methods whose own prediction exceeds this many MiB are not run (reported as
    /// predicted only), to keep the shared machine safe.
    #[arg(long, default_value_t = 3072)]
    max_mib: usize,
    /// Output directory.
    #[arg(long, default_value = "target/memory-frontier")]
    out: PathBuf,
}

/// One measured gradient.
struct Row {
    method: String,
    n: usize,
    heap: usize,
    counted: usize,
    seconds: f64,
}

fn methods() -> Vec<Box<dyn GradientMethod<f64>>> {
    vec![
        Box::new(Backprop),
        Box::new(CheckpointStep),
        Box::new(CheckpointComponent),
        Box::new(SymplecticAdjointStored),
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticBinomial { checkpoints: 9 }),
        Box::new(Reversible { lambda: 0.999 }),
        Box::new(ReversibleBackprop { lambda: 0.999 }),
        Box::new(Adjoint::default()),
    ]
}

/// Peak heap, counted peak and best time of `repeats` gradient calls.
fn measure(
    m: &dyn GradientMethod<f64>,
    problem: &Problem<'_, f64>,
    loss: &mut dyn FnMut(&Outputs<f64>, &mut Outputs<f64>) -> f64,
    repeats: usize,
) -> Result<(usize, usize, f64), Box<dyn Error>> {
    let mut best = f64::INFINITY;
    let mut heap = 0;
    let mut counted = 0;
    for _ in 0..repeats.max(1) {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let r = m.gradient(problem, loss)?;
        best = best.min(start.elapsed().as_secs_f64());
        heap = heap.max(PEAK.load(Ordering::Relaxed) - base);
        counted = r.stats.peak_total_bytes;
    }
    Ok((heap, counted, best))
}

fn complexity(args: &Args) -> Result<Vec<Row>, Box<dyn Error>> {
    let net = Mlp::<f64>::new(
        MlpConfig {
            dim: 1,
            hidden: vec![10],
            activation: Activation::Tanh,
            time_input: false,
        },
        0,
    )?;
    let scheme = Scheme::<f64>::builtin("tsit5")?;
    let x0 = [1.0];
    let mut rows = Vec::new();
    let ns: Vec<usize> = [100, 200, 500, 1000, 2000, 5000, 10_000]
        .into_iter()
        .filter(|&n| n <= args.max_n)
        .collect();
    println!(
        "\n(a) complexity workload: 1 -> 10 -> 1 tanh MLP, Tsit5, h = 0.01, loss sum y(t1)^2\n"
    );
    println!("| method | N | peak heap KiB | counted peak KiB | seconds |");
    println!("|---|---|---|---|---|");
    for m in methods() {
        for &n in &ns {
            let t1 = n as f64 * 0.01;
            let problem = Problem::single(&net, &[0.0, t1], &scheme, Stepping::fixed(n), &x0);
            let mut loss = |o: &Outputs<f64>, c: &mut Outputs<f64>| {
                let y = o[0][0][0];
                c[0][0][0] = 2.0 * y;
                y * y
            };
            let (heap, counted, seconds) = measure(m.as_ref(), &problem, &mut loss, args.repeats)?;
            println!(
                "| {} | {n} | {:.1} | {:.1} | {seconds:.4} |",
                m.name(),
                heap as f64 / 1024.0,
                counted as f64 / 1024.0
            );
            rows.push(Row {
                method: m.name().to_string(),
                n,
                heap,
                counted,
                seconds,
            });
        }
    }
    Ok(rows)
}

/// sklearn's `make_moons(n, noise)`, standardised by the mean and standard deviation of all
/// coordinates (as their script does).
fn moons(n: usize, noise: f64, rng: &mut Rng) -> Vec<[f64; 2]> {
    let n_out = n / 2;
    let n_in = n - n_out;
    let lin = |k: usize, i: usize| {
        if k > 1 {
            std::f64::consts::PI * i as f64 / (k - 1) as f64
        } else {
            0.0
        }
    };
    let mut pts: Vec<[f64; 2]> = (0..n_out)
        .map(|i| [lin(n_out, i).cos(), lin(n_out, i).sin()])
        .chain((0..n_in).map(|i| [1.0 - lin(n_in, i).cos(), 1.0 - lin(n_in, i).sin() - 0.5]))
        .collect();
    for p in &mut pts {
        p[0] += noise * rng.normal();
        p[1] += noise * rng.normal();
    }
    let all: Vec<f64> = pts.iter().flatten().copied().collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let std = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    for p in &mut pts {
        p[0] = (p[0] - mean) / std;
        p[1] = (p[1] - mean) / std;
    }
    pts
}

fn cnf_moons(args: &Args) -> Result<Vec<Row>, Box<dyn Error>> {
    let f = toy::ode_net(&[128, 128, 128], IrActivation::Tanh);
    let params = toy::init_params(&f, 0);
    let model = cnf::<f64>(&f, Trace::Exact, params)?;
    let mut rng = Rng::new(0);
    let x0: Vec<f64> = toy::augment(&moons(1000, 0.05, &mut rng));
    let scheme = Scheme::<f64>::builtin("dopri5")?;
    let problem = Problem::single(&model, &[0.0, 1.0], &scheme, Stepping::fixed(100), &x0);
    println!(
        "\n(b) CNF on moons: 1000 points, ConcatSquash 2-128-128-128-2 tanh ({} parameters), exact trace, dopri5, h = 0.01, T = 1\n",
        model.n_params()
    );
    println!("| method | peak heap MiB | counted peak MiB | seconds |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    for m in methods() {
        let predicted = m.predict(&ProblemSizes::of(&problem, &[100])).total();
        if predicted > args.max_mib << 20 {
            println!(
                "| {} | not run: predicted {:.1} MiB > --max-mib {} | {:.1} (predicted) | – |",
                m.name(),
                predicted as f64 / 1048576.0,
                args.max_mib,
                predicted as f64 / 1048576.0
            );
            continue;
        }
        let (heap, counted, seconds) = measure(m.as_ref(), &problem, &mut toy::nll_loss, 1)?;
        println!(
            "| {} | {:.1} | {:.1} | {seconds:.2} |",
            m.name(),
            heap as f64 / 1048576.0,
            counted as f64 / 1048576.0
        );
        rows.push(Row {
            method: m.name().to_string(),
            n: 100,
            heap,
            counted,
            seconds,
        });
    }
    Ok(rows)
}

fn write_csv(path: &std::path::Path, rows: &[Row]) -> Result<(), Box<dyn Error>> {
    let mut text = String::from("method,n,peak_heap_bytes,counted_peak_bytes,seconds\n");
    for r in rows {
        text += &format!(
            "{},{},{},{},{}\n",
            r.method, r.n, r.heap, r.counted, r.seconds
        );
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// A log–log plot of `value(row)` against N, one line per method.
fn plot(
    path: &std::path::Path,
    rows: &[Row],
    title: &str,
    y_label: &str,
    value: impl Fn(&Row) -> f64,
    text: bool,
) -> Result<(), Box<dyn Error>> {
    let tmp = png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_lo, x_hi) = rows.iter().fold((f64::MAX, 0.0f64), |(a, b), r| {
        (a.min(r.n as f64), b.max(r.n as f64))
    });
    let (y_lo, y_hi) = rows.iter().fold((f64::MAX, 0.0f64), |(a, b), r| {
        (a.min(value(r)), b.max(value(r)))
    });
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(
        (x_lo * 0.9..x_hi * 1.1).log_scale(),
        (y_lo * 0.8..y_hi * 1.25).log_scale(),
    )?;
    if text {
        chart
            .configure_mesh()
            .x_desc("N (steps)")
            .y_desc(y_label)
            .draw()?;
    } else {
        chart.configure_mesh().disable_mesh().draw()?;
    }
    let mut names: Vec<&str> = rows.iter().map(|r| r.method.as_str()).collect();
    names.dedup();
    for (i, name) in names.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.method == *name)
            .map(|r| (r.n as f64, value(r)))
            .collect();
        let series = chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
        if text {
            series
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    png::commit(&tmp, path)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let cpu = machine::cpu();
    println!("CPU: {cpu}; one thread; f64");
    let text = font::register_font();
    if !args.no_complexity {
        let rows = complexity(&args)?;
        write_csv(&args.out.join("memory-frontier-complexity.csv"), &rows)?;
        plot(
            &args.out.join("memory-frontier-memory.png"),
            &rows,
            "Complexity workload: peak heap of one gradient",
            "peak heap (bytes)",
            |r| r.heap as f64,
            text,
        )?;
        plot(
            &args.out.join("memory-frontier-counted.png"),
            &rows,
            "Complexity workload: counted peak (states, tapes, buffers; no grid)",
            "counted peak (bytes)",
            |r| r.counted as f64,
            text,
        )?;
        plot(
            &args.out.join("memory-frontier-time.png"),
            &rows,
            "Complexity workload: time of one gradient",
            "seconds",
            |r| r.seconds,
            text,
        )?;
    }
    if args.cnf {
        let rows = cnf_moons(&args)?;
        write_csv(&args.out.join("memory-frontier-cnf.csv"), &rows)?;
    }
    Ok(())
}
