//! `symplode hvp` end to end: the written H·v equals the library's `grad::hvp` for the same
//! direction, `--check` agrees with differences of the gradient, `--json` parses, and a
//! direction file with an unknown tensor is a one-line error.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;

use std::path::PathBuf;

use crate::common::{MODEL_ARGS, run, spec_fixture};
use symplode::io::{ModelSpec, NamedTensor, SafeTensors, npy, safetensors};
use symplode::prelude::*;
use symplode::runtime::grad::hvp::{Direction, MeanSqFinal, hvp};
use symplode::runtime::rng::Rng;

const SPEC: &str = r#"
dim = 2
time_input = true
tableau = "dopri5"

[[layers]]
name = "net.0"
out = 8
activation = "tanh"

[[layers]]
name = "net.2"
out = 2

[solver]
rtol = 1e-6
atol = 1e-8
"#;

const BATCH: usize = 4;

/// A fresh directory with m.toml, w.safetensors, x0.npy and v.safetensors (a direction in
/// `net.0.weight` and `x0`).
fn fixture(name: &str) -> PathBuf {
    let mut rng = Rng::new(7);
    let mut draw =
        |n: usize| -> Vec<f64> { (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect() };
    let dir = spec_fixture(
        &format!("hvp-{name}"),
        SPEC,
        3,
        &[BATCH, 2],
        &draw(BATCH * 2),
    );
    let (w, x) = (draw(8 * 3), draw(BATCH * 2));
    let tensors = [
        NamedTensor::new("net.0.weight", &[8, 3], &w[..]),
        NamedTensor::new("x0", &[BATCH, 2], &x[..]),
    ];
    safetensors::write(dir.join("v.safetensors"), &tensors, &BTreeMap::new()).unwrap();
    dir
}

#[test]
fn writes_the_library_hvp_and_checks_it() {
    let dir = fixture("ok");
    let mut args = vec!["hvp"];
    args.extend(MODEL_ARGS);
    args.extend([
        "--direction",
        "v.safetensors",
        "--check",
        "--json",
        "--out",
        "hv.safetensors",
    ]);
    let out = run(&dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = json["check_rel_error"].as_f64().unwrap();
    assert!(check < 1e-7, "--check: {check:e}");
    assert!(json["memory_measured"]["total"].as_u64().unwrap() > 0);

    // The library's H·v for the same direction.
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let w = SafeTensors::read(dir.join("w.safetensors")).unwrap();
    let net = spec.build::<f64>(&w).unwrap();
    let x0 = npy::read(dir.join("x0.npy")).unwrap().to_vec::<f64>();
    let v_file = SafeTensors::read(dir.join("v.safetensors")).unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let problem = Problem::single(
        &net,
        &[0.0, 1.0],
        &scheme,
        Stepping::adaptive(1e-6, 1e-8),
        &x0,
    );
    let mut v = Direction::zeros(&problem);
    v.x0 = v_file.tensor("x0").unwrap().data;
    v.theta[0][..24].copy_from_slice(&v_file.tensor("net.0.weight").unwrap().data);
    let r = hvp(&problem, &mut MeanSqFinal { dim: 2 }, &v).unwrap();
    let written = SafeTensors::read(dir.join("hv.safetensors")).unwrap();
    assert_eq!(written.tensor("x0").unwrap().data, r.hv_x0);
    for t in net.param_tensors() {
        assert_eq!(
            written.tensor(&t.name).unwrap().data,
            r.hv_theta[0][t.range()].to_vec(),
            "{}",
            t.name
        );
    }
    // The text report runs too (random direction).
    let mut args = vec!["hvp"];
    args.extend(MODEL_ARGS);
    let out = run(&dir, &args);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("vᵀHv") && text.contains("random unit parameter direction"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_direction_tensor_is_a_one_line_error() {
    let dir = fixture("bad");
    let z = [0.0f64; 2];
    let tensors = [NamedTensor::new("net.9.weight", &[2], &z[..])];
    safetensors::write(dir.join("bad.safetensors"), &tensors, &BTreeMap::new()).unwrap();
    let mut args = vec!["hvp"];
    args.extend(MODEL_ARGS);
    args.extend(["--direction", "bad.safetensors"]);
    let out = run(&dir, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --direction bad.safetensors: tensor `net.9.weight`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn over_the_memory_budget_is_refused_before_starting() {
    let dir = fixture("budget");
    let mut args = vec!["hvp"];
    args.extend(MODEL_ARGS);
    args.extend(["--memory-budget", "10K"]);
    let out = run(&dir, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exceeds the memory budget"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
