//! `symplode grad`: one gradient computation, its report and the gradient file.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use symplode::io::{NamedTensor, check_output_not_input, safetensors};
use symplode::prelude::*;
use symplode::train::flow::nll_contribution;

use super::any_net::AnyNet;
use super::args::{GradArgs, LossKind, Method};
use super::load::{CliReal, Loaded, load_any, read_states};
use super::report::{
    Memory, Steps, TensorNorm, cost_lines, l2, layout_norms, num, stepping_text, tensor_lines,
};
use super::{CliError, check_span};

/// What `grad` prints (as text, or as one JSON object with `--json`).
#[derive(Serialize)]
struct GradReport {
    command: &'static str,
    model: String,
    summary: String,
    precision: &'static str,
    tableau: String,
    stepping: String,
    t0: f64,
    t1: f64,
    batch: usize,
    dim: usize,
    params: usize,
    method: &'static str,
    loss_kind: String,
    loss: f64,
    dx0_norm: f64,
    dtheta_norms: Vec<TensorNorm>,
    steps: Steps,
    nfe_forward: usize,
    nfe_backward: usize,
    vjp_backward: usize,
    memory_predicted: Memory,
    memory_measured: Memory,
    wall_seconds: f64,
    out: Option<String>,
}

/// A loss as the gradient methods take it.
type LossFn<T> = dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64;

/// The method of `--method`, with `--checkpoints`, `--lambda` and, for `auto`, the memory
/// budget.
fn method_of<T: Real>(
    args: &GradArgs,
    budget_bytes: u64,
) -> Result<Box<dyn GradientMethod<T>>, CliError> {
    let options = symplode::runtime::grad::MethodOptions {
        checkpoints: args.checkpoints,
        lambda: args.lambda,
        memory_budget: Some(usize::try_from(budget_bytes).unwrap_or(usize::MAX)),
    };
    symplode::runtime::grad::method_with_options::<T>(args.method.name(), &options)
        .map_err(|e| CliError(format!("--method {}: {e}", args.method.name())))
}

/// Runs `grad` in precision `T`, appending the report to `out`.
pub fn run<T: CliReal>(args: &GradArgs, out: &mut String) -> Result<(), CliError> {
    if let Some(t1) = args.t1 {
        check_span(&[args.t0, t1], "--t0/--t1")?;
    }
    let l = load_any::<T>(&args.model, &args.flow)?;
    let chain_times = l.net.chain_times();
    if chain_times.is_some() && (args.t1.is_some() || args.t0 != 0.0) {
        return Err(CliError(format!(
            "--t0/--t1: {} is a chain of CNF blocks (a multiscale image flow, or a tabular flow with blocks > 1); its block b runs over [b·T, (b+1)·T] \
             (T = time_length of the file), not over given times",
            l.origin
        )));
    }
    let t1 = match &chain_times {
        Some(t) => t.last().copied().unwrap_or(1.0),
        None => args
            .t1
            .unwrap_or_else(|| l.flow.map_or(1.0, |f| f.time_length)),
    };
    let times = [args.t0, t1];
    check_span(&times, "--t0/--t1")?;
    let dim = l.dim;
    let (mut loss, loss_kind) = loss_of::<T>(args, &l)?;
    if let Some(out) = &args.out {
        check_outputs(out, args)?;
    }
    let budget = super::memory_budget(args.model.memory_budget.as_deref())?;
    let mut method = method_of::<T>(args, budget.bytes)?;
    // `auto`: choose once, up front, and say which and why.
    let mut auto_reason = None;
    if args.method == Method::Auto {
        let problem = l.net.problem(&times, &l.scheme, l.stepping.clone(), &l.x0);
        let auto = symplode::runtime::grad::Auto {
            budget: usize::try_from(budget.bytes).unwrap_or(usize::MAX),
        };
        let choice = auto
            .choose(&problem)
            .map_err(|e| CliError(format!("--method auto: {e}")))?;
        auto_reason = Some(choice.reason);
        method = choice.method;
    }
    let fit = {
        let problem = l.net.problem(&times, &l.scheme, l.stepping.clone(), &l.x0);
        budget
            .fit_gradient(&*method, &problem)
            .map_err(|e| CliError(e.to_string()))?
    };
    let problem = l
        .net
        .problem(&times, &l.scheme, fit.stepping.clone(), &l.x0);
    let start = Instant::now();
    let r = method.gradient(&problem, &mut *loss).map_err(|e| {
        match (&e, fit.capped_message(&budget)) {
            (SolveError::TooManySteps { .. }, Some(msg)) => {
                CliError(format!("{} gradient: {msg}", method.name()))
            }
            _ => CliError(format!("{} gradient: {e}", method.name())),
        }
    })?;
    let wall = start.elapsed().as_secs_f64();
    let steps: Vec<usize> = match r.sample_grids.is_empty() {
        true => r.grids.iter().map(|g| g.steps()).collect(),
        // Per-sample steps: the longest sample's grid (the backward replays one at a time).
        false => r
            .sample_grids
            .iter()
            .map(|c| c.iter().map(|g| g.steps()).max().unwrap_or(0))
            .collect(),
    };
    let predicted = method.predict(&ProblemSizes::of(&problem, &steps));
    // The components' gradients in chain order (one component but for a multiscale flow).
    let dtheta_all: Vec<T> = r.dtheta.iter().flatten().copied().collect();
    let dtheta = &dtheta_all[..];
    check_finite_result(&l.net, r.loss, &r.dx0, dtheta)?;
    // A flow's dL/dx0 is the gradient with respect to the samples: the z columns of the state.
    let dx0: Vec<T> = match l.flow {
        None => r.dx0.clone(),
        Some(f) => r
            .dx0
            .chunks_exact(f.width(dim))
            .flat_map(|row| row[..dim].iter().copied())
            .collect(),
    };
    let dtheta_norms = layout_norms(l.net.param_tensors(), dtheta);
    if let Some(path) = &args.out {
        let mut meta = BTreeMap::new();
        meta.insert("loss".to_string(), format!("{:e}", r.loss));
        meta.insert("method".to_string(), method.name().to_string());
        meta.insert("tableau".to_string(), l.tableau.name().to_string());
        meta.insert("model".to_string(), l.origin.clone());
        let mut tensors = vec![NamedTensor::new("x0", &[l.batch, dim], &dx0)];
        tensors.extend(
            l.net
                .param_tensors()
                .into_iter()
                .filter_map(|t| Some(NamedTensor::new(&t.name, &t.shape, dtheta.get(t.range())?))),
        );
        safetensors::write(path, &tensors, &meta)?;
    }
    let s = r.stats;
    let report = GradReport {
        command: "grad",
        model: l.origin.clone(),
        summary: l.summary.clone(),
        precision: T::NAME,
        tableau: l.tableau.name().to_string(),
        stepping: stepping_text(&fit.stepping),
        t0: args.t0,
        t1,
        batch: l.batch,
        dim,
        params: l.net.n_params(),
        method: method.name(),
        loss_kind,
        loss: r.loss,
        dx0_norm: l2(&dx0),
        dtheta_norms,
        steps: Steps::of(&s),
        nfe_forward: s.nfe_forward,
        nfe_backward: s.nfe_backward,
        vjp_backward: s.vjp_backward,
        memory_predicted: Memory::predicted(&predicted),
        memory_measured: Memory::measured(&s),
        wall_seconds: wall,
        out: args.out.as_ref().map(|p| p.display().to_string()),
    };
    if let (Some(reason), false) = (&auto_reason, args.model.json) {
        out.push_str(&format!("auto: {reason}\n"));
    }
    if args.model.json {
        out.push_str(&super::report::json(&report)?);
    } else {
        text(&report, out);
    }
    Ok(())
}

/// The loss of `--loss` / `--cotangent` (a flow's: its NLL), with its description.
fn loss_of<T: CliReal>(
    args: &GradArgs,
    l: &Loaded<T, AnyNet<T>>,
) -> Result<(Box<LossFn<T>>, String), CliError> {
    let dim = l.dim;
    Ok(match (l.flow, &args.cotangent, args.loss) {
        (None, Some(path), _) => {
            let (c, _) = read_states::<T>(path, "cotangent", dim, Some(&l.x0_shape))?;
            let kind = format!("linear (cotangent {})", path.display());
            (Box::new(losses::linear(vec![Trajectory::single(c)])), kind)
        }
        (None, None, None | Some(LossKind::MeanSumsq)) => (
            Box::new(losses::mean_sq_final(dim)),
            "mean-sumsq (mean over the batch of ‖x(t1)‖²)".to_string(),
        ),
        (None, None, Some(LossKind::Nll)) => {
            return Err(CliError(format!(
                "--loss nll needs a flow model file (form = \"cnf\"); {} is a model spec",
                l.origin
            )));
        }
        (Some(flow), None, None | Some(LossKind::Nll)) => {
            let (width, count) = (flow.width(dim), l.batch);
            let nll = move |out: &Outputs<T>, cot: &mut Outputs<T>| {
                let (Some(last), Some(c)) = (
                    out.last().and_then(|c| c.last()),
                    cot.last_mut().and_then(|c| c.last_mut()),
                ) else {
                    return f64::NAN;
                };
                nll_contribution(last, width, dim, count, c)
            };
            let kind = format!(
                "nll (−mean log p(x) of the x0 samples in nats, {} trace)",
                flow.trace.name()
            );
            (Box::new(nll), kind)
        }
        (Some(_), Some(_), _) | (Some(_), None, Some(LossKind::MeanSumsq)) => {
            return Err(CliError(format!(
                "{} is a flow model file: its loss is the NLL of the x0 samples (--loss nll), \
                 not --loss mean-sumsq or --cotangent",
                l.origin
            )));
        }
    })
}

/// Refuses an output path that is one of the inputs (writing would destroy it).
fn check_outputs(out: &std::path::Path, args: &GradArgs) -> Result<(), CliError> {
    let mut inputs = args.model.inputs();
    if let Some(p) = &args.cotangent {
        inputs.push(("--cotangent", p));
    }
    Ok(check_output_not_input(out, "--out", &inputs)?)
}

/// A loss or gradient that is not finite is an error, never a report with exit 0.
fn check_finite_result<T: Real>(
    net: &AnyNet<T>,
    loss: f64,
    dx0: &[T],
    dtheta: &[T],
) -> Result<(), CliError> {
    if !loss.is_finite() {
        return Err(CliError(format!(
            "the loss is {loss} (not finite): the solution overflowed or the inputs are too \
             large; nothing was written"
        )));
    }
    if let Some(i) = dx0.iter().position(|v| !v.is_finite()) {
        return Err(CliError(format!(
            "dL/dx0 element {i} is {} (not finite); nothing was written",
            dx0[i]
        )));
    }
    if let Some(i) = dtheta.iter().position(|v| !v.is_finite()) {
        let name = net
            .param_tensors()
            .into_iter()
            .find(|t| t.range().contains(&i))
            .map_or(String::new(), |t| format!(" (tensor `{}`)", t.name));
        return Err(CliError(format!(
            "dL/dθ element {i}{name} is {} (not finite); nothing was written",
            dtheta[i]
        )));
    }
    Ok(())
}

/// The human-readable report.
fn text(r: &GradReport, out: &mut String) {
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    line(
        "model",
        format!("{}: {}, {}", r.model, r.summary, r.precision),
    );
    line(
        "problem",
        format!(
            "batch {}, t {} → {}, tableau {}, {}",
            r.batch,
            num(r.t0),
            num(r.t1),
            r.tableau,
            r.stepping
        ),
    );
    line("method", r.method.to_string());
    line("loss", format!("{}  [{}]", num(r.loss), r.loss_kind));
    line("‖dL/dx0‖", format!("{:.6e}", r.dx0_norm));
    tensor_lines(&mut line, "‖dL/dθ‖", &r.dtheta_norms);
    let st = &r.steps;
    let mut steps = format!("{} accepted, {} rejected", st.accepted, st.rejected);
    if st.backward_accepted + st.backward_rejected > 0 {
        steps.push_str(&format!(
            "; backward solve {} accepted, {} rejected",
            st.backward_accepted, st.backward_rejected
        ));
    }
    line("steps", steps);
    line(
        "NFE",
        format!(
            "forward {}, backward {} (+ {} VJPs)",
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
            format!(
                "{p} (x0 + {} tensors, {})",
                r.dtheta_norms.len(),
                r.precision
            ),
        );
    }
}
