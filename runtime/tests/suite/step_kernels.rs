//! Attached step kernels are what every method runs: a counting kernel source gives the same
//! gradients as the interpreted loops and sees every kind of call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::step_kernels::StepKernels;
use symplode_runtime::{Real, Scheme, Stepping};

/// Delegates to an interpreted copy of the scheme and counts calls per kernel.
struct Counting<T: Real> {
    inner: Scheme<T>,
    calls: [AtomicUsize; 4],
}

impl<T: Real> StepKernels<T> for Counting<T> {
    fn stage_input(&self, i: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        self.calls[0].fetch_add(1, Ordering::Relaxed);
        self.inner.stage_input(i, h, x, k, out)
    }
    fn update(&self, m: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        self.calls[1].fetch_add(1, Ordering::Relaxed);
        self.inner.update(m, h, x, k, out)
    }
    fn error_estimate(&self, h: T, k: &[Vec<T>], out: &mut [T]) {
        self.calls[2].fetch_add(1, Ordering::Relaxed);
        self.inner.error_estimate(h, k, out)
    }
    fn adjoint_cotangent(&self, i: usize, h: T, lam: &[T], u: &[Vec<T>], out: &mut [T]) {
        self.calls[3].fetch_add(1, Ordering::Relaxed);
        self.inner.adjoint_cotangent(i, h, lam, u, out)
    }
}

#[test]
fn attached_kernels_run_in_every_method() {
    for name in ["bosh3", "heun2"] {
        check(name);
    }
}

fn check(name: &str) {
    let plain = scheme::<f64>(name);
    let counting = Arc::new(Counting {
        inner: plain.clone(),
        calls: Default::default(),
    });
    let compiled = plain.clone().with_kernels(counting.clone());
    assert!(compiled.is_compiled() && !plain.is_compiled());
    let net = mlp::<f64>(2, 8, 1);
    let x0 = random_state::<f64>(8, 2);
    for stepping in [Stepping::fixed(3), Stepping::adaptive(1e-6, 1e-8)] {
        for method in all_methods::<f64>() {
            let a = method
                .gradient(
                    &Problem::single(&net, &[0.0, 1.0], &plain, stepping.clone(), &x0),
                    &mut losses::mean_sq_final(2),
                )
                .expect("interpreted");
            let b = method
                .gradient(
                    &Problem::single(&net, &[0.0, 1.0], &compiled, stepping.clone(), &x0),
                    &mut losses::mean_sq_final(2),
                )
                .expect("attached");
            assert_eq!(a.dx0, b.dx0, "{}", method.name());
            assert_eq!(a.dtheta, b.dtheta, "{}", method.name());
        }
    }
    let calls: Vec<usize> = counting
        .calls
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    // FSAL tableaux take x_{n+1} from the last stage input, so `update` runs for heun2 only.
    let expect_update = name == "heun2";
    assert!(
        calls[0] > 0 && calls[2] > 0 && calls[3] > 0,
        "{name}: {calls:?}"
    );
    assert_eq!(calls[1] > 0, expect_update, "{name}: {calls:?}");
}
