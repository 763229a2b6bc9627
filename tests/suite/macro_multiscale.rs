//! `neural_ode!`'s `form: multiscale(scales: S, blocks: B)`: FFJORD's multiscale image flow
//! declared in the DSL against the library's `runtime::models::image_flow::ImageFlow` on the
//! same configuration — the same blocks, graphs and initialisation, every block's evaluation,
//! VJP and taped passes bit for bit, the chained problem's gradient bit for bit (generated
//! blocks and step kernels against interpreted ones); the JIT on each block's graph bit for
//! bit; every exact gradient method against
//! backprop on the macro flow; an f32 flow; the flow's parameter errors.

use crate::passes::{run, wave, worst_rel};
use symplode::codegen::ad::{Trace, cnf_dynamics};
use symplode::codegen::ir::image_flow::architecture;
use symplode::neural_ode;
use symplode::prelude::*;
use symplode::runtime::models::image_flow::{ImageFlow, ImageFlowConfig, nll_loss};
use symplode::runtime::rng::Rng;

neural_ode! {
    /// FFJORD's multiscale flow on 1 × 8 × 8 images: 2 scales, one block on each side of the
    /// squeeze, hidden channels 4-4 (blocks: 1 × 8 × 8, then 4 and 2 channels of 4 × 4 × 4).
    struct Flow {
        float: f64,
        shape: [1, 8, 8],
        layers: [
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: multiscale(scales: 2, blocks: 1),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

neural_ode! {
    /// [`Flow`] in single precision.
    struct Flow32 {
        float: f32,
        shape: [1, 8, 8],
        layers: [
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: multiscale(scales: 2, blocks: 1),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

/// Values per image.
const D: usize = 64;

/// The library's configuration of [`Flow`].
fn config() -> ImageFlowConfig {
    ImageFlowConfig {
        image: [1, 8, 8],
        scales: 2,
        blocks: 1,
        hidden: vec![4, 4],
    }
}

#[test]
fn the_flow_has_the_librarys_blocks_graphs_and_initialisation() {
    let lib = ImageFlow::<f64>::new(&config(), 5).unwrap();
    let flow = Flow::new(5);
    assert_eq!(Flow::N_BLOCKS, 3);
    assert_eq!(Flow::DIM, D + 1);
    assert_eq!(Flow::SPECS.to_vec(), architecture(1, 2, 1));
    assert_eq!(Flow::SPECS.as_slice(), lib.specs());
    assert_eq!(Flow::N_PARAMS, lib.n_params());
    assert_eq!(flow.n_params(), lib.n_params());
    assert_eq!(flow.blocks().len(), 3);
    for (b, lb) in lib.blocks().iter().enumerate() {
        let fb = flow.block(b).unwrap();
        assert_eq!(fb.param_tensors(), lb.param_tensors(), "block {b}");
        assert_eq!(
            fb.params(),
            lb.params(),
            "block {b}: init with seed 5 + {b}"
        );
        assert_eq!(fb.dim(), lb.dim());
        assert_eq!(Flow::field(b).as_ref(), Some(&lib.fields()[b]), "block {b}");
        let cnf = cnf_dynamics(&lib.fields()[b], Trace::Hutchinson).unwrap();
        assert_eq!(Flow::graph(b), Some(cnf), "block {b}");
    }
    assert!(flow.block(3).is_none() && Flow::field(3).is_none() && Flow::graph(3).is_none());
    assert_eq!(FlowBlock1::SPEC, lib.specs()[1]);
    assert_eq!(flow.block_2().params(), lib.blocks()[2].params());
}

#[test]
fn every_block_evaluates_as_the_librarys_bit_for_bit() {
    let batch = 2;
    let mut lib = ImageFlow::<f64>::new(&config(), 3).unwrap();
    let mut flow = Flow::new(3);
    lib.draw_probes(batch, &mut Rng::new(4)).unwrap();
    flow.draw_probes(batch, &mut Rng::new(4)).unwrap();
    for (b, lb) in lib.blocks().iter().enumerate() {
        assert_eq!(flow.aux(b, 1), lb.aux(1), "block {b}: probes");
        let (u, v) = (run(flow.block(b).unwrap(), batch), run(lb, batch));
        for (i, (p, q)) in u.iter().zip(&v).enumerate() {
            assert_eq!(p, q, "block {b}, output {i}: DSL flow ≠ library flow");
        }
    }
    assert!(flow.aux(3, 1).is_empty());
}

#[cfg(feature = "jit")]
#[test]
fn the_jit_on_each_block_graph_is_bit_equal_to_the_macro_block() {
    use symplode::runtime::interp::Interpreted;
    use symplode::runtime::jit::{JitNetwork, JitOptions};
    let opts = JitOptions {
        verify: true,
        ..JitOptions::default()
    };
    let batch = 2;
    let mut flow = Flow::new(2);
    flow.draw_probes(batch, &mut Rng::new(5)).unwrap();
    for b in 0..Flow::N_BLOCKS {
        let block = flow.block(b).unwrap();
        let mut interp =
            Interpreted::new(Flow::graph(b).unwrap(), block.params().to_vec()).unwrap();
        interp.set_aux(1, flow.aux(b, 1)).unwrap();
        let jit = JitNetwork::new(interp, &opts).unwrap();
        let (u, v) = (run(block, batch), run(&jit, batch));
        for (i, (p, q)) in u.iter().zip(&v).enumerate() {
            assert_eq!(p, q, "block {b}, output {i}: macro ≠ JIT");
        }
    }
}

fn nll(o: &Outputs<f64>, c: &mut Outputs<f64>) -> f64 {
    nll_loss::<f64>(o, c, D)
}

#[test]
fn the_chained_gradient_is_the_librarys_bit_for_bit() {
    let batch = 2;
    let mut lib = ImageFlow::<f64>::new(&config(), 8).unwrap();
    let mut flow = Flow::new(8);
    lib.draw_probes(batch, &mut Rng::new(9)).unwrap();
    flow.draw_probes(batch, &mut Rng::new(9)).unwrap();
    let x0 = wave(batch * Flow::DIM, 0.29, 0.3);
    let (fs, ls) = (
        Flow::scheme().unwrap(),
        Scheme::<f64>::builtin("rk4").unwrap(),
    );
    assert!(fs.is_compiled());
    let fp = flow.problem(&fs, &Flow::stepping(), &x0);
    let lp = lib.problem(&ls, &Stepping::fixed(2), &x0);
    assert_eq!(fp.chain.len(), 3);
    for (a, b) in fp.chain.iter().zip(&lp.chain) {
        assert_eq!(a.times, b.times);
    }
    let methods: [&dyn GradientMethod<f64>; 2] = [&SymplecticAdjoint, &Backprop];
    for method in methods {
        let g = method.gradient(&fp, &mut nll).unwrap();
        let r = method.gradient(&lp, &mut nll).unwrap();
        assert!(g.loss.is_finite());
        assert_eq!(g.loss.to_bits(), r.loss.to_bits(), "{}", method.name());
        assert_eq!(g.outputs, r.outputs, "{}", method.name());
        assert_eq!(g.dx0, r.dx0, "{}", method.name());
        assert_eq!(g.dtheta, r.dtheta, "{}", method.name());
        assert!(g.dtheta.iter().all(|d| d.iter().any(|v| v.abs() > 1e-8)));
    }
}

#[test]
fn exact_gradient_methods_equal_backprop_on_the_macro_flow() {
    let batch = 2;
    let mut flow = Flow::new(1);
    flow.draw_probes(batch, &mut Rng::new(2)).unwrap();
    let x0 = wave(batch * Flow::DIM, 0.31, 0.2);
    let scheme = Flow::scheme().unwrap();
    let problem = flow.problem(&scheme, &Flow::stepping(), &x0);
    let reference = Backprop.gradient(&problem, &mut nll).unwrap();
    let methods: [&dyn GradientMethod<f64>; 4] = [
        &SymplecticAdjoint,
        &SymplecticAdjointStored,
        &CheckpointStep,
        &CheckpointComponent,
    ];
    for method in methods {
        let g = method.gradient(&problem, &mut nll).unwrap();
        let r = worst_rel(&g, &reference);
        assert!(r <= 1e-12, "{}: {r:e} from backprop", method.name());
    }
}

#[test]
fn an_f32_flow_runs_as_the_f32_library_flow() {
    let batch = 2;
    let mut lib = ImageFlow::<f32>::new(&config(), 6).unwrap();
    let mut flow = Flow32::new(6);
    lib.draw_probes(batch, &mut Rng::new(7)).unwrap();
    flow.draw_probes(batch, &mut Rng::new(7)).unwrap();
    let x0: Vec<f32> = wave(batch * Flow32::DIM, 0.29, 0.3)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let (fs, ls) = (
        Flow32::scheme().unwrap(),
        Scheme::<f32>::builtin("rk4").unwrap(),
    );
    let fp = flow.problem(&fs, &Flow32::stepping(), &x0);
    let lp = lib.problem(&ls, &Stepping::fixed(2), &x0);
    let mut loss = |o: &Outputs<f32>, c: &mut Outputs<f32>| nll_loss::<f32>(o, c, D);
    let g = SymplecticAdjoint.gradient(&fp, &mut loss).unwrap();
    let r = SymplecticAdjoint.gradient(&lp, &mut loss).unwrap();
    assert!(g.loss.is_finite() && g.dx0.iter().all(|v| v.is_finite()));
    assert_eq!(g.dx0, r.dx0);
    assert_eq!(g.dtheta, r.dtheta);
}

#[test]
fn from_params_names_the_block_and_refuses_bad_vectors() {
    let flow = Flow::new(0);
    let params: Vec<Vec<f64>> = flow.blocks().iter().map(|b| b.params().to_vec()).collect();
    assert_eq!(Flow::from_params(params.clone()).unwrap(), flow);
    let e = Flow::from_params(params[..2].to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected 3 parameter vectors, one per block, got 2"),
        "{e}"
    );
    let mut short = params.clone();
    short[1].pop();
    let e = Flow::from_params(short).unwrap_err().to_string();
    assert!(e.starts_with("Flow (block 1): expected"), "{e}");
    let mut nan = params;
    nan[2][0] = f64::NAN;
    let e = Flow::from_params(nan).unwrap_err().to_string();
    assert!(
        e.starts_with("Flow (block 2): parameter `layers.0._layer.weight`"),
        "{e}"
    );
}
