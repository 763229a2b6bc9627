//! Data-parallel training over MPI (feature `mpi`; needs `mpiexec` on the PATH, e.g. Debian
//! MPICH): the trained weights are bit-identical for 1, 2 and 4 ranks and without `mpiexec`;
//! a run killed at 2 ranks resumes at 4 to the same weights; a failing rank ends the job with
//! its message instead of a hang; a flow (Hutchinson noise per sample) is bit-identical for 1
//! and 2 ranks too, and so is an image flow on Fashion-MNIST (when installed). Run by
//! `.ci/run` as `cargo test --features mpi --test mpi_train`.

#![cfg(all(feature = "mpi", feature = "cli"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ok, tensors};

const MODEL: &str = r#"
dim = 2
tableau = "dopri5"
[[layers]]
name = "net.0"
out = 16
activation = "tanh"
[[layers]]
name = "net.2"
out = 2
[solver]
rtol = 1e-5
atol = 1e-7
"#;

fn run_toml(out: &str) -> String {
    format!(
        r#"model = "model.toml"
out = "{out}"
iterations = 30
batch = 16
shards = 4
seed = 5
[data]
builtin = "spiral"
points = 150
window = 6
[optimizer]
lr = 0.01
[validation]
fraction = 0.1
every = 5
[checkpoint]
every = 10
"#
    )
}

fn fixture(name: &str) -> PathBuf {
    let dir = common::fresh_dir(&format!("mpi-{name}"));
    std::fs::write(dir.join("model.toml"), MODEL).unwrap();
    dir
}

/// Runs `symplode train` under `mpiexec -n ranks` (0: without mpiexec), killing it after 120 s.
fn train(dir: &Path, ranks: usize, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    train_with(dir, ranks, out, &run_toml(out), extra, env)
}

/// As [`train`] with the run file `toml`.
fn train_with(
    dir: &Path,
    ranks: usize,
    out: &str,
    toml: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    std::fs::write(dir.join(format!("{out}.toml")), toml).unwrap();
    let exe = env!("CARGO_BIN_EXE_symplode");
    let mut cmd = if ranks == 0 {
        Command::new(exe)
    } else {
        let mut c = Command::new("mpiexec");
        c.args(["-n", &ranks.to_string(), exe]);
        c
    };
    cmd.current_dir(dir)
        .args(["train", "--quiet", "--config", &format!("{out}.toml")])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("mpiexec on the PATH (apt-get install mpich)");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(120), "hung");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn weights_are_bit_identical_for_1_2_4_ranks_and_resume_across_rank_counts() {
    let dir = fixture("ranks");
    for (ranks, out) in [(0, "r0"), (1, "r1"), (2, "r2"), (4, "r4")] {
        ok(&train(&dir, ranks, out, &[], &[]));
    }
    let w = |o: &str| tensors(&dir.join(o).join("weights.safetensors"));
    let reference = w("r0");
    for o in ["r1", "r2", "r4"] {
        assert_eq!(w(o), reference, "{o}");
    }
    // Killed at 2 ranks after iteration 13 (checkpoint 10), resumed at 4 ranks.
    let killed = train(&dir, 2, "k", &[], &[("SYMPLODE_TEST_KILL_AFTER", "13")]);
    assert!(!killed.status.success());
    ok(&train(&dir, 4, "k", &["--resume"], &[]));
    assert_eq!(w("k"), reference);
}

#[test]
fn a_failing_rank_ends_the_job_with_its_message() {
    let dir = fixture("fail");
    let o = train(&dir, 2, "f", &[], &[("SYMPLODE_TEST_FAIL_RANK", "1")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rank 1: injected failure"), "{err}");
}

const FLOW: &str = r#"
form = "cnf"
dim = 2
trace = "hutchinson"
tableau = "dopri5"
[[layers]]
out = 16
activation = "tanh"
[[layers]]
out = 2
[solver]
rtol = 1e-5
atol = 1e-5
"#;

#[test]
fn a_flow_is_bit_identical_for_1_and_2_ranks() {
    let dir = fixture("flow");
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    let run = |out: &str| {
        format!(
            "model = \"flow.toml\"\nout = \"{out}\"\niterations = 12\nbatch = 64\nshards = 4\n\
             seed = 2\n[data]\nbuiltin = \"8gaussians\"\npoints = 1000\n[validation]\n\
             fraction = 0.1\nevery = 4\n"
        )
    };
    for (ranks, out) in [(0, "f0"), (1, "f1"), (2, "f2")] {
        ok(&train_with(&dir, ranks, out, &run(out), &[], &[]));
    }
    let w = |o: &str| tensors(&dir.join(o).join("weights.safetensors"));
    assert_eq!(w("f1"), w("f0"));
    assert_eq!(w("f2"), w("f0"));
}

/// One conv CNF block on Fashion-MNIST (`form = "image_flow"`), 2 hidden channels.
const IMAGE_FLOW: &str = r#"
form = "image_flow"
image = [1, 28, 28]
hidden = [2]
noise = "rademacher"
tableau = "rk4"
[solver]
steps = 1
"#;

#[test]
fn an_image_flow_on_fashion_mnist_is_bit_identical_for_1_and_2_ranks() {
    if !Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs dataset-fashion-mnist"
        );
        eprintln!("skipped: no Fashion-MNIST (apt-get install -y dataset-fashion-mnist)");
        return;
    }
    let dir = fixture("image");
    std::fs::write(dir.join("image.toml"), IMAGE_FLOW).unwrap();
    let run = |out: &str| {
        format!(
            "model = \"image.toml\"\nout = \"{out}\"\niterations = 3\nbatch = 4\nshards = 2\n\
             seed = 2\n[data]\nbuiltin = \"fashion-mnist\"\npoints = 8\n[validation]\n\
             fraction = 0.25\nevery = 3\n"
        )
    };
    for (ranks, out) in [(0, "i0"), (2, "i2")] {
        ok(&train_with(&dir, ranks, out, &run(out), &[], &[]));
    }
    let w = |o: &str| tensors(&dir.join(o).join("weights.safetensors"));
    assert_eq!(w("i2"), w("i0"));
}
