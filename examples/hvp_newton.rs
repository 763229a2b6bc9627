//! Newton–CG with exact Hessian-vector products through the symplectic adjoint
//! (`grad::hvp`) against Adam, on the spiral fit of torchdiffeq's `ode_demo.py`, plus the top
//! Hessian eigenvalues at both end points by Lanczos.
//!
//! Data: dy/dt = (y³) A with A = [[-0.1, 2.0], [-2.0, -0.1]], y(0) = (2, 0), observed without
//! noise at `--points` uniform times in [0, `--t-end`]. Model: an MLP 2 → `--hidden` tanh → 2 on
//! y (no time input), weights N(0, 0.1²), biases 0. Loss: the mean squared error at every
//! observation time, dopri5 with rtol 1e-6 / atol 1e-8 (each H·v freezes the accepted grid).
//!
//! Both optimisers start from the same weights and get the same wall-clock budget
//! (`--seconds` each):
//! - **Adam** (lr `--lr`), one exact gradient (symplectic adjoint) per step;
//! - **Newton–CG**: per outer step, the gradient, then (H + μI) p = −g by conjugate gradients
//!   (at most `--cg` H·v products, stopped at relative residual 1e-2 or at negative curvature),
//!   then a Levenberg–Marquardt test of the step (accepted when the loss drops; μ shrinks when
//!   the quadratic model predicted the drop well and grows otherwise).
//!
//! Writes `hvp-newton.png` into `--out` (default `target/hvp-newton`): the loss against wall
//! time and against the number of gradient-sized sweeps (a gradient is 1, an H·v is counted as
//! the ratio of its measured time to a gradient's), and the fits in the phase plane.
//!
//! Run: `cargo run --release --example hvp_newton` (flags `--seconds S`, `--hidden N`,
//! `--points N`, `--t-end T`, `--lr X`, `--cg N`, `--seed N`, `--out DIR`).

#[path = "common/font.rs"]
mod font;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/png.rs"]
mod png;

use std::cell::{RefCell, RefMut};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use plotters::prelude::*;
use symplode::prelude::*;
use symplode::runtime::grad::hvp::{Direction, MeanSquaredError, SecondOrderLoss, hvp};
use symplode::runtime::optim::{Adam, AdamConfig, Optimizer};
use symplode::runtime::rng::Rng;

const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];
const Y0: [f64; 2] = [2.0, 0.0];

#[derive(Parser, Debug)]
#[command(about = "Newton–CG with exact Hessian-vector products vs Adam on the spiral fit")]
struct Args {
    /// Wall-clock budget of each optimiser, seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Hidden width of the MLP.
    #[arg(long, default_value_t = 16)]
    hidden: usize,
    /// Observation times in (0, t_end].
    #[arg(long, default_value_t = 40)]
    points: usize,
    /// End of the observation interval.
    #[arg(long, default_value_t = 2.5)]
    t_end: f64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Most H·v products per Newton step.
    #[arg(long, default_value_t = 30)]
    cg: usize,
    /// Lanczos iterations for the top eigenvalues.
    #[arg(long, default_value_t = 20)]
    lanczos: usize,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "target/hvp-newton")]
    out: PathBuf,
}

/// The true trajectory at `times` (classical RK4, 40 sub-steps per interval).
fn true_trajectory(times: &[f64]) -> Vec<[f64; 2]> {
    let rhs = |y: [f64; 2]| {
        let c = [y[0].powi(3), y[1].powi(3)];
        [
            c[0] * A[0][0] + c[1] * A[1][0],
            c[0] * A[0][1] + c[1] * A[1][1],
        ]
    };
    let mut y = Y0;
    let mut out = Vec::new();
    for w in times.windows(2) {
        let h = (w[1] - w[0]) / 40.0;
        for _ in 0..40 {
            let add = |a: [f64; 2], k: [f64; 2], s: f64| [a[0] + s * k[0], a[1] + s * k[1]];
            let k1 = rhs(y);
            let k2 = rhs(add(y, k1, h / 2.0));
            let k3 = rhs(add(y, k2, h / 2.0));
            let k4 = rhs(add(y, k3, h));
            for i in 0..2 {
                y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        out.push(y);
    }
    out
}

/// The fitting problem: times, targets, tableau and steps.
struct Fit {
    times: Vec<f64>,
    truth: Vec<[f64; 2]>,
    scheme: Scheme<f64>,
    stepping: Stepping,
    /// One network whose parameters are overwritten per call, so that its compiled tangent
    /// system (built on the first H·v) is reused.
    net: RefCell<Mlp<f64>>,
}

impl Fit {
    fn loss(&self) -> MeanSquaredError<f64> {
        let data: Vec<f64> = self.truth.iter().flatten().copied().collect();
        MeanSquaredError {
            targets: vec![Trajectory::from_vec(data, 2).expect("whole states")],
            dim: 2,
        }
    }

    fn net(&self, params: &[f64]) -> Result<RefMut<'_, Mlp<f64>>, Box<dyn Error>> {
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            return Err(format!("parameter {i} is not finite").into());
        }
        let mut net = self.net.borrow_mut();
        net.params_mut().copy_from_slice(params);
        Ok(net)
    }

    /// Loss and gradient by the symplectic adjoint.
    fn gradient(&self, params: &[f64]) -> Result<(f64, Vec<f64>), Box<dyn Error>> {
        let net = self.net(params)?;
        let problem = Problem::single(&*net, &self.times, &self.scheme, self.stepping.clone(), &Y0);
        let mut loss = self.loss();
        let r =
            SymplecticAdjoint.gradient(&problem, &mut |o, c| loss.value_and_cotangents(o, c))?;
        Ok((r.loss, r.dtheta[0].clone()))
    }

    /// The loss alone (a forward solve); +∞ when the solve fails.
    fn value(&self, params: &[f64]) -> f64 {
        let Ok(net) = self.net(params) else {
            return f64::INFINITY;
        };
        match solve(&*net, &self.scheme, &self.stepping, &self.times, &Y0) {
            Ok(sol) => {
                let mut cot = vec![Trajectory::zeros(sol.states.len(), 2)];
                self.loss()
                    .value_and_cotangents(&vec![sol.states.clone()], &mut cot)
            }
            Err(_) => f64::INFINITY,
        }
    }

    /// H·v with respect to the parameters.
    fn hv(&self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, Box<dyn Error>> {
        let net = self.net(params)?;
        let problem = Problem::single(&*net, &self.times, &self.scheme, self.stepping.clone(), &Y0);
        let dir = Direction {
            x0: vec![0.0; 2],
            theta: vec![v.to_vec()],
        };
        Ok(hvp(&problem, &mut self.loss(), &dir)?.hv_theta.remove(0))
    }

    /// The fitted trajectory.
    fn trajectory(&self, params: &[f64]) -> Vec<[f64; 2]> {
        let Ok(net) = self.net(params) else {
            return Vec::new();
        };
        let times: Vec<f64> = (0..=400)
            .map(|k| self.times[self.times.len() - 1] * k as f64 / 400.0)
            .collect();
        match solve(&*net, &self.scheme, &self.stepping, &times, &Y0) {
            Ok(sol) => std::iter::once(Y0)
                .chain(sol.states.iter().map(|s| [s[0], s[1]]))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One point of a loss curve: seconds, gradient-sized sweeps, loss.
type Point = (f64, f64, f64);

/// What an optimiser run returns: the end point, its loss curve, and the H·v products used.
type Run = (Vec<f64>, Vec<Point>, usize);

fn adam(fit: &Fit, p0: &[f64], args: &Args) -> Result<(Vec<f64>, Vec<Point>), Box<dyn Error>> {
    let mut p = p0.to_vec();
    let mut opt = Adam::new(AdamConfig {
        lr: args.lr,
        ..AdamConfig::default()
    })?;
    let start = Instant::now();
    let mut curve = Vec::new();
    let mut sweeps = 0.0;
    while start.elapsed().as_secs_f64() < args.seconds {
        let (l, g) = fit.gradient(&p)?;
        curve.push((start.elapsed().as_secs_f64(), sweeps, l));
        sweeps += 1.0;
        Optimizer::<f64>::step(&mut opt, &mut p, &g)?;
    }
    curve.push((start.elapsed().as_secs_f64(), sweeps, fit.value(&p)));
    Ok((p, curve))
}

/// Newton–CG with Levenberg–Marquardt damping; `hv_cost` is an H·v in gradient sweeps.
fn newton(fit: &Fit, p0: &[f64], args: &Args, hv_cost: f64) -> Result<Run, Box<dyn Error>> {
    let mut p = p0.to_vec();
    let n = p.len();
    let mut mu = 1e-3;
    let start = Instant::now();
    let mut curve = Vec::new();
    let mut sweeps = 0.0;
    let mut products = 0;
    let (mut l, mut g) = fit.gradient(&p)?;
    sweeps += 1.0;
    while start.elapsed().as_secs_f64() < args.seconds {
        curve.push((start.elapsed().as_secs_f64(), sweeps, l));
        // (H + μI) s = −g by CG from 0.
        let mut s = vec![0.0; n];
        let mut r: Vec<f64> = g.iter().map(|x| -x).collect();
        let mut d = r.clone();
        let mut rr = dot(&r, &r);
        let g_norm = rr.sqrt();
        for k in 0..args.cg {
            let mut hd = fit.hv(&p, &d)?;
            products += 1;
            sweeps += hv_cost;
            for (h, &x) in hd.iter_mut().zip(&d) {
                *h += mu * x;
            }
            let dhd = dot(&d, &hd);
            if dhd <= 0.0 {
                if k == 0 {
                    s = d.iter().map(|x| x * 1e-3 / g_norm.max(1e-300)).collect();
                }
                break;
            }
            let alpha = rr / dhd;
            for i in 0..n {
                s[i] += alpha * d[i];
                r[i] -= alpha * hd[i];
            }
            let rr_new = dot(&r, &r);
            if rr_new.sqrt() <= 1e-2 * g_norm {
                break;
            }
            let beta = rr_new / rr;
            rr = rr_new;
            for i in 0..n {
                d[i] = r[i] + beta * d[i];
            }
        }
        // The quadratic model's predicted drop (CG: sᵀ(H + μI)s = −gᵀs).
        let predicted = -0.5 * dot(&g, &s) - 0.5 * mu * dot(&s, &s);
        let trial: Vec<f64> = p.iter().zip(&s).map(|(a, b)| a + b).collect();
        let l_new = fit.value(&trial);
        sweeps += 0.5;
        let rho = (l - l_new) / predicted.max(1e-300);
        if l_new < l {
            p = trial;
            (l, g) = fit.gradient(&p)?;
            sweeps += 1.0;
            if rho > 0.75 {
                mu /= 3.0;
            } else if rho < 0.25 {
                mu *= 2.0;
            }
        } else {
            mu *= 4.0;
        }
        mu = mu.clamp(1e-10, 1e6);
    }
    curve.push((start.elapsed().as_secs_f64(), sweeps, l));
    Ok((p, curve, products))
}

/// The largest eigenvalues of H by `k` Lanczos steps (full reorthogonalisation) and the
/// Jacobi method on the tridiagonal matrix.
fn lanczos(fit: &Fit, p: &[f64], k: usize, seed: u64) -> Result<Vec<f64>, Box<dyn Error>> {
    let n = p.len();
    let k = k.min(n);
    let mut rng = Rng::new(seed);
    let mut q: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let norm = dot(&q, &q).sqrt();
    q.iter_mut().for_each(|x| *x /= norm);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    for j in 0..k {
        let mut w = fit.hv(p, &q)?;
        let a = dot(&w, &q);
        alpha.push(a);
        basis.push(q.clone());
        for b in &basis {
            let c = dot(&w, b);
            w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
        }
        let bnorm = dot(&w, &w).sqrt();
        if j + 1 == k || bnorm < 1e-12 {
            break;
        }
        beta.push(bnorm);
        q = w.iter().map(|x| x / bnorm).collect();
    }
    let m = alpha.len();
    let mut t = vec![vec![0.0; m]; m];
    for i in 0..m {
        t[i][i] = alpha[i];
        if i + 1 < m {
            t[i][i + 1] = beta[i];
            t[i + 1][i] = beta[i];
        }
    }
    // Cyclic Jacobi rotations until the off-diagonal vanishes.
    for _ in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| t[i][j] * t[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for i in 0..m {
            for j in i + 1..m {
                if t[i][j].abs() < 1e-300 {
                    continue;
                }
                let theta = (t[j][j] - t[i][i]) / (2.0 * t[i][j]);
                let tt = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let tt = if theta == 0.0 { 1.0 } else { tt };
                let c = 1.0 / (tt * tt + 1.0).sqrt();
                let s = tt * c;
                for r in 0..m {
                    let (a, b) = (t[r][i], t[r][j]);
                    t[r][i] = c * a - s * b;
                    t[r][j] = s * a + c * b;
                }
                for r in 0..m {
                    let (a, b) = (t[i][r], t[j][r]);
                    t[i][r] = c * a - s * b;
                    t[j][r] = s * a + c * b;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..m).map(|i| t[i][i]).collect();
    ev.sort_by(|a, b| b.total_cmp(a));
    Ok(ev)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let times: Vec<f64> = (0..=args.points)
        .map(|k| args.t_end * k as f64 / args.points as f64)
        .collect();
    let truth = true_trajectory(&times);
    let config = MlpConfig::new(2, vec![args.hidden], Activation::Tanh, false);
    let template = Mlp::<f64>::new(config, args.seed)?;
    let fit = Fit {
        times,
        truth,
        scheme: Scheme::builtin("dopri5")?,
        stepping: Stepping::adaptive(1e-6, 1e-8),
        net: RefCell::new(template.clone()),
    };
    let mut rng = Rng::new(args.seed ^ 0x5EED);
    let mut p0 = vec![0.0; template.n_params()];
    for t in template.param_tensors() {
        if t.name.ends_with("weight") {
            p0[t.range()]
                .iter_mut()
                .for_each(|p| *p = 0.1 * rng.normal());
        }
    }
    println!("CPU: {}", machine::cpu());
    println!("load: {}", machine::uptime());
    println!(
        "spiral fit: {} observations in (0, {}], MLP 2 → {} tanh → 2 ({} parameters), dopri5 rtol 1e-6 atol 1e-8",
        args.points,
        args.t_end,
        args.hidden,
        p0.len()
    );
    // The price of an H·v in gradients, measured at the start.
    let t = Instant::now();
    for _ in 0..3 {
        fit.gradient(&p0)?;
    }
    let t_grad = t.elapsed().as_secs_f64() / 3.0;
    let t = Instant::now();
    for _ in 0..3 {
        fit.hv(&p0, &p0)?;
    }
    let t_hv = t.elapsed().as_secs_f64() / 3.0;
    let hv_cost = t_hv / t_grad;
    println!(
        "one gradient {:.2} ms, one H·v {:.2} ms ({hv_cost:.2} gradients)",
        t_grad * 1e3,
        t_hv * 1e3
    );
    let loss0 = fit.value(&p0);
    let (p_adam, c_adam) = adam(&fit, &p0, &args)?;
    let (p_newton, c_newton, products) = newton(&fit, &p0, &args, hv_cost)?;
    let last = |c: &[Point]| c.last().map_or(f64::NAN, |p| p.2);
    println!("initial loss {loss0:.4e}");
    println!(
        "Adam (lr {}): {} steps in {:.1} s, final loss {:.4e}",
        args.lr,
        c_adam.len() - 1,
        args.seconds,
        last(&c_adam)
    );
    println!(
        "Newton–CG: {} outer steps, {products} H·v products in {:.1} s, final loss {:.4e}",
        c_newton.len() - 1,
        args.seconds,
        last(&c_newton)
    );
    for (name, p) in [("Adam", &p_adam), ("Newton–CG", &p_newton)] {
        let ev = lanczos(&fit, p, args.lanczos, 1)?;
        let top: Vec<String> = ev.iter().take(5).map(|e| format!("{e:.3e}")).collect();
        println!(
            "top Hessian eigenvalues at the {name} end point ({} Lanczos steps): {}; smallest Ritz value {:.3e}",
            args.lanczos,
            top.join(", "),
            ev.last().copied().unwrap_or(f64::NAN)
        );
    }
    let path = args.out.join("hvp-newton.png");
    plot(&path, &fit, &c_adam, &c_newton, &p_adam, &p_newton, hv_cost)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Loss against wall time and against sweeps; the fits in the phase plane.
fn plot(
    path: &Path,
    fit: &Fit,
    adam: &[Point],
    newton: &[Point],
    p_adam: &[f64],
    p_newton: &[f64],
    hv_cost: f64,
) -> Result<(), Box<dyn Error>> {
    let text = font::register_font();
    let tmp = png::tmp_path(path);
    {
        let root = BitMapBackend::new(&tmp, (1500, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, 3));
        let blue = RGBColor(30, 70, 200);
        let red = RGBColor(200, 50, 30);
        let all = adam.iter().chain(newton).map(|p| p.2.max(1e-12));
        let lo = all.clone().fold(f64::INFINITY, f64::min) * 0.5;
        let hi = all.fold(0.0, f64::max) * 2.0;
        for (k, title) in [
            (0usize, "loss against wall time (s)"),
            (1, "loss against gradient-sized sweeps"),
        ] {
            let xmax = adam
                .iter()
                .chain(newton)
                .map(|p| if k == 0 { p.0 } else { p.1 })
                .fold(1e-9, f64::max);
            let mut b = ChartBuilder::on(&panels[k]);
            b.margin(12).margin_right(24);
            if text {
                b.caption(title, ("sans-serif", 20))
                    .x_label_area_size(34)
                    .y_label_area_size(60);
            }
            let mut c = b.build_cartesian_2d(0f64..xmax, (lo..hi).log_scale())?;
            let mut m = c.configure_mesh();
            if !text {
                m.x_labels(0).y_labels(0);
            }
            m.draw()?;
            let pick = |p: &Point| (if k == 0 { p.0 } else { p.1 }, p.2.max(1e-12));
            let s = c.draw_series(LineSeries::new(adam.iter().map(pick), blue.stroke_width(2)))?;
            if text {
                s.label("Adam").legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2))
                });
            }
            let s = c.draw_series(LineSeries::new(
                newton.iter().map(pick),
                red.stroke_width(2),
            ))?;
            if text {
                let label = format!("Newton–CG (H·v = {hv_cost:.1} gradients)");
                s.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2))
                });
                c.configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 16))
                    .draw()?;
            }
        }
        let mut b = ChartBuilder::on(&panels[2]);
        b.margin(12).margin_right(24);
        if text {
            b.caption("phase plane: data and fits", ("sans-serif", 20))
                .x_label_area_size(34)
                .y_label_area_size(44);
        }
        let mut c = b.build_cartesian_2d(-2.3f64..2.3f64, -2.3f64..2.3f64)?;
        let mut m = c.configure_mesh();
        if !text {
            m.x_labels(0).y_labels(0);
        }
        m.draw()?;
        c.draw_series(
            std::iter::once(Y0)
                .chain(fit.truth.iter().copied())
                .map(|y| Circle::new((y[0], y[1]), 3, BLACK.filled())),
        )?;
        for (p, col) in [(p_adam, blue), (p_newton, red)] {
            let tr = fit.trajectory(p);
            c.draw_series(LineSeries::new(
                tr.iter()
                    .map(|y| (y[0].clamp(-9.0, 9.0), y[1].clamp(-9.0, 9.0))),
                col.stroke_width(2),
            ))?;
        }
        root.present()?;
    }
    png::commit(&tmp, path)?;
    Ok(())
}
