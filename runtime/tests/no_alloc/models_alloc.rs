//! `eval`, `vjp`, `eval_taped` and `backward_taped` must not touch the heap (the memory
//! accounting of the gradient methods relies on it). A counting global allocator counts the
//! allocation calls made by the current thread while counting is switched on, so allocations
//! by libtest's other threads do not interfere.

use symplode_runtime::models::{
    Activation, ExpDecay, HarmonicOscillator, LinearOde, Mlp, MlpConfig,
};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real};

use crate::thread_alloc::count;

/// A `gemm::gemm` call shape: name, rows of C, lhs col/row strides, rhs, rhs col/row strides, k.
type GemmForm<'a> = (
    &'static str,
    usize,
    isize,
    isize,
    &'a [f64],
    isize,
    isize,
    usize,
);

/// Runs the four methods twice (warm-up, then counted) and returns the counts per method.
fn measure<T: Real, D: Dynamics<T>>(m: &D, batch: usize) -> [(&'static str, (usize, usize)); 4] {
    let d = m.dim();
    let mut rng = Rng::new(1);
    let x: Vec<T> = (0..batch * d).map(|_| T::of(rng.normal())).collect();
    let lam: Vec<T> = (0..batch * d).map(|_| T::of(rng.normal())).collect();
    let mut dx = vec![T::zero(); batch * d];
    let mut gx = vec![T::zero(); batch * d];
    let mut gp = vec![T::zero(); m.n_params()];
    let mut scratch = vec![T::zero(); m.scratch_len(batch)];
    let mut tape = vec![T::zero(); m.tape_len(batch)];
    let t = T::of(0.5);
    let mut out = [("", (0, 0)); 4];
    for _ in 0..2 {
        out = [
            ("eval", count(|| m.eval(t, &x, &mut dx, &mut scratch))),
            (
                "vjp",
                count(|| m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch)),
            ),
            (
                "eval_taped",
                count(|| m.eval_taped(t, &x, &mut dx, &mut tape)),
            ),
            (
                "backward_taped",
                count(|| m.backward_taped(t, &x, &tape, &lam, &mut gx, &mut gp, &mut scratch)),
            ),
        ];
    }
    out
}

fn assert_no_alloc<T: Real, D: Dynamics<T>>(what: &str, m: &D, batch: usize) {
    for (method, (calls, bytes)) in measure(m, batch) {
        assert_eq!(
            calls,
            0,
            "{what} ({}): {method} made {calls} allocation calls ({bytes} B)",
            T::NAME
        );
    }
}

#[test]
fn evaluations_and_vjps_do_not_allocate() {
    // The counter works.
    let (calls, bytes) = count(|| drop(std::hint::black_box(vec![0u8; 1000])));
    assert_eq!((calls, bytes), (1, 1000));

    for act in [Activation::Tanh, Activation::Silu, Activation::Relu] {
        for time in [true, false] {
            let cfg = MlpConfig::new(8, vec![64, 64], act, time);
            let what = format!("Mlp {act} time={time}");
            assert_no_alloc(&what, &Mlp::<f64>::new(cfg.clone(), 1).unwrap(), 256);
            assert_no_alloc(&what, &Mlp::<f32>::new(cfg, 1).unwrap(), 256);
        }
    }
    assert_no_alloc(
        "Mlp dim 2",
        &Mlp::<f64>::new(MlpConfig::new(2, vec![64, 64], Activation::Tanh, true), 2).unwrap(),
        256,
    );
    assert_no_alloc(
        "Mlp no hidden",
        &Mlp::<f64>::new(MlpConfig::new(5, vec![], Activation::Tanh, true), 2).unwrap(),
        256,
    );
    assert_no_alloc(
        "ExpDecay",
        &ExpDecay::<f64>::new(vec![0.5, 1.0, 2.0]).unwrap(),
        256,
    );
    assert_no_alloc(
        "HarmonicOscillator",
        &HarmonicOscillator::<f64>::new(1.3).unwrap(),
        256,
    );
    assert_no_alloc(
        "LinearOde",
        &LinearOde::<f64>::from_params(2, vec![0.0, 1.0, -1.0, -0.1]).unwrap(),
        256,
    );

    // For the record: the `gemm` crate (0.19) allocates on every call of its general path
    // (a pack-tracking `vec!` and, when it packs B, a `MemBuffer`), which is why the models use
    // `linalg::matmul` instead. Forms: X·Wᵀ, Δ·W, Δᵀ·X at 256 × 64 × 64.
    let (m, h) = (256usize, 64usize);
    let x = vec![1.0f64; m * h];
    let w = vec![1.0f64; h * h];
    let mut c = vec![0.0f64; m * h];
    let hi = h as isize;
    #[rustfmt::skip]
    let forms: [GemmForm<'_>; 3] = [
        // name, rows of C, lhs (= X or Δ, m × h storage) col/row strides, rhs, its strides, k
        ("X·Wᵀ", m, 1, hi, &w, hi, 1, h),
        ("Δ·W", m, 1, hi, &w, 1, hi, h),
        ("Δᵀ·X", h, hi, 1, &x, 1, hi, m),
    ];
    for (name, rows, lcs, lrs, rhs, rcs, rrs, k) in forms {
        let mut run = || unsafe {
            gemm::gemm(
                rows,
                h,
                k,
                c.as_mut_ptr(),
                1,
                hi,
                false,
                x.as_ptr(),
                lcs,
                lrs,
                rhs.as_ptr(),
                rcs,
                rrs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        run();
        let (calls, bytes) = count(run);
        eprintln!("gemm 0.19 {name} (after warm-up): {calls} allocation calls, {bytes} B per call");
    }
}
