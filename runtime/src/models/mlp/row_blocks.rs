//! Large batches in row blocks: the [`Dynamics`] implementation of [`Mlp`].
//!
//! A batch of B rows runs as blocks of R rows, one block through every layer before the next
//! (R from the L2 the machine reports, [`default_row_block`]). At batch 4096 / hidden 256 a
//! whole-batch activation is 8 MiB, so every layer's output went out to the L3 and came back
//! for the activation, the next product and the backward; a 256-row block keeps them in a
//! 1 MiB L2. Measured on a Zen 4 core (`docs/performance.md`, "Row blocks"): 13–15% off a
//! whole gradient at batch 4096.
//!
//! Rows are independent, so outputs, input gradients and the tape's values are the same bits as
//! one whole-batch pass; the parameter gradient sums the blocks' contributions block by block,
//! a different order of the same sums (equal to rounding). Scratch shrinks to one block's
//! buffers; the tape of `eval_taped` still holds every row, block k's layers at
//! `tape_len(k·R)` (block-major: the tape is private to the model).
//!
//! R comes from the machine, as the GEMM's K blocks come from its L1d: the same large batch on
//! two CPUs with different L2 sizes sums its parameter gradient in different blocks (equal to
//! rounding). [`Mlp::with_row_block`] fixes R where bits must match across machines.

use crate::dynamics::{Dynamics, ParamTensor};
use crate::linalg::cache::cache_sizes;
use crate::models::error::ModelError;
use crate::real::Real;
use crate::second_order::SecondOrder;

use super::{Mlp, Time};

/// Rows per block for a network whose widest hidden layer has `max_hidden` units of
/// `elem` bytes: the rows whose widest activation fills half the L2
/// ([`cache_sizes`]), a multiple of 8, at least 64 (so that each block's products still use
/// every weight they read for 64 rows or more).
pub(super) fn default_row_block(max_hidden: usize, elem: usize) -> usize {
    let row_bytes = max_hidden.max(1).saturating_mul(elem.max(1));
    (cache_sizes().l2 / 2 / row_bytes / 8 * 8).max(64)
}

/// `(first row, rows)` of each block of at most `rows` rows covering `batch`.
fn blocks(batch: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..batch)
        .step_by(rows)
        .map(move |r0| (r0, rows.min(batch - r0)))
}

impl<T: Real> Mlp<T> {
    /// Rows per block: batches larger than this run block by block ([`Mlp::with_row_block`]).
    pub fn row_block(&self) -> usize {
        self.rows
    }

    /// The same network run in blocks of `rows` rows (the default comes from the L2 size, see
    /// the module documentation of `row_blocks`); `usize::MAX` runs every batch whole.
    ///
    /// # Errors
    /// `rows == 0`.
    ///
    /// ```
    /// use symplode_runtime::models::{Activation, Mlp, MlpConfig};
    ///
    /// let config = MlpConfig::new(2, vec![16], Activation::Tanh, true);
    /// let net = Mlp::<f64>::new(config, 1)?.with_row_block(8)?;
    /// assert_eq!(net.row_block(), 8);
    /// # Ok::<(), symplode_runtime::models::ModelError>(())
    /// ```
    pub fn with_row_block(mut self, rows: usize) -> Result<Self, ModelError> {
        if rows == 0 {
            return Err(ModelError::InvalidConfig {
                model: "Mlp",
                field: "row_block".into(),
                reason: "need at least one row per block".into(),
            });
        }
        self.rows = rows;
        Ok(self)
    }

    /// Rows of the largest block a batch of `batch` rows runs in.
    fn block_rows(&self, batch: usize) -> usize {
        batch.min(self.rows)
    }
}

impl<T: Real> Dynamics<T> for Mlp<T> {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn params(&self) -> &[T] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [T] {
        self.wt = super::WeightCache::default();
        &mut self.params
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        let mut v = Vec::with_capacity(2 * self.layers.len());
        for (k, ly) in self.layers.iter().map(|l| l.dense).enumerate() {
            v.push(ParamTensor {
                name: format!("layers.{k}.weight"),
                shape: vec![ly.out, ly.inp],
                offset: ly.w,
            });
            v.push(ParamTensor {
                name: format!("layers.{k}.bias"),
                shape: vec![ly.out],
                offset: ly.b,
            });
        }
        v
    }

    fn scratch_len(&self, batch: usize) -> usize {
        let b = self.block_rows(batch);
        let eval = self.pingpong_len(b);
        eval.max(self.tape_len(b).saturating_add(self.backward_len(b)))
    }

    fn tape_len(&self, batch: usize) -> usize {
        batch
            .saturating_mul(self.sum_hidden)
            .saturating_add(self.work_len(batch))
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let d = self.config.dim;
        for (r0, rows) in blocks(x.len() / d, self.rows) {
            let (x, dx) = (&x[r0 * d..][..rows * d], &mut dx[r0 * d..][..rows * d]);
            self.eval_with(Time::One(t), x, dx, scratch);
        }
    }

    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let d = self.config.dim;
        debug_assert!(t.len() * d >= x.len());
        for (r0, rows) in blocks(x.len() / d, self.rows) {
            let (x, dx) = (&x[r0 * d..][..rows * d], &mut dx[r0 * d..][..rows * d]);
            self.eval_with(Time::Rows(&t[r0..][..rows]), x, dx, scratch);
        }
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.vjp_blocks(|_| Time::One(t), x, lam, gx, gp, scratch);
    }

    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        debug_assert!(t.len() >= x.len() / self.config.dim);
        self.vjp_blocks(
            |(r0, rows)| Time::Rows(&t[r0..][..rows]),
            x,
            lam,
            gx,
            gp,
            scratch,
        );
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        let d = self.config.dim;
        let batch = x.len() / d;
        debug_assert!(tape.len() >= self.tape_len(batch));
        for (r0, rows) in blocks(batch, self.rows) {
            let (x, dx) = (&x[r0 * d..][..rows * d], &mut dx[r0 * d..][..rows * d]);
            let tape = &mut tape[self.tape_len(r0)..][..self.tape_len(rows)];
            self.forward_hidden_taped(Time::One(t), x, tape, rows);
            let input = self.taped_last_hidden(x, tape, rows);
            self.dense(self.n_hidden(), t, input, dx, rows);
        }
    }

    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let d = self.config.dim;
        let batch = x.len() / d;
        debug_assert!(scratch.len() >= self.backward_len(self.block_rows(batch)));
        for (r0, rows) in blocks(batch, self.rows) {
            let rg = r0 * d..(r0 + rows) * d;
            let tape = &tape[self.tape_len(r0)..][..self.tape_len(rows)];
            let (x, lam, gx) = (&x[rg.clone()], &lam[rg.clone()], &mut gx[rg]);
            self.backward(Time::One(t), x, tape, lam, gx, gp, scratch, rows);
        }
    }

    fn second_order(&self) -> Option<&dyn SecondOrder<T>> {
        Some(self)
    }
}

impl<T: Real> Mlp<T> {
    /// [`Dynamics::vjp`] / [`Dynamics::vjp_at`] block by block: each block's taped forward
    /// and backward in one block's scratch, the parameter gradient accumulated in block order.
    fn vjp_blocks<'t>(
        &self,
        time: impl Fn((usize, usize)) -> Time<'t, T>,
        x: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let d = self.config.dim;
        let batch = x.len() / d;
        debug_assert!(scratch.len() >= self.scratch_len(batch));
        for (r0, rows) in blocks(batch, self.rows) {
            let rg = r0 * d..(r0 + rows) * d;
            let (x, lam, gx) = (&x[rg.clone()], &lam[rg.clone()], &mut gx[rg]);
            let t = time((r0, rows));
            let (tape, rest) = scratch.split_at_mut(self.tape_len(rows));
            self.forward_hidden_taped(t, x, tape, rows);
            self.backward(t, x, tape, lam, gx, gp, rest, rows);
        }
    }
}
