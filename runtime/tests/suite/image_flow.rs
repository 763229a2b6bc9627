//! The library's FFJORD multiscale image flow (`models::image_flow`): the block sequence on a
//! multi-channel image, the builder's refusals, the NLL loss's cotangent, and every exact
//! gradient method equal to backprop on a small flow (three chained conv CNF blocks with
//! Rademacher probes, the NLL loss).

use crate::common::*;
use symplode_runtime::grad::{Backprop, GradientMethod};
use symplode_runtime::models::image_flow::{
    BlockSpec, ImageFlow, ImageFlowConfig, architecture, block_net, nll_loss,
};
use symplode_runtime::rng::Rng;
use symplode_runtime::solver::Trajectory;
use symplode_runtime::{Dynamics, Stepping};

#[test]
fn a_two_channel_image_keeps_half_the_channels_at_each_scale() {
    let pairs: Vec<(usize, usize)> = architecture(2, 3, 1)
        .iter()
        .map(|s| (s.squeezes, s.channels))
        .collect();
    assert_eq!(pairs, vec![(0, 2), (1, 8), (1, 4), (2, 16), (2, 8)]);
    // Every block of it builds on 2 × 8 × 8 and keeps the width.
    for s in architecture(2, 3, 1) {
        let g = block_net([2, 8, 8], s, &[3]).unwrap();
        assert_eq!(g.inputs()[0].width, 128);
    }
}

#[test]
fn blocks_that_cannot_be_built_are_refused() {
    // 6 × 6 squeezed twice: 3 × 3 is odd.
    let spec = BlockSpec {
        squeezes: 2,
        channels: 4,
    };
    assert!(block_net([1, 6, 6], spec, &[4]).is_err());
    // More kept channels than the squeezed image has.
    let spec = BlockSpec {
        squeezes: 1,
        channels: 5,
    };
    let e = block_net([1, 4, 4], spec, &[4]).unwrap_err().to_string();
    assert!(e.contains("keeps 5 channels") && e.contains("has 4"), "{e}");
    let config = ImageFlowConfig {
        image: [1, 6, 6],
        scales: 3,
        blocks: 1,
        hidden: vec![2],
    };
    assert!(ImageFlow::<f64>::new(&config, 0).is_err());
    let config = ImageFlowConfig {
        scales: 0,
        ..config
    };
    assert!(ImageFlow::<f64>::new(&config, 0).is_err());
}

#[test]
fn ffjords_mnist_model_has_its_parameter_count() {
    let config = ImageFlowConfig::ffjord_mnist();
    let n: usize = architecture(1, config.scales, config.blocks)
        .iter()
        .map(|s| {
            block_net(config.image, *s, &config.hidden)
                .unwrap()
                .param_len()
        })
        .sum();
    assert_eq!(n, 800_636);
}

#[test]
fn nll_loss_cotangent_matches_central_differences() {
    let d = 5;
    let state = random_state::<f64>(3 * (d + 1), 4);
    let loss = |s: &[f64]| {
        let out = vec![Trajectory::single(s.to_vec())];
        let mut cot = out.clone();
        nll_loss::<f64>(&out, &mut cot, d)
    };
    let out = vec![Trajectory::single(state.clone())];
    let mut cot = out.clone();
    nll_loss::<f64>(&out, &mut cot, d);
    for k in 0..state.len() {
        let h = 1e-5;
        let (mut a, mut b) = (state.clone(), state.clone());
        a[k] += h;
        b[k] -= h;
        let fd = (loss(&a) - loss(&b)) / (2.0 * h);
        assert!((fd - cot[0][0][k]).abs() < 1e-8, "coordinate {k}");
    }
}

#[test]
fn exact_methods_equal_backprop_on_a_small_image_flow() {
    let config = ImageFlowConfig {
        image: [1, 4, 4],
        scales: 2,
        blocks: 1,
        hidden: vec![3],
    };
    let mut flow = ImageFlow::<f64>::new(&config, 7).unwrap();
    assert_eq!(flow.blocks().len(), 3);
    let batch = 2;
    flow.draw_probes(batch, &mut Rng::new(2)).unwrap();
    let x0 = random_state::<f64>(batch * 17, 3);
    let sch = scheme::<f64>("dopri5");
    for stepping in [Stepping::fixed(2), Stepping::adaptive(1e-6, 1e-8)] {
        let problem = flow.problem(&sch, &stepping, &x0);
        let loss = |o: &_, c: &mut _| nll_loss::<f64>(o, c, 16);
        let reference = Backprop.gradient(&problem, &mut { loss }).unwrap();
        assert!(reference.dtheta.iter().flatten().any(|v| v.abs() > 1e-6));
        for method in exact_methods::<f64>() {
            let g = method.gradient(&problem, &mut { loss }).unwrap();
            let r = worst_rel(&problem, &reference, &g);
            assert!(r <= 1e-12, "{stepping:?} {}: {r:e}", method.name());
        }
    }
    assert_eq!(
        flow.n_params(),
        flow.blocks().iter().map(|b| b.n_params()).sum()
    );
}
