//! Timings (ignored by default; run with
//! `cargo test --release -p symplode-runtime --test suite models_perf:: -- --ignored --nocapture`).
//!
//! Prints GFLOP/s of the no-allocation kernel against the `gemm` crate for the three products an
//! MLP layer needs, and µs per `eval` / `vjp` / `eval_taped` / `backward_taped`.

use std::hint::black_box;
use std::time::Instant;

use symplode_runtime::linalg::matmul::{MatMut, MatRef, matmul};
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real};

/// Best-of-`reps` seconds per call of `f`, each rep running `inner` calls.
fn best(reps: usize, inner: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..inner {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / inner as f64);
    }
    b
}

fn products<T: Real>(m: usize, h: usize) {
    let mut rng = Rng::new(3);
    let x: Vec<T> = (0..m * h).map(|_| T::of(rng.normal())).collect();
    let w: Vec<T> = (0..h * h).map(|_| T::of(rng.normal())).collect();
    let mut c = vec![T::zero(); m * h];
    let mut gw = vec![T::zero(); h * h];
    let flops = 2.0 * (m * h * h) as f64;
    let g = |s: f64| flops / s / 1e9;
    // Y = X Wᵀ
    let ours_f = best(7, 200, || {
        matmul(
            MatMut::row_major(&mut c, m, h),
            MatRef::row_major(&x, m, h),
            MatRef::row_major(&w, h, h).t(),
            true,
        );
        black_box(&c);
    });
    let gemm_f = best(7, 200, || unsafe {
        gemm::gemm(
            m,
            h,
            h,
            c.as_mut_ptr(),
            1,
            h as isize,
            true,
            x.as_ptr(),
            1,
            h as isize,
            w.as_ptr(),
            h as isize,
            1,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        black_box(&c);
    });
    // G = Δ W
    let ours_b = best(7, 200, || {
        matmul(
            MatMut::row_major(&mut c, m, h),
            MatRef::row_major(&x, m, h),
            MatRef::row_major(&w, h, h),
            false,
        );
        black_box(&c);
    });
    let gemm_b = best(7, 200, || unsafe {
        gemm::gemm(
            m,
            h,
            h,
            c.as_mut_ptr(),
            1,
            h as isize,
            false,
            x.as_ptr(),
            1,
            h as isize,
            w.as_ptr(),
            1,
            h as isize,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        black_box(&c);
    });
    // dW += Δᵀ X
    let ours_w = best(7, 200, || {
        matmul(
            MatMut::row_major(&mut gw, h, h),
            MatRef::row_major(&x, m, h).t(),
            MatRef::row_major(&c, m, h),
            true,
        );
        black_box(&gw);
    });
    let gemm_w = best(7, 200, || unsafe {
        gemm::gemm(
            h,
            h,
            m,
            gw.as_mut_ptr(),
            1,
            h as isize,
            true,
            x.as_ptr(),
            h as isize,
            1,
            c.as_ptr(),
            1,
            h as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        black_box(&gw);
    });
    println!(
        "{} {m}x{h}x{h} GFLOP/s  X·Wᵀ ours {:.1} gemm {:.1} | Δ·W ours {:.1} gemm {:.1} | Δᵀ·X ours {:.1} gemm {:.1}",
        T::NAME,
        g(ours_f),
        g(gemm_f),
        g(ours_b),
        g(gemm_b),
        g(ours_w),
        g(gemm_w)
    );
}

fn mlp<T: Real>(batch: usize, dim: usize, hidden: Vec<usize>, act: Activation, time: bool) {
    let cfg = MlpConfig::new(dim, hidden.clone(), act, time);
    let m: Mlp<T> = Mlp::new(cfg, 1).unwrap();
    let mut rng = Rng::new(2);
    let x: Vec<T> = (0..batch * dim).map(|_| T::of(rng.normal())).collect();
    let lam: Vec<T> = (0..batch * dim).map(|_| T::of(rng.normal())).collect();
    let mut dx = vec![T::zero(); batch * dim];
    let mut gx = vec![T::zero(); batch * dim];
    let mut gp = vec![T::zero(); m.n_params()];
    let mut scratch = vec![T::zero(); m.scratch_len(batch)];
    let mut tape = vec![T::zero(); m.tape_len(batch)];
    let t = T::of(0.3);
    let e = best(7, 100, || m.eval(t, &x, &mut dx, &mut scratch));
    let v = best(7, 100, || {
        m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch)
    });
    let et = best(7, 100, || m.eval_taped(t, &x, &mut dx, &mut tape));
    let bt = best(7, 100, || {
        m.backward_taped(t, &x, &tape, &lam, &mut gx, &mut gp, &mut scratch)
    });
    println!(
        "{} batch {batch} dim {dim} hidden {hidden:?} {act} time={time}: eval {:.1} µs, vjp {:.1} µs, eval_taped {:.1} µs, backward_taped {:.1} µs",
        T::NAME,
        e * 1e6,
        v * 1e6,
        et * 1e6,
        bt * 1e6
    );
}

#[test]
#[ignore]
fn timings() {
    for h in [64, 128] {
        products::<f64>(256, h);
        products::<f32>(256, h);
    }
    products::<f64>(1024, 128);
    for act in [Activation::Tanh, Activation::Relu, Activation::Silu] {
        mlp::<f64>(256, 2, vec![64, 64], act, true);
    }
    mlp::<f64>(256, 64, vec![64, 64], Activation::Tanh, true);
    mlp::<f32>(256, 2, vec![64, 64], Activation::Tanh, true);
    mlp::<f32>(256, 64, vec![64, 64], Activation::Tanh, true);
}
