//! `neural_ode!` image models (`shape:`, `conv2d`, `squeeze`, `unsqueeze`): the lowered plans
//! (`lower_rust/plan.rs`'s conv2d, transpose, weight-gradient and squeeze arms) against the
//! interpreter on the same network wired by hand, bit for bit (eval, VJP, taped forward and
//! backward); the JIT on the macro's graph bit for bit; every exact gradient method on the
//! macro models (with their generated step kernels) against backprop; and a full-resolution
//! block of the library's FFJORD image flow declared in the DSL.

use crate::passes::{assert_runs_equal, run, wave, worst_rel};
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::{Activation as IrActivation, Graph, GraphBuilder, SqueezeShape};
use symplode::neural_ode;
use symplode::prelude::*;
use symplode::runtime::grad::{CheckpointComponent, CheckpointStep, SymplecticAdjointStored};
use symplode::runtime::interp::{self, Interpreted};
use symplode::runtime::rng::Rng;

neural_ode! {
    /// A conv ODE on 1 × 4 × 6 images: a strided convolution down, an unsqueeze back up.
    struct ConvOde {
        float: f64,
        shape: [1, 4, 6],
        layers: [
            conv2d(3, 3, 1, 1, tanh, concat_time),
            conv2d(8, 3, 2, 1, softplus),
            unsqueeze,
            conv2d(1, 1, no_bias),
        ],
        tableau: dopri5,
        solver: { rtol: 1e-7, atol: 1e-9 },
    }
}

neural_ode! {
    /// A conv CNF as FFJORD's image blocks: ConcatConv2d layers (one at the squeezed scale),
    /// softplus, Hutchinson trace.
    struct ConvCnf {
        float: f64,
        shape: [1, 4, 4],
        layers: [
            conv2d(4, 3, 1, 1, softplus, concat_time),
            squeeze,
            conv2d(8, 3, 1, 1, softplus, concat_time),
            unsqueeze,
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: cnf(hutchinson),
        tableau: rk4,
        solver: { steps: 3 },
    }
}

neural_ode! {
    /// The first block of FFJORD's multiscale flow on 1 × 8 × 8 images (hidden 4-4).
    struct FirstBlock {
        float: f64,
        shape: [1, 8, 8],
        layers: [
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(4, 3, 1, 1, softplus, concat_time),
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: cnf(hutchinson),
        tableau: dopri5,
    }
}

neural_ode! {
    /// [`ConvOde`] in single precision.
    struct ConvOde32 {
        float: f32,
        shape: [1, 4, 6],
        layers: [
            conv2d(3, 3, 1, 1, tanh, concat_time),
            conv2d(8, 3, 2, 1, softplus),
            unsqueeze,
            conv2d(1, 1, no_bias),
        ],
        tableau: rk4,
    }
}

/// [`ConvOde`]'s network wired by hand.
fn conv_ode_graph() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 24).unwrap();
    let (y, im) = b
        .concat_conv2d(x, "layers.0", (1, 4, 6), 3, (3, 1, 1))
        .unwrap();
    let y = b.activation(y, IrActivation::Tanh).unwrap();
    let (y, im) = b
        .conv2d_layer(
            y,
            "layers.1",
            im,
            8,
            (3, 2, 1),
            IrActivation::Softplus,
            true,
        )
        .unwrap();
    assert_eq!(im, (8, 2, 3));
    let y = b.unsqueeze(y, SqueezeShape { c: 2, h: 4, w: 6 }).unwrap();
    let (y, _) = b
        .conv2d_layer(
            y,
            "layers.3",
            (2, 4, 6),
            1,
            (1, 1, 0),
            IrActivation::Identity,
            false,
        )
        .unwrap();
    b.finish(&[y]).unwrap()
}

/// [`ConvCnf`]'s network `f` wired by hand (before the CNF transform).
fn conv_cnf_field() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 16).unwrap();
    let (y, _) = b
        .concat_conv2d(x, "layers.0", (1, 4, 4), 4, (3, 1, 1))
        .unwrap();
    let y = b.activation(y, IrActivation::Softplus).unwrap();
    let y = b.squeeze(y, SqueezeShape { c: 4, h: 4, w: 4 }).unwrap();
    let (y, _) = b
        .concat_conv2d(y, "layers.2", (16, 2, 2), 8, (3, 1, 1))
        .unwrap();
    let y = b.activation(y, IrActivation::Softplus).unwrap();
    let y = b.unsqueeze(y, SqueezeShape { c: 2, h: 4, w: 4 }).unwrap();
    let (y, _) = b
        .concat_conv2d(y, "layers.4", (2, 4, 4), 1, (3, 1, 1))
        .unwrap();
    b.finish(&[y]).unwrap()
}

/// Rademacher noise for a batch of the CNF's `z` rows.
fn noise(batch: usize) -> Vec<f64> {
    let mut rng = Rng::new(3);
    (0..batch * 16)
        .map(|_| if rng.below(2) == 0 { -1.0 } else { 1.0 })
        .collect()
}

/// The macro model and the interpreter on the hand-wired graph, bit for bit, at two batches.
fn assert_bit_equal(macro_model: &dyn Dynamics<f64>, reference: &dyn Dynamics<f64>) {
    for batch in [1, 3] {
        assert_runs_equal(macro_model, reference, batch, "macro vs interpreter");
    }
}

#[test]
fn conv_ode_macro_equals_the_interpreter_bit_for_bit() {
    let model = ConvOde::new(11);
    assert_eq!(ConvOde::DIM, 24);
    let reference = Interpreted::new(conv_ode_graph(), model.params().to_vec()).unwrap();
    assert_eq!(model.param_tensors(), reference.param_tensors());
    assert_bit_equal(&model, &reference);
}

#[test]
fn conv_cnf_macro_equals_the_interpreter_bit_for_bit() {
    let mut model = ConvCnf::new(12);
    assert_eq!(ConvCnf::DIM, 17);
    let mut reference = interp::cnf(
        &conv_cnf_field(),
        Trace::Hutchinson,
        model.params().to_vec(),
    )
    .unwrap();
    assert_eq!(model.param_tensors(), reference.param_tensors());
    let eps = noise(3);
    model.set_aux(1, &eps).unwrap();
    reference.set_aux(1, &eps).unwrap();
    for batch in [3] {
        let (a, b) = (run(&model, batch), run(&reference, batch));
        for (i, (u, v)) in a.iter().zip(&b).enumerate() {
            assert_eq!(u, v, "batch {batch}, output {i}: macro ≠ interpreter");
        }
    }
}

#[cfg(feature = "jit")]
#[test]
fn the_jit_on_the_macro_graphs_is_bit_equal_to_the_macro() {
    use symplode::runtime::jit::{JitNetwork, JitOptions};
    let opts = JitOptions {
        verify: true,
        ..JitOptions::default()
    };
    let model = ConvOde::new(4);
    let interp = Interpreted::new(ConvOde::graph(), model.params().to_vec()).unwrap();
    let jit = JitNetwork::new(interp, &opts).unwrap();
    assert_bit_equal(&model, &jit);

    let mut model = ConvCnf::new(5);
    let mut interp = Interpreted::new(ConvCnf::graph(), model.params().to_vec()).unwrap();
    let eps = noise(3);
    model.set_aux(1, &eps).unwrap();
    interp.set_aux(1, &eps).unwrap();
    let jit = JitNetwork::new(interp, &opts).unwrap();
    let (a, b) = (run(&model, 3), run(&jit, 3));
    for (i, (u, v)) in a.iter().zip(&b).enumerate() {
        assert_eq!(u, v, "output {i}: macro ≠ JIT");
    }
}

fn exact_methods() -> Vec<Box<dyn GradientMethod<f64>>> {
    vec![
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
        Box::new(CheckpointStep),
        Box::new(CheckpointComponent),
    ]
}

fn exact_methods_equal_backprop(problem: &Problem<'_, f64>, dim: usize) {
    let reference = Backprop
        .gradient(problem, &mut losses::mean_sq_final(dim))
        .unwrap();
    assert!(reference.dtheta[0].iter().any(|v| v.abs() > 1e-8));
    for method in exact_methods() {
        let g = method
            .gradient(problem, &mut losses::mean_sq_final(dim))
            .unwrap();
        let r = worst_rel(&g, &reference);
        assert!(r <= 1e-12, "{}: {r:e} from backprop", method.name());
    }
}

#[test]
fn exact_gradient_methods_equal_backprop_on_the_macro_models() {
    let batch = 2;
    let model = ConvOde::new(7);
    let scheme = ConvOde::scheme().unwrap();
    assert!(scheme.is_compiled());
    let x0 = wave(batch * ConvOde::DIM, 0.29, 0.3);
    let problem = Problem::single(&model, &[0.0, 0.5], &scheme, ConvOde::stepping(), &x0);
    exact_methods_equal_backprop(&problem, ConvOde::DIM);

    let mut model = ConvCnf::new(8);
    model.set_aux(1, &noise(batch)).unwrap();
    let scheme = ConvCnf::scheme().unwrap();
    let x0 = wave(batch * ConvCnf::DIM, 0.31, 0.2);
    let problem = Problem::single(&model, &[0.0, 0.5], &scheme, ConvCnf::stepping(), &x0);
    exact_methods_equal_backprop(&problem, ConvCnf::DIM);
}

#[test]
fn the_library_image_flow_first_block_is_the_dsl_block() {
    use symplode::runtime::models::image_flow::{ImageFlow, ImageFlowConfig};
    let config = ImageFlowConfig {
        image: [1, 8, 8],
        scales: 2,
        blocks: 1,
        hidden: vec![4, 4],
    };
    let mut flow = ImageFlow::<f64>::new(&config, 3).unwrap();
    flow.draw_probes(2, &mut Rng::new(4)).unwrap();
    let block = &flow.blocks()[0];
    let mut model = FirstBlock::from_params(block.params().to_vec()).unwrap();
    model.set_aux(1, block.aux(1)).unwrap();
    assert_eq!(model.param_tensors(), block.param_tensors());
    let (a, b) = (run(&model, 2), run(block, 2));
    for (i, (u, v)) in a.iter().zip(&b).enumerate() {
        assert_eq!(u, v, "output {i}: DSL block ≠ library block");
    }
}

#[test]
fn an_f32_conv_ode_macro_equals_the_f32_interpreter_bit_for_bit() {
    let model = ConvOde32::new(9);
    let reference = Interpreted::<f32>::new(conv_ode_graph(), model.params().to_vec()).unwrap();
    let (a, b) = (run(&model, 2), run(&reference, 2));
    for (i, (u, v)) in a.iter().zip(&b).enumerate() {
        assert_eq!(u, v, "output {i}: f32 macro ≠ f32 interpreter");
    }
}
