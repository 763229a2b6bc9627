//! The symplectic adjoint's backward sweep under per-sample steps, batched: every sample's
//! step states xₙ were kept by the forward sweep; the backward sweep walks each sample's own
//! grid in reverse, all samples together, one step per round: the rows of the samples with a
//! step left are gathered, their stages recomputed with one batched evaluation per stage at
//! their own times ([`Dynamics::eval_at`]), and the adjoint integrated with the partner
//! tableau, one batched VJP per stage ([`Dynamics::vjp_at`]), each row with its own step
//! size. The arithmetic per row is that of the one-sample sweep (`backward::partner`).

use super::method::ForwardPass;
use super::problem::{Outputs, check_cotangents};
use super::{GradResult, Stats};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Grid, stage_time};

/// Buffers of one round over at most `batch` rows of `d` elements, S effective stages.
struct Rows<T> {
    /// Active samples, ascending.
    idx: Vec<usize>,
    /// Each active row's step: t_n, t_{n+1}.
    t0: Vec<f64>,
    t1: Vec<f64>,
    /// Stage times of one stage, per row.
    t: Vec<T>,
    /// Gathered xₙ, λ, stage states, slopes / VJP results, cotangent.
    x: Vec<T>,
    lam: Vec<T>,
    stage_x: Vec<Vec<T>>,
    ku: Vec<Vec<T>>,
    mu: Vec<T>,
}

impl<T: Real> Rows<T> {
    fn new(s: usize, batch: usize, d: usize) -> Self {
        let n = batch * d;
        Rows {
            idx: Vec::with_capacity(batch),
            t0: vec![0.0; batch],
            t1: vec![0.0; batch],
            t: vec![T::zero(); batch],
            x: vec![T::zero(); n],
            lam: vec![T::zero(); n],
            stage_x: vec![vec![T::zero(); n]; s],
            ku: vec![vec![T::zero(); n]; s],
            mu: vec![T::zero(); n],
        }
    }
    fn bytes(&self) -> usize {
        let n = self.x.len();
        (n * (3 + 2 * self.ku.len()) + self.t.len()) * size_of::<T>()
            + self.t0.len() * 2 * size_of::<f64>()
    }
}

/// The batched per-sample symplectic backward sweep of the pass made by `name`.
pub(crate) fn backward<T: Real>(
    name: &'static str,
    pass: ForwardPass<'_, '_, T>,
    cotangents: &Outputs<T>,
    loss: f64,
) -> Result<GradResult<T>, SolveError> {
    let ForwardPass {
        method: made_by,
        problem,
        run,
        outputs,
        grids,
        sample_grids,
        sample_states,
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
    run.tracker
        .ws_add(super::forward::outputs_bytes(cotangents));
    let sch = problem.scheme;
    let d = problem.dim();
    let batch = problem.batch();
    let s = sch.effective_stages();
    let mut stats = Stats::default();
    let mut lam = vec![T::zero(); problem.x0.len()];
    let mut dtheta: Vec<Vec<T>> = problem
        .chain
        .iter()
        .map(|c| vec![T::zero(); c.dynamics.n_params()])
        .collect();
    let mut rows = Rows::new(s, batch, d);
    run.tracker.ws_add(rows.bytes());
    let scratch_len = problem
        .chain
        .iter()
        .map(|c| c.dynamics.scratch_len(batch))
        .max()
        .unwrap_or(0);
    let mut scratch = vec![T::zero(); scratch_len];
    let mut cur: Vec<usize> = vec![0; batch];
    for m in (0..problem.chain.len()).rev() {
        let f = problem.chain[m].dynamics;
        let gp = &mut dtheta[m];
        let grids_m = &sample_grids[m];
        let states = &sample_states[m];
        for (i, g) in grids_m.iter().enumerate() {
            cur[i] = g.steps();
            add_cotangents(&mut lam, cotangents, m, g, i, cur[i], d);
        }
        loop {
            rows.idx.clear();
            rows.idx.extend((0..batch).filter(|&i| cur[i] > 0));
            if rows.idx.is_empty() {
                break;
            }
            for (a, &i) in rows.idx.iter().enumerate() {
                let n = cur[i] - 1;
                let g = &grids_m[i];
                rows.t0[a] = g.t[n];
                rows.t1[a] = g.t[n + 1];
                rows.x[a * d..(a + 1) * d].copy_from_slice(&states[i][n * d..(n + 1) * d]);
                rows.lam[a * d..(a + 1) * d].copy_from_slice(&lam[i * d..(i + 1) * d]);
            }
            let (evals, vjps) = back_rows(f, sch, &mut rows, d, gp, &mut scratch);
            stats.nfe_backward += evals;
            stats.vjp_backward += vjps;
            for (a, &i) in rows.idx.iter().enumerate() {
                lam[i * d..(i + 1) * d].copy_from_slice(&rows.lam[a * d..(a + 1) * d]);
                cur[i] -= 1;
                add_cotangents(&mut lam, cotangents, m, &grids_m[i], i, cur[i], d);
            }
        }
    }
    run.finish_stats(&mut stats);
    Ok(GradResult {
        loss,
        outputs,
        dx0: lam,
        dtheta,
        grids,
        sample_grids,
        stats,
    })
}

/// λ_i += ∂L/∂x_i(t_k) for every output k of component m at grid index `n` of sample i.
fn add_cotangents<T: Real>(
    lam: &mut [T],
    cot: &Outputs<T>,
    m: usize,
    grid: &Grid,
    i: usize,
    n: usize,
    d: usize,
) {
    for (k, _) in grid.output_at.iter().enumerate().filter(|&(_, &o)| o == n) {
        let c = &cot[m][k][i * d..(i + 1) * d];
        for (l, &v) in lam[i * d..(i + 1) * d].iter_mut().zip(c) {
            *l += v;
        }
    }
}

/// One backward step of every gathered row (λ_{n+1} → λ_n in `rows.lam`, dL/dθ into `gp`).
/// Returns (sample-evaluations, sample-VJPs).
fn back_rows<T: Real>(
    f: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    rows: &mut Rows<T>,
    d: usize,
    gp: &mut [T],
    scratch: &mut [T],
) -> (usize, usize) {
    let s = sch.effective_stages();
    let Rows {
        idx,
        t0,
        t1,
        t,
        x,
        lam,
        stage_x,
        ku,
        mu,
    } = rows;
    let a_n = idx.len();
    let n = a_n * d;
    let h = |a: usize| T::of(t1[a] - t0[a]);
    let stage_t = |i: usize, a: usize| -> T {
        T::of(if i == 0 {
            t0[a]
        } else {
            stage_time(t0[a], t1[a] - t0[a], sch.c(i), t1[a])
        })
    };
    // 1. The stage states X_1..X_S without a graph (S − 1 batched evaluations).
    let mut evals = 0;
    for i in 0..s {
        let xi = &mut stage_x[i][..n];
        xi.copy_from_slice(&x[..n]);
        if i > 0 {
            for a in 0..a_n {
                let ha = h(a);
                let r = a * d..(a + 1) * d;
                for (j, kj) in ku[..i].iter().enumerate() {
                    let c = sch.a(i, j);
                    if c != T::zero() {
                        let w = ha * c;
                        for (o, &v) in xi[r.clone()].iter_mut().zip(&kj[r.clone()]) {
                            *o += w * v;
                        }
                    }
                }
            }
        }
        if i + 1 < s {
            for (a, ta) in t[..a_n].iter_mut().enumerate() {
                *ta = stage_t(i, a);
            }
            f.eval_at(&t[..a_n], xi, &mut ku[i][..n], scratch);
            evals += a_n;
        }
    }
    // 2. The adjoint stages in reverse with the partner's coefficients (S batched VJPs).
    for i in (0..s).rev() {
        for a in 0..a_n {
            let r = a * d..(a + 1) * d;
            let m = &mut mu[r.clone()];
            if sch.zero_weight(i) {
                m.fill(T::zero());
            } else {
                m.copy_from_slice(&lam[r.clone()]);
            }
            for (j, kj) in ku.iter().enumerate().take(s).skip(i + 1) {
                let g = sch.coupling(i, j);
                if g != T::zero() {
                    for (o, &v) in m.iter_mut().zip(&kj[r.clone()]) {
                        *o += g * v;
                    }
                }
            }
            let scale = if sch.zero_weight(i) {
                h(a)
            } else {
                h(a) * sch.b(i)
            };
            for o in m.iter_mut() {
                *o *= scale;
            }
            t[a] = stage_t(i, a);
        }
        f.vjp_at(
            &t[..a_n],
            &stage_x[i][..n],
            &mu[..n],
            &mut ku[i][..n],
            gp,
            scratch,
        );
    }
    // 3. λ_n = λ_{n+1} + Σ u_i.
    for u in &ku[..s] {
        for (l, &v) in lam[..n].iter_mut().zip(&u[..n]) {
            *l += v;
        }
    }
    (evals, s * a_n)
}
