//! Data parallelism over fixed batch chunks, bit-identical for any number of threads.
//!
//! [`Chunked`] wraps any [`Dynamics`] and splits every evaluation, VJP and taped evaluation
//! into chunks of a fixed number of rows, run on rayon's threads. Chunk boundaries depend only on
//! the chunk size, never on the thread count, and the per-chunk parameter gradients are summed
//! in chunk order afterwards, so results are **bit-identical at 1, 2 or 64 threads**. Buffers
//! come from the caller's scratch and tape (nothing is allocated per call). Each chunk runs
//! through [`Dynamics::call_rows`] with its place in the whole batch, so a model that holds
//! per-sample data for the whole batch (the interpreter's auxiliary inputs: a CNF's Hutchinson
//! noise) reads the chunk's own rows of it.

use std::sync::Arc;

use rayon::prelude::*;

use crate::dynamics::{Call, Dynamics, ParamTensor, RowWindow};
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

    /// The wrapped dynamics, mutable (e.g. to set a CNF's Hutchinson noise on it).
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
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
    /// (elements of x per full chunk, scratch per chunk, number of chunks). Every chunk's
    /// slot of scratch, tape and partial gradient holds at least one element, so a model that
    /// needs none still gets one slot per chunk to run in ([`Chunked::slot`]).
    fn layout<T: Real>(&self, len: usize) -> (usize, usize, usize)
    where
        D: Dynamics<T>,
    {
        let d = self.inner.dim();
        let batch = len / d;
        (
            self.rows * d,
            Self::slot(self.inner.scratch_len(self.rows)),
            self.chunks(batch),
        )
    }

    /// A chunk's slot for `len` elements: at least one, since splitting a buffer into slots
    /// of zero elements would give no chunk to run (or panic).
    fn slot(len: usize) -> usize {
        len.max(1)
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
        self.chunks(batch)
            * (Self::slot(self.inner.scratch_len(self.rows)) + Self::slot(self.inner.n_params()))
    }
    fn tape_len(&self, batch: usize) -> usize {
        if batch <= self.rows {
            return self.inner.tape_len(batch);
        }
        self.chunks(batch) * Self::slot(self.inner.tape_len(self.rows))
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let whole = self.whole(x);
        self.split(whole, Call::Eval { t, x, dx, scratch })
    }

    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let whole = self.whole(x);
        self.split(whole, Call::EvalAt { t, x, dx, scratch })
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let whole = self.whole(x);
        let call = Call::Vjp {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.split(whole, call)
    }

    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let whole = self.whole(x);
        let call = Call::VjpAt {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.split(whole, call)
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        let whole = self.whole(x);
        self.split(whole, Call::EvalTaped { t, x, dx, tape })
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
        let whole = self.whole(x);
        let call = Call::BackwardTaped {
            t,
            x,
            tape,
            lam,
            gx,
            gp,
            scratch,
        };
        self.split(whole, call)
    }

    /// Chunks of a sub-batch: each chunk's window is its place in the whole batch.
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        self.split(window, call)
    }
}

impl<D> Chunked<D> {
    /// The window of a whole batch of rows `x`.
    fn whole<T: Real>(&self, x: &[T]) -> RowWindow
    where
        D: Dynamics<T>,
    {
        RowWindow::whole(x.len() / self.inner.dim().max(1))
    }

    /// Runs `call`, whose rows start at row `window.start` of the whole batch, chunk by chunk
    /// on the pool: chunk `c` is rows `window.start + c · rows..` there, passed to the inner
    /// model with [`Dynamics::call_rows`] so that per-sample data it holds (auxiliary inputs)
    /// is read at the chunk's own rows. Parameter gradients go to per-chunk partial sums in
    /// `scratch`, added to `gp` in chunk order.
    fn split<T: Real>(&self, window: RowWindow, call: Call<'_, T>)
    where
        D: Dynamics<T>,
    {
        let (cx, cs, n) = self.layout::<T>(call.x().len());
        let inner = &self.inner;
        if n <= 1 {
            return inner.call_rows(window, call);
        }
        let d = inner.dim();
        let p = inner.n_params();
        let ct = Self::slot(inner.tape_len(self.rows));
        let rows = self.rows;
        let at = move |c: usize| RowWindow {
            start: window.start + c * rows,
            total: window.total,
        };
        match call {
            Call::Eval { t, x, dx, scratch } => self.run(|| {
                x.par_chunks(cx)
                    .zip(dx.par_chunks_mut(cx))
                    .zip(scratch[..n * cs].par_chunks_mut(cs))
                    .enumerate()
                    .for_each(|(c, ((x, dx), sc))| {
                        let scratch = &mut sc[..inner.scratch_len(x.len() / d)];
                        inner.call_rows(at(c), Call::Eval { t, x, dx, scratch });
                    })
            }),
            Call::EvalAt { t, x, dx, scratch } => self.run(|| {
                x.par_chunks(cx)
                    .zip(dx.par_chunks_mut(cx))
                    .zip(t.par_chunks(cx / d))
                    .zip(scratch[..n * cs].par_chunks_mut(cs))
                    .enumerate()
                    .for_each(|(c, (((x, dx), t), sc))| {
                        let scratch = &mut sc[..inner.scratch_len(x.len() / d)];
                        inner.call_rows(at(c), Call::EvalAt { t, x, dx, scratch });
                    })
            }),
            Call::Vjp {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => {
                let rows = x.par_chunks(cx).zip(lam.par_chunks(cx));
                let rows = rows.zip(gx.par_chunks_mut(cx));
                self.with_partials(
                    rows,
                    (n, cs, p),
                    scratch,
                    gp,
                    |c, ((x, lam), gx), sc, gp| {
                        let scratch = &mut sc[..inner.scratch_len(x.len() / d)];
                        let call = Call::Vjp {
                            t,
                            x,
                            lam,
                            gx,
                            gp,
                            scratch,
                        };
                        inner.call_rows(at(c), call);
                    },
                );
            }
            Call::VjpAt {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => {
                let rows = x.par_chunks(cx).zip(lam.par_chunks(cx));
                let rows = rows.zip(t.par_chunks(cx / d)).zip(gx.par_chunks_mut(cx));
                self.with_partials(
                    rows,
                    (n, cs, p),
                    scratch,
                    gp,
                    |c, (((x, lam), t), gx), sc, gp| {
                        let scratch = &mut sc[..inner.scratch_len(x.len() / d)];
                        let call = Call::VjpAt {
                            t,
                            x,
                            lam,
                            gx,
                            gp,
                            scratch,
                        };
                        inner.call_rows(at(c), call);
                    },
                );
            }
            Call::EvalTaped { t, x, dx, tape } => self.run(|| {
                x.par_chunks(cx)
                    .zip(dx.par_chunks_mut(cx))
                    .zip(tape[..n * ct].par_chunks_mut(ct))
                    .enumerate()
                    .for_each(|(c, ((x, dx), tc))| {
                        let tape = &mut tc[..inner.tape_len(x.len() / d)];
                        inner.call_rows(at(c), Call::EvalTaped { t, x, dx, tape });
                    })
            }),
            Call::BackwardTaped {
                t,
                x,
                tape,
                lam,
                gx,
                gp,
                scratch,
            } => {
                let rows = x.par_chunks(cx).zip(tape[..n * ct].par_chunks(ct));
                let rows = rows.zip(lam.par_chunks(cx)).zip(gx.par_chunks_mut(cx));
                self.with_partials(
                    rows,
                    (n, cs, p),
                    scratch,
                    gp,
                    |c, (((x, tc), lam), gx), sc, gp| {
                        let batch = x.len() / d;
                        let call = Call::BackwardTaped {
                            t,
                            x,
                            tape: &tc[..inner.tape_len(batch)],
                            lam,
                            gx,
                            gp,
                            scratch: &mut sc[..inner.scratch_len(batch)],
                        };
                        inner.call_rows(at(c), call);
                    },
                );
            }
        }
    }

    /// Runs `each(c, rows of chunk c, its scratch, its parameter gradient)` for the chunks of
    /// `rows` on the pool: `scratch` is cut into `n` slots of `cs` elements, then `n` slots of
    /// partial parameter gradients (`p` elements each, zeroed), which are added to `gp` in
    /// chunk order afterwards.
    fn with_partials<T: Real, I>(
        &self,
        rows: I,
        (n, cs, p): (usize, usize, usize),
        scratch: &mut [T],
        gp: &mut [T],
        each: impl Fn(usize, I::Item, &mut [T], &mut [T]) + Sync + Send,
    ) where
        I: IndexedParallelIterator,
    {
        let ps = Self::slot(p);
        let (work, partial) = scratch.split_at_mut(n * cs);
        let partial = &mut partial[..n * ps];
        self.run(|| {
            rows.zip(work.par_chunks_mut(cs))
                .zip(partial.par_chunks_mut(ps))
                .enumerate()
                .for_each(|(c, ((item, sc), gp))| {
                    let gp = &mut gp[..p];
                    gp.fill(T::zero());
                    each(c, item, sc, gp);
                })
        });
        reduce_in_order(gp, partial, p, ps);
    }
}

/// `gp += Σ_c partial[c]` (the first `p` elements of each `slot`-element slot), chunk by
/// chunk in order (the fixed order makes threads irrelevant).
fn reduce_in_order<T: Real>(gp: &mut [T], partial: &[T], p: usize, slot: usize) {
    if p == 0 {
        return;
    }
    for chunk in partial.chunks(slot) {
        for (g, &v) in gp.iter_mut().zip(chunk) {
            *g += v;
        }
    }
}
