//! `symplode hvp`: one Hessian-vector product H·v of the loss at x(t1) with respect to
//! (x0, θ), by the symplectic adjoint of the tangent system (`runtime::grad::hvp`), with the
//! gradient, the curvature vᵀHv, memory predicted and counted, and optionally a check against
//! central differences of the gradient on the same (frozen) step grid.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use symplode::io::{SafeTensors, check_output_not_input, save_gradients};
use symplode::prelude::*;
use symplode::runtime::grad::forward_on_grids;
use symplode::runtime::grad::hvp::{
    Direction, HvpResult, Linear, MeanSqFinal, SecondOrderLoss, hvp, hvp_predict, hvp_sizes,
};
use symplode::runtime::rng::Rng;

use super::args::{LossKind, ModelArgs};
use super::load::{CliReal, load, read_states};
use super::report::{
    Memory, Steps, TensorNorm, bytes, cost_lines, l2, num, stepping_text, tensor_lines,
    tensor_norms,
};
use super::{CliError, check_span};

/// `symplode hvp`.
#[derive(Debug, Args)]
pub struct HvpArgs {
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Start time.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub t0: f64,
    /// End time (the loss is taken at x(t1)).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub t1: f64,
    /// Loss at x(t1) (default mean-sumsq: mean over the batch of ‖x(t1)‖²).
    #[arg(long, value_enum, conflicts_with = "cotangent")]
    pub loss: Option<LossKind>,
    /// Cotangent ∂L/∂x(t1) (.npy, shaped like x0): the loss is L = Σ c·x(t1).
    #[arg(long, value_name = "C.npy")]
    pub cotangent: Option<PathBuf>,
    /// The direction v (safetensors): parameter tensors under the spec's names and optionally
    /// `x0` ([batch, dim]); absent tensors are zero. Default: a random unit parameter
    /// direction (see --seed).
    #[arg(long, value_name = "V.safetensors")]
    pub direction: Option<PathBuf>,
    /// Seed of the random direction (when --direction is not given).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also compare H·v with central differences of the gradient on the same step grid.
    #[arg(long)]
    pub check: bool,
    /// Where to write H·v: its x0 block as `x0`, its θ block under the spec's names.
    #[arg(long, value_name = "HV.safetensors")]
    pub out: Option<PathBuf>,
}

/// What `hvp` prints.
#[derive(Serialize)]
struct HvpReport {
    command: &'static str,
    model: String,
    precision: &'static str,
    tableau: String,
    stepping: String,
    t0: f64,
    t1: f64,
    batch: usize,
    params: usize,
    direction: String,
    loss_kind: String,
    loss: f64,
    grad_norm: f64,
    v_norm: f64,
    vhv: f64,
    hv_x0_norm: f64,
    hv_theta_norms: Vec<TensorNorm>,
    check_rel_error: Option<f64>,
    steps: Steps,
    nfe_forward: usize,
    nfe_backward: usize,
    vjp_backward: usize,
    memory_predicted: Memory,
    memory_measured: Memory,
    wall_seconds: f64,
    out: Option<String>,
}

/// The loss of `--loss` / `--cotangent`.
fn loss_of<T: CliReal>(
    args: &HvpArgs,
    dim: usize,
    x0_shape: &[usize],
) -> Result<(Box<dyn SecondOrderLoss<T>>, String), CliError> {
    Ok(match (&args.cotangent, args.loss) {
        (Some(path), _) => {
            let (c, _) = read_states::<T>(path, "cotangent", dim, Some(x0_shape))?;
            let kind = format!("linear (cotangent {})", path.display());
            (
                Box::new(Linear {
                    c: vec![Trajectory::single(c)],
                }),
                kind,
            )
        }
        (None, None | Some(LossKind::MeanSumsq)) => (
            Box::new(MeanSqFinal { dim }),
            "mean-sumsq (mean over the batch of ‖x(t1)‖²)".to_string(),
        ),
        (None, Some(LossKind::Nll)) => {
            return Err(CliError(
                "--loss nll is a flow's loss; hvp reads model specs, not flow model files".into(),
            ));
        }
    })
}

/// The direction of `--direction`, or a random unit parameter direction.
fn direction_of<T: CliReal>(
    args: &HvpArgs,
    net: &dyn Dynamics<T>,
    x0_shape: &[usize],
    x0_len: usize,
) -> Result<(Direction<T>, String), CliError> {
    let mut v = Direction {
        x0: vec![T::zero(); x0_len],
        theta: vec![vec![T::zero(); net.n_params()]],
    };
    let Some(path) = &args.direction else {
        let mut rng = Rng::new(args.seed);
        let raw: Vec<f64> = (0..net.n_params()).map(|_| rng.normal()).collect();
        let n = raw
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        for (t, r) in v.theta[0].iter_mut().zip(&raw) {
            *t = T::of(r / n);
        }
        return Ok((
            v,
            format!("random unit parameter direction (seed {})", args.seed),
        ));
    };
    let file = SafeTensors::read(path)?;
    let tensors = net.param_tensors();
    for name in file.names() {
        if name != "x0" && !tensors.iter().any(|t| t.name == name) {
            return Err(CliError(format!(
                "--direction {}: tensor `{name}` is neither `x0` nor a parameter of the model ({})",
                path.display(),
                tensors
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut given = Vec::new();
    for t in &tensors {
        if file.info(&t.name).is_some() {
            let data = file.tensor_checked(&t.name, &t.shape, "the parameter's shape")?;
            for (d, x) in v.theta[0][t.range()].iter_mut().zip(data) {
                *d = T::of(x);
            }
            given.push(t.name.clone());
        }
    }
    if file.info("x0").is_some() {
        let data = file.tensor_checked("x0", x0_shape, "the shape of --x0")?;
        for (d, x) in v.x0.iter_mut().zip(data) {
            *d = T::of(x);
        }
        given.push("x0".into());
    }
    if given.is_empty() {
        return Err(CliError(format!(
            "--direction {}: no tensor of the model or `x0` in the file",
            path.display()
        )));
    }
    Ok((v, format!("{} ({})", path.display(), given.join(", "))))
}

/// H·v by fourth-order central differences of the symplectic adjoint's gradient on `grids`.
fn differences<T: CliReal>(
    net: &symplode::io::Named<symplode::io::SpecNet<T>>,
    x0: &[T],
    scheme: &Scheme<T>,
    stepping: &Stepping,
    times: &[f64],
    r: &HvpResult<T>,
    loss: &mut dyn SecondOrderLoss<T>,
    v: &Direction<T>,
) -> Result<Vec<f64>, CliError> {
    let scale = l2(&v.x0).hypot(l2(&v.theta[0])).max(f64::MIN_POSITIVE);
    let h = if T::NAME == "f32" { 3e-2 } else { 1e-3 } / scale;
    let mut grad = |eps: f64| -> Result<Vec<f64>, CliError> {
        let mut moved = net.clone();
        for (p, d) in moved.params_mut().iter_mut().zip(&v.theta[0]) {
            *p += T::of(eps) * *d;
        }
        let x: Vec<T> = x0
            .iter()
            .zip(&v.x0)
            .map(|(&a, &d)| a + T::of(eps) * d)
            .collect();
        let problem = Problem::single(&moved, times, scheme, stepping.clone(), &x);
        let method = SymplecticAdjoint;
        let pass = forward_on_grids(&method, &problem, &r.grids)
            .map_err(|e| CliError(format!("--check: {e}")))?;
        let mut cot = pass.zero_cotangents();
        let value = loss.value_and_cotangents(pass.outputs(), &mut cot);
        let g = method
            .backward(pass, &cot, value)
            .map_err(|e| CliError(format!("--check: {e}")))?;
        Ok(g.dx0.iter().chain(&g.dtheta[0]).map(|x| x.f64()).collect())
    };
    let (p1, m1, p2, m2) = (grad(h)?, grad(-h)?, grad(2.0 * h)?, grad(-2.0 * h)?);
    Ok((0..p1.len())
        .map(|i| (8.0 * (p1[i] - m1[i]) - (p2[i] - m2[i])) / (12.0 * h))
        .collect())
}

/// Runs `hvp` in precision `T`, appending the report to `out`.
pub fn run<T: CliReal>(args: &HvpArgs, out: &mut String) -> Result<(), CliError> {
    let times = [args.t0, args.t1];
    check_span(&times, "--t0/--t1")?;
    let l = load::<T>(&args.model)?;
    let dim = l.dim;
    let (mut loss, loss_kind) = loss_of::<T>(args, dim, &l.x0_shape)?;
    let (v, direction) = direction_of::<T>(args, &l.net, &l.x0_shape, l.x0.len())?;
    if let Some(path) = &args.out {
        let mut inputs = args.model.inputs();
        if let Some(p) = &args.direction {
            inputs.push(("--direction", p));
        }
        if let Some(p) = &args.cotangent {
            inputs.push(("--cotangent", p));
        }
        check_output_not_input(path, "--out", &inputs)?;
    }
    let problem = Problem::single(&l.net, &times, &l.scheme, l.stepping.clone(), &l.x0);
    // The memory budget, checked before starting with the exact step count (fixed steps) or
    // the step budget (adaptive).
    let budget = super::memory_budget(args.model.memory_budget.as_deref())?;
    let bound = match &l.stepping {
        Stepping::Fixed { steps } => *steps,
        Stepping::Adaptive(a) => a.max_steps,
    };
    let sizes = hvp_sizes(&problem, &[bound]).map_err(|e| CliError(format!("hvp: {e}")))?;
    let need = hvp_predict(&sizes).total();
    if u64::try_from(need).unwrap_or(u64::MAX) > budget.bytes {
        return Err(CliError(format!(
            "hvp: the predicted peak memory {} (with {bound} steps) exceeds the memory budget {}; \
             give --memory-budget, fewer --steps or a smaller --max-steps",
            bytes(need),
            bytes(usize::try_from(budget.bytes).unwrap_or(usize::MAX))
        )));
    }
    let start = Instant::now();
    let r = hvp(&problem, &mut *loss, &v).map_err(|e| CliError(format!("hvp: {e}")))?;
    let wall = start.elapsed().as_secs_f64();
    let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
    let predicted =
        hvp_predict(&hvp_sizes(&problem, &steps).map_err(|e| CliError(format!("hvp: {e}")))?);
    let hv_theta = &r.hv_theta[0];
    let all_finite = r.loss.is_finite() && r.hv_x0.iter().chain(hv_theta).all(|x| x.is_finite());
    if !all_finite {
        return Err(CliError(
            "H·v or the loss is not finite (the solution overflowed?); nothing was written".into(),
        ));
    }
    let vhv: f64 =
        v.x0.iter()
            .zip(&r.hv_x0)
            .chain(v.theta[0].iter().zip(hv_theta))
            .map(|(a, b)| a.f64() * b.f64())
            .sum();
    let check_rel_error = if args.check {
        let fd = differences(
            &l.net,
            &l.x0,
            &l.scheme,
            &l.stepping,
            &times,
            &r,
            &mut *loss,
            &v,
        )?;
        let ours: Vec<f64> = r.hv_x0.iter().chain(hv_theta).map(|x| x.f64()).collect();
        // Infinite (never small) when a value is NaN or infinite.
        Some(symplode_runtime::compare::max_rel_diff(&ours, &fd))
    } else {
        None
    };
    if let Some(path) = &args.out {
        let mut meta = BTreeMap::new();
        meta.insert(
            "content".to_string(),
            "Hessian-vector product H·v".to_string(),
        );
        meta.insert("direction".to_string(), direction.clone());
        meta.insert("loss".to_string(), format!("{:e}", r.loss));
        meta.insert("tableau".to_string(), l.tableau.name().to_string());
        save_gradients(path, &l.net, &r.hv_x0, hv_theta, &meta)?;
    }
    let s = r.stats;
    let grad_norm = l2(&r.dx0).hypot(l2(&r.dtheta[0]));
    let report = HvpReport {
        command: "hvp",
        model: l.origin.clone(),
        precision: T::NAME,
        tableau: l.tableau.name().to_string(),
        stepping: stepping_text(&l.stepping),
        t0: args.t0,
        t1: args.t1,
        batch: l.batch,
        params: l.net.n_params(),
        direction,
        loss_kind,
        loss: r.loss,
        grad_norm,
        v_norm: l2(&v.x0).hypot(l2(&v.theta[0])),
        vhv,
        hv_x0_norm: l2(&r.hv_x0),
        hv_theta_norms: tensor_norms(&l.net, hv_theta),
        check_rel_error,
        steps: Steps::forward(s.accepted, s.rejected),
        nfe_forward: s.nfe_forward,
        nfe_backward: s.nfe_backward,
        vjp_backward: s.vjp_backward,
        memory_predicted: Memory::predicted(&predicted),
        memory_measured: Memory::measured(&s),
        wall_seconds: wall,
        out: args.out.as_ref().map(|p| p.display().to_string()),
    };
    if args.model.json {
        out.push_str(&super::report::json(&report)?);
    } else {
        text(&report, out);
    }
    Ok(())
}

/// The human-readable report.
fn text(r: &HvpReport, out: &mut String) {
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    line("model", format!("{}, {}", r.model, r.precision));
    line(
        "problem",
        format!(
            "batch {}, t {} → {}, tableau {}, {} (grid frozen)",
            r.batch,
            num(r.t0),
            num(r.t1),
            r.tableau,
            r.stepping
        ),
    );
    line(
        "direction",
        format!("{}, ‖v‖ = {:.6e}", r.direction, r.v_norm),
    );
    line("loss", format!("{}  [{}]", num(r.loss), r.loss_kind));
    line("‖∇L‖", format!("{:.6e}  (x0 and θ)", r.grad_norm));
    line("vᵀHv", format!("{:.6e}", r.vhv));
    line("‖(H·v)x0‖", format!("{:.6e}", r.hv_x0_norm));
    tensor_lines(&mut line, "‖(H·v)θ‖", &r.hv_theta_norms);
    if let Some(e) = r.check_rel_error {
        line(
            "check",
            format!("max |H·v − differences of ∇L| / max |differences| = {e:.2e}"),
        );
    }
    line(
        "steps",
        format!(
            "{} accepted, {} rejected",
            r.steps.accepted, r.steps.rejected
        ),
    );
    line(
        "NFE",
        format!(
            "forward {} (tangent system + grid pre-pass), backward {} (+ {} VJPs)",
            r.nfe_forward, r.nfe_backward, r.vjp_backward
        ),
    );
    cost_lines(
        &mut line,
        &r.memory_predicted,
        &r.memory_measured,
        r.wall_seconds,
    );
    if let Some(p) = &r.out {
        line(
            "wrote",
            format!("{p} (H·v: x0 + parameter tensors, {})", r.precision),
        );
    }
}
