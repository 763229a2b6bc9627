//! `symplode solve`: integrate and write the states at the output times.

use std::time::Instant;

use serde::Serialize;
use symplode::io::{check_output_not_input, npy};
use symplode::prelude::*;

use super::args::SolveArgs;
use super::load::{CliReal, load};
use super::report::{Steps, stepping_text};
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
    wall_seconds: f64,
    out: Option<String>,
}

/// Runs `solve` in precision `T`, appending the report to `out`.
pub fn run<T: CliReal>(args: &SolveArgs, out: &mut String) -> Result<(), CliError> {
    let times = args.times.clone().unwrap_or_else(|| vec![args.t0, args.t1]);
    let what = if args.times.is_some() {
        "--times"
    } else {
        "--t0/--t1"
    };
    check_span(&times, what)?;
    let l = load::<T>(&args.model)?;
    if let Some(out) = &args.out {
        let m = &args.model;
        let mut inputs: Vec<(&str, &std::path::Path)> = vec![
            ("--model", m.model.as_path()),
            ("--weights", m.weights.as_path()),
            ("--x0", m.x0.as_path()),
        ];
        if let Some(p) = &m.tableau_file {
            inputs.push(("--tableau-file", p));
        }
        if let Some(p) = &m.tableau {
            inputs.push(("--tableau", std::path::Path::new(p)));
        }
        check_output_not_input(out, "--out", &inputs)?;
    }
    let budget = super::memory_budget(args.model.memory_budget.as_deref())?;
    let fit = budget
        .fit_solve(&Problem::single(
            &l.net,
            &times,
            &l.scheme,
            l.stepping.clone(),
            &l.x0,
        ))
        .map_err(|e| CliError(e.to_string()))?;
    let start = Instant::now();
    let sol = solve(&l.net, &l.scheme, &fit.stepping, &times, &l.x0).map_err(|e| {
        match (&e, fit.capped_message(&budget)) {
            (SolveError::TooManySteps { .. }, Some(msg)) => CliError(format!("solve: {msg}")),
            _ => CliError(format!("solve: {e}")),
        }
    })?;
    let wall = start.elapsed().as_secs_f64();
    let dim = l.spec.dim;
    let shape = [times.len(), l.batch, dim];
    let mut states = Vec::with_capacity(times.len() * l.x0.len());
    states.extend_from_slice(&l.x0);
    for s in &sol.states {
        states.extend_from_slice(s);
    }
    if let Some(path) = &args.out {
        npy::write(path, &shape, &states)?;
    }
    let report = SolveReport {
        command: "solve",
        model: l.spec.origin().to_string(),
        summary: l.spec.summary(),
        precision: T::NAME,
        tableau: l.tableau.name().to_string(),
        stepping: stepping_text(&fit.stepping),
        times,
        batch: l.batch,
        dim,
        shape,
        steps: Steps {
            accepted: sol.counters.accepted,
            rejected: sol.counters.rejected,
            backward_accepted: 0,
            backward_rejected: 0,
        },
        nfe: sol.counters.nfe,
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
    line("wall time", format!("{:.6} s", report.wall_seconds));
    if let Some(p) = &report.out {
        line(
            "wrote",
            format!(
                "{p} {:?} {} (x at each time)",
                report.shape, report.precision
            ),
        );
    }
    Ok(())
}
