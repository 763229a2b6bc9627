//! Gradients under per-sample adaptive steps.
//!
//! The forward sweep integrates the batch with per-sample steps (one batched evaluation of
//! the still-active samples per stage, see `solver::per_sample`) and keeps each sample's
//! accepted grid. The backward sweep then runs the method's own storage and backward kind on
//! one sample at a time, replaying that sample's grid (the same stages, bit for bit the states
//! of a solo solve on that grid), and sums dL/dθ over the samples; dL/dx0 is the rows.
//! Samples are independent (a row of f depends on its own row only), so this is the gradient
//! of the batch's discrete solution, for every method built from a backward kind and a
//! storage policy.

use super::backward::BackwardContext;
use super::forward::{Recorded, Run, outputs_bytes};
use super::method::{ForwardPass, backward_shell};
use super::problem::{Component, Outputs, Problem, check_cotangents};
use super::record::Record;
use super::{GradResult, Stats};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::{Grid, PerSample, Stepping, Trajectory};

/// The per-sample forward sweep of method `name`: outputs and each sample's grid, no records.
pub(crate) fn forward<'p, 'a, T: Real>(
    name: &'static str,
    problem: &'p Problem<'a, T>,
    keep_states: bool,
) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
    let Stepping::Adaptive(adaptive) = &problem.stepping else {
        unreachable!("per-sample stepping is adaptive");
    };
    let mut run = Run::new(problem);
    let mut outputs = problem.zero_outputs();
    run.tracker.ws_add(outputs_bytes(&outputs));
    run.tracker
        .ws_add(PerSample::<T>::gather_bytes(problem.batch(), problem.dim()));
    let mut x_start = problem.x0.to_vec();
    let mut sample_grids = Vec::with_capacity(problem.chain.len());
    let mut sample_states = Vec::new();
    for (m, comp) in problem.chain.iter().enumerate() {
        let mut states = vec![Vec::new(); if keep_states { problem.batch() } else { 0 }];
        let grids = PerSample {
            dynamics: comp.dynamics,
            scheme: problem.scheme,
            adaptive,
            component: m,
        }
        .run(
            &comp.times,
            &x_start,
            &mut outputs[m],
            &mut run.ws,
            &mut run.counters,
            keep_states.then_some(&mut states[..]),
        )?;
        if keep_states {
            let kept: usize = states.iter().map(|v| size_of_val(&v[..])).sum();
            run.tracker.ck_add(kept);
            sample_states.push(states);
        }
        if let Some(last) = outputs[m].last() {
            x_start.copy_from_slice(last);
        }
        sample_grids.push(grids);
    }
    Ok(ForwardPass {
        method: name,
        problem,
        run,
        outputs,
        grids: vec![Grid::default(); problem.chain.len()],
        records: Vec::new(),
        sample_grids,
        sample_states,
    })
}

/// The per-sample backward sweep: for each sample, `record` replays its grids on the one-row
/// problem (keeping what the method's storage keeps) and `sweep` runs the method's backward
/// kind on it; the results are gathered into one [`GradResult`].
pub(crate) fn backward<T: Real>(
    name: &'static str,
    pass: ForwardPass<'_, '_, T>,
    cotangents: &Outputs<T>,
    loss: f64,
    mut record: impl FnMut(&Problem<'_, T>, &mut Run<T>, &[Grid]) -> Result<Recorded<T>, SolveError>,
    sweep: impl Fn(BackwardContext<'_, '_, T>, Vec<Record<T>>) -> Result<(), SolveError>,
) -> Result<GradResult<T>, SolveError> {
    let ForwardPass {
        method: made_by,
        problem,
        run,
        outputs,
        grids,
        sample_grids,
        ..
    } = pass;
    if made_by != name {
        return Err(SolveError::BadOption {
            name: "forward pass",
            value: made_by.to_string(),
            reason: "a forward pass goes back through the backward sweep of the method that made it",
        });
    }
    check_cotangents(&outputs, cotangents)?;
    let d = problem.dim();
    let mut stats = Stats::default();
    run.finish_stats(&mut stats);
    let forward_total = stats.peak_total_bytes + outputs_bytes(cotangents);
    let mut dx0 = vec![T::zero(); problem.x0.len()];
    let mut dtheta: Vec<Vec<T>> = problem
        .chain
        .iter()
        .map(|c| vec![T::zero(); c.dynamics.n_params()])
        .collect();
    let mut sub_peak = 0usize;
    for (i, row) in dx0.chunks_exact_mut(d).enumerate() {
        let in_sample = |e: SolveError| SolveError::InSample {
            sample: i,
            source: Box::new(e),
        };
        let rows = i * d..(i + 1) * d;
        let sub = Problem {
            chain: problem
                .chain
                .iter()
                .map(|c| Component {
                    dynamics: c.dynamics,
                    times: c.times.clone(),
                })
                .collect(),
            scheme: problem.scheme,
            stepping: problem.stepping.per_batch(),
            x0: &problem.x0[rows.clone()],
        };
        let replay: Vec<Grid> = sample_grids.iter().map(|g| g[i].clone()).collect();
        let mut sub_run = Run::new(&sub);
        let Recorded {
            outputs: sub_out,
            grids: sub_grids,
            records,
        } = record(&sub, &mut sub_run, &replay).map_err(in_sample)?;
        let sub_cot: Outputs<T> = cotangents
            .iter()
            .map(|c| {
                let data = c.iter().flat_map(|s| s[rows.clone()].to_vec()).collect();
                Trajectory::from_vec(data, d).unwrap_or_default()
            })
            .collect();
        let sub_pass = ForwardPass {
            method: name,
            problem: &sub,
            run: sub_run,
            outputs: sub_out,
            grids: sub_grids,
            records,
            sample_grids: Vec::new(),
            sample_states: Vec::new(),
        };
        let r = backward_shell(name, sub_pass, &sub_cot, loss, &sweep).map_err(in_sample)?;
        row.copy_from_slice(&r.dx0);
        for (acc, g) in dtheta.iter_mut().zip(&r.dtheta) {
            for (a, &v) in acc.iter_mut().zip(g) {
                *a += v;
            }
        }
        let s = &r.stats;
        // The replayed forward steps are recomputation in this backward sweep.
        stats.nfe_backward += s.nfe_forward + s.nfe_backward;
        stats.vjp_backward += s.vjp_backward;
        stats.recomputed_steps += s.accepted + s.recomputed_steps;
        stats.backward_accepted += s.backward_accepted;
        stats.backward_rejected += s.backward_rejected;
        sub_peak = sub_peak.max(s.peak_total_bytes);
        stats.peak_checkpoint_bytes = stats.peak_checkpoint_bytes.max(s.peak_checkpoint_bytes);
        stats.peak_graph_bytes = stats.peak_graph_bytes.max(s.peak_graph_bytes);
    }
    // The batch's outputs, cotangents and gradients stay alive while one sample is replayed.
    stats.peak_total_bytes = forward_total + sub_peak;
    Ok(GradResult {
        loss,
        outputs,
        dx0,
        dtheta,
        grids,
        sample_grids,
        stats,
    })
}
