//! `--jit` and `--tableau-file` on the command line: JIT-compiled step kernels give the
//! interpreted gradients to rounding, and `tableau check --jit` reports the compilation.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};

use crate::common::{MODEL_ARGS, run, spec_fixture};
use symplode::io::SafeTensors;
use symplode::runtime::rng::Rng;

const SPEC: &str = r#"
dim = 2
time_input = true

[[layers]]
name = "net.0"
out = 8
activation = "tanh"

[[layers]]
name = "net.2"
out = 2
"#;

const RK3: &str = r#"
name = "kutta3"
order = 3
c = ["0", "1/2", "1"]
a = [["1/2"], ["-1", "2"]]
b = ["1/6", "2/3", "1/6"]
"#;

fn fixture(name: &str) -> PathBuf {
    let mut rng = Rng::new(3);
    let x0: Vec<f64> = (0..8).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let dir = spec_fixture(&format!("cli-jit-{name}"), SPEC, 5, &[4, 2], &x0);
    std::fs::write(dir.join("kutta3.toml"), RK3).unwrap();
    dir
}

fn grads(dir: &Path, file: &str) -> Vec<f64> {
    let f = SafeTensors::read(dir.join(file)).unwrap();
    let mut all = Vec::new();
    for name in [
        "x0",
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    ] {
        all.extend(f.tensor(name).unwrap().data);
    }
    all
}

#[test]
fn jit_gradients_equal_interpreted_ones() {
    let dir = fixture("grad");
    let base = [
        &["grad"][..],
        &MODEL_ARGS,
        &[
            "--tableau-file",
            "kutta3.toml",
            "--steps",
            "7",
            "--method",
            "symplectic",
        ],
    ]
    .concat();
    let plain = run(&dir, &[&base[..], &["--out", "plain.safetensors"]].concat());
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let jit = run(
        &dir,
        &[&base[..], &["--jit", "--out", "jit.safetensors"]].concat(),
    );
    if cfg!(feature = "jit") {
        assert!(
            jit.status.success(),
            "{}",
            String::from_utf8_lossy(&jit.stderr)
        );
        let (a, b) = (
            grads(&dir, "plain.safetensors"),
            grads(&dir, "jit.safetensors"),
        );
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-12 * scale, "{x} vs {y}");
        }
    } else {
        assert!(!jit.status.success());
    }
}

#[test]
fn tableau_check_jit_reports_the_compilation() {
    let dir = fixture("check");
    let out = run(&dir, &["tableau", "check", "kutta3.toml", "--jit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    if cfg!(feature = "jit") {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("ms"), "{text}");
    } else {
        assert!(!out.status.success());
    }
    let bad = run(&dir, &["tableau", "check", "kutta3.toml", "--disasm"]);
    assert!(!bad.status.success(), "--disasm requires --jit");
}
