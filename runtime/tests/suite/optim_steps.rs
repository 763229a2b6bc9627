//! Optimiser steps, clipping and schedules against values computed by hand.
//!
//! Hyper-parameters throughout: lr 0.1, β = (0.9, 0.999), ε = 1e-8, one parameter θ₀ = 1 and
//! gradients 0.5 then −1.

use symplode_runtime::optim::{
    Adam, AdamConfig, LrSchedule, OptimError, Optimizer, Sgd, SgdConfig, WeightDecay,
    clip_grad_norm, global_norm,
};

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1.0), "{a} vs {b}");
}

fn run<O: Optimizer<f64>>(opt: &mut O, grads: &[f64]) -> Vec<f64> {
    let mut p = [1.0f64];
    grads
        .iter()
        .map(|&g| {
            opt.step(&mut p, &[g]).unwrap();
            p[0]
        })
        .collect()
}

fn adam(weight_decay: WeightDecay) -> Adam {
    Adam::new(AdamConfig {
        lr: 0.1,
        weight_decay,
        ..AdamConfig::default()
    })
    .unwrap()
}

#[test]
fn adam_two_steps() {
    let p = run(&mut adam(WeightDecay::None), &[0.5, -1.0]);
    // Step 1: m = 0.05, v = 2.5e-4, m̂ = 0.5, v̂ = 0.25 → θ = 1 − 0.1·0.5/(0.5 + 1e-8).
    close(p[0], 1.0 - 0.05 / (0.5 + 1e-8), 1e-15);
    close(p[0], 0.900000002, 1e-15);
    // Step 2: m = 0.05 + 0.1(−1 − 0.05) = −0.055, v = 0.999·2.5e-4 + 0.001 = 1.24975e-3,
    // θ = θ₁ − (0.1/0.19)·m/(√v/√(1 − 0.999²) + 1e-8).
    let m = -0.055f64;
    let v = 1.24975e-3f64;
    let expect = p[0] - (0.1 / 0.19) * m / (v.sqrt() / (1.0 - 0.998001f64).sqrt() + 1e-8);
    close(p[1], expect, 1e-14);
    close(p[1], 0.9366103542405654, 1e-14);
}

#[test]
fn adam_l2_adds_decay_to_the_gradient() {
    let p = run(&mut adam(WeightDecay::L2(0.1)), &[0.5, -1.0]);
    // g = 0.5 + 0.1·1 = 0.6: the first step is lr·0.6/(0.6 + 1e-8).
    close(p[0], 1.0 - 0.06 / (0.6 + 1e-8), 1e-15);
    close(p[1], 0.9252635194456061, 1e-14);
}

#[test]
fn adam_decoupled_shrinks_the_parameter() {
    let p = run(&mut adam(WeightDecay::Decoupled(0.1)), &[0.5, -1.0]);
    // θ ← 1·(1 − 0.1·0.1) = 0.99, then the plain Adam step of −0.1·0.5/(0.5 + 1e-8).
    close(p[0], 0.99 - 0.05 / (0.5 + 1e-8), 1e-15);
    close(p[1], 0.9177103542205653, 1e-14);
}

#[test]
fn adam_f32_parameters() {
    let mut opt = adam(WeightDecay::None);
    let mut p = [1.0f32, -1.0];
    opt.step(&mut p, &[0.5f32, -0.5]).unwrap();
    assert_eq!(p, [0.9f32, -0.9]);
}

fn sgd(momentum: f64, dampening: f64, nesterov: bool, weight_decay: WeightDecay) -> Sgd {
    Sgd::new(SgdConfig {
        lr: 0.1,
        momentum,
        dampening,
        nesterov,
        weight_decay,
    })
    .unwrap()
}

#[test]
fn sgd_plain_and_l2() {
    let p = run(&mut sgd(0.0, 0.0, false, WeightDecay::None), &[0.5, -1.0]);
    close(p[0], 0.95, 1e-15);
    close(p[1], 1.05, 1e-15);
    // g = 0.5 + 0.1·1 = 0.6 → 0.94.
    let p = run(&mut sgd(0.0, 0.0, false, WeightDecay::L2(0.1)), &[0.5]);
    close(p[0], 0.94, 1e-15);
}

#[test]
fn sgd_momentum_variants() {
    // b = 0.5 → θ = 0.95; b = 0.9·0.5 − 1 = −0.55 → θ = 1.005.
    let p = run(&mut sgd(0.9, 0.0, false, WeightDecay::None), &[0.5, -1.0]);
    close(p[0], 0.95, 1e-15);
    close(p[1], 1.005, 1e-15);
    // Nesterov: g + 0.9·b: 0.95 → 0.905; −1 + 0.9·(−0.55) = −1.495 → 1.0545.
    let p = run(&mut sgd(0.9, 0.0, true, WeightDecay::None), &[0.5, -1.0]);
    close(p[0], 0.905, 1e-15);
    close(p[1], 1.0545, 1e-15);
    // Dampening 0.5: the first buffer is g itself (PyTorch), then 0.45 − 0.5 = −0.05.
    let p = run(&mut sgd(0.9, 0.5, false, WeightDecay::None), &[0.5, -1.0]);
    close(p[0], 0.95, 1e-15);
    close(p[1], 0.955, 1e-15);
}

#[test]
fn state_round_trip_is_bit_identical() {
    let grads: Vec<[f64; 3]> = (0..6)
        .map(|i| {
            let x = i as f64;
            [x.sin(), (0.3 * x).cos() - 0.5, 0.1 * x - 0.2]
        })
        .collect();
    type Make = fn() -> Box<dyn Optimizer<f64>>;
    let optimisers: [Make; 2] = [
        || Box::new(adam(WeightDecay::Decoupled(0.01))),
        || Box::new(sgd(0.9, 0.0, true, WeightDecay::L2(0.01))),
    ];
    for make in optimisers {
        let mut straight = make();
        let mut p = [0.3f64, -0.7, 1.1];
        for g in &grads {
            straight.step(&mut p, g).unwrap();
        }
        let mut first = make();
        let mut q = [0.3f64, -0.7, 1.1];
        for g in &grads[..3] {
            first.step(&mut q, g).unwrap();
        }
        let saved = first.state();
        let mut second = make();
        second.load_state(&saved).unwrap();
        assert_eq!(second.steps(), 3);
        for g in &grads[3..] {
            second.step(&mut q, g).unwrap();
        }
        assert_eq!(p, q, "{}", straight.name());
        assert_eq!(straight.state(), second.state());
    }
}

#[test]
fn malformed_state_rejected() {
    let mut a = adam(WeightDecay::None);
    let mut st = Optimizer::<f64>::state(&a);
    st.buffers[1].1 = vec![0.0; 4];
    st.buffers[0].1 = vec![0.0; 3];
    let e = Optimizer::<f64>::load_state(&mut a, &st).unwrap_err();
    assert!(matches!(e, OptimError::Length { .. }), "{e}");
    st.buffers.pop();
    let e = Optimizer::<f64>::load_state(&mut a, &st).unwrap_err();
    assert!(matches!(e, OptimError::MissingBuffer { .. }), "{e}");
}

#[test]
fn clipping_by_global_norm() {
    let mut g = [3.0f64, 4.0];
    let n = clip_grad_norm(&mut g, 1.0).unwrap();
    assert_eq!(n, 5.0);
    close(g[0], 0.6 / (1.0 + 2e-7), 1e-15);
    close(g[1], 0.8 / (1.0 + 2e-7), 1e-15);
    close(global_norm(&g).unwrap(), 1.0, 1e-6);
    // Below the threshold nothing changes.
    let mut g = [3.0f64, 4.0];
    assert_eq!(clip_grad_norm(&mut g, 10.0).unwrap(), 5.0);
    assert_eq!(g, [3.0, 4.0]);
    // Non-finite entries and bad thresholds are typed errors; the gradient is untouched.
    let mut g = [1.0f32, f32::INFINITY];
    let e = clip_grad_norm(&mut g, 1.0).unwrap_err();
    assert!(matches!(e, OptimError::NonFiniteGradient { index: 1, .. }));
    assert_eq!(g[0], 1.0);
    let e = clip_grad_norm(&mut [1.0f64], 0.0).unwrap_err();
    assert!(matches!(
        e,
        OptimError::BadOption {
            name: "max_norm",
            ..
        }
    ));
}

#[test]
fn schedules() {
    let c = LrSchedule::Constant;
    assert_eq!(c.lr(0.3, 1000), 0.3);
    let s = LrSchedule::Step {
        every: 10,
        gamma: 0.5,
    };
    assert_eq!(s.lr(1.0, 0), 1.0);
    assert_eq!(s.lr(1.0, 9), 1.0);
    assert_eq!(s.lr(1.0, 10), 0.5);
    assert_eq!(s.lr(1.0, 25), 0.25);
    let cos = LrSchedule::Cosine {
        total: 100,
        min_lr: 0.0,
    };
    assert_eq!(cos.lr(1.0, 0), 1.0);
    close(cos.lr(1.0, 50), 0.5, 1e-15);
    close(
        cos.lr(1.0, 25),
        0.5 + 0.5 * std::f64::consts::FRAC_1_SQRT_2,
        1e-15,
    );
    assert_eq!(cos.lr(1.0, 100), 0.0);
    assert_eq!(cos.lr(1.0, 200), 0.0);
    let cos = LrSchedule::Cosine {
        total: 100,
        min_lr: 0.1,
    };
    close(cos.lr(1.0, 50), 0.55, 1e-15);
    assert!(cos.validate(1.0).is_ok());
    assert!(cos.validate(0.05).is_err());
    assert!(
        LrSchedule::Step {
            every: 0,
            gamma: 0.5
        }
        .validate(1.0)
        .is_err()
    );
}
