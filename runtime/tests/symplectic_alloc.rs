//! The symplectic backward sweep allocates nothing per step: the number of heap allocations
//! after the forward pass does not depend on the number of steps.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use symplode_runtime::grad::{GradientMethod, Outputs, Problem, losses};
use symplode_runtime::parallel::Chunked;
use symplode_runtime::{Stepping, SymplecticAdjoint};

struct Counting;
/// Allocations of every thread (the rayon path allocates on worker threads).
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations of the calling thread only: libtest's main thread may allocate while a test
    /// runs (STACK.md §6), which a process-wide count would see now and then.
    static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count() {
    ALLOCS.fetch_add(1, Ordering::SeqCst);
    let _ = MINE.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made after the loss was evaluated (i.e. by the backward sweep): by this thread
/// alone on the plain path, by every thread on a rayon pool.
fn backward_allocations(name: &str, steps: usize, threads: Option<usize>) -> usize {
    let now = || {
        if threads.is_some() {
            ALLOCS.load(Ordering::SeqCst)
        } else {
            MINE.with(|c| c.get())
        }
    };
    let sch = scheme::<f64>(name);
    let plain = mlp::<f64>(2, 16, 4);
    let chunked = threads.map(|n| {
        Chunked::new(mlp::<f64>(2, 16, 4), 16)
            .and_then(|c| c.with_threads(n))
            .expect("chunked")
    });
    let net: &dyn symplode_runtime::Dynamics<f64> = match &chunked {
        None => &plain,
        Some(c) => c,
    };
    let x0 = random_state::<f64>(2 * 64, 4);
    let problem = Problem::single(net, &[0.0, 0.5, 1.0], &sch, Stepping::fixed(steps), &x0);
    let mut at_loss = 0;
    let mut inner = losses::mean_sq_final::<f64>(2);
    let mut loss = |o: &Outputs<f64>, c: &mut Outputs<f64>| {
        let v = inner(o, c);
        at_loss = now();
        v
    };
    let r = SymplecticAdjoint
        .gradient(&problem, &mut loss)
        .expect("gradient");
    let end = now();
    drop(r);
    end - at_loss
}

#[test]
fn symplectic_backward_sweep_allocates_nothing_per_step() {
    for name in ["rk4", "dopri5", "dopri8"] {
        let _warm = backward_allocations(name, 2, None);
        let few = backward_allocations(name, 5, None);
        let many = backward_allocations(name, 200, None);
        assert_eq!(
            few, many,
            "{name}: backward allocations grow with steps ({few} vs {many})"
        );
    }
    // On a rayon pool the sweep itself still allocates nothing, but rayon's work-stealing
    // queues allocate now and then; bound it well below one allocation per step.
    let _warm = backward_allocations("rk4", 2, Some(2));
    let few = backward_allocations("rk4", 5, Some(2));
    let many = backward_allocations("rk4", 200, Some(2));
    assert!(
        many - few < 195 / 2,
        "rayon path: {few} vs {many} allocations"
    );
}
