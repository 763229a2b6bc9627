//! Checkpoints: resuming is bit-identical, writes are atomic (no temporary files left), and a
//! missing, corrupt or mismatched checkpoint is a typed error that leaves the model untouched.

use std::path::{Path, PathBuf};

use crate::common::fresh_dir;
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, AdamConfig, LrSchedule, Sgd, SgdConfig, WeightDecay};
use symplode::train::{META_FILE, TrainConfig, TrainError, Trainer, TrajectoryWindows, read_meta};

fn data<T: Real>() -> TrajectoryWindows<T> {
    let times: Vec<f64> = (0..50).map(|i| 0.04 * i as f64).collect();
    let mut states = Vec::new();
    for &t in &times {
        let r = (-0.2 * t).exp();
        states.extend([T::of(r * (1.5 * t).cos()), T::of(r * (1.5 * t).sin())]);
    }
    TrajectoryWindows::new(times, states, 2, 12, 5).unwrap()
}

fn net<T: Real>() -> Mlp<T> {
    Mlp::new(MlpConfig::new(2, vec![12], Activation::Tanh, true), 9).unwrap()
}

fn adam() -> Adam {
    Adam::new(AdamConfig {
        lr: 0.01,
        weight_decay: WeightDecay::Decoupled(1e-3),
        ..AdamConfig::default()
    })
    .unwrap()
}

fn config(iterations: u64, dir: Option<&Path>) -> TrainConfig {
    TrainConfig {
        iterations,
        seed: 42,
        schedule: LrSchedule::Cosine {
            total: 20,
            min_lr: 1e-3,
        },
        clip_norm: Some(1.0),
        checkpoint_dir: dir.map(Path::to_path_buf),
        log_path: dir.map(|d| d.join("log.jsonl")),
        ..TrainConfig::default()
    }
}

/// 20 iterations straight vs 10, a checkpoint, a fresh process-like restart and 10 more.
fn straight_vs_resumed<T: Real>(name: &str, stepping: Stepping) {
    let scheme = Scheme::<T>::builtin("dopri5").unwrap();
    let data = data::<T>();

    let mut straight = net::<T>();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        stepping.clone(),
        adam(),
        config(20, None),
    )
    .unwrap();
    let s = t.run(&mut straight, &data).unwrap();
    let straight_state = t.optimizer().state();

    let dir = fresh_dir(name);
    let mut first = net::<T>();
    let mut t1 = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        stepping.clone(),
        adam(),
        config(10, Some(&dir)),
    )
    .unwrap();
    t1.run(&mut first, &data).unwrap();
    drop(t1);

    // A new model (different initial weights) and optimiser, as after a restart.
    let mut resumed =
        Mlp::<T>::new(MlpConfig::new(2, vec![12], Activation::Tanh, true), 1).unwrap();
    let mut t2 = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        stepping,
        adam(),
        config(20, Some(&dir)),
    )
    .unwrap();
    let restored = t2.resume(&mut resumed, &dir).unwrap();
    assert_eq!(restored.iteration, 10);
    assert_eq!(resumed.params(), first.params());
    let s2 = t2.run(&mut resumed, &data).unwrap();
    assert_eq!(s2.start_iteration, 10);
    assert_eq!(s2.history.len(), 10);

    let bits = |p: &[T]| p.iter().map(|v| v.f64().to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(resumed.params()), bits(straight.params()), "{name}");
    assert_eq!(t2.optimizer().state(), straight_state);
    for (a, b) in s.history[10..].iter().zip(&s2.history) {
        assert_eq!(a.loss.to_bits(), b.loss.to_bits());
        assert_eq!(a.nfe_forward, b.nfe_forward);
    }
    // The log holds iterations 1..=20 exactly once.
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    let its: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["iteration"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(its, (1..=20).collect::<Vec<_>>());
    let meta = read_meta(&dir).unwrap();
    assert_eq!(meta.iteration, 20);
    assert_eq!(meta.dtype, T::NAME);
    assert_eq!(meta.config["method"], "symplectic");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_is_bit_identical_f64_adaptive() {
    straight_vs_resumed::<f64>("train_ckpt_f64", Stepping::adaptive(1e-6, 1e-8));
}

#[test]
fn resume_is_bit_identical_f32_fixed() {
    straight_vs_resumed::<f32>("train_ckpt_f32", Stepping::fixed(2));
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn writes_are_atomic_and_leave_no_temporary_files() {
    let dir = fresh_dir("train_ckpt_atomic");
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let mut cfg = config(6, Some(&dir));
    cfg.checkpoint_every = 2;
    cfg.log_path = None;
    let mut t = Trainer::new(&Backprop, &scheme, Stepping::fixed(1), adam(), cfg).unwrap();
    let s = t.run(&mut model, &data::<f64>()).unwrap();
    assert_eq!(s.checkpoint.as_deref(), Some(dir.join(META_FILE).as_path()));
    // Three checkpoints were written; only the last tensor file is kept, and no temporaries.
    assert_eq!(
        listing(&dir),
        ["checkpoint-00000006.safetensors", "checkpoint.json"]
    );
    // An interrupted later write leaves a stray temporary; loading ignores it.
    std::fs::write(dir.join(".checkpoint.json.tmp-1"), b"{ torn").unwrap();
    let mut other = net::<f64>();
    let mut t2 = Trainer::new(
        &Backprop,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(6, None),
    )
    .unwrap();
    t2.resume(&mut other, &dir).unwrap();
    assert_eq!(other.params(), model.params());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trained checkpoint in a fresh directory.
fn saved(name: &str) -> PathBuf {
    let dir = fresh_dir(name);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(3, Some(&dir)),
    )
    .unwrap();
    t.run(&mut model, &data::<f64>()).unwrap();
    dir
}

fn try_resume(dir: &Path, model: &mut Mlp<f64>, seed: u64) -> TrainError {
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut cfg = config(6, None);
    cfg.seed = seed;
    let mut t = Trainer::new(&SymplecticAdjoint, &scheme, Stepping::fixed(1), adam(), cfg).unwrap();
    let e = t.resume(model, dir).unwrap_err();
    assert_eq!(t.iteration(), 0);
    assert_eq!(t.optimizer().steps(), 0);
    e
}

#[test]
fn missing_corrupt_or_mismatched_checkpoints_are_typed_errors() {
    let fresh = net::<f64>();
    let mut model = net::<f64>();

    // No checkpoint at all.
    let empty = fresh_dir("train_ckpt_empty");
    let e = try_resume(&empty, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointMissing { .. }), "{e}");

    // A flipped byte in the tensors.
    let dir = saved("train_ckpt_flip");
    let tensors = dir.join("checkpoint-00000003.safetensors");
    let mut bytes = std::fs::read(&tensors).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&tensors, &bytes).unwrap();
    let e = try_resume(&dir, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointCorrupt { .. }), "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");

    // A truncated tensor file.
    std::fs::write(&tensors, &bytes[..n / 2]).unwrap();
    let e = try_resume(&dir, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointCorrupt { .. }), "{e}");

    // The tensor file is gone.
    std::fs::remove_file(&tensors).unwrap();
    let e = try_resume(&dir, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointMissing { .. }), "{e}");

    // Torn or foreign metadata.
    let dir = saved("train_ckpt_json");
    let meta = dir.join(META_FILE);
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, &text[..text.len() / 2]).unwrap();
    let e = try_resume(&dir, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointCorrupt { .. }), "{e}");
    std::fs::write(&meta, text.replace("symplode-checkpoint", "other")).unwrap();
    let e = try_resume(&dir, &mut model, 42);
    assert!(matches!(e, TrainError::CheckpointCorrupt { .. }), "{e}");
    std::fs::write(&meta, &text).unwrap();

    // Another seed, another model layout, another optimiser.
    let e = try_resume(&dir, &mut model, 7);
    assert!(
        matches!(e, TrainError::CheckpointMismatch { ref what, .. } if what == "seed"),
        "{e}"
    );
    let mut wide = Mlp::<f64>::new(MlpConfig::new(2, vec![13], Activation::Tanh, true), 9).unwrap();
    let wide_before = wide.params().to_vec();
    let e = try_resume(&dir, &mut wide, 42);
    assert!(matches!(e, TrainError::CheckpointMismatch { .. }), "{e}");
    assert_eq!(wide.params(), &wide_before[..]);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let sgd = Sgd::new(SgdConfig::default()).unwrap();
    let mut t = Trainer::new(&Backprop, &scheme, Stepping::fixed(1), sgd, config(6, None)).unwrap();
    let e = t.resume(&mut model, &dir).unwrap_err();
    assert!(
        matches!(e, TrainError::CheckpointMismatch { ref what, .. } if what == "the optimiser"),
        "{e}"
    );

    // None of the failures touched the model; the intact checkpoint still loads.
    assert_eq!(model.params(), fresh.params());
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut t = Trainer::new(
        &Backprop,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(6, None),
    )
    .unwrap();
    assert_eq!(t.resume(&mut model, &dir).unwrap().iteration, 3);
    assert_ne!(model.params(), fresh.params());
    for d in [empty, dir] {
        let _ = std::fs::remove_dir_all(d);
    }
    let _ =
        std::fs::remove_dir_all(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("train_ckpt_flip"));
}

#[test]
fn sgd_state_without_momentum_round_trips() {
    let dir = fresh_dir("train_ckpt_sgd");
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let sgd = || Sgd::new(SgdConfig::default()).unwrap();
    let mut a = net::<f64>();
    let mut t = Trainer::new(
        &Backprop,
        &scheme,
        Stepping::fixed(1),
        sgd(),
        config(6, None),
    )
    .unwrap();
    t.run(&mut a, &data::<f64>()).unwrap();

    let mut b = net::<f64>();
    let mut t1 = Trainer::new(
        &Backprop,
        &scheme,
        Stepping::fixed(1),
        sgd(),
        config(3, Some(&dir)),
    )
    .unwrap();
    t1.run(&mut b, &data::<f64>()).unwrap();
    let mut t2 = Trainer::new(
        &Backprop,
        &scheme,
        Stepping::fixed(1),
        sgd(),
        config(6, Some(&dir)),
    )
    .unwrap();
    t2.resume(&mut b, &dir).unwrap();
    assert_eq!(t2.optimizer().state().buffers[0].1.len(), 0);
    t2.run(&mut b, &data::<f64>()).unwrap();
    assert_eq!(a.params(), b.params());
    let _ = std::fs::remove_dir_all(&dir);
}
