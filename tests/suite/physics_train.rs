//! A CI-sized run of the physics experiment: DGNet-style data (a few short KdV and
//! Cahn–Hilliard trajectories), the HNN++ model with a few channels, one-interval training
//! with Adam through [`Trainer`] (adaptive dopri5), the exact methods' losses equal to
//! backprop's at every iteration, checkpoint/resume bit-identical, and the evaluation
//! helpers.

use symplode::physics::train::{
    NextStatePairs, derivative_mse, prediction_mse, rollout, strided_states,
};
use symplode::physics::{Dataset, DatasetConfig, PhysicsModel, SystemKind};
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, AdamConfig};
use symplode::runtime::rng::Rng;
use symplode::train::{Batches, TrainConfig, Trainer};

fn data(kind: SystemKind) -> Dataset {
    let mut cfg = DatasetConfig::dgnet(kind);
    cfg.trajectories = 4;
    cfg.steps = 30;
    cfg.test_split = 0.25;
    Dataset::generate(&cfg, |_, _| {}).unwrap()
}

fn adam(lr: f64) -> Adam {
    Adam::new(AdamConfig {
        lr,
        ..AdamConfig::default()
    })
    .unwrap()
}

fn config(iterations: u64) -> TrainConfig {
    TrainConfig {
        iterations,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn batches_are_distinct_next_state_pairs() {
    let d = data(SystemKind::Kdv);
    assert_eq!(d.n_train, 3);
    let pairs = NextStatePairs::<f64>::train(&d, 20).unwrap();
    let mut rng = Rng::new(1);
    let drawn = pairs.draw(&mut rng);
    let mut sorted = drawn.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 20);
    assert!(drawn.iter().all(|&(tr, k)| tr < 3 && k < 30));
    let b = pairs.batch(&mut Rng::new(1)).unwrap();
    assert_eq!(b.times, vec![0.0, d.dt]);
    let (tr, k) = drawn[5];
    assert_eq!(&b.x0[5 * 50..6 * 50], d.state(tr, k));
    assert_eq!(&b.targets[0][5 * 50..6 * 50], d.state(tr, k + 1));
    assert!(NextStatePairs::<f64>::train(&d, 91).is_err());
    assert!(NextStatePairs::<f64>::train(&d, 0).is_err());
}

/// The training loss falls, and each exact method's loss equals backprop's at every iteration.
#[test]
fn ci_sized_training_with_every_exact_method() {
    for (kind, lr) in [(SystemKind::Kdv, 3e-2), (SystemKind::CahnHilliard, 3e-2)] {
        let d = data(kind);
        let m = PhysicsModel::energy(d.system, 4);
        let init = m.init_params(0).unwrap();
        let pairs = NextStatePairs::<f64>::train(&d, 16).unwrap();
        let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
        let stepping = Stepping::adaptive(1e-6, 1e-8);
        let losses = |method: &dyn GradientMethod<f64>, iters: u64| -> Vec<f64> {
            let mut model = m.build::<f64>(&init).unwrap();
            let mut t =
                Trainer::new(method, &scheme, stepping.clone(), adam(lr), config(iters)).unwrap();
            let s = t.run(&mut model, &pairs).unwrap();
            s.history.iter().map(|r| r.loss).collect()
        };
        // Training lowers the one-interval prediction error on all training pairs.
        let all = strided_states(&d, 0..d.n_train, 1)
            .into_iter()
            .filter(|&(_, k)| k + 1 < d.states)
            .collect::<Vec<_>>();
        let fit = |p: &[f64]| {
            let model = m.build::<f64>(p).unwrap();
            prediction_mse(&model, &scheme, &stepping, &d, &all, 100).unwrap()
        };
        let before = fit(&init);
        let mut model = m.build::<f64>(&init).unwrap();
        let mut t =
            Trainer::new(&Backprop, &scheme, stepping.clone(), adam(lr), config(40)).unwrap();
        let reference: Vec<f64> = t
            .run(&mut model, &pairs)
            .unwrap()
            .history
            .iter()
            .map(|r| r.loss)
            .collect();
        let after = fit(model.params());
        assert!(
            after < 0.9 * before,
            "{kind}: prediction MSE {before:e} → {after:e}"
        );
        let methods: Vec<Box<dyn GradientMethod<f64>>> = vec![
            Box::new(CheckpointStep),
            Box::new(CheckpointComponent),
            Box::new(SymplecticAdjoint),
            Box::new(SymplecticAdjointStored),
        ];
        for method in &methods {
            let l = losses(method.as_ref(), 4);
            for (i, (a, b)) in l.iter().zip(&reference).enumerate() {
                let r = ((a - b) / b).abs();
                assert!(
                    r <= 1e-10,
                    "{kind} {}: iteration {}: {r:e}",
                    method.name(),
                    i + 1
                );
            }
        }
        // The adjoint method approximates: close, not equal.
        let l = losses(&Adjoint::default(), 2);
        assert!(((l[1] - reference[1]) / reference[1]).abs() < 1e-3);
    }
}

#[test]
fn resume_continues_bit_identically() {
    let d = data(SystemKind::Kdv);
    let m = PhysicsModel::energy(d.system, 3);
    let init = m.init_params(1).unwrap();
    let pairs = NextStatePairs::<f64>::train(&d, 8).unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let stepping = Stepping::adaptive(1e-6, 1e-8);
    let dir = std::env::temp_dir().join(format!("symplode-physics-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut whole = m.build::<f64>(&init).unwrap();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        stepping.clone(),
        adam(1e-2),
        config(4),
    )
    .unwrap();
    t.run(&mut whole, &pairs).unwrap();
    let mut half = m.build::<f64>(&init).unwrap();
    let mut c = config(2);
    c.checkpoint_dir = Some(dir.clone());
    let mut t = Trainer::new(&SymplecticAdjoint, &scheme, stepping.clone(), adam(1e-2), c).unwrap();
    t.run(&mut half, &pairs).unwrap();
    let mut resumed = m.build::<f64>(&m.init_params(9).unwrap()).unwrap();
    let mut t = Trainer::new(&SymplecticAdjoint, &scheme, stepping, adam(1e-2), config(4)).unwrap();
    assert_eq!(t.resume(&mut resumed, &dir).unwrap().iteration, 2);
    t.run(&mut resumed, &pairs).unwrap();
    assert_eq!(resumed.params(), whole.params());
}

#[test]
fn evaluation_helpers() {
    let d = data(SystemKind::CahnHilliard);
    let m = PhysicsModel::energy(d.system, 3);
    let model = m.build::<f64>(&m.init_params(2).unwrap()).unwrap();
    let at = strided_states(&d, d.test_range(), 10);
    assert_eq!(at, vec![(3, 0), (3, 10), (3, 20), (3, 30)]);
    let dm = derivative_mse(&model, &d, &at, 3);
    assert!(dm.is_finite() && dm > 0.0);
    // In chunks or at once: the same.
    assert!((derivative_mse(&model, &d, &at, 100) - dm).abs() <= 1e-12 * dm);
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let stepping = Stepping::adaptive(1e-8, 1e-10);
    let pairs = &at[..3];
    let pm = prediction_mse(&model, &scheme, &stepping, &d, pairs, 2).unwrap();
    assert!(pm.is_finite() && pm > 0.0);
    let r = rollout(&model, &scheme, &stepping, d.state(3, 0), d.dt, 5).unwrap();
    assert_eq!(r.len(), 6 * 50);
    assert_eq!(&r[..50], d.state(3, 0));
}
