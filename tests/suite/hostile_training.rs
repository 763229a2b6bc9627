//! Training can never save what it cannot load (issue 13): a diverging run stops with an error
//! naming the iteration and keeps the last good checkpoint; every field of a checkpoint is
//! validated on load (step counts, iteration within the run, precision); stale temporaries of
//! interrupted saves are removed by the next save; the memory budget is checked per iteration.

use std::path::{Path, PathBuf};

use crate::common::fresh_dir;
use symplode::io::budget::MemoryBudget;
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use symplode::train::{Batches, META_FILE, TrainConfig, TrainError, Trainer, TrajectoryWindows};

fn data<T: Real>() -> TrajectoryWindows<T> {
    scaled_data(1.0)
}

/// Observations scaled by `scale` (large scales give large gradients).
fn scaled_data<T: Real>(scale: f64) -> TrajectoryWindows<T> {
    let times: Vec<f64> = (0..30).map(|i| 0.05 * i as f64).collect();
    let mut states = Vec::new();
    for &t in &times {
        states.extend([T::of(scale * (-t).exp()), T::of(scale * t.sin())]);
    }
    TrajectoryWindows::new(times, states, 2, 6, 4).unwrap()
}

fn net<T: Real>() -> Mlp<T> {
    Mlp::new(MlpConfig::new(2, vec![6], Activation::Tanh, false), 3).unwrap()
}

fn config(iterations: u64, dir: Option<&Path>) -> TrainConfig {
    TrainConfig {
        iterations,
        seed: 7,
        checkpoint_dir: dir.map(Path::to_path_buf),
        checkpoint_every: 1,
        ..TrainConfig::default()
    }
}

fn adam() -> Adam {
    Adam::new(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    })
    .unwrap()
}

/// Trains 2 iterations into a fresh checkpoint directory.
fn trained(name: &str) -> PathBuf {
    let dir = fresh_dir(&format!("hostile-train-{name}"));
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(2, Some(&dir)),
    )
    .unwrap();
    t.run(&mut model, &data::<f64>()).unwrap();
    dir
}

fn resume_f64(dir: &Path, iterations: u64) -> Result<u64, TrainError> {
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let before = model.params().to_vec();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(iterations, None),
    )
    .unwrap();
    match t.resume(&mut model, dir) {
        Ok(r) => Ok(r.iteration),
        Err(e) => {
            assert_eq!(
                model.params(),
                &before[..],
                "a failed resume changed the model"
            );
            Err(e)
        }
    }
}

/// Rewrites one field of checkpoint.json.
fn edit_meta(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(META_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_checkpoint() {
    let dir = trained("diverge");
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let good = listing(&dir);
    let good_meta = std::fs::read(dir.join(META_FILE)).unwrap();

    // An update that overflows the parameters (gradients of order 1e6 times a learning rate
    // of 1e307): the step fails naming the iteration.
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let sgd = Sgd::new(SgdConfig {
        lr: 1e307,
        ..SgdConfig::default()
    })
    .unwrap();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        sgd,
        config(5, Some(&dir)),
    )
    .unwrap();
    let e = t.run(&mut model, &scaled_data::<f64>(1e6)).unwrap_err();
    assert!(
        matches!(e, TrainError::NonFiniteState { iteration: 1, .. }),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("iteration 1: parameter") && msg.contains("non-finite"),
        "{msg}"
    );
    assert_eq!(t.iteration(), 0, "the diverged iteration does not count");

    // Saving the diverged model directly is refused too.
    let e = t.save_checkpoint(&model, &dir).unwrap_err();
    assert!(matches!(e, TrainError::NonFiniteState { .. }), "{e}");

    // The last good checkpoint is untouched and loads.
    assert_eq!(listing(&dir), good);
    assert_eq!(std::fs::read(dir.join(META_FILE)).unwrap(), good_meta);
    assert_eq!(resume_f64(&dir, 5).unwrap(), 2);
}

#[test]
fn every_checkpoint_field_is_validated_on_load() {
    // The optimiser's step count, edited to 2^64 − 1 (would wrap round).
    let dir = trained("step");
    edit_meta(&dir, |v| v["optimizer"]["step"] = u64::MAX.into());
    let e = resume_f64(&dir, 5).unwrap_err();
    assert!(
        matches!(e, TrainError::CheckpointCorrupt { .. })
            && e.to_string()
                .contains("`optimizer.step` = 18446744073709551615"),
        "{e}"
    );

    // An iteration beyond the run (would resume and do nothing).
    let dir = trained("beyond");
    edit_meta(&dir, |v| {
        v["iteration"] = 100.into();
        v["rng"]["next_iteration"] = 100.into();
    });
    let e = resume_f64(&dir, 5).unwrap_err();
    assert!(
        matches!(e, TrainError::CheckpointMismatch { .. })
            && e.to_string().contains("`iteration` is 100")
            && e.to_string().contains("at most the run's 5 iterations"),
        "{e}"
    );

    // Inconsistent random-stream state.
    let dir = trained("rng");
    edit_meta(&dir, |v| v["rng"]["next_iteration"] = 1.into());
    let e = resume_f64(&dir, 5).unwrap_err();
    assert!(e.to_string().contains("`rng`"), "{e}");

    // A non-positive learning rate.
    let dir = trained("lr");
    edit_meta(&dir, |v| v["optimizer"]["lr"] = (-1.0).into());
    let e = resume_f64(&dir, 5).unwrap_err();
    assert!(e.to_string().contains("`optimizer.lr` = -1"), "{e}");

    // An f64 checkpoint resumed in f32.
    let dir = trained("precision");
    let scheme = Scheme::<f32>::builtin("rk4").unwrap();
    let mut model = net::<f32>();
    let mut t = Trainer::new(
        &SymplecticAdjoint,
        &scheme,
        Stepping::fixed(1),
        adam(),
        config(5, None),
    )
    .unwrap();
    let e = t.resume(&mut model, &dir).unwrap_err();
    assert!(
        matches!(e, TrainError::CheckpointMismatch { .. })
            && e.to_string().contains("precision")
            && e.to_string().contains("f64 in the checkpoint, f32 here"),
        "{e}"
    );

    // The untouched checkpoint loads.
    assert_eq!(resume_f64(&trained("ok"), 5).unwrap(), 2);
}

#[test]
fn stale_temporaries_are_removed_by_the_next_save() {
    let dir = trained("stale");
    // Left by a process killed during a save (pid beyond the default pid_max: not running).
    let stale = [
        ".checkpoint.json.tmp-4194305",
        ".checkpoint-00000001.safetensors.tmp-4194305-3",
        ".checkpoint-00000007.safetensors.tmp-4194306",
    ];
    for s in stale {
        std::fs::write(dir.join(s), b"partial").unwrap();
    }
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
    t.resume(&mut model, &dir).unwrap();
    t.run(&mut model, &data::<f64>()).unwrap();
    for s in stale {
        assert!(!dir.join(s).exists(), "{s} left behind");
    }
}

#[test]
fn each_iteration_is_checked_against_the_memory_budget() {
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut model = net::<f64>();
    let mut cfg = config(2, None);
    cfg.memory_budget = Some(MemoryBudget::parse("1K", "memory_budget").unwrap());
    let mut t = Trainer::new(&Backprop, &scheme, Stepping::fixed(50), adam(), cfg).unwrap();
    let before = model.params().to_vec();
    let e = t.run(&mut model, &data::<f64>()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, TrainError::Budget { iteration: 1, .. })
            && msg.contains("predicted peak memory")
            && msg.contains("memory budget of 1.0 KiB"),
        "{msg}"
    );
    assert_eq!(model.params(), &before[..]);

    // With room, the same step runs.
    let mut cfg = config(1, None);
    cfg.memory_budget = Some(MemoryBudget::parse("1G", "memory_budget").unwrap());
    let mut t = Trainer::new(&Backprop, &scheme, Stepping::fixed(50), adam(), cfg).unwrap();
    let mut rng = symplode::runtime::rng::Rng::new(0);
    let batch = data::<f64>().batch(&mut rng).unwrap();
    t.step(&mut model, &batch).unwrap();
}
