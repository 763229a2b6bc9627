//! Training loop: a short run reduces the loss, the JSON-lines log has one record per
//! iteration, and malformed data gives typed errors.

use crate::common::fresh_dir;
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, AdamConfig, LrSchedule};
use symplode::train::{
    Batch, Batches, IterationLog, Loss, TrainConfig, TrainError, Trainer, TrajectoryWindows,
};

/// A damped rotation x' = A x sampled on a uniform grid (60 points, t ∈ [0, 3]).
fn spiral_data(batch: usize, window: usize) -> TrajectoryWindows<f64> {
    let times: Vec<f64> = (0..60).map(|i| 0.05 * i as f64).collect();
    let mut states = Vec::new();
    for &t in &times {
        let r = (-0.1 * t).exp();
        states.extend([r * (2.0 * t).cos(), -r * (2.0 * t).sin()]);
    }
    TrajectoryWindows::new(times, states, 2, batch, window).unwrap()
}

fn tiny_net(seed: u64) -> Mlp<f64> {
    Mlp::new(MlpConfig::new(2, vec![16], Activation::Tanh, false), seed).unwrap()
}

#[test]
fn short_run_reduces_the_loss_and_logs_every_iteration() {
    let dir = fresh_dir("train_loop_short_run");
    let data = spiral_data(16, 6);
    let mut net = tiny_net(1);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let adam = Adam::new(AdamConfig {
        lr: 0.02,
        ..AdamConfig::default()
    })
    .unwrap();
    let log_path = dir.join("log.jsonl");
    let config = TrainConfig {
        iterations: 60,
        seed: 3,
        schedule: LrSchedule::Cosine {
            total: 60,
            min_lr: 0.002,
        },
        clip_norm: Some(10.0),
        log_path: Some(log_path.clone()),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(2),
        adam,
        config,
    )
    .unwrap();
    let summary = trainer.run(&mut net, &data).unwrap();
    assert_eq!(summary.iterations, 60);
    assert_eq!(summary.history.len(), 60);
    let mean = |r: &[IterationLog]| r.iter().map(|x| x.loss).sum::<f64>() / r.len() as f64;
    let first = mean(&summary.history[..5]);
    let last = mean(&summary.history[55..]);
    assert!(last < 0.3 * first, "loss {first} → {last}");
    // Counters come from the gradient method: rk4 with 2 steps per interval, 5 intervals.
    let r = &summary.history[0];
    assert_eq!(r.steps, 10);
    assert_eq!(r.nfe_forward, 40);
    assert!(r.vjp_backward > 0 && r.peak_bytes > 0);
    assert!(summary.peak_bytes >= r.peak_bytes);
    // The schedule reached the learning rate.
    assert_eq!(summary.history[0].lr, 0.02);
    assert!((summary.history[59].lr - 0.002).abs() < 1e-4);

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<IterationLog> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60);
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(l.iteration, k as u64 + 1);
        // serde_json writes the shortest round-trip digits but, without its `float_roundtrip`
        // feature, may parse them back 1 ulp off.
        let want = summary.history[k].loss;
        assert!(
            (l.loss - want).abs() <= 4.0 * f64::EPSILON * want,
            "{} vs {want}",
            l.loss
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_gradient_method_trains() {
    let data = spiral_data(8, 4);
    let scheme = Scheme::<f64>::builtin("bosh3").unwrap();
    let methods: [&dyn GradientMethod<f64>; 5] = [
        &Backprop,
        &Adjoint::default(),
        &CheckpointComponent,
        &CheckpointStep,
        &SymplecticAdjoint,
    ];
    let mut finals = Vec::new();
    for method in methods {
        let mut net = tiny_net(2);
        let adam = Adam::new(AdamConfig {
            lr: 0.02,
            ..AdamConfig::default()
        })
        .unwrap();
        let config = TrainConfig {
            iterations: 15,
            loss: Loss::L1,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(
            method,
            &scheme,
            Stepping::adaptive(1e-6, 1e-8),
            adam,
            config,
        )
        .unwrap();
        let s = t.run(&mut net, &data).unwrap();
        assert!(s.final_loss() < s.history[0].loss, "{}", method.name());
        finals.push(net.params().to_vec());
    }
    // The exact methods (all but the continuous adjoint) follow the same path up to rounding.
    for p in &finals[2..] {
        let diff = symplode::runtime::compare::max_abs_diff(p, &finals[0]);
        assert!(diff < 1e-9, "{diff}");
    }
}

#[test]
fn malformed_data_is_a_typed_error() {
    let t = vec![0.0, 0.1, 0.3];
    let e = TrajectoryWindows::new(t, vec![0.0f64; 3], 1, 1, 2).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "times[2]"),
        "{e}"
    );
    let t = vec![0.0, 0.1, 0.2];
    let e = TrajectoryWindows::new(t.clone(), vec![0.0f64; 3], 1, 3, 2).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "batch_size"),
        "{e}"
    );
    let e = TrajectoryWindows::new(t.clone(), vec![0.0f64; 4], 1, 1, 2).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "states"),
        "{e}"
    );
    let e = TrajectoryWindows::new(t, vec![0.0, f64::NAN, 0.0], 1, 1, 2).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "states[1]"),
        "{e}"
    );

    let mut net = tiny_net(0);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let adam = Adam::new(AdamConfig::default()).unwrap();
    let mut trainer = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        adam,
        TrainConfig::default(),
    )
    .unwrap();
    let before = net.params().to_vec();
    let batch = Batch {
        times: vec![0.0, 0.1, 0.2],
        x0: vec![1.0, 0.0],
        targets: vec![vec![1.0, 0.0]],
    };
    let e = trainer.step(&mut net, &batch).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "targets"),
        "{e}"
    );
    let batch = Batch {
        times: vec![0.0, 0.1],
        x0: vec![1.0, 0.0],
        targets: vec![vec![1.0, 0.0, 3.0]],
    };
    let e = trainer.step(&mut net, &batch).unwrap_err();
    assert!(
        matches!(e, TrainError::Data { ref what, .. } if what == "targets[0]"),
        "{e}"
    );
    let batch = Batch {
        times: vec![0.0, 0.0],
        x0: vec![1.0, 0.0],
        targets: vec![vec![1.0, 0.0]],
    };
    let e = trainer.step(&mut net, &batch).unwrap_err();
    assert!(matches!(e, TrainError::Solve { iteration: 1, .. }), "{e}");
    assert_eq!(net.params(), &before[..]);
    assert_eq!(trainer.iteration(), 0);

    // A data set of another dimension is refused before anything runs.
    let data = spiral_data(4, 3);
    let mut net1 = Mlp::<f64>::new(MlpConfig::new(1, vec![4], Activation::Tanh, false), 0).unwrap();
    let e = trainer.run(&mut net1, &data).unwrap_err();
    assert!(matches!(e, TrainError::Data { .. }), "{e}");
    // Bad options are refused by the constructor.
    let adam = Adam::new(AdamConfig::default()).unwrap();
    let config = TrainConfig {
        clip_norm: Some(0.0),
        ..TrainConfig::default()
    };
    let e = Trainer::new(&Backprop, &scheme, Stepping::fixed(1), adam, config)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            TrainError::Config {
                field: "clip_norm",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn windows_are_distinct_and_reproducible() {
    let data = spiral_data(10, 3);
    let mut a = symplode::runtime::rng::Rng::new(symplode::train::batch_seed(5, 7));
    let mut b = symplode::runtime::rng::Rng::new(symplode::train::batch_seed(5, 7));
    let x = data.batch(&mut a).unwrap();
    let y = data.batch(&mut b).unwrap();
    assert_eq!(x, y);
    assert_eq!(x.times.len(), 3);
    assert!((x.times[2] - 0.1).abs() < 1e-15);
    let starts: Vec<(u64, u64)> =
        x.x0.chunks(2)
            .map(|s| (s[0].to_bits(), s[1].to_bits()))
            .collect();
    let mut uniq = starts.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        starts.len(),
        "windows drawn without replacement"
    );
    assert_ne!(
        symplode::train::batch_seed(5, 7),
        symplode::train::batch_seed(5, 8)
    );
}

#[test]
fn a_fresh_run_keeps_the_previous_log_as_dot_one() {
    let dir = fresh_dir("train_loop_log_rotation");
    let data = spiral_data(8, 4);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let log_path = dir.join("log.jsonl");
    let run = |iterations: u64| {
        let mut net = tiny_net(1);
        let config = TrainConfig {
            iterations,
            seed: 1,
            log_path: Some(log_path.clone()),
            ..TrainConfig::default()
        };
        let adam = Adam::new(AdamConfig::default()).unwrap();
        let mut trainer = Trainer::new(
            &SymplecticAdjoint,
            &scheme,
            Stepping::fixed(2),
            adam,
            config,
        )
        .unwrap();
        trainer.run(&mut net, &data).unwrap();
    };
    run(3);
    run(2);
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&log_path), 2, "the new run's log");
    assert_eq!(
        lines(&dir.join("log.jsonl.1")),
        3,
        "the previous run's log, kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
