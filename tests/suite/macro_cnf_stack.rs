//! `neural_ode!`'s `form: cnf(TRACE, blocks: M, time_length: T)`: FFJORD's tabular flow (M
//! stacked CNF blocks of one ConcatSquash MLP) declared in the DSL, against a reference chain
//! built here from `runtime::interp::cnf` models initialised as the library does
//! (`train::flow::init_params(&f, seed + b)`, as `examples/common/tabular.rs`): parameters and
//! graphs, every block's eval/VJP/taped passes bit for bit, the chained problem's loss,
//! states and gradients under the symplectic adjoint and backprop bit for bit (generated code
//! and step kernels against the interpreter and the interpreted scheme); the exact-trace twin
//! likewise and against the Hutchinson blocks summed over a basis of probes; every exact
//! gradient method against backprop; an f32 flow; `from_params`' errors; a 3-D exact stack
//! through every pass (a regression of the lowering).

use crate::passes::{assert_runs_equal, wave, worst_rel};
use symplode::codegen::ad::{Trace, cnf_dynamics};
use symplode::codegen::ir::{Activation, Graph};
use symplode::neural_ode;
use symplode::prelude::*;
use symplode::runtime::grad::Component;
use symplode::runtime::interp::{Interpreted, cnf};
use symplode::runtime::models::image_flow::nll_loss;
use symplode::runtime::rng::Rng;
use symplode::train::flow::init_params;

neural_ode! {
    /// FFJORD's tabular flow on 2-D samples: two Hutchinson CNF blocks of ConcatSquash 4-4
    /// (tanh), each over half a time unit.
    struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(4, tanh), concat_squash(4, tanh), concat_squash(2)],
        form: cnf(hutchinson, blocks: 2, time_length: 1/2),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

neural_ode! {
    /// The same net as two exact-trace blocks over `[0, 1]`, `[1, 2]` (the default T = 1).
    struct Tabular {
        float: f64,
        dim: 2,
        layers: [concat_squash(4, tanh), concat_squash(4, tanh), concat_squash(2)],
        form: cnf(exact, blocks: 2),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

neural_ode! {
    /// [`Flow`] in single precision.
    struct Flow32 {
        float: f32,
        dim: 2,
        layers: [concat_squash(4, tanh), concat_squash(4, tanh), concat_squash(2)],
        form: cnf(hutchinson, blocks: 2, time_length: 0.5),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

neural_ode! {
    /// Two exact-trace blocks on 3-D samples, one softplus layer: a plan step reading one
    /// operand twice (the lowering once took it twice mutably and panicked in `eval_taped`).
    struct Tabular3 {
        float: f64,
        dim: 3,
        layers: [concat_squash(8, softplus), concat_squash(3)],
        form: cnf(exact, blocks: 2),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

/// Sample dimension.
const D: usize = 2;

/// One block's net `f(z, t)`, as the library builds FFJORD's tabular net.
fn field() -> Graph {
    Graph::concat_squash_mlp(D, &[4, 4], Activation::Tanh).unwrap()
}

/// The reference chain: block `b` an interpreted CNF with the library's initialisation from
/// `seed + b`.
fn reference<T: Real>(seed: u64, trace: Trace) -> Vec<Interpreted<T>> {
    (0..2)
        .map(|b| {
            let init = init_params(&field(), seed + b)
                .into_iter()
                .map(T::of)
                .collect();
            cnf::<T>(&field(), trace, init).unwrap()
        })
        .collect()
}

/// Gaussian probes drawn block by block from `Rng::new(seed)`, as `draw_probes` documents.
fn reference_probes<T: Real>(blocks: &mut [Interpreted<T>], batch: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for m in blocks {
        let eps: Vec<T> = (0..batch * D).map(|_| T::of(rng.normal())).collect();
        m.set_aux(1, &eps).unwrap();
    }
}

/// The reference chained problem: block `b` over `[b·t, (b+1)·t]`.
fn chain<'a, T: Real>(
    blocks: &'a [Interpreted<T>],
    scheme: &'a Scheme<T>,
    t: f64,
    x0: &'a [T],
) -> Problem<'a, T> {
    Problem {
        chain: blocks
            .iter()
            .enumerate()
            .map(|(b, m)| Component {
                dynamics: m as &dyn Dynamics<T>,
                times: vec![b as f64 * t, (b + 1) as f64 * t],
            })
            .collect(),
        scheme,
        stepping: Stepping::fixed(2),
        x0,
    }
}

fn nll(o: &Outputs<f64>, c: &mut Outputs<f64>) -> f64 {
    nll_loss::<f64>(o, c, D)
}

/// `[z, log p]` rows for `batch` samples.
fn x0(batch: usize) -> Vec<f64> {
    wave(batch * (D + 1), 0.61, 0.3)
}

#[test]
fn the_flow_has_the_reference_blocks_graphs_and_initialisation() {
    let flow = Flow::new(5);
    let lib = reference::<f64>(5, Trace::Hutchinson);
    assert_eq!((Flow::DIM, Flow::N_BLOCKS, Flow::TIME_LENGTH), (3, 2, 0.5));
    assert_eq!(Tabular::TIME_LENGTH, 1.0);
    assert_eq!(Flow::N_PARAMS, 2 * field().param_len());
    assert_eq!(flow.n_params(), Flow::N_PARAMS);
    assert_eq!(flow.blocks().len(), 2);
    for (b, r) in lib.iter().enumerate() {
        let fb = flow.block(b).unwrap();
        assert_eq!(fb.param_tensors(), r.param_tensors(), "block {b}");
        assert_eq!(fb.params(), r.params(), "block {b}: init from seed 5 + {b}");
        assert_eq!(fb.dim(), 3);
    }
    assert!(flow.block(2).is_none());
    assert_eq!(
        Flow::graph(),
        cnf_dynamics(&field(), Trace::Hutchinson).unwrap()
    );
    assert_eq!(FlowBlock::graph(), Flow::graph());
    let exact = cnf_dynamics(&field(), Trace::Exact).unwrap();
    assert_eq!(FlowExact::graph(), exact);
    assert_eq!(Tabular::graph(), exact);
    // The exact twin carries the flow's parameters; an exact stack's init is the same.
    let twin = flow.exact();
    let tab = Tabular::new(5);
    for b in 0..2 {
        assert_eq!(twin.block(b).unwrap().params(), lib[b].params());
        assert_eq!(tab.block(b).unwrap().params(), lib[b].params());
    }
    assert_eq!(FlowExact::new(5), twin);
}

#[test]
fn every_block_evaluates_as_interp_cnf_bit_for_bit() {
    for batch in [1, 3] {
        let mut flow = Flow::new(3);
        let mut lib = reference::<f64>(3, Trace::Hutchinson);
        flow.draw_probes(batch, &mut Rng::new(4)).unwrap();
        reference_probes(&mut lib, batch, 4);
        for (b, r) in lib.iter().enumerate() {
            assert_eq!(flow.aux(b, 1), r.aux(1), "block {b}: probes");
            assert_runs_equal(flow.block(b).unwrap(), r, batch, &format!("Flow block {b}"));
        }
        assert!(flow.aux(2, 1).is_empty());
        let (twin, tab) = (flow.exact(), Tabular::new(3));
        for (b, r) in reference::<f64>(3, Trace::Exact).iter().enumerate() {
            assert_runs_equal(twin.block(b).unwrap(), r, batch, &format!("twin block {b}"));
            assert_runs_equal(
                tab.block(b).unwrap(),
                r,
                batch,
                &format!("Tabular block {b}"),
            );
        }
    }
}

#[test]
fn the_twin_gives_the_exact_trace_of_the_hutchinson_blocks() {
    // −εᵀJε summed over the basis probes e_1, e_2 is −tr J: the twin's log p rate.
    let mut flow = Flow::new(9);
    let twin = flow.exact();
    let x = wave(D + 1, 0.7, 0.2);
    for b in 0..2 {
        let mut exact = vec![0.0; D + 1];
        let e = twin.block(b).unwrap();
        e.eval(0.4, &x, &mut exact, &mut vec![0.0; e.scratch_len(1)]);
        let (mut sum, mut size) = (0.0, 0.0);
        for k in 0..D {
            let mut eps = vec![0.0; D];
            eps[k] = 1.0;
            let h = flow.block_mut(b).unwrap();
            h.set_aux(1, &eps).unwrap();
            let mut dx = vec![0.0; D + 1];
            h.eval(0.4, &x, &mut dx, &mut vec![0.0; h.scratch_len(1)]);
            assert_eq!(dx[..D], exact[..D], "block {b}: dz/dt");
            sum += dx[D];
            size += dx[D].abs();
        }
        assert!(exact[D].abs() > 1e-5, "block {b}: tr J = {}", -exact[D]);
        assert!(
            (sum - exact[D]).abs() <= 1e-14 * size,
            "block {b}: Σ Hutchinson {sum} vs exact {}",
            exact[D]
        );
    }
}

#[test]
fn the_chained_gradient_is_the_reference_chains_bit_for_bit() {
    let batch = 3;
    let x0 = x0(batch);
    let (fs, ls) = (
        Flow::scheme().unwrap(),
        Scheme::<f64>::builtin("rk4").unwrap(),
    );
    assert!(fs.is_compiled());
    let mut flow = Flow::new(8);
    let mut lib = reference::<f64>(8, Trace::Hutchinson);
    flow.draw_probes(batch, &mut Rng::new(9)).unwrap();
    reference_probes(&mut lib, batch, 9);
    let (twin, tab) = (flow.exact(), Tabular::new(8));
    let lib_exact = reference::<f64>(8, Trace::Exact);
    let cases = [
        (
            "Flow",
            flow.problem(&fs, &Flow::stepping(), &x0),
            chain(&lib, &ls, 0.5, &x0),
        ),
        (
            "Flow::exact",
            twin.problem(&fs, &FlowExact::stepping(), &x0),
            chain(&lib_exact, &ls, 0.5, &x0),
        ),
        (
            "Tabular",
            tab.problem(&fs, &Tabular::stepping(), &x0),
            chain(&lib_exact, &ls, 1.0, &x0),
        ),
    ];
    let methods: [&dyn GradientMethod<f64>; 2] = [&SymplecticAdjoint, &Backprop];
    for (what, fp, lp) in &cases {
        assert_eq!(fp.chain.len(), 2);
        for (a, b) in fp.chain.iter().zip(&lp.chain) {
            assert_eq!(a.times, b.times, "{what}");
        }
        for method in methods {
            let g = method.gradient(fp, &mut nll).unwrap();
            let r = method.gradient(lp, &mut nll).unwrap();
            let m = method.name();
            assert!(g.loss.is_finite(), "{what}, {m}");
            assert_eq!(g.loss.to_bits(), r.loss.to_bits(), "{what}, {m}");
            assert_eq!(g.outputs, r.outputs, "{what}, {m}");
            assert_eq!(g.dx0, r.dx0, "{what}, {m}");
            assert_eq!(g.dtheta, r.dtheta, "{what}, {m}");
            assert!(g.dtheta.iter().all(|d| d.iter().any(|v| v.abs() > 1e-8)));
        }
    }
    // `problem_over` moves the blocks' intervals.
    let p = flow.problem_over(&fs, &Flow::stepping(), &x0, 2.0);
    assert_eq!(p.chain[1].times, vec![2.0, 4.0]);
}

#[test]
fn exact_gradient_methods_equal_backprop_on_the_macro_flows() {
    let batch = 2;
    let x0 = x0(batch);
    let scheme = Flow::scheme().unwrap();
    let mut flow = Flow::new(1);
    flow.draw_probes(batch, &mut Rng::new(2)).unwrap();
    let (twin, tab) = (flow.exact(), Tabular::new(1));
    let problems = [
        ("Flow", flow.problem(&scheme, &Flow::stepping(), &x0)),
        ("Flow::exact", twin.problem(&scheme, &Flow::stepping(), &x0)),
        ("Tabular", tab.problem(&scheme, &Tabular::stepping(), &x0)),
    ];
    let methods: [&dyn GradientMethod<f64>; 4] = [
        &SymplecticAdjoint,
        &SymplecticAdjointStored,
        &CheckpointStep,
        &CheckpointComponent,
    ];
    for (what, problem) in &problems {
        let reference = Backprop.gradient(problem, &mut nll).unwrap();
        for method in methods {
            let g = method.gradient(problem, &mut nll).unwrap();
            let r = worst_rel(&g, &reference);
            assert!(r <= 1e-12, "{what}, {}: {r:e} from backprop", method.name());
        }
    }
}

#[test]
fn an_f32_flow_runs_as_the_f32_reference() {
    let batch = 2;
    let mut flow = Flow32::new(6);
    let mut lib = reference::<f32>(6, Trace::Hutchinson);
    flow.draw_probes(batch, &mut Rng::new(7)).unwrap();
    reference_probes(&mut lib, batch, 7);
    let x0: Vec<f32> = x0(batch).iter().map(|&v| v as f32).collect();
    let (fs, ls) = (
        Flow32::scheme().unwrap(),
        Scheme::<f32>::builtin("rk4").unwrap(),
    );
    let mut loss = |o: &Outputs<f32>, c: &mut Outputs<f32>| nll_loss::<f32>(o, c, D);
    let g = SymplecticAdjoint
        .gradient(&flow.problem(&fs, &Flow32::stepping(), &x0), &mut loss)
        .unwrap();
    let r = SymplecticAdjoint
        .gradient(&chain(&lib, &ls, 0.5, &x0), &mut loss)
        .unwrap();
    assert!(g.loss.is_finite() && g.dx0.iter().all(|v| v.is_finite()));
    assert_eq!(g.dx0, r.dx0);
    assert_eq!(g.dtheta, r.dtheta);
    // The f32 twin runs too.
    let twin = flow.exact();
    let e = SymplecticAdjoint
        .gradient(&twin.problem(&fs, &Flow32::stepping(), &x0), &mut loss)
        .unwrap();
    assert!(e.loss.is_finite());
}

#[test]
fn from_params_names_the_block_and_refuses_bad_vectors() {
    let flow = Flow::new(0);
    let params: Vec<Vec<f64>> = flow.blocks().iter().map(|b| b.params().to_vec()).collect();
    assert_eq!(Flow::from_params(params.clone()).unwrap(), flow);
    let e = Flow::from_params(params[..1].to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected 2 parameter vectors, one per block, got 1"),
        "{e}"
    );
    let mut short = params.clone();
    short[1].pop();
    let e = Flow::from_params(short).unwrap_err().to_string();
    assert!(e.starts_with("Flow (block 1): expected"), "{e}");
    let mut nan = params.clone();
    nan[1][0] = f64::NAN;
    let e = FlowExact::from_params(nan).unwrap_err().to_string();
    assert!(
        e.starts_with("FlowExact (block 1): parameter `layers.0._layer.weight`"),
        "{e}"
    );
    let e = Tabular::from_params(vec![params[0].clone(); 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("got 3"), "{e}");
}

#[test]
fn a_3d_exact_stack_runs_every_pass_as_the_interpreter() {
    let flow = Tabular3::new(4);
    let f = Graph::concat_squash_mlp(3, &[8], Activation::Softplus).unwrap();
    for (b, block) in flow.blocks().iter().enumerate() {
        assert_eq!(block.params(), init_params(&f, 4 + b as u64));
        let r = cnf::<f64>(&f, Trace::Exact, block.params().to_vec()).unwrap();
        for batch in [1, 3] {
            assert_runs_equal(block, &r, batch, &format!("Tabular3 block {b}"));
        }
    }
    let x0 = wave(2 * Tabular3::DIM, 0.41, 0.6);
    let scheme = Tabular3::scheme().unwrap();
    let problem = flow.problem(&scheme, &Tabular3::stepping(), &x0);
    let mut loss = |o: &Outputs<f64>, c: &mut Outputs<f64>| nll_loss::<f64>(o, c, 3);
    let reference = Backprop.gradient(&problem, &mut loss).unwrap();
    let g = SymplecticAdjoint.gradient(&problem, &mut loss).unwrap();
    let r = worst_rel(&g, &reference);
    assert!(r <= 1e-12, "symplectic adjoint: {r:e} from backprop");
}
