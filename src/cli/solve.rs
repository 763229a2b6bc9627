//! `symplode solve`: integrate and write the states at the output times.

use std::time::Instant;

use serde::Serialize;
use symplode::io::{check_output_not_input, npy};
use symplode::prelude::*;
use symplode::train::flow::nll_contribution;

use super::args::SolveArgs;
use super::load::{CliReal, load_any};
use super::report::{Steps, num, stepping_text};
use super::{CliError, check_span};

/// What `solve` prints.
#[derive(Serialize)]
struct SolveReport {
    command: &'static str,
    model: String,
    summary: String,
    precision: &'static str,
    tableau: String,
    stepping: String,
    times: Vec<f64>,
    batch: usize,
    dim: usize,
    shape: [usize; 3],
    steps: Steps,
    nfe: usize,
    nll: Option<f64>,
    wall_seconds: f64,
    out: Option<String>,
}

/// Runs `solve` in precision `T`, appending the report to `out`.
pub fn run<T: CliReal>(args: &SolveArgs, out: &mut String) -> Result<(), CliError> {
    let what = if args.times.is_some() {
        "--times"
    } else {
        "--t0/--t1"
    };
    let given = args
        .times
        .clone()
        .or_else(|| args.t1.map(|t1| vec![args.t0, t1]));
    if let Some(times) = &given {
        check_span(times, what)?;
    }
    let l = load_any::<T>(&args.model, &args.flow)?;
    let chain_times = l.net.chain_times();
    if chain_times.is_some() && (given.is_some() || args.t0 != 0.0) {
        return Err(CliError(format!(
            "{what}: {} is a chain of CNF blocks (a multiscale image flow, or a tabular flow with blocks > 1); its block b runs over [b·T, (b+1)·T] (T = \
             time_length of the file): the states are written at 0, T, …, K·T",
            l.origin
        )));
    }
    let times = match chain_times {
        Some(t) => t,
        None => given.unwrap_or_else(|| vec![args.t0, l.flow.map_or(1.0, |f| f.time_length)]),
    };
    check_span(&times, what)?;
    if args.nll && l.flow.is_none() {
        return Err(CliError(format!(
            "--nll needs a flow model file (form = \"cnf\"); {} is a model spec",
            l.origin
        )));
    }
    if let Some(out) = &args.out {
        check_output_not_input(out, "--out", &args.model.inputs())?;
    }
    let budget = super::memory_budget(args.model.memory_budget.as_deref())?;
    let fit = budget
        .fit_solve(&l.net.problem(&times, &l.scheme, l.stepping.clone(), &l.x0))
        .map_err(|e| CliError(e.to_string()))?;
    let start = Instant::now();
    let problem = l
        .net
        .problem(&times, &l.scheme, fit.stepping.clone(), &l.x0);
    let sol = solve_chain(&problem).map_err(|e| match (&e, fit.capped_message(&budget)) {
        (SolveError::TooManySteps { .. }, Some(msg)) => CliError(format!("solve: {msg}")),
        _ => CliError(format!("solve: {e}")),
    })?;
    let wall = start.elapsed().as_secs_f64();
    // A flow's states are written as [z, Δlogp] (without Hutchinson's ε).
    let (width, dim) = match l.flow {
        None => (l.dim, l.dim),
        Some(f) => (f.width(l.dim), l.dim + 1),
    };
    let shape = [times.len(), l.batch, dim];
    let mut states = Vec::with_capacity(times.len() * l.batch * dim);
    for s in std::iter::once(&l.x0[..]).chain(sol.states.iter()) {
        states.extend(
            s.chunks_exact(width)
                .flat_map(|row| row[..dim].iter().copied()),
        );
    }
    let nll = match (args.nll, sol.states.last()) {
        (true, Some(last)) => {
            let mut cot = vec![T::zero(); last.len()];
            let v = nll_contribution(last, width, l.dim, l.batch, &mut cot);
            if !v.is_finite() {
                return Err(CliError(format!(
                    "the NLL is {v} (not finite): the flow's solution overflowed; nothing was \
                     written"
                )));
            }
            Some(v)
        }
        _ => None,
    };
    if let Some(path) = &args.out {
        npy::write(path, &shape, &states)?;
    }
    let report = SolveReport {
        command: "solve",
        model: l.origin.clone(),
        summary: l.summary.clone(),
        precision: T::NAME,
        tableau: l.tableau.name().to_string(),
        stepping: stepping_text(&fit.stepping),
        times,
        batch: l.batch,
        dim,
        shape,
        steps: Steps::forward(sol.counters.accepted, sol.counters.rejected),
        nfe: sol.counters.nfe,
        nll,
        wall_seconds: wall,
        out: args.out.as_ref().map(|p| p.display().to_string()),
    };
    if args.model.json {
        out.push_str(&super::report::json(&report)?);
        return Ok(());
    }
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    line(
        "model",
        format!("{}: {}, {}", report.model, report.summary, report.precision),
    );
    line(
        "problem",
        format!(
            "batch {}, times {:?}, tableau {}, {}",
            report.batch, report.times, report.tableau, report.stepping
        ),
    );
    line(
        "steps",
        format!(
            "{} accepted, {} rejected",
            report.steps.accepted, report.steps.rejected
        ),
    );
    line("NFE", report.nfe.to_string());
    if let Some(v) = report.nll {
        line(
            "nll",
            format!(
                "{}  [−mean log p(x) of the {} x0 samples in nats, at t = {}]",
                num(v),
                report.batch,
                num(report.times.last().copied().unwrap_or(f64::NAN))
            ),
        );
    }
    line("wall time", format!("{:.6} s", report.wall_seconds));
    if let Some(p) = &report.out {
        line(
            "wrote",
            format!(
                "{p} {:?} {} ({} at each time)",
                report.shape,
                report.precision,
                if l.flow.is_some() { "[z, Δlogp]" } else { "x" }
            ),
        );
    }
    Ok(())
}

/// The states of a problem at its output times (a chain: each component's, in order) and the
/// solver counters summed over the components.
fn solve_chain<T: Real>(problem: &Problem<'_, T>) -> Result<Solution<T>, SolveError> {
    let mut parts = symplode::train::solve_problem(problem)?.into_iter();
    let Some(mut sol) = parts.next() else {
        return Err(SolveError::BadOption {
            name: "chain",
            value: "[]".into(),
            reason: "need at least one component",
        });
    };
    let state_len = sol.states.state_len();
    let mut states = sol.states.as_slice().to_vec();
    for p in parts {
        sol.counters.accepted += p.counters.accepted;
        sol.counters.rejected += p.counters.rejected;
        sol.counters.nfe += p.counters.nfe;
        states.extend_from_slice(p.states.as_slice());
    }
    sol.states = Trajectory::from_vec(states, state_len).unwrap_or_default();
    Ok(sol)
}
