//! Helpers shared by the integration tests (`suite/main.rs` and the separate binaries declare
//! `mod common;`): fresh scratch directories, model-file fixtures, running the `symplode`
//! binary and checking what it prints, and reading back the files it writes. Each test binary
//! uses a part of them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use symplode::io::SafeTensors;

/// Panics if `path` was already handed out in this process: the tests of one binary run in
/// parallel, so two tests sharing a scratch path would race on it.
fn claim(path: &Path) {
    static CLAIMED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let fresh = CLAIMED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf());
    assert!(
        fresh,
        "scratch path {} is used by two tests",
        path.display()
    );
}

/// An empty directory `name` under cargo's scratch space for integration tests
/// (`CARGO_TARGET_TMPDIR`), removed first if a previous run left it. Names are unique per test
/// binary (checked).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    claim(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The path of `file` in the directory `dir` under cargo's scratch space, which is created if
/// needed and shared by the tests of one file (their file names must differ; checked).
pub fn scratch_file(dir: &str, file: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    claim(&path);
    path
}

/// The tensors of a safetensors file, `(name, shape, values as f64)` in name order.
pub fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let st = SafeTensors::read(path).unwrap();
    st.names()
        .into_iter()
        .map(|n| {
            let t = st.tensor(&n).unwrap();
            (n, t.shape, t.data)
        })
        .collect()
}

/// The JSON lines of a training log.
pub fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A small 2-D flow model file: ConcatSquash 2 → 16 tanh → 2, Hutchinson training, rk4 with 4
/// fixed steps over [0, 0.5].
pub const FLOW: &str = r#"
form = "cnf"
dim = 2
time_length = 0.5
trace = "hutchinson"
tableau = "rk4"
[[layers]]
kind = "concat_squash"
out = 16
activation = "tanh"
[[layers]]
kind = "concat_squash"
out = 2
[solver]
steps = 4
"#;

/// −mean log p of `x` (`[n, 2]`) under the flow with `params`, by the exact trace with fixed
/// rk4 steps, written out independently of the trainer: the library's CNF graph, solved
/// here; log N(z; 0, I) by hand.
pub fn exact_nll(params: &[f64], x: &[f64]) -> f64 {
    use symplode::codegen::ad::Trace;
    use symplode::codegen::ir::{Activation, Graph};
    use symplode::prelude::*;
    use symplode::runtime::interp::cnf;
    let f = Graph::concat_squash_mlp(2, &[16], Activation::Tanh).unwrap();
    let m = cnf::<f64>(&f, Trace::Exact, params.to_vec()).unwrap();
    let x0: Vec<f64> = x.chunks_exact(2).flat_map(|p| [p[0], p[1], 0.0]).collect();
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let sol = solve(&m, &scheme, &Stepping::fixed(4), &[0.0, 0.5], &x0).unwrap();
    let n = x.len() / 2;
    let lp: f64 = sol.states[0]
        .chunks_exact(3)
        .map(|r| -0.5 * (r[0] * r[0] + r[1] * r[1]) - (2.0 * std::f64::consts::PI).ln() - r[2])
        .sum();
    -lp / n as f64
}

/// The parameters in the graph's order from the trained weights file.
pub fn graph_params(path: &Path) -> Vec<f64> {
    let st = SafeTensors::read(path).unwrap();
    let f = symplode::codegen::ir::Graph::concat_squash_mlp(
        2,
        &[16],
        symplode::codegen::ir::Activation::Tanh,
    )
    .unwrap();
    f.params()
        .iter()
        .flat_map(|p| st.tensor(&p.name).unwrap().data)
        .collect()
}

#[cfg(feature = "cli")]
#[allow(unused_imports)] // test binaries without the command line use none of it
pub use cli::*;

/// Running the binary (feature `cli`).
#[cfg(feature = "cli")]
mod cli {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use symplode::io::{ModelSpec, npy, save_weights};

    /// `--model m.toml --weights w.safetensors --x0 x0.npy`: the files of [`spec_fixture`].
    pub const MODEL_ARGS: [&str; 6] = [
        "--model",
        "m.toml",
        "--weights",
        "w.safetensors",
        "--x0",
        "x0.npy",
    ];

    /// A fresh directory `name` holding `spec` as m.toml, its weights initialised from `seed`
    /// as w.safetensors, and `x0` of shape `shape` as x0.npy.
    pub fn spec_fixture(name: &str, spec: &str, seed: u64, shape: &[usize], x0: &[f64]) -> PathBuf {
        let dir = super::fresh_dir(name);
        std::fs::write(dir.join("m.toml"), spec).unwrap();
        let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
        save_weights(dir.join("w.safetensors"), &spec.init::<f64>(seed).unwrap()).unwrap();
        npy::write(dir.join("x0.npy"), shape, x0).unwrap();
        dir
    }

    /// The `symplode` binary of this build.
    pub fn symplode() -> Command {
        Command::new(env!("CARGO_BIN_EXE_symplode"))
    }

    /// Runs `symplode args…` in `dir` (whatever its outcome).
    pub fn run(dir: &Path, args: &[&str]) -> Output {
        symplode().current_dir(dir).args(args).output().unwrap()
    }

    /// Standard output of a run that must have succeeded (else its output in the panic).
    pub fn ok(o: &Output) -> String {
        assert!(
            o.status.success(),
            "stdout {}\nstderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs `symplode args…` in `dir`, which must succeed; its standard output.
    pub fn succeeds(dir: &Path, args: &[&str]) -> String {
        let out = run(dir, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `symplode args…` in `dir` and checks a failure as the command promises it: exit
    /// code `code`, one short line `error: …` on standard error containing every `want` (no
    /// panic), nothing on standard output. Returns the line.
    pub fn fails(dir: &Path, args: &[&str], code: i32, want: &[&str]) -> String {
        let out = run(dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line:\n{stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        for w in want {
            assert!(stderr.contains(w), "{args:?}:\n{stderr}lacks: {w}");
        }
        assert!(
            !stderr.contains("panicked") && !stderr.contains("internal error"),
            "{stderr}"
        );
        assert!(stderr.len() < 1000, "message of {} bytes", stderr.len());
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        stderr
    }

    /// `symplode train --quiet --config config extra…` in `dir`.
    pub fn train(dir: &Path, config: &str, extra: &[&str]) -> Output {
        symplode()
            .current_dir(dir)
            .args(["train", "--quiet", "--config", config])
            .args(extra)
            .output()
            .unwrap()
    }
}
