//! Data-parallel gradients that do not depend on the number of processes.
//!
//! Every global mini-batch is cut into a fixed number `S` of contiguous **shards** (sample
//! ranges, sizes differing by at most one). Each shard's gradient is computed on its own, with
//! its loss scaled by `1/(global count)`, so that the shard gradients *add up* to the gradient of
//! the whole batch's mean loss. The shard results are summed in `f64` along one fixed balanced
//! binary tree over the shards (`((g₀+g₁)+(g₂+g₃))+…`, split at the middle).
//!
//! A [`Collective`] of `R` processes (ranks, `R` and `S` powers of two, `R ≤ S`) splits the
//! shards: rank `r` computes shards `r·S/R .. (r+1)·S/R` and sums them along their subtree of
//! the same tree; [`Collective::tree_reduce`] then combines the ranks' subtree sums by recursive
//! doubling — at step `k` the partners `r` and `r ^ 2ᵏ` exchange their sums and both form
//! (lower group) + (upper group), which is exactly the next level of the tree. So every rank
//! ends with the same bits as one process summing the whole tree, and the update, hence the
//! trained weights, are bit-identical for every such `R` — including the single-process build
//! ([`SingleProcess`]). Each rank sends and receives `log₂R` messages of `P + 10` values per
//! iteration (`P` parameters). The shard count is part of the numerics (it decides the tree
//! and, with adaptive steps, each shard's own step sizes); the process count is not.
//!
//! A shard that fails (non-finite loss, too many steps, …) sets a status flag that travels
//! with the sums, so every rank leaves the reduction and returns an error instead of waiting.

use std::ops::Range;

use symplode_runtime::grad::{Outputs, Stats};
use symplode_runtime::{Real, SolveError};

use super::{Batch, TrainError, TrainModel, Trainer};

/// How partial sums are combined: `combine(lower, upper, out)` with `out` = the sum of the lower
/// and the upper group (all of the same length).
pub type Combine<'c> = &'c dyn Fn(&[f64], &[f64], &mut [f64]);

/// Processes that combine their partial sums along a fixed binary tree.
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of processes (a power of two when more than one).
    fn size(&self) -> usize;
    /// Recursive doubling: for `k = 0, 1, …` while `2ᵏ < size()`, exchange `sum` with rank
    /// `rank ^ 2ᵏ` and replace it by `combine(lower rank's, upper rank's)`. Every rank must call
    /// it with the same length.
    fn tree_reduce(&self, sum: &mut [f64], combine: Combine<'_>) -> Result<(), TrainError>;
}

/// One process: nothing to combine.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn tree_reduce(&self, _sum: &mut [f64], _combine: Combine<'_>) -> Result<(), TrainError> {
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

/// Checks that `ranks` processes can split `shards` shards along the tree: any `shards ≥ 1`
/// for one process; else both powers of two and `ranks ≤ shards`.
pub fn check_split(shards: usize, ranks: usize) -> Result<(), TrainError> {
    let ok = shards >= 1
        && (ranks == 1 || (ranks.is_power_of_two() && shards.is_power_of_two() && ranks <= shards));
    if !ok {
        return Err(TrainError::Config {
            field: "shards",
            reason: format!(
                "{shards} shards on {ranks} processes; with more than one process, shards and \
                 processes must be powers of two and shards ≥ processes (e.g. shards = {})",
                ranks
                    .max(1)
                    .next_power_of_two()
                    .max(shards.next_power_of_two())
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

/// `out = lower + upper` for two blocks: status and peaks by maximum, loss, counters and
/// gradient by addition (lower first).
pub(crate) fn combine(lower: &[f64], upper: &[f64], out: &mut [f64]) {
    for (i, ((o, &a), &b)) in out.iter_mut().zip(lower).zip(upper).enumerate() {
        *o = match i {
            0 | 7..=9 => a.max(b),
            _ => a + b,
        };
    }
}

/// The sum of `blocks` along the balanced binary tree (split at `⌈len/2⌉`).
pub(crate) fn tree_sum(blocks: &[Vec<f64>]) -> Vec<f64> {
    match blocks {
        [] => Vec::new(),
        [one] => one.clone(),
        _ => {
            let (lo, hi) = blocks.split_at(blocks.len().div_ceil(2));
            let (a, b) = (tree_sum(lo), tree_sum(hi));
            let mut out = vec![0.0; a.len()];
            combine(&a, &b, &mut out);
            out
        }
    }
}

/// Loss, counters and gradient of a summed block; `Err(())` when a shard failed.
pub(crate) fn decode(block: &[f64]) -> Result<(f64, Stats, Vec<f64>), ()> {
    if block[0] != 0.0 {
        return Err(());
    }
    let c = |k: usize| block[2 + k] as usize;
    let stats = Stats {
        nfe_forward: c(0),
        nfe_backward: c(1),
        vjp_backward: c(2),
        accepted: c(3),
        rejected: c(4),
        peak_total_bytes: c(5),
        peak_checkpoint_bytes: c(6),
        peak_graph_bytes: c(7),
        ..Stats::default()
    };
    Ok((block[1], stats, block[HEADER..].to_vec()))
}

impl<T: Real> Trainer<'_, T> {
    /// The loss, counters and gradient of `batch` (iteration `it`), summed over the shards in
    /// shard order; this rank computes its own shards and gathers the others'.
    pub(super) fn sharded_gradient(
        &self,
        model: &mut dyn TrainModel<T>,
        batch: &Batch<T>,
        it: u64,
    ) -> Result<(f64, Stats, Vec<f64>), TrainError> {
        let width = model.row_width();
        let ranges = shard_ranges(batch.x0.len() / width, self.shards)?;
        let count = self.config.loss.count(batch, width);
        let params = model.params().len();
        let owned = owned_shards(self.shards, self.collective.rank(), self.collective.size());
        let mut blocks = Vec::with_capacity(owned.len());
        let mut failure = None;
        for s in owned {
            let part = batch.samples(ranges[s].clone(), width);
            let result = model
                .prepare(&part)
                .and_then(|()| self.shard_gradient(&*model, &part, count, it));
            match result {
                Ok((loss, stats, grad)) => blocks.push(encode(Some((loss, &stats, &grad)), params)),
                Err(e) => {
                    blocks.push(encode(None, params));
                    failure.get_or_insert(e);
                }
            }
        }
        let mut sum = tree_sum(&blocks);
        let start = std::time::Instant::now();
        self.collective
            .tree_reduce(&mut sum, &combine)
            .map_err(|e| match e {
                TrainError::Collective { what, reason, .. } => TrainError::Collective {
                    iteration: it,
                    what,
                    reason,
                },
                other => other,
            })?;
        self.comm_seconds.set(start.elapsed().as_secs_f64());
        if let Some(e) = failure {
            return Err(e);
        }
        decode(&sum).map_err(|()| TrainError::Rank { iteration: it })
    }

    /// One shard's loss contribution (its squared or absolute errors over `count`, the number
    /// of target values of the whole batch; or its samples' −log p over the batch's samples),
    /// counters and gradient in `f64` (the chain's components' gradients concatenated). The
    /// loss reads the last component's outputs.
    fn shard_gradient(
        &self,
        model: &dyn TrainModel<T>,
        part: &Batch<T>,
        count: usize,
        it: u64,
    ) -> Result<(f64, Stats, Vec<f64>), TrainError> {
        let loss = self.config.loss;
        let mut problem = model.problem(part, self.scheme, self.stepping.clone());
        let width = problem.dim();
        let fit = self
            .budget
            .fit_gradient(self.method, &problem)
            .map_err(|source| TrainError::Budget {
                iteration: it,
                source,
            })?;
        problem.stepping = fit.stepping.clone();
        let mut loss_fn =
            |out: &Outputs<T>, cot: &mut Outputs<T>| match (out.last(), cot.last_mut()) {
                (Some(o), Some(c)) => loss.evaluate_rows(o, &part.targets, c, count, width),
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
        let grad = g.dtheta.iter().flatten().map(|v| v.f64()).collect();
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
    fn owned_shards_partition_and_splits_need_powers_of_two() {
        assert_eq!(owned_shards(4, 0, 2), 0..2);
        assert_eq!(owned_shards(4, 1, 2), 2..4);
        assert_eq!(owned_shards(4, 3, 4), 3..4);
        assert!(check_split(3, 1).is_ok());
        assert!(check_split(6, 2).is_err());
        assert!(check_split(4, 8).is_err());
        assert!(check_split(8, 4).is_ok());
    }

    /// Recursive doubling over the ranks' subtrees gives the bits of the whole tree, for values
    /// whose sum depends on the order.
    #[test]
    fn rank_subtrees_combined_by_doubling_equal_the_whole_tree() {
        let block = |i: usize| {
            let mut b = vec![0.0; HEADER + 3];
            b[1] = 0.1 * (i as f64 + 1.0).powi(7);
            b[HEADER] = 1e16 / (i as f64 + 1.0);
            b[HEADER + 1] = (i as f64).sin() * 1e-3;
            b[HEADER + 2] = 3.0f64.powi(i as i32) * 1e-8;
            b[7] = i as f64;
            b
        };
        let blocks: Vec<Vec<f64>> = (0..8).map(block).collect();
        let whole = tree_sum(&blocks);
        let sequential = blocks[1..].iter().fold(blocks[0].clone(), |a, b| {
            let mut o = vec![0.0; a.len()];
            combine(&a, b, &mut o);
            o
        });
        assert_ne!(whole, sequential, "the test values must be order-sensitive");
        for ranks in [1usize, 2, 4, 8] {
            let m = 8 / ranks;
            let mut sums: Vec<Vec<f64>> = (0..ranks)
                .map(|r| tree_sum(&blocks[r * m..(r + 1) * m]))
                .collect();
            let mut step = 1;
            while step < ranks {
                let prev = sums.clone();
                for r in 0..ranks {
                    let p = r ^ step;
                    let (lo, hi) = if r < p {
                        (&prev[r], &prev[p])
                    } else {
                        (&prev[p], &prev[r])
                    };
                    combine(lo, hi, &mut sums[r]);
                }
                step *= 2;
            }
            for s in &sums {
                assert_eq!(s, &whole, "{ranks} ranks");
            }
        }
        assert_eq!(decode(&whole).unwrap().1.peak_total_bytes, 7);
        let mut failed = blocks.clone();
        failed[5] = encode(None, 3);
        assert!(decode(&tree_sum(&failed)).is_err());
    }
}
