//! Data-parallel gradients that do not depend on the number of processes.
//!
//! Every global mini-batch is cut into a fixed number `S` of contiguous **shards** (sample
//! ranges, sizes differing by at most one). Each shard's gradient is computed on its own, with
//! its loss scaled by `1/(global count)`, so that the shard gradients *add up* to the gradient of
//! the whole batch's mean loss. The shard results are then summed in shard order
//! `((g₀ + g₁) + g₂) + …` in `f64`.
//!
//! A [`Collective`] of `R` processes (ranks) splits the shards: rank `r` computes shards
//! `r·S/R .. (r+1)·S/R` (so `R` must divide `S`), and one all-gather in rank order gives every
//! rank all `S` shard results, in shard order. Every rank then performs the same sum, so the
//! update, and hence the trained weights, are bit-identical for every `R` dividing `S` —
//! including the single-process build ([`SingleProcess`]), which computes all shards itself.
//! The shard count is part of the numerics (it decides the summation order and, with adaptive
//! steps, each shard's own step sizes); the process count is not.
//!
//! A shard that fails (non-finite loss, too many steps, …) is reported through the gather as
//! well, so every rank leaves the collective and returns an error instead of waiting forever.

use std::ops::Range;

use symplode_runtime::grad::{Outputs, Problem, Stats};
use symplode_runtime::{Dynamics, Real, SolveError};

use super::{Batch, TrainError, Trainer};

/// Processes that exchange shard results: an all-gather of equal-length blocks in rank order.
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn size(&self) -> usize;
    /// Concatenates every rank's `local` (all of the same length) in rank order into `out`
    /// (`size() · local.len()` values). Every rank must call it with the same length.
    fn all_gather(&self, local: &[f64], out: &mut [f64]) -> Result<(), TrainError>;
}

/// One process: gathering is copying.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, local: &[f64], out: &mut [f64]) -> Result<(), TrainError> {
        out.copy_from_slice(local);
        Ok(())
    }
}

/// The sample ranges of `shards` contiguous shards of a batch of `batch` samples (the first
/// `batch % shards` shards have one sample more). Needs `1 ≤ shards ≤ batch`.
pub fn shard_ranges(batch: usize, shards: usize) -> Result<Vec<Range<usize>>, TrainError> {
    if shards == 0 || shards > batch {
        return Err(TrainError::Config {
            field: "shards",
            reason: format!("{shards}; need 1 ≤ shards ≤ the batch size ({batch})"),
        });
    }
    let (q, r) = (batch / shards, batch % shards);
    let mut start = 0;
    Ok((0..shards)
        .map(|i| {
            let len = q + usize::from(i < r);
            let range = start..start + len;
            start += len;
            range
        })
        .collect())
}

/// The shards rank `rank` of `ranks` computes.
pub fn owned_shards(shards: usize, rank: usize, ranks: usize) -> Range<usize> {
    let per = shards / ranks.max(1);
    rank * per..(rank + 1) * per
}

/// Checks that `ranks` processes can split `shards` shards evenly.
pub fn check_split(shards: usize, ranks: usize) -> Result<(), TrainError> {
    if ranks == 0 || shards == 0 || !shards.is_multiple_of(ranks) {
        return Err(TrainError::Config {
            field: "shards",
            reason: format!(
                "{shards} shards cannot be split evenly over {ranks} processes; use a multiple \
                 of the process count (e.g. {})",
                ranks.max(1) * shards.div_ceil(ranks.max(1)).max(1)
            ),
        });
    }
    Ok(())
}

/// Values before the gradient in a shard's block: status, loss and the counters of [`Stats`].
const HEADER: usize = 10;

/// One shard's result as exchanged: `status` (0 ok, 1 failed), the loss contribution, the
/// counters, then the gradient.
pub(crate) fn encode(result: Option<(f64, &Stats, &[f64])>, params: usize) -> Vec<f64> {
    let mut v = vec![0.0; HEADER + params];
    match result {
        Some((loss, s, grad)) => {
            v[1] = loss;
            let counters = [
                s.nfe_forward,
                s.nfe_backward,
                s.vjp_backward,
                s.accepted,
                s.rejected,
                s.peak_total_bytes,
                s.peak_checkpoint_bytes,
                s.peak_graph_bytes,
            ];
            for (slot, c) in v[2..HEADER].iter_mut().zip(counters) {
                *slot = c as f64;
            }
            v[HEADER..].copy_from_slice(grad);
        }
        None => v[0] = 1.0,
    }
    v
}

/// The sum over all shards (in shard order) of the gathered blocks: loss, counters (peaks are
/// the largest of any shard) and gradient. `Err(shard)` names the first failed shard.
pub(crate) fn reduce(
    gathered: &[f64],
    shards: usize,
    params: usize,
) -> Result<(f64, Stats, Vec<f64>), usize> {
    let len = HEADER + params;
    let mut loss = 0.0;
    let mut stats = Stats::default();
    let mut grad = vec![0.0; params];
    for (i, block) in gathered.chunks_exact(len).take(shards).enumerate() {
        if block[0] != 0.0 {
            return Err(i);
        }
        loss += block[1];
        let c = |k: usize| block[2 + k] as usize;
        stats.nfe_forward += c(0);
        stats.nfe_backward += c(1);
        stats.vjp_backward += c(2);
        stats.accepted += c(3);
        stats.rejected += c(4);
        stats.peak_total_bytes = stats.peak_total_bytes.max(c(5));
        stats.peak_checkpoint_bytes = stats.peak_checkpoint_bytes.max(c(6));
        stats.peak_graph_bytes = stats.peak_graph_bytes.max(c(7));
        for (g, &b) in grad.iter_mut().zip(&block[HEADER..]) {
            *g += b;
        }
    }
    Ok((loss, stats, grad))
}

/// The length of one shard's block for `params` parameters.
pub(crate) fn block_len(params: usize) -> usize {
    HEADER + params
}

impl<T: Real> Trainer<'_, T> {
    /// The loss, counters and gradient of `batch` (iteration `it`), summed over the shards in
    /// shard order; this rank computes its own shards and gathers the others'.
    pub(super) fn sharded_gradient(
        &self,
        model: &dyn Dynamics<T>,
        batch: &Batch<T>,
        it: u64,
    ) -> Result<(f64, Stats, Vec<f64>), TrainError> {
        let dim = model.dim();
        let ranges = shard_ranges(batch.x0.len() / dim, self.shards)?;
        let count: usize = batch.targets.iter().map(Vec::len).sum();
        let params = model.params().len();
        let (rank, ranks) = (self.collective.rank(), self.collective.size());
        let owned = owned_shards(self.shards, rank, ranks);
        let mut local = Vec::with_capacity(owned.len() * block_len(params));
        let mut failure = None;
        for s in owned {
            let part = batch.samples(ranges[s].clone(), dim);
            match self.shard_gradient(model, &part, count, it) {
                Ok((loss, stats, grad)) => {
                    local.extend(encode(Some((loss, &stats, &grad)), params));
                }
                Err(e) => {
                    local.extend(encode(None, params));
                    failure.get_or_insert(e);
                }
            }
        }
        let mut all = vec![0.0; self.shards * block_len(params)];
        self.collective.all_gather(&local, &mut all)?;
        if let Some(e) = failure {
            return Err(e);
        }
        reduce(&all, self.shards, params).map_err(|shard| TrainError::Rank {
            iteration: it,
            shard,
            rank: shard / (self.shards / ranks.max(1)).max(1),
        })
    }

    /// One shard's loss contribution (its squared or absolute errors over `count`, the number
    /// of target values of the whole batch), counters and gradient in `f64`.
    fn shard_gradient(
        &self,
        model: &dyn Dynamics<T>,
        part: &Batch<T>,
        count: usize,
        it: u64,
    ) -> Result<(f64, Stats, Vec<f64>), TrainError> {
        let loss = self.config.loss;
        let mut problem = Problem::single(
            model,
            &part.times,
            self.scheme,
            self.stepping.clone(),
            &part.x0,
        );
        let fit = self
            .budget
            .fit_gradient(self.method, &problem)
            .map_err(|source| TrainError::Budget {
                iteration: it,
                source,
            })?;
        problem.stepping = fit.stepping.clone();
        let mut loss_fn =
            |out: &Outputs<T>, cot: &mut Outputs<T>| match (out.first(), cot.first_mut()) {
                (Some(o), Some(c)) => loss.evaluate_with_count(o, &part.targets, c, count),
                _ => f64::NAN,
            };
        let g = self
            .method
            .gradient(&problem, &mut loss_fn)
            .map_err(|source| match (&source, fit.capped_message(&self.budget)) {
                (SolveError::TooManySteps { .. }, Some(reason)) => TrainError::Config {
                    field: "memory_budget",
                    reason: format!("iteration {it}: {reason}"),
                },
                _ => TrainError::Solve {
                    iteration: it,
                    source,
                },
            })?;
        let grad = g
            .dtheta
            .into_iter()
            .next()
            .unwrap_or_default()
            .iter()
            .map(|v| v.f64())
            .collect();
        Ok((g.loss, g.stats, grad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_batch_in_order() {
        let r = shard_ranges(10, 4).unwrap();
        assert_eq!(r, vec![0..3, 3..6, 6..8, 8..10]);
        assert!(shard_ranges(3, 4).is_err());
        assert!(shard_ranges(3, 0).is_err());
    }

    #[test]
    fn owned_shards_partition() {
        assert_eq!(owned_shards(4, 0, 2), 0..2);
        assert_eq!(owned_shards(4, 1, 2), 2..4);
        assert_eq!(owned_shards(4, 3, 4), 3..4);
        assert!(check_split(4, 3).is_err());
        assert!(check_split(4, 4).is_ok());
    }

    #[test]
    fn reduce_sums_in_shard_order_and_reports_failures() {
        let s = Stats {
            nfe_forward: 3,
            peak_total_bytes: 7,
            ..Stats::default()
        };
        let mut all = encode(Some((0.5, &s, &[1.0, 2.0])), 2);
        all.extend(encode(Some((0.25, &s, &[0.5, -1.0])), 2));
        let (loss, stats, grad) = reduce(&all, 2, 2).unwrap();
        assert_eq!((loss, grad), (0.75, vec![1.5, 1.0]));
        assert_eq!((stats.nfe_forward, stats.peak_total_bytes), (6, 7));
        all.extend(encode(None, 2));
        assert_eq!(reduce(&all, 3, 2), Err(2));
    }
}
