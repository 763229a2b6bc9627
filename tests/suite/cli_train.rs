//! `symplode train --config`: end-to-end runs on the spiral written by `symplode data spiral`,
//! a killed run resumed to bit-identical weights, shard counts that change the numerics but
//! process counts that do not (see `tests/mpi/` for the MPI side), and one error line naming
//! the field for every bad run-file field.

#![cfg(feature = "cli")]

use std::path::PathBuf;

use crate::common::{fails, ok, symplode, tensors, train};

const MODEL: &str = r#"
dim = 2
tableau = "rk4"
[[layers]]
name = "net.0"
out = 16
activation = "tanh"
[[layers]]
name = "net.2"
out = 2
[solver]
steps = 2
"#;

/// A run file fitting the spiral (`extra` is appended verbatim at the top level, before
/// the tables).
fn run_toml(out: &str, iterations: u64, shards: usize, extra: &str) -> String {
    format!(
        r#"model = "model.toml"
out = "{out}"
iterations = {iterations}
batch = 16
shards = {shards}
seed = 3
{extra}
[data]
trajectories = "spiral.npy"
times = "times.npy"
window = 8
[optimizer]
kind = "adam"
lr = 0.01
weight_decay = 1e-4
decoupled = true
[schedule]
kind = "cosine"
min_lr = 0.001
[validation]
fraction = 0.1
every = 5
[checkpoint]
every = 10
"#
    )
}

/// A fresh directory with the model and the spiral data.
fn fixture(name: &str) -> PathBuf {
    let dir = crate::common::fresh_dir(&format!("train-{name}"));
    std::fs::write(dir.join("model.toml"), MODEL).unwrap();
    let o = symplode()
        .current_dir(&dir)
        .args([
            "data",
            "spiral",
            "--out",
            "spiral.npy",
            "--times",
            "times.npy",
        ])
        .args(["--points", "120", "--noise", "0.01"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

#[test]
fn trains_writes_weights_log_curve_and_grad_reads_the_weights() {
    let dir = fixture("e2e");
    std::fs::write(dir.join("run.toml"), run_toml("out", 40, 4, "")).unwrap();
    let text = ok(&train(&dir, "run.toml", &[]));
    assert!(text.contains("iterations  0 → 40"), "{text}");
    let out = dir.join("out");
    let w = tensors(&out.join("weights.safetensors"));
    let names: Vec<&str> = w.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        names,
        ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    );
    assert_eq!(w[1].1, vec![16, 2]);
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    assert!(lines[4]["val_loss"].as_f64().is_some() && lines[3].get("val_loss").is_none());
    let first: f64 = lines[..5].iter().map(|l| l["loss"].as_f64().unwrap()).sum();
    let last: f64 = lines[35..]
        .iter()
        .map(|l| l["loss"].as_f64().unwrap())
        .sum();
    assert!(last < first, "loss did not fall: {first} → {last}");
    let png = std::fs::read(out.join("curve.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // `symplode grad` reads the trained weights under the spec's names.
    symplode::io::npy::write(dir.join("x0.npy"), &[1, 2], &[2.0f64, 0.0]).unwrap();
    let g = symplode()
        .current_dir(&dir)
        .args([
            "grad",
            "--model",
            "model.toml",
            "--weights",
            "out/weights.safetensors",
        ])
        .args(["--x0", "x0.npy"])
        .output()
        .unwrap();
    ok(&g);
}

#[test]
fn a_killed_run_resumes_to_bit_identical_weights() {
    let dir = fixture("resume");
    std::fs::write(dir.join("a.toml"), run_toml("a", 35, 2, "")).unwrap();
    std::fs::write(dir.join("b.toml"), run_toml("b", 35, 2, "")).unwrap();
    ok(&train(&dir, "a.toml", &[]));
    // Killed (abort, no clean-up) after iteration 23: the last checkpoint is at 20.
    let killed = symplode()
        .current_dir(&dir)
        .env("SYMPLODE_TEST_KILL_AFTER", "23")
        .args(["train", "--quiet", "--config", "b.toml"])
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let meta = std::fs::read_to_string(dir.join("b/checkpoints/checkpoint.json")).unwrap();
    assert!(meta.contains("\"iteration\": 20"), "{meta}");
    let text = ok(&train(&dir, "b.toml", &["--resume"]));
    assert!(text.contains("iterations  20 → 35"), "{text}");
    assert_eq!(
        tensors(&dir.join("a/weights.safetensors")),
        tensors(&dir.join("b/weights.safetensors"))
    );
    // The log holds each iteration once, as the uninterrupted run's.
    let strip = |p: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(p))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("seconds");
                o.remove("comm_seconds");
                v.to_string()
            })
            .collect()
    };
    assert_eq!(strip("a/log.jsonl"), strip("b/log.jsonl"));
}

#[test]
fn shards_fix_the_numerics_and_one_shard_equals_the_plain_trainer() {
    let dir = fixture("shards");
    for (name, shards) in [("s1", 1), ("s4", 4), ("s4b", 4)] {
        std::fs::write(
            dir.join(format!("{name}.toml")),
            run_toml(name, 12, shards, ""),
        )
        .unwrap();
        ok(&train(&dir, &format!("{name}.toml"), &[]));
    }
    let w = |n: &str| tensors(&dir.join(format!("{n}/weights.safetensors")));
    assert_eq!(w("s4"), w("s4b"));
    // Different shard counts sum in different orders: close, not necessarily equal.
    let (a, b) = (w("s1"), w("s4"));
    for (x, y) in a.iter().zip(&b) {
        for (u, v) in x.2.iter().zip(&y.2) {
            assert!((u - v).abs() < 1e-9 * (1.0 + u.abs()), "{u} vs {v}");
        }
    }
}

#[test]
fn early_stopping_stops_and_resume_keeps_it_stopped() {
    let dir = fixture("early");
    let cfg = run_toml("e", 400, 1, "")
        .replace("every = 5\n", "every = 1\npatience = 3\nmin_delta = 10.0\n");
    std::fs::write(dir.join("e.toml"), cfg).unwrap();
    let text = ok(&train(&dir, "e.toml", &[]));
    // No improvement by 10 after the first evaluation: stop 3 iterations later.
    assert!(text.contains("0 → 4 (stopped early)"), "{text}");
    let again = ok(&train(&dir, "e.toml", &["--resume"]));
    assert!(again.contains("4 → 4 (stopped early)"), "{again}");
}

/// Each bad field gives exit 1 and one `error:` line naming the field.
#[test]
fn every_bad_field_is_one_error_line_naming_it() {
    let dir = fixture("bad");
    let base = run_toml("o", 10, 2, "");
    let cases: Vec<(String, &str)> = vec![
        (
            base.replace("iterations = 10", "iterations = 0"),
            "`iterations`",
        ),
        (base.replace("batch = 16", "batch = 0"), "`batch`"),
        (base.replace("shards = 2", "shards = 17"), "`shards`"),
        (base.replace("seed = 3", "seed = -1"), "seed"),
        (
            base.replace("seed = 3", "seed = 3\nprecision = \"f16\""),
            "`precision`",
        ),
        (
            base.replace("seed = 3", "seed = 3\nloss = \"huber\""),
            "`loss`",
        ),
        (base.replace("seed = 3", "seed = 3\ncolour = 1"), "colour"),
        (base.replace("window = 8", "window = 1"), "`data.window`"),
        (base.replace("window = 8", "window = 500"), "window"),
        (base.replace("times = \"times.npy\"\n", ""), "`data.times`"),
        (
            base.replace("times = \"times.npy\"", "builtin = \"mnist\""),
            "data.builtin",
        ),
        (base.replace("spiral.npy", "missing.npy"), "missing.npy"),
        (base.replace("times.npy", "spiral.npy"), "`data.times`"),
        (
            base.replace("kind = \"adam\"", "kind = \"lbfgs\""),
            "`optimizer.kind`",
        ),
        (base.replace("lr = 0.01", "lr = -1.0"), "`optimizer.lr`"),
        (base.replace("lr = 0.01", "lr = \"fast\""), "lr"),
        (
            base.replace("weight_decay = 1e-4", "weight_decay = -1.0"),
            "`optimizer.weight_decay`",
        ),
        (
            base.replace("decoupled = true", "decoupled = true\nbeta1 = 1.5"),
            "`optimizer.beta1`",
        ),
        (
            base.replace("decoupled = true", "decoupled = true\nmomentum = 0.9"),
            "`optimizer.momentum`",
        ),
        (
            base.replace("decoupled = true", "decoupled = true\nclip_norm = 0.0"),
            "`optimizer.clip_norm`",
        ),
        (
            base.replace("kind = \"cosine\"", "kind = \"warmup\""),
            "`schedule.kind`",
        ),
        (
            base.replace("min_lr = 0.001", "min_lr = 1.0"),
            "`schedule.min_lr`",
        ),
        (
            base.replace("fraction = 0.1", "fraction = 1.5"),
            "`validation.fraction`",
        ),
        (base.replace("every = 5", "every = 0"), "`validation.every`"),
        (
            base.replace("every = 5", "every = 5\npatience = 0"),
            "`validation.patience`",
        ),
        (
            base.replace("every = 5", "every = 5\nmin_delta = 0.1"),
            "`validation.min_delta`",
        ),
        (
            base.replace("[checkpoint]", "[checkpoint]\ndirectory = \"x\""),
            "directory",
        ),
        (
            base.replace("[data]", "[method]\nname = \"magic\"\n[data]"),
            "`method.name`",
        ),
        (
            base.replace("[data]", "[method]\nlambda = 2.0\n[data]"),
            "`method.lambda`",
        ),
        (
            base.replace("[data]", "[solver]\nsteps = 2\nrtol = 1e-6\n[data]"),
            "rtol",
        ),
        (
            base.replace("[data]", "[solver]\ntableau = \"rk99\"\n[data]"),
            "rk99",
        ),
        (
            base.replace("model = \"model.toml\"", "model = \"nope.toml\""),
            "nope.toml",
        ),
        (
            base.replace("model = \"model.toml\"", "model = \"/dev/zero\""),
            "`model`: /dev/zero: is a character device, not a regular file",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        std::fs::write(dir.join(&name), text).unwrap();
        fails(&dir, &["train", "--quiet", "--config", &name], 1, &[want]);
    }
}

#[test]
fn trains_on_the_builtin_kdv_trajectories() {
    let dir = fixture("kdv");
    let model = MODEL
        .replace("dim = 2", "dim = 50")
        .replace("out = 2", "out = 50");
    std::fs::write(dir.join("kdv-model.toml"), model).unwrap();
    let cfg = r#"model = "kdv-model.toml"
out = "k"
iterations = 3
batch = 4
shards = 2
[data]
builtin = "kdv"
count = 6
points = 11
window = 3
[validation]
fraction = 0.34
every = 1
"#;
    std::fs::write(dir.join("k.toml"), cfg).unwrap();
    let text = ok(&train(&dir, "k.toml", &[]));
    assert!(
        text.contains("0 → 3") && text.contains("val loss"),
        "{text}"
    );
}
