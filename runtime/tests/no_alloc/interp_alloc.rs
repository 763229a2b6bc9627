//! Interpreted `eval`, `vjp`, `eval_taped` and `backward_taped` must not touch the heap after
//! warm-up. A counting global allocator counts the allocation calls made by this test's own
//! thread while counting is switched on.

use symplode_codegen::ad::{LinearOp, Trace};
use symplode_codegen::ir::{Activation, Graph, GraphBuilder};
use symplode_runtime::interp::{Interpreted, cnf, energy};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real};

use crate::thread_alloc::count;

/// Runs the four methods twice (warm-up, then counted); asserts the second round is clean.
fn assert_no_alloc<T: Real>(what: &str, m: &Interpreted<T>, batch: usize) {
    let d = m.dim();
    let mut rng = Rng::new(1);
    let x: Vec<T> = (0..batch * d).map(|_| T::of(0.5 * rng.normal())).collect();
    let lam: Vec<T> = (0..batch * d).map(|_| T::of(rng.normal())).collect();
    let mut dx = vec![T::zero(); batch * d];
    let mut gx = vec![T::zero(); batch * d];
    let mut gp = vec![T::zero(); m.n_params()];
    let mut scratch = vec![T::zero(); m.scratch_len(batch)];
    let mut tape = vec![T::zero(); m.tape_len(batch)];
    let t = T::of(0.5);
    for round in 0..2 {
        let counts = [
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
        if round == 1 {
            for (method, (calls, bytes)) in counts {
                assert_eq!(
                    calls,
                    0,
                    "{what} ({}): {method} made {calls} allocation calls ({bytes} B)",
                    T::NAME
                );
            }
        }
    }
    assert!(dx.iter().chain(&gx).all(|v| v.is_finite()), "{what}");
}

fn params<T: Real>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| T::of(0.3 * rng.uniform_range(-1.0, 1.0)))
        .collect()
}

fn mlp<T: Real>(act: Activation, time: bool) -> Interpreted<T> {
    let g = Graph::mlp(8, &[64, 64], act, time).unwrap();
    let n = g.param_len();
    Interpreted::new(g, params(n, 2)).unwrap()
}

#[test]
fn interpreted_evaluations_do_not_allocate() {
    let (calls, bytes) = count(|| drop(std::hint::black_box(vec![0u8; 1000])));
    assert_eq!((calls, bytes), (1, 1000));

    for act in [Activation::Tanh, Activation::Silu, Activation::Relu] {
        for time in [true, false] {
            let what = format!("mlp {act} time={time}");
            assert_no_alloc(&what, &mlp::<f64>(act, time), 256);
            assert_no_alloc(&what, &mlp::<f32>(act, time), 256);
        }
    }

    let f = Graph::concat_squash_mlp(2, &[16, 16], Activation::Tanh).unwrap();
    assert_no_alloc(
        "cnf exact",
        &cnf::<f64>(&f, Trace::Exact, params(f.param_len(), 3)).unwrap(),
        128,
    );
    let mut h = cnf::<f64>(&f, Trace::Hutchinson, params(f.param_len(), 3)).unwrap();
    h.set_aux(1, &vec![1.0; 128 * 2]).unwrap();
    assert_no_alloc("cnf hutchinson", &h, 128);

    let n = 16;
    let mut b = GraphBuilder::new();
    let z = b.input("z", n).unwrap();
    let c = b
        .conv1d_layer(z, "conv0", n, 4, 3, Activation::Tanh, true)
        .unwrap();
    let c = b
        .conv1d_layer(c, "conv1", n, 1, 3, Activation::Identity, false)
        .unwrap();
    let e = b.unary(symplode_codegen::ir::UnaryOp::Square, c).unwrap();
    let hg = b.finish(&[e]).unwrap();
    let op = LinearOp::central_difference(n, 0.1);
    assert_no_alloc(
        "energy",
        &energy::<f64>(&hg, &op, params(hg.param_len(), 4)).unwrap(),
        64,
    );
}
