//! The image flow of `examples/image_flow.rs` (the library's
//! `runtime::models::image_flow`, with `examples/common/image_model.rs`): FFJORD's
//! `ODENVP` block sequence, blocks that leave factored-out coordinates fixed, the loss's
//! cotangent against central differences, and bits/dim of a known density.
#![cfg(feature = "datasets")]

#[path = "../../examples/common/png.rs"]
#[allow(dead_code)]
mod png;

#[path = "../../examples/common/image_model.rs"]
#[allow(dead_code)]
mod example;

use example::D;
use symplode::codegen::ir::eval::evaluate_f64;
use symplode::runtime::models::image_flow::{self, BlockSpec};
use symplode::runtime::rng::Rng;

#[test]
fn architecture_is_ffjords_odenvp() {
    // 3 scales, 2 blocks: 2 + squeeze + 2 | factor out | 2 + squeeze + 2 | factor out | 2.
    let a = image_flow::architecture(1, 3, 2);
    let pairs: Vec<(usize, usize)> = a.iter().map(|s| (s.squeezes, s.channels)).collect();
    assert_eq!(
        pairs,
        vec![
            (0, 1),
            (0, 1),
            (1, 4),
            (1, 4),
            (1, 2),
            (1, 2),
            (2, 8),
            (2, 8),
            (2, 4),
            (2, 4)
        ]
    );
    assert_eq!(
        image_flow::architecture(1, 1, 1),
        vec![BlockSpec {
            squeezes: 0,
            channels: 1
        }]
    );
}

#[test]
fn factored_out_coordinates_do_not_move() {
    // A block at the second scale transforms channels 0..2 of the 4 × 14 × 14 squeeze, i.e.
    // the pixels (2i + u, 2j + v) with 2u + v < 2: the even rows; the odd rows stay fixed.
    let spec = BlockSpec {
        squeezes: 1,
        channels: 2,
    };
    let g = image_flow::block_net([1, 28, 28], spec, &[4]).unwrap();
    let p = image_flow::init_params(&g, 3);
    let mut rng = Rng::new(1);
    let x: Vec<f64> = (0..2 * D).map(|_| rng.normal()).collect();
    let y = evaluate_f64(&g, 2, &[&x], 0.4, &p).unwrap();
    let mut moving = 0;
    for (k, v) in y[0].iter().enumerate() {
        let row = (k % D) / 28;
        if row % 2 == 1 {
            assert_eq!(*v, 0.0, "pixel {k} (odd row) moves");
        } else if *v != 0.0 {
            moving += 1;
        }
    }
    assert_eq!(moving, 2 * D / 2, "every even-row pixel moves");
}

#[test]
fn loss_cotangent_matches_central_differences() {
    let mut rng = Rng::new(5);
    let state: Vec<f64> = (0..3 * (D + 1)).map(|_| rng.normal()).collect();
    let loss = |s: &[f64]| {
        let out = vec![symplode::runtime::solver::Trajectory::single(s.to_vec())];
        let mut cot = out.clone();
        example::nll_loss::<f64>(&out, &mut cot)
    };
    let out = vec![symplode::runtime::solver::Trajectory::single(state.clone())];
    let mut cot = out.clone();
    let l0 = example::nll_loss::<f64>(&out, &mut cot);
    assert!(l0.is_finite());
    for k in [0, 17, D, D + 1 + 400, 3 * (D + 1) - 1] {
        let h = 1e-5;
        let (mut a, mut b) = (state.clone(), state.clone());
        a[k] += h;
        b[k] -= h;
        let fd = (loss(&a) - loss(&b)) / (2.0 * h);
        let got = cot[0][0][k];
        assert!((fd - got).abs() < 1e-7, "coordinate {k}: {got} vs {fd}");
    }
}

#[test]
fn bits_per_dim_of_a_standard_normal_in_logit_space() {
    // y = 0 everywhere with no transform (log-det 0): −log p(y) = (D/2) log 2π, so bits/dim
    // = (½ log 2π + log 256) / ln 2.
    let row: Vec<f64> = vec![0.0; D + 1];
    let nll = example::nll_rows(&row)[0];
    let expect = (0.5 * (2.0 * std::f64::consts::PI).ln() + 256f64.ln()) / std::f64::consts::LN_2;
    assert!((example::bits_per_dim(nll, 0.0) - expect).abs() < 1e-12);
    assert_eq!(example::to_intensity(-40.0), 0.0);
    assert_eq!(example::to_intensity(40.0), 1.0);
}
