//! Data parallelism over fixed batch chunks, bit-identical for any number of threads.
//!
//! [`Chunked`] wraps any [`Dynamics`] and splits every evaluation, VJP and taped evaluation
//! into chunks of a fixed number of rows, run on rayon's threads. Chunk boundaries depend only on
//! the chunk size, never on the thread count, and the per-chunk parameter gradients are summed
//! in chunk order afterwards, so results are **bit-identical at 1, 2 or 64 threads**. Buffers
//! come from the caller's scratch and tape (nothing is allocated per call).

use std::sync::Arc;

use rayon::prelude::*;

use crate::dynamics::{Dynamics, ParamTensor};
use crate::error::SolveError;
use crate::real::Real;

/// A [`Dynamics`] evaluated in parallel over fixed chunks of `chunk_rows` samples.
pub struct Chunked<D> {
    inner: D,
    rows: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl<D> Chunked<D> {
    /// Splits batches into chunks of `chunk_rows` samples (the last may be shorter), run on
    /// rayon's global pool.
    pub fn new(inner: D, chunk_rows: usize) -> Result<Self, SolveError> {
        if chunk_rows == 0 {
            return Err(SolveError::BadOption {
                name: "chunk_rows",
                value: "0".into(),
                reason: "need at least one row per chunk",
            });
        }
        Ok(Chunked {
            inner,
            rows: chunk_rows,
            pool: None,
        })
    }

    /// Runs on a private pool of `threads` threads (results do not depend on it).
    pub fn with_threads(mut self, threads: usize) -> Result<Self, SolveError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| SolveError::BadOption {
                name: "threads",
                value: threads.to_string(),
                reason: if threads == 0 {
                    "need at least one thread"
                } else {
                    leak_reason(e.to_string())
                },
            })?;
        self.pool = Some(Arc::new(pool));
        Ok(self)
    }

    /// The wrapped dynamics.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Rows per chunk.
    pub fn chunk_rows(&self) -> usize {
        self.rows
    }

    /// Runs `work` on this wrapper's pool (the global pool when it has none). A gradient
    /// computed inside `install` hands chunks to the workers through their local queues; from
    /// outside, every call injects a job into the pool's global queue, which allocates a queue
    /// block now and then (about one per 63 calls).
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) if p.current_thread_index().is_none() => p.install(work),
            _ => work(),
        }
    }

    fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.install(work)
    }
}

fn leak_reason(s: String) -> &'static str {
    // Thread-pool build failures are rare and fatal to the caller; keep the message.
    Box::leak(s.into_boxed_str())
}

impl<D> Chunked<D> {
    fn chunks(&self, batch: usize) -> usize {
        batch.div_ceil(self.rows)
    }
    /// (elements of x per full chunk, scratch per chunk, number of chunks).
    fn layout<T: Real>(&self, len: usize) -> (usize, usize, usize)
    where
        D: Dynamics<T>,
    {
        let d = self.inner.dim();
        let batch = len / d;
        (
            self.rows * d,
            self.inner.scratch_len(self.rows),
            self.chunks(batch),
        )
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Chunked<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn params(&self) -> &[T] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.inner.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.inner.param_tensors()
    }
    /// The inner model's (its tangent system runs unchunked).
    fn second_order(&self) -> Option<&dyn crate::second_order::SecondOrder<T>> {
        self.inner.second_order()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        if batch <= self.rows {
            return self.inner.scratch_len(batch);
        }
        self.chunks(batch) * (self.inner.scratch_len(self.rows) + self.inner.n_params())
    }
    fn tape_len(&self, batch: usize) -> usize {
        if batch <= self.rows {
            return self.inner.tape_len(batch);
        }
        self.chunks(batch) * self.inner.tape_len(self.rows)
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let (cx, cs, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.eval(t, x, dx, scratch);
        }
        let inner = &self.inner;
        let d = inner.dim();
        self.run(|| {
            x.par_chunks(cx)
                .zip(dx.par_chunks_mut(cx))
                .zip(scratch[..n * cs].par_chunks_mut(cs))
                .for_each(|((xc, dc), sc)| {
                    let need = inner.scratch_len(xc.len() / d);
                    inner.eval(t, xc, dc, &mut sc[..need]);
                })
        });
    }

    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let (cx, cs, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.eval_at(t, x, dx, scratch);
        }
        let inner = &self.inner;
        let d = inner.dim();
        self.run(|| {
            x.par_chunks(cx)
                .zip(dx.par_chunks_mut(cx))
                .zip(t.par_chunks(cx / d))
                .zip(scratch[..n * cs].par_chunks_mut(cs))
                .for_each(|(((xc, dc), tc), sc)| {
                    let need = inner.scratch_len(xc.len() / d);
                    inner.eval_at(tc, xc, dc, &mut sc[..need]);
                })
        });
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let (cx, cs, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.vjp(t, x, lam, gx, gp, scratch);
        }
        let inner = &self.inner;
        let d = inner.dim();
        let p = inner.n_params();
        let (work, partial) = scratch.split_at_mut(n * cs);
        let partial = &mut partial[..n * p];
        self.run(|| {
            x.par_chunks(cx)
                .zip(lam.par_chunks(cx))
                .zip(gx.par_chunks_mut(cx))
                .zip(work.par_chunks_mut(cs))
                .zip(partial.par_chunks_mut(p.max(1)))
                .for_each(|((((xc, lc), gc), sc), pc)| {
                    pc.fill(T::zero());
                    let need = inner.scratch_len(xc.len() / d);
                    inner.vjp(t, xc, lc, gc, pc, &mut sc[..need]);
                })
        });
        reduce_in_order(gp, partial, p);
    }

    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let (cx, cs, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.vjp_at(t, x, lam, gx, gp, scratch);
        }
        let inner = &self.inner;
        let d = inner.dim();
        let p = inner.n_params();
        let (work, partial) = scratch.split_at_mut(n * cs);
        let partial = &mut partial[..n * p];
        self.run(|| {
            x.par_chunks(cx)
                .zip(lam.par_chunks(cx))
                .zip(t.par_chunks(cx / d))
                .zip(gx.par_chunks_mut(cx))
                .zip(work.par_chunks_mut(cs))
                .zip(partial.par_chunks_mut(p.max(1)))
                .for_each(|(((((xc, lc), tc), gc), sc), pc)| {
                    pc.fill(T::zero());
                    let need = inner.scratch_len(xc.len() / d);
                    inner.vjp_at(tc, xc, lc, gc, pc, &mut sc[..need]);
                })
        });
        reduce_in_order(gp, partial, p);
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        let (cx, _, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.eval_taped(t, x, dx, tape);
        }
        let inner = &self.inner;
        let d = inner.dim();
        let ct = inner.tape_len(self.rows);
        self.run(|| {
            x.par_chunks(cx)
                .zip(dx.par_chunks_mut(cx))
                .zip(tape[..n * ct].par_chunks_mut(ct.max(1)))
                .for_each(|((xc, dc), tc)| {
                    let need = inner.tape_len(xc.len() / d);
                    inner.eval_taped(t, xc, dc, &mut tc[..need]);
                })
        });
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
        let (cx, cs, n) = self.layout::<T>(x.len());
        if n <= 1 {
            return self.inner.backward_taped(t, x, tape, lam, gx, gp, scratch);
        }
        let inner = &self.inner;
        let d = inner.dim();
        let p = inner.n_params();
        let ct = inner.tape_len(self.rows);
        let (work, partial) = scratch.split_at_mut(n * cs);
        let partial = &mut partial[..n * p];
        self.run(|| {
            x.par_chunks(cx)
                .zip(tape[..n * ct].par_chunks(ct.max(1)))
                .zip(lam.par_chunks(cx))
                .zip(gx.par_chunks_mut(cx))
                .zip(work.par_chunks_mut(cs))
                .zip(partial.par_chunks_mut(p.max(1)))
                .for_each(|(((((xc, tc), lc), gc), sc), pc)| {
                    pc.fill(T::zero());
                    let rows = xc.len() / d;
                    let need = inner.scratch_len(rows);
                    let tneed = inner.tape_len(rows);
                    inner.backward_taped(t, xc, &tc[..tneed], lc, gc, pc, &mut sc[..need]);
                })
        });
        reduce_in_order(gp, partial, p);
    }
}

/// `gp += Σ_c partial[c]`, chunk by chunk in order (the fixed order makes threads irrelevant).
fn reduce_in_order<T: Real>(gp: &mut [T], partial: &[T], p: usize) {
    if p == 0 {
        return;
    }
    for chunk in partial.chunks(p) {
        for (g, &v) in gp.iter_mut().zip(chunk) {
            *g += v;
        }
    }
}
