//! Every bad input makes `symplode` exit non-zero with exactly one line `error: …` on standard
//! error naming what is wrong and where, and never panic.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};

use crate::common::{MODEL_ARGS, spec_fixture};
use symplode::io::npy;

const SPEC: &str = r#"
dim = 2
time_input = true
tableau = "rk4"

[[layers]]
name = "net.0"
out = 8
activation = "tanh"

[[layers]]
name = "net.2"
out = 2

[solver]
steps = 4
"#;

/// A fresh directory with a valid m.toml, w.safetensors and x0.npy ([3, 2]).
fn fixture(name: &str) -> PathBuf {
    spec_fixture(
        &format!("bad-{name}"),
        SPEC,
        1,
        &[3, 2],
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    )
}

/// Runs `symplode grad` (or `args` as given when they start with a subcommand) and checks the
/// failure: exit code `code`, one stderr line `error: …` containing `want`.
fn fails(dir: &Path, args: &[&str], code: i32, want: &str) {
    let mut full: Vec<&str> = Vec::new();
    if !matches!(
        args.first(),
        Some(&("grad" | "solve" | "tableau" | "frobnicate"))
    ) {
        full.push("grad");
        full.extend(MODEL_ARGS);
    }
    full.extend(args);
    crate::common::fails(dir, &full, code, &[want]);
}

#[test]
fn missing_files() {
    let d = fixture("missing");
    fails(
        &d,
        &["--model", "nope.toml"],
        2,
        "'--model <M.toml>' cannot be used multiple times",
    );
    let grad = ["grad", "--weights", "w.safetensors", "--x0", "x0.npy"];
    fails(
        &d,
        &[&grad[..], &["--model", "nope.toml"]].concat(),
        1,
        "cannot read nope.toml:",
    );
    std::fs::remove_file(d.join("w.safetensors")).unwrap();
    fails(&d, &[], 1, "cannot read w.safetensors:");
    let d = fixture("missing-x0");
    std::fs::remove_file(d.join("x0.npy")).unwrap();
    fails(&d, &[], 1, "cannot read x0.npy:");
    let d = fixture("missing-tableau");
    fails(&d, &["--tableau", "t.toml"], 1, "cannot read t.toml:");
}

#[test]
fn bad_model_specs() {
    let d = fixture("spec");
    let cases = [
        (SPEC.replace("out = 8", "out = 8,"), "m.toml:8:8: "),
        (
            SPEC.replace("activation = \"tanh\"", "activation = \"tahn\""),
            "m.toml: `layers[0].activation`: unknown activation `tahn`",
        ),
        (
            SPEC.replace("time_input", "time_inputs"),
            "m.toml:3:1: unknown field `time_inputs`",
        ),
        (
            SPEC.replace("out = 2", "out = 3"),
            "out must equal dim = 2, got 3",
        ),
        (
            SPEC.replace("tableau = \"rk4\"", "tableau = \"rk5\""),
            "m.toml: `tableau`: unknown tableau `rk5`",
        ),
        (
            SPEC.replace("steps = 4", "steps = 4\nrtol = 1e-3"),
            "`solver.rtol`: is an adaptive-step option",
        ),
        (
            SPEC.replace("steps = 4", "steps = 0"),
            "`solver.steps`: 0 is invalid",
        ),
        (
            SPEC.replace("[solver]\nsteps = 4", ""),
            "no step options: give --steps N or --rtol R --atol A",
        ),
        (
            SPEC.replace("tableau = \"rk4\"", ""),
            "no tableau: give --tableau NAME",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(d.join("m.toml"), text).unwrap();
        fails(&d, &[], 1, want);
    }
}

#[test]
fn bad_weights() {
    let d = fixture("weights");
    std::fs::write(d.join("m.toml"), SPEC.replace("net.2", "net.3")).unwrap();
    fails(
        &d,
        &[],
        1,
        "w.safetensors: tensor `net.3.weight` not found; the file has `net.0.bias`",
    );
    std::fs::write(d.join("m.toml"), SPEC.replace("out = 8", "out = 9")).unwrap();
    fails(
        &d,
        &[],
        1,
        "w.safetensors: tensor `net.0.weight` has shape [8, 3], expected [9, 3] ([out, in] of layer `net.0`)",
    );
    std::fs::write(d.join("m.toml"), SPEC).unwrap();
    let mut bytes = std::fs::read(d.join("w.safetensors")).unwrap();
    let n = bytes.len();
    bytes[n - 8..].copy_from_slice(&f64::NAN.to_le_bytes());
    std::fs::write(d.join("w.safetensors"), &bytes).unwrap();
    fails(&d, &[], 1, "element [1] is NaN (not finite)");
    std::fs::write(d.join("w.safetensors"), b"not a safetensors file at all").unwrap();
    fails(&d, &[], 1, "w.safetensors: not a valid safetensors file:");
}

#[test]
fn bad_arrays_and_values() {
    let d = fixture("arrays");
    npy::write(d.join("x3.npy"), &[2, 3], &[0.0f64; 6]).unwrap();
    fails(&d, &["--x0", "x3.npy"], 2, "cannot be used multiple times");
    let grad = ["grad", "--model", "m.toml", "--weights", "w.safetensors"];
    let with_x0 = |x0: &'static str| [&grad[..], &["--x0", x0]].concat();
    fails(
        &d,
        &with_x0("x3.npy"),
        1,
        "x3.npy: x0 has shape [2, 3], expected [batch, 2]",
    );
    npy::write(d.join("xi.npy"), &[1, 2], &[0.0, f64::INFINITY]).unwrap();
    fails(
        &d,
        &with_x0("xi.npy"),
        1,
        "xi.npy: x0 element [0, 1] is inf (not finite)",
    );
    std::fs::write(d.join("junk.npy"), b"\x93NUMPY junk").unwrap();
    fails(
        &d,
        &with_x0("junk.npy"),
        1,
        "junk.npy: not a valid npy file",
    );
    npy::write(d.join("c.npy"), &[2, 2], &[0.0f64; 4]).unwrap();
    fails(
        &d,
        &["--cotangent", "c.npy"],
        1,
        "c.npy: cotangent has shape [2, 2], expected [3, 2] (the shape of x0)",
    );
    fails(
        &d,
        &["--t0", "1", "--t1", "0"],
        1,
        "--t0/--t1: times must be finite and strictly increasing",
    );
    fails(&d, &["--rtol", "1e-6"], 1, "has no embedded error estimate");
    fails(&d, &["--rtol", "-1"], 1, "`solver.rtol`: -1 is invalid");
    fails(
        &d,
        &["--tableau", "dopri"],
        1,
        "--tableau: unknown tableau `dopri`",
    );
    fails(
        &d,
        &["--steps", "2", "--rtol", "1e-3"],
        2,
        "cannot be used with",
    );
    fails(
        &d,
        &["--method", "magic"],
        2,
        "invalid value 'magic' for '--method",
    );
    fails(
        &d,
        &["--steps", "many"],
        2,
        "invalid value 'many' for '--steps <N>'",
    );
    fails(
        &d,
        &["frobnicate"],
        2,
        "unrecognized subcommand 'frobnicate'",
    );
    let solve = [&["solve"][..], &MODEL_ARGS].concat();
    fails(
        &d,
        &[&solve[..], &["--times", "0,1,1"]].concat(),
        1,
        "--times: times must be finite and strictly increasing, but time 2 (1) follows 1",
    );
    fails(
        &d,
        &[&solve[..], &["--out", "no/such/dir/s.npy"]].concat(),
        1,
        "cannot write no/such/dir/s.npy",
    );
    fails(
        &d,
        &[
            &grad[..],
            &[
                "--x0",
                "x0.npy",
                "--max-steps",
                "1",
                "--rtol",
                "1e-9",
                "--tableau",
                "dopri5",
            ],
        ]
        .concat(),
        1,
        "step budget exceeded",
    );
}

#[test]
fn bad_tableaux() {
    let d = fixture("tableau");
    let heun3 = "order = 3\nc = ['0', '1/3', '2/3']\na = [[], ['1/3'], ['0', '2/3']]\nb = ['1/4', '0', '3/4']\n";
    std::fs::write(d.join("t.toml"), heun3.replace("order = 3", "order = 4")).unwrap();
    fails(
        &d,
        &["tableau", "check", "t.toml"],
        1,
        "t.toml: tableau `t` does not have order 4 with weights b",
    );
    fails(&d, &["--tableau", "t.toml"], 1, "does not have order 4");
    std::fs::write(d.join("t.toml"), heun3.replace("'1/4'", "'1/4x'")).unwrap();
    fails(
        &d,
        &["tableau", "check", "t.toml"],
        1,
        "t.toml: `b[0]`: cannot parse `1/4x`",
    );
    std::fs::write(d.join("t.toml"), "order = ").unwrap();
    fails(&d, &["tableau", "check", "t.toml"], 1, "t.toml:1:");
    fails(
        &d,
        &["tableau", "check", "dopri7"],
        1,
        "dopri7: `tableau`: no such file, and not a built-in",
    );
}
