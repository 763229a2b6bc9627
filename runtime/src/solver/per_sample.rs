//! Per-sample adaptive steps: every sample (row of the batch) has its own time, step size,
//! error norm and accept/reject decisions, exactly as if it were solved alone, while each
//! evaluation of f runs on all still-active samples at once at their own times (gather the
//! active rows → one batched [`Dynamics::eval_at`] → scatter), so the network work stays
//! batched.
//!
//! The step logic mirrors the driver of one sample ([`super::drive`]) decision for decision:
//! Hairer's initial step, steps clipped to land on every output time, the same controller,
//! FSAL reuse, the same stage-0 reuse after a rejection and the same errors (each wrapped in
//! [`SolveError::InSample`] naming the sample).

use super::drive::{Counters, Grid, StepWorkspace, rms_norm, stage_time, step_factor};
use super::options::Adaptive;
use super::trajectory::Trajectory;
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;

/// The step state of one sample.
#[derive(Clone, Debug)]
struct Lane {
    t: f64,
    h: f64,
    prev_ratio: f64,
    k1_valid: bool,
    /// Index in `times` of the next output time (`times.len()` when done).
    next: usize,
    trials: usize,
    /// The current trial step: its end and size.
    t_next: f64,
    hn: f64,
    grid: Grid,
    accepted: usize,
}

/// Gather buffers: the active rows' indices, times, inputs and slopes.
struct Gather<T> {
    rows: Vec<usize>,
    t: Vec<T>,
    x: Vec<T>,
    k: Vec<T>,
}

/// A per-sample integration of one component.
pub(crate) struct PerSample<'a, T: Real> {
    pub dynamics: &'a dyn Dynamics<T>,
    pub scheme: &'a Scheme<T>,
    pub adaptive: &'a Adaptive,
    pub component: usize,
}

impl<T: Real> PerSample<'_, T> {
    /// Bytes of the gather buffers this integration allocates besides `ws` for `batch` samples
    /// of `dim` features.
    pub fn gather_bytes(batch: usize, dim: usize) -> usize {
        (2 * batch * dim + batch) * size_of::<T>() + batch * size_of::<usize>()
    }

    /// Integrates every sample from its row of `x0` at `times[0]` through `times[1..]`, writing
    /// each sample's state at output time k into its row of `outputs[k]`; returns each
    /// sample's accepted grid. `ws` must have been made for this scheme and `x0.len()`.
    /// With `keep` (one buffer per sample), each sample's xₙ at the start of every accepted
    /// step is appended to its buffer (N_i·d elements in the end).
    pub fn run(
        &self,
        times: &[f64],
        x0: &[T],
        outputs: &mut Trajectory<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
        mut keep: Option<&mut [Vec<T>]>,
    ) -> Result<Vec<Grid>, SolveError> {
        let sch = self.scheme;
        let a = self.adaptive;
        let d = self.dynamics.dim();
        let batch = x0.len() / d;
        let Some(err_w) = sch.error_weights() else {
            return Err(SolveError::NotAdaptive(sch.name().to_string()));
        };
        let err_w = err_w.to_vec();
        let s = sch.stages();
        let fsal = sch.is_fsal();
        let t0 = times[0];
        ws.x.copy_from_slice(x0);
        for (r, row) in ws.x.chunks_exact(d).enumerate() {
            if row.iter().any(|v| !v.is_finite()) {
                return Err(self.in_sample(r, self.non_finite(0, t0)));
            }
        }
        let mut g = Gather {
            rows: (0..batch).collect(),
            t: vec![T::zero(); batch],
            x: vec![T::zero(); batch * d],
            k: vec![T::zero(); batch * d],
        };
        let mut lanes: Vec<Lane> = (0..batch)
            .map(|_| Lane {
                t: t0,
                h: 0.0,
                prev_ratio: 1.0,
                k1_valid: true,
                next: 1,
                trials: 0,
                t_next: t0,
                hn: 0.0,
                grid: Grid {
                    t: vec![t0],
                    output_at: Vec::with_capacity(times.len() - 1),
                },
                accepted: 0,
            })
            .collect();
        // f(t0, x0) for every sample, then each sample's first step.
        self.eval_rows(
            &mut g,
            &lanes,
            |l| l.t,
            &ws.x,
            &mut ws.k[0],
            &mut ws.scratch,
            counters,
        );
        match a.first_step {
            Some(h0) => lanes.iter_mut().for_each(|l| l.h = h0.min(a.max_step)),
            None => self.initial_steps(&mut lanes, &mut g, ws, counters),
        }
        loop {
            g.rows.clear();
            for (r, l) in lanes.iter_mut().enumerate() {
                if l.next == times.len() {
                    continue;
                }
                let t_b = times[l.next];
                l.t_next = if l.t + l.h >= t_b { t_b } else { l.t + l.h };
                l.hn = l.t_next - l.t;
                if l.hn <= 0.0 || l.hn < a.min_step && l.t_next != t_b {
                    return Err(self.in_sample(r, self.underflow(l.t, l.hn)));
                }
                l.trials += 1;
                if l.trials > a.max_steps {
                    let e = SolveError::TooManySteps {
                        component: self.component,
                        max_steps: a.max_steps,
                        t: l.t,
                        t_end: *times.last().unwrap_or(&t_b),
                    };
                    return Err(self.in_sample(r, e));
                }
                g.rows.push(r);
            }
            if g.rows.is_empty() {
                break;
            }
            let active = std::mem::take(&mut g.rows);
            // Stage 0 where it is not carried over.
            g.rows
                .extend(active.iter().copied().filter(|&r| !lanes[r].k1_valid));
            if !g.rows.is_empty() {
                self.eval_rows(
                    &mut g,
                    &lanes,
                    |l| l.t,
                    &ws.x,
                    &mut ws.k[0],
                    &mut ws.scratch,
                    counters,
                );
            }
            g.rows.clear();
            g.rows.extend_from_slice(&active);
            for i in 1..s {
                for &r in &active {
                    let w = |j: usize| T::of(lanes[r].hn) * sch.a(i, j);
                    combine_row(&mut ws.xs, &ws.x, &ws.k[..i], r, d, w);
                }
                let c = sch.c(i);
                let (_, rest) = ws.k.split_at_mut(i);
                self.eval_rows(
                    &mut g,
                    &lanes,
                    |l| stage_time(l.t, l.hn, c, l.t_next),
                    &ws.xs,
                    &mut rest[0],
                    &mut ws.scratch,
                    counters,
                );
            }
            for &r in &active {
                let row = r * d..(r + 1) * d;
                let hn = T::of(lanes[r].hn);
                if fsal {
                    // x_{n+1} is the last stage input, bit for bit.
                    ws.x1[row.clone()].copy_from_slice(&ws.xs[row.clone()]);
                } else {
                    combine_row(&mut ws.x1, &ws.x, &ws.k[..s], r, d, |j| hn * sch.b(j));
                }
                let e = &mut ws.err[row.clone()];
                e.fill(T::zero());
                for (j, &c) in err_w.iter().enumerate() {
                    if c != T::zero() {
                        let w = hn * c;
                        for (o, &v) in e.iter_mut().zip(&ws.k[j][row.clone()]) {
                            *o += w * v;
                        }
                    }
                }
                let x1 = &ws.x1[row.clone()];
                let mut ratio = rms_norm(e, &ws.x[row.clone()], x1, a.rtol, a.atol);
                if !ratio.is_finite() || x1.iter().any(|v| !v.is_finite()) {
                    ratio = f64::INFINITY;
                }
                let l = &mut lanes[r];
                let accepted = ratio <= 1.0;
                let factor = step_factor(a, ratio, l.prev_ratio, sch.control_order(), accepted);
                if accepted {
                    if let Some(k) = keep.as_deref_mut() {
                        k[r].extend_from_slice(&ws.x[row.clone()]);
                    }
                    ws.x[row.clone()].copy_from_slice(&ws.x1[row.clone()]);
                    if fsal {
                        let (k0, rest) = ws.k.split_at_mut(s - 1);
                        k0[0][row.clone()].copy_from_slice(&rest[0][row.clone()]);
                    }
                    l.k1_valid = fsal;
                    l.grid.t.push(l.t_next);
                    l.t = l.t_next;
                    l.prev_ratio = ratio.max(1e-4);
                    l.accepted += 1;
                    counters.accepted += 1;
                    if l.t >= times[l.next] {
                        l.grid.output_at.push(l.grid.t.len() - 1);
                        outputs[l.next - 1][row.clone()].copy_from_slice(&ws.x[row]);
                        l.next += 1;
                    }
                } else {
                    counters.rejected += 1;
                }
                l.h = (l.hn * factor).min(a.max_step);
                if !accepted && (l.h < a.min_step || l.t + l.h == l.t) {
                    let e = if ratio.is_finite() {
                        self.underflow(l.t, l.h)
                    } else {
                        self.non_finite(l.accepted + 1, l.t + l.hn)
                    };
                    return Err(self.in_sample(r, e));
                }
            }
            g.rows = active;
        }
        Ok(lanes.into_iter().map(|l| l.grid).collect())
    }

    /// Hairer & Wanner II.4 per sample (as the one-sample driver does); `ws.k[0]` holds f(t0, x0).
    fn initial_steps(
        &self,
        lanes: &mut [Lane],
        g: &mut Gather<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) {
        let a = self.adaptive;
        let d = self.dynamics.dim();
        let q = self.scheme.control_order() as f64;
        let mut d1s = vec![0.0; lanes.len()];
        let mut h0s = vec![0.0; lanes.len()];
        for (r, l) in lanes.iter_mut().enumerate() {
            let row = r * d..(r + 1) * d;
            let x = &ws.x[row.clone()];
            let d0 = rms_norm(x, x, x, a.rtol, a.atol);
            let d1 = rms_norm(&ws.k[0][row.clone()], x, x, a.rtol, a.atol);
            let h0 = if d0 < 1e-5 || d1 < 1e-5 {
                1e-6
            } else {
                0.01 * d0 / d1
            };
            let h0t = T::of(h0);
            for ((xs, &xv), &f) in ws.xs[row.clone()].iter_mut().zip(x).zip(&ws.k[0][row]) {
                *xs = xv + h0t * f;
            }
            d1s[r] = d1;
            h0s[r] = h0;
            l.h = h0; // the probe's time offset, overwritten below
        }
        self.eval_rows(
            g,
            lanes,
            |l| l.t + l.h,
            &ws.xs,
            &mut ws.x1,
            &mut ws.scratch,
            counters,
        );
        for (r, l) in lanes.iter_mut().enumerate() {
            let row = r * d..(r + 1) * d;
            for (e, (&f1, &f0)) in ws.err[row.clone()]
                .iter_mut()
                .zip(ws.x1[row.clone()].iter().zip(&ws.k[0][row.clone()]))
            {
                *e = f1 - f0;
            }
            let x = &ws.x[row.clone()];
            let (d1, h0) = (d1s[r], h0s[r]);
            let d2 = rms_norm(&ws.err[row], x, x, a.rtol, a.atol) / h0;
            let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
                (1e-6f64).max(h0 * 1e-3)
            } else {
                (0.01 / d1.max(d2)).powf(1.0 / q)
            };
            l.h = (100.0 * h0).min(h1).min(a.max_step);
        }
    }

    /// Evaluates f on the rows `g.rows` of `src` at their lanes' `time`, into the same rows of
    /// `dst`: one batched call, gathering and scattering unless every row is active.
    #[allow(clippy::too_many_arguments)]
    fn eval_rows(
        &self,
        g: &mut Gather<T>,
        lanes: &[Lane],
        time: impl Fn(&Lane) -> f64,
        src: &[T],
        dst: &mut [T],
        scratch: &mut [T],
        counters: &mut Counters,
    ) {
        let d = self.dynamics.dim();
        let n = g.rows.len();
        for (tt, &r) in g.t.iter_mut().zip(&g.rows) {
            *tt = T::of(time(&lanes[r]));
        }
        counters.nfe += n;
        counters.eval_calls += 1;
        if n == lanes.len() {
            // Every row, in order: no gather.
            self.dynamics.eval_at(&g.t[..n], src, dst, scratch);
            return;
        }
        for (i, &r) in g.rows.iter().enumerate() {
            g.x[i * d..(i + 1) * d].copy_from_slice(&src[r * d..(r + 1) * d]);
        }
        self.dynamics
            .eval_at(&g.t[..n], &g.x[..n * d], &mut g.k[..n * d], scratch);
        for (i, &r) in g.rows.iter().enumerate() {
            dst[r * d..(r + 1) * d].copy_from_slice(&g.k[i * d..(i + 1) * d]);
        }
    }

    fn in_sample(&self, sample: usize, source: SolveError) -> SolveError {
        SolveError::InSample {
            sample,
            source: Box::new(source),
        }
    }

    fn non_finite(&self, step: usize, t: f64) -> SolveError {
        SolveError::NonFinite {
            what: "state",
            component: self.component,
            step,
            t,
        }
    }

    fn underflow(&self, t: f64, h: f64) -> SolveError {
        SolveError::StepSizeUnderflow {
            component: self.component,
            t,
            h,
            min_step: self.adaptive.min_step,
        }
    }
}

/// Row r of `out` = row r of `x` + Σ_j w(j)·(row r of k_j), skipping zero weights (the
/// arithmetic of the batch kernel `combine`, row by row).
fn combine_row<T: Real>(
    out: &mut [T],
    x: &[T],
    k: &[Vec<T>],
    r: usize,
    d: usize,
    w: impl Fn(usize) -> T,
) {
    let row = r * d..(r + 1) * d;
    let o = &mut out[row.clone()];
    o.copy_from_slice(&x[row.clone()]);
    for (j, kj) in k.iter().enumerate() {
        let wj = w(j);
        if wj != T::zero() {
            for (ov, &v) in o.iter_mut().zip(&kj[row.clone()]) {
                *ov += wj * v;
            }
        }
    }
}
