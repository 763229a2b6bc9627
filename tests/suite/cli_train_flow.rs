//! `symplode train --config` with a flow model file (`form = "cnf"`): end to end on the
//! built-in 8gaussians and on a samples `.npy` written here (f64 and f32), the NLL falling
//! and agreeing with an independent exact-trace evaluation, a killed run resumed to
//! bit-identical weights, shard counts that keep the Hutchinson noise per sample, and one
//! error line naming the field for every bad flow field.

#![cfg(feature = "cli")]

use std::path::PathBuf;

use crate::common::{
    FLOW, exact_nll, fails, graph_params, log_lines, ok, symplode, tensors, train,
};

/// A run file for the flow in `flow.toml` (`data` is the body of the [data] table).
fn run_toml(out: &str, iterations: u64, shards: usize, data: &str) -> String {
    format!(
        r#"model = "flow.toml"
out = "{out}"
iterations = {iterations}
batch = 64
shards = {shards}
seed = 5
[data]
{data}
[optimizer]
lr = 0.01
[validation]
fraction = 0.1
every = 10
[checkpoint]
every = 10
"#
    )
}

const TOY: &str = "builtin = \"8gaussians\"\npoints = 2000";

/// A fresh directory with the flow model file.
fn fixture(name: &str) -> PathBuf {
    let dir = crate::common::fresh_dir(&format!("train-flow-{name}"));
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    dir
}

#[test]
fn trains_on_8gaussians_and_the_nll_falls_and_matches_an_exact_evaluation() {
    let dir = fixture("toy");
    std::fs::write(dir.join("run.toml"), run_toml("out", 60, 2, TOY)).unwrap();
    let text = ok(&train(&dir, "run.toml", &[]));
    assert!(text.contains("iterations  0 → 60"), "{text}");
    assert!(text.contains("nats (nll)"), "{text}");
    let out = dir.join("out");
    let w = tensors(&out.join("weights.safetensors"));
    let names: Vec<&str> = w.iter().map(|t| t.0.as_str()).collect();
    assert!(names.contains(&"layers.0._layer.weight"), "{names:?}");
    let lines = log_lines(&out.join("log.jsonl"));
    assert_eq!(lines.len(), 60);
    let val = |i: usize| lines[i]["val_loss"].as_f64().unwrap();
    assert!(val(59) < val(9) - 0.1, "val NLL {} → {}", val(9), val(59));
    let first: f64 = lines[..5].iter().map(|l| l["loss"].as_f64().unwrap()).sum();
    let last: f64 = lines[55..]
        .iter()
        .map(|l| l["loss"].as_f64().unwrap())
        .sum();
    assert!(last < first, "training NLL did not fall: {first} → {last}");
    // 8gaussians has entropy ≈ 2.9 nats + overlap; a 60-iteration flow is well above it,
    // and below the untrained ≈ 5.9.
    assert!(val(59) > 2.5 && val(59) < 5.8, "{}", val(59));
    // The reported validation NLL (exact trace) equals an independent evaluation of the
    // trained weights on the same held-out points (the run's split, recomputed here).
    let mut all = symplode::train::flow::FlowSamples::new(
        sample_toy(2000),
        2,
        64,
        symplode::train::flow::FlowTrace::Exact,
        0.5,
    )
    .unwrap();
    let held = all.split_validation(0.1, 5).unwrap();
    let nll = exact_nll(&graph_params(&out.join("weights.safetensors")), &held);
    assert!(
        (nll - val(59)).abs() < 1e-10 * nll.abs(),
        "{nll} vs {}",
        val(59)
    );
}

/// The run's toy samples (seed 5, the CLI's salt).
fn sample_toy(n: usize) -> Vec<f64> {
    let mut rng = symplode::runtime::rng::Rng::new(5 ^ 0x70F_DA7A);
    symplode::train::toy::sample("8gaussians", n, &mut rng)
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn trains_on_a_samples_npy_in_f64_and_f32() {
    let dir = fixture("npy");
    let o = symplode()
        .current_dir(&dir)
        .args(["data", "toy", "moons", "--out", "x.npy", "--points", "600"])
        .output()
        .unwrap();
    ok(&o);
    let x = symplode::io::npy::read(dir.join("x.npy")).unwrap();
    assert_eq!(x.shape, vec![600, 2]);
    let v: Vec<f32> = x.to_vec::<f64>().iter().map(|&v| v as f32).collect();
    symplode::io::npy::write(dir.join("x32.npy"), &[600, 2], &v).unwrap();
    for (name, file) in [("a", "x.npy"), ("b", "x32.npy")] {
        let cfg = run_toml(name, 20, 1, &format!("samples = \"{file}\""));
        std::fs::write(dir.join(format!("{name}.toml")), cfg).unwrap();
        ok(&train(&dir, &format!("{name}.toml"), &[]));
        let lines = log_lines(&dir.join(format!("{name}/log.jsonl")));
        assert_eq!(lines.len(), 20);
        assert!(lines[19]["val_loss"].as_f64().unwrap().is_finite());
        assert_eq!(lines[0]["samples"], 64);
    }
}

#[test]
fn a_killed_flow_run_resumes_to_bit_identical_weights() {
    let dir = fixture("resume");
    std::fs::write(dir.join("a.toml"), run_toml("a", 25, 2, TOY)).unwrap();
    std::fs::write(dir.join("b.toml"), run_toml("b", 25, 2, TOY)).unwrap();
    ok(&train(&dir, "a.toml", &[]));
    let killed = symplode()
        .current_dir(&dir)
        .env("SYMPLODE_TEST_KILL_AFTER", "13")
        .args(["train", "--quiet", "--config", "b.toml"])
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let text = ok(&train(&dir, "b.toml", &["--resume"]));
    assert!(text.contains("iterations  10 → 25"), "{text}");
    assert_eq!(
        tensors(&dir.join("a/weights.safetensors")),
        tensors(&dir.join("b/weights.safetensors"))
    );
    // The trained weights start another run (`weights`), read back by their names.
    let c = run_toml("c", 1, 1, TOY)
        .replace("seed = 5", "seed = 5\nweights = \"a/weights.safetensors\"");
    std::fs::write(dir.join("c.toml"), c).unwrap();
    ok(&train(&dir, "c.toml", &[]));
    let (a, c) = (
        tensors(&dir.join("a/weights.safetensors")),
        tensors(&dir.join("c/weights.safetensors")),
    );
    for (x, y) in a.iter().zip(&c) {
        assert_eq!(x.0, y.0);
        for (u, v) in x.2.iter().zip(&y.2) {
            // One Adam step of lr 0.01 from a's weights.
            assert!((u - v).abs() <= 0.0100001, "{}: {u} vs {v}", x.0);
        }
    }
}

/// The Hutchinson noise belongs to the sample, not the shard: 1 and 4 shards see the same
/// noise, so their weights differ only by the summation order (not by a different estimate).
#[test]
fn shard_counts_keep_the_noise_of_every_sample() {
    let dir = fixture("shards");
    for (name, shards) in [("s1", 1), ("s4", 4), ("s4b", 4)] {
        std::fs::write(
            dir.join(format!("{name}.toml")),
            run_toml(name, 8, shards, TOY),
        )
        .unwrap();
        ok(&train(&dir, &format!("{name}.toml"), &[]));
    }
    let w = |n: &str| tensors(&dir.join(format!("{n}/weights.safetensors")));
    assert_eq!(w("s4"), w("s4b"));
    for (x, y) in w("s1").iter().zip(&w("s4")) {
        for (u, v) in x.2.iter().zip(&y.2) {
            assert!((u - v).abs() < 1e-9 * (1.0 + u.abs()), "{u} vs {v}");
        }
    }
}

/// Each bad flow field gives exit 1 and one `error:` line naming the field.
#[test]
fn every_bad_flow_field_is_one_error_line_naming_it() {
    let dir = fixture("bad");
    symplode::io::npy::write(dir.join("x3.npy"), &[50, 3], &vec![0.5f64; 150]).unwrap();
    symplode::io::npy::write(dir.join("flat.npy"), &[100], &vec![0.5f64; 100]).unwrap();
    symplode::io::npy::write(dir.join("cube.npy"), &[5, 10, 2], &vec![0.5f64; 100]).unwrap();
    let mut nan = vec![0.5f64; 100];
    nan[7] = f64::NAN;
    symplode::io::npy::write(dir.join("nan.npy"), &[50, 2], &nan).unwrap();
    std::fs::write(
        dir.join("flow3.toml"),
        FLOW.replace("dim = 2", "dim = 3")
            .replace("out = 2", "out = 3"),
    )
    .unwrap();
    std::fs::write(
        dir.join("mlp.toml"),
        "dim = 2\ntableau = \"rk4\"\n[[layers]]\nname = \"n\"\nout = 2\n[solver]\nsteps = 2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flow63.toml"),
        FLOW.replace("dim = 2", "dim = 63")
            .replace("out = 2", "out = 63"),
    )
    .unwrap();
    std::fs::write(
        dir.join("badflow.toml"),
        FLOW.replace("\"tanh\"", "\"swish\""),
    )
    .unwrap();
    let base = run_toml("o", 5, 1, TOY);
    let samples = |f: &str| run_toml("o", 5, 1, &format!("samples = \"{f}\""));
    let cases: Vec<(String, &str)> = vec![
        (base.replace("flow.toml", "flow3.toml"), "`model`"),
        (samples("x3.npy"), "`model`"),
        (base.replace("8gaussians", "9gaussians"), "`data.builtin`"),
        (
            base.replace("8gaussians", "fashion-mnist"),
            "needs an image flow model file",
        ),
        (samples("missing.npy"), "`data.samples`"),
        (samples("flat.npy"), "`data.samples`"),
        (samples("cube.npy"), "`data.samples`"),
        (samples("nan.npy"), "`data.samples`"),
        (base.replace("flow.toml", "mlp.toml"), "`model`"),
        (
            base.replace("flow.toml", "badflow.toml"),
            "layers[0].activation",
        ),
        (
            base.replace("seed = 5", "seed = 5\nloss = \"mse\""),
            "`loss`",
        ),
        (
            base.replace("points = 2000", "points = 2000\nwindow = 4"),
            "`data.window`",
        ),
        (
            samples("x3.npy").replace(
                "samples = \"x3.npy\"",
                "samples = \"x3.npy\"\nbuiltin = \"moons\"",
            ),
            "`data.builtin`",
        ),
        (base.replace("points = 2000", "points = 20"), "batch"),
        (
            base.replace("seed = 5", "seed = 5\nweights = \"x3.npy\""),
            "`weights`",
        ),
        (
            run_toml("o", 5, 1, "trajectories = \"t.npy\"\ntimes = \"s.npy\""),
            "`data`",
        ),
        (
            run_toml("o", 5, 1, "builtin = \"patches\"\ndir = \"no-photos\"")
                .replace("flow.toml", "flow63.toml"),
            "apt-get download python3-skimage",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        std::fs::write(dir.join(&name), text).unwrap();
        fails(&dir, &["train", "--quiet", "--config", &name], 1, &[want]);
    }
}

/// The 63-D image patches by name, when skimage's photographs are installed (as in CI; see
/// `tests/suite/datasets.rs`): a few iterations run and validate on the held-out photographs.
#[cfg(feature = "datasets")]
#[test]
fn trains_on_the_image_patches_when_installed() {
    let photos = std::path::PathBuf::from(
        std::env::var("SYMPLODE_SKIMAGE_DIR")
            .unwrap_or_else(|_| symplode::datasets::patches::SKIMAGE_DATA_DIR.to_string()),
    );
    if !photos.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the photographs"
        );
        eprintln!("skipped: no photographs in {}", photos.display());
        return;
    }
    let dir = fixture("patches");
    std::fs::write(
        dir.join("flow63.toml"),
        FLOW.replace("dim = 2", "dim = 63")
            .replace("out = 2", "out = 63")
            .replace("steps = 4", "steps = 2"),
    )
    .unwrap();
    let data = format!(
        "builtin = \"patches\"\npoints = 40\ndir = \"{}\"",
        photos.display()
    );
    let cfg = run_toml("p", 3, 1, &data)
        .replace("flow.toml", "flow63.toml")
        .replace("batch = 64", "batch = 32")
        .replace("every = 10", "every = 3");
    std::fs::write(dir.join("p.toml"), cfg).unwrap();
    ok(&train(&dir, "p.toml", &[]));
    let lines = log_lines(&dir.join("p/log.jsonl"));
    assert_eq!(lines.len(), 3);
    let v = lines[2]["val_loss"].as_f64().unwrap();
    assert!(v.is_finite(), "{v}");
    assert!(
        !dir.join("p/density.png").exists(),
        "no density plot above 2-D"
    );
}
