//! Image models in TOML specs (`shape`, `kind = "conv2d" | "squeeze" | "unsqueeze"`): the
//! spec's network is the `neural_ode!` network of the same layers bit for bit, `symplode
//! grad` and `solve` on it write exactly what the library computes, and a spec whose image
//! layers do not fit is refused with the layer and the reason.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use symplode::io::{ModelSpec, SafeTensors, npy, save_weights};
use symplode::neural_ode;
use symplode::prelude::*;

/// FFJORD-style ConcatConv2d layers around a squeeze, on 1 × 4 × 4 images.
const SPEC: &str = r#"
dim = 16
shape = [1, 4, 4]
tableau = "dopri5"

[[layers]]
name = "odefunc.0._layer"
kind = "conv2d"
out = 4
kernel = 3
padding = 1
concat_time = true
activation = "softplus"

[[layers]]
kind = "squeeze"

[[layers]]
name = "odefunc.2"
kind = "conv2d"
out = 8
kernel = 1
bias = false
activation = "tanh"

[[layers]]
kind = "unsqueeze"

[[layers]]
name = "odefunc.4._layer"
kind = "conv2d"
out = 1
kernel = 3
padding = 1
concat_time = true

[solver]
rtol = 1e-6
atol = 1e-8
"#;

neural_ode! {
    /// [`SPEC`]'s network declared in the DSL.
    struct Same {
        float: f64,
        shape: [1, 4, 4],
        layers: [
            conv2d(4, 3, 1, 1, softplus, concat_time),
            squeeze,
            conv2d(8, 1, tanh, no_bias),
            unsqueeze,
            conv2d(1, 3, 1, 1, concat_time),
        ],
        tableau: dopri5,
    }
}

const BATCH: usize = 3;
const DIM: usize = 16;

/// A fresh directory holding m.toml, w.safetensors (seeded init) and x0.npy.
fn fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("symplode-img-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.toml"), SPEC).unwrap();
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    save_weights(
        dir.join("w.safetensors"),
        &spec.init_net::<f64>(2026).unwrap(),
    )
    .unwrap();
    let x0: Vec<f64> = (0..BATCH * DIM).map(|i| (i as f64 * 0.37).sin()).collect();
    npy::write(dir.join("x0.npy"), &[BATCH, DIM], &x0).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symplode"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

const MODEL: [&str; 6] = [
    "--model",
    "m.toml",
    "--weights",
    "w.safetensors",
    "--x0",
    "x0.npy",
];

#[test]
fn the_spec_network_is_the_dsl_network() {
    let spec = ModelSpec::parse(SPEC, "m.toml").unwrap();
    assert!(spec.is_image());
    let net = spec.init_net::<f64>(1).unwrap();
    let names: Vec<String> = net.param_tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(names, spec.tensor_names());
    assert_eq!(names[0], "odefunc.0._layer.weight");
    assert_eq!(net.param_tensors()[0].shape, vec![4, 2, 3, 3]);
    assert_eq!(names.len(), 5, "odefunc.2 has no bias");
    let dsl = Same::from_params(net.params().to_vec()).unwrap();
    let shapes = |d: &dyn Dynamics<f64>| {
        d.param_tensors()
            .into_iter()
            .map(|t| (t.shape, t.offset))
            .collect::<Vec<_>>()
    };
    assert_eq!(shapes(&net), shapes(&dsl));
    let x: Vec<f64> = (0..BATCH * DIM).map(|i| (i as f64 * 0.29).cos()).collect();
    let eval = |d: &dyn Dynamics<f64>| {
        let mut s = vec![0.0; d.scratch_len(BATCH)];
        let mut dx = vec![0.0; BATCH * DIM];
        d.eval(0.4, &x, &mut dx, &mut s);
        dx
    };
    assert_eq!(bits(&eval(&net)), bits(&eval(&dsl)));
    assert!(
        spec.summary()
            .contains("1×4×4 → conv2d 4 (3×3, stride 1, padding 1, t) softplus")
    );
    // The spec writes back to the same spec.
    let back = ModelSpec::parse(&spec.to_toml().unwrap(), "m.toml").unwrap();
    assert_eq!(back, spec);
    // The dense-only entry points refuse an image spec.
    let e = spec.init::<f64>(1).unwrap_err().to_string();
    assert!(e.contains("use `ModelSpec::init_net`"), "{e}");
}

#[test]
fn grad_and_solve_write_the_library_results() {
    let dir = fixture("grad");
    let out = run(
        &dir,
        &[
            &["grad", "--method", "symplectic", "--out", "g.safetensors"][..],
            &MODEL,
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let net = spec
        .build_net::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let x0: Vec<f64> = npy::read(dir.join("x0.npy")).unwrap().to_vec();
    let stepping = Stepping::adaptive(1e-6, 1e-8);
    let problem = Problem::single(&net, &[0.0, 1.0], &scheme, stepping.clone(), &x0);
    let r = SymplecticAdjoint
        .gradient(&problem, &mut losses::mean_sq_final(DIM))
        .unwrap();
    let f = SafeTensors::read(dir.join("g.safetensors")).unwrap();
    assert_eq!(bits(&f.tensor("x0").unwrap().data), bits(&r.dx0));
    let theta: Vec<f64> = spec
        .tensor_names()
        .iter()
        .flat_map(|n| f.tensor(n).unwrap().data)
        .collect();
    assert_eq!(bits(&theta), bits(&r.dtheta[0]));
    // Backprop agrees (the exact gradient).
    let b = Backprop
        .gradient(&problem, &mut losses::mean_sq_final(DIM))
        .unwrap();
    let scale = b.dtheta[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff =
        (r.dtheta[0].iter().zip(&b.dtheta[0])).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        scale > 0.0 && diff <= 1e-12 * scale,
        "{diff:e} of {scale:e}"
    );

    let out = run(
        &dir,
        &[
            &["solve", "--times", "0,0.5,1", "--out", "s.npy"][..],
            &MODEL,
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = npy::read(dir.join("s.npy")).unwrap();
    assert_eq!(a.shape, vec![3, BATCH, DIM]);
    let sol = solve(&net, &scheme, &stepping, &[0.0, 0.5, 1.0], &x0).unwrap();
    let mut want = x0.clone();
    want.extend(sol.states.as_slice());
    assert_eq!(bits(&a.data), bits(&want));
}

#[test]
fn hvp_and_f32_run_on_an_image_spec() {
    let dir = fixture("hvp");
    // H·v (second order through the interpreted conv graph), checked by the command against
    // central differences of the gradient.
    let out = run(&dir, &[&["hvp", "--check", "--json"][..], &MODEL].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = json["check_rel_error"].as_f64().unwrap();
    assert!(check < 1e-6, "--check: {check:e}");
    // f32: the same network in single precision, close to f64.
    let args = ["grad", "--f32", "--steps", "4", "--out", "g32.safetensors"];
    let out = run(&dir, &[&args[..], &MODEL].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = ["grad", "--steps", "4", "--out", "g64.safetensors"];
    assert!(run(&dir, &[&args[..], &MODEL].concat()).status.success());
    let name = "odefunc.0._layer.weight";
    let read = |f: &str| {
        SafeTensors::read(dir.join(f))
            .unwrap()
            .tensor(name)
            .unwrap()
            .data
    };
    let (a, b) = (read("g32.safetensors"), read("g64.safetensors"));
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        scale > 0.0 && diff <= 1e-4 * scale,
        "f32 vs f64: {diff:e} of {scale:e}"
    );
}

#[test]
fn image_layers_that_do_not_fit_are_refused_with_the_layer() {
    let bad = |from: &str, to: &str| {
        let text = SPEC.replacen(from, to, 1);
        ModelSpec::parse(&text, "m.toml").unwrap_err().to_string()
    };
    let e = bad("shape = [1, 4, 4]", "shape = [1, 4, 5]");
    assert!(e.contains("shape") && e.contains("dim = 16"), "{e}");
    let e = bad("dim = 16\nshape = [1, 4, 4]", "dim = 20\nshape = [1, 4, 5]");
    assert!(
        e.contains("layers[1].kind") && e.contains("even height and width"),
        "{e}"
    );
    let e = bad(
        "padding = 1\nconcat_time = true\n\n[solver]",
        "concat_time = true\n\n[solver]",
    );
    assert!(
        e.contains("layers[4].out") && e.contains("gives a 1×2×2 image"),
        "{e}"
    );
    let e = bad("kernel = 1", "kernel = 9");
    assert!(
        e.contains("layers[2].kernel") && e.contains("does not fit"),
        "{e}"
    );
    let e = bad(
        "kind = \"squeeze\"",
        "kind = \"squeeze\"\nactivation = \"tanh\"",
    );
    assert!(e.contains("layers[1].activation"), "{e}");
    let e = bad("kind = \"unsqueeze\"", "kind = \"upsample\"");
    assert!(
        e.contains("layers[3].kind") && e.contains("unknown kind `upsample`"),
        "{e}"
    );
    let e = bad("dim = 16", "dim = 16\ntime_input = true");
    assert!(e.contains("time_input") && e.contains("concat_time"), "{e}");

    // The command line reports it and fails.
    let dir = fixture("bad");
    std::fs::write(
        dir.join("m.toml"),
        SPEC.replacen("kernel = 1", "kernel = 9", 1),
    )
    .unwrap();
    let out = run(
        &dir,
        &[&["grad", "--out", "g.safetensors"][..], &MODEL].concat(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("layers[2].kernel"), "{err}");
}

/// The FFJORD-style 28 × 28 example of the `symplode::io` documentation.
const DOC_SPEC: &str = r#"
dim = 784
shape = [1, 28, 28]
tableau = "dopri5"

[[layers]]
name = "odefunc.diffeq.layers.0._layer"
kind = "conv2d"
out = 64
kernel = 3
padding = 1
concat_time = true
activation = "softplus"

[[layers]]
kind = "squeeze"

[[layers]]
kind = "unsqueeze"

[[layers]]
name = "odefunc.diffeq.layers.1._layer"
kind = "conv2d"
out = 1
kernel = 3
padding = 1
concat_time = true
"#;

#[test]
fn the_documented_28_by_28_spec_is_valid() {
    let spec = ModelSpec::parse(DOC_SPEC, "doc.toml").unwrap();
    let t = spec.param_tensors().unwrap();
    assert_eq!(t[0].shape, vec![64, 2, 3, 3]);
    assert_eq!(t[2].shape, vec![1, 65, 3, 3]);
    assert_eq!(spec.init_net::<f64>(0).unwrap().dim(), 784);
}
