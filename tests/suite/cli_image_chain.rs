//! FFJORD's multiscale image flow from the TOML model file (`form = "image_flow"` with
//! `scales`/`blocks`, a chain of CNF blocks): `symplode grad` gives the library
//! `ImageFlow`'s gradient bit for bit, every exact method agrees with backprop to 1e-12
//! through the command line, `solve --nll` gives the library's NLL, a killed training run
//! resumes to bit-identical checkpoints, a Fashion-MNIST run reports bits/dim and writes a
//! sample grid, and bad `scales`/`blocks`/`trace` values are one error line naming the field.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;

use crate::common::{fails, fresh_dir, log_lines, ok, run, succeeds, tensors, train};
use crate::flow_cli::{GRAD_FIXTURE, cli_grad, run_toml};
use symplode::io::{NamedTensor, npy, safetensors};
use symplode::prelude::*;
use symplode::runtime::models::image_flow::{ImageFlow, ImageFlowConfig, nll_loss};
use symplode::runtime::rng::Rng;
use symplode::train::flow::{FlowSamples, FlowTrace, Noise};
use symplode::train::{FlowChain, TrainModel};

/// Two scales on 1 × 8 × 8 images, one block per squeeze side (3 CNF blocks), hidden [4].
const FLOW: &str = r#"
form = "image_flow"
image = [1, 8, 8]
hidden = [4]
scales = 2
blocks = 1
time_length = 1.0
noise = "rademacher"
tableau = "rk4"
[solver]
steps = 2
"#;

/// The configuration of [`FLOW`].
fn config() -> ImageFlowConfig {
    ImageFlowConfig {
        image: [1, 8, 8],
        scales: 2,
        blocks: 1,
        hidden: vec![4],
    }
}

/// Image values per sample.
const D: usize = 64;
/// The CLI's salt of `--noise-seed` (`VALIDATION_SALT` of `src/cli/train_flow.rs`).
const NOISE_SALT: u64 = 0x5EED_7E57;

/// A directory with `flow.toml`, the library flow's weights (seed 7) as `w.safetensors` and
/// 3 samples as `x0.npy`; returns it, the flow and the samples.
fn fixture(name: &str) -> (std::path::PathBuf, ImageFlow<f64>, Vec<f64>) {
    let dir = fresh_dir(name);
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    let flow = ImageFlow::<f64>::new(&config(), 7).unwrap();
    let chain = FlowChain::from_flow(flow.clone(), 1.0).unwrap();
    let params = chain.params();
    let named: Vec<NamedTensor<'_, f64>> = chain
        .param_tensors()
        .into_iter()
        .map(|t| NamedTensor::new(&t.name, &t.shape, &params[t.range()]))
        .collect();
    safetensors::write(dir.join("w.safetensors"), &named, &BTreeMap::new()).unwrap();
    let mut rng = Rng::new(3);
    let rows: Vec<f64> = (0..3 * D).map(|_| rng.normal()).collect();
    npy::write(dir.join("x0.npy"), &[3, D], &rows).unwrap();
    (dir, flow, rows)
}

/// The library's problem for `rows` with the probes the CLI draws from `--noise-seed seed`:
/// the start states `[x, 0]` after setting every block's probe.
fn library_x0(flow: &mut ImageFlow<f64>, rows: &[f64], seed: u64) -> Vec<f64> {
    let k = flow.blocks().len();
    let trace = FlowTrace::Hutchinson(Noise::Rademacher);
    let mut rng = Rng::new(seed ^ NOISE_SALT);
    let b = FlowSamples::states_with_probes::<f64>(rows, D, trace, k, 1.0, &mut rng);
    let width = D + 1 + k * D;
    for (blk, m) in flow.blocks_mut().iter_mut().enumerate() {
        let at = D + 1 + blk * D;
        let probe: Vec<f64> =
            b.x0.chunks_exact(width)
                .flat_map(|r| r[at..at + D].iter().copied())
                .collect();
        m.set_aux(1, &probe).unwrap();
    }
    b.x0.chunks_exact(width)
        .flat_map(|r| r[..=D].iter().copied())
        .collect()
}

#[test]
fn grad_is_the_library_gradient_bit_for_bit_and_exact_methods_agree() {
    let (dir, mut flow, rows) = fixture("image-chain-grad");
    let x0 = library_x0(&mut flow, &rows, 11);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let problem = flow.problem(&scheme, &Stepping::fixed(2), &x0);
    let lib = SymplecticAdjoint
        .gradient(&problem, &mut |o: &Outputs<f64>, c: &mut Outputs<f64>| {
            nll_loss(o, c, D)
        })
        .unwrap();
    let cli = cli_grad(&dir, "symplectic", &[]);
    let mut compared = 0;
    for (b, m) in flow.blocks().iter().enumerate() {
        for t in m.param_tensors() {
            let name = format!("blocks.{b}.{}", t.name);
            let got = &cli[&name];
            let want = &lib.dtheta[b][t.range()];
            assert_eq!(got.as_slice(), want, "{name}");
            compared += got.len();
        }
    }
    assert_eq!(compared, flow.n_params());
    assert!(lib.dtheta.iter().flatten().any(|v| *v != 0.0));
    let dx: Vec<f64> = lib
        .dx0
        .chunks_exact(D + 1)
        .flat_map(|r| r[..D].iter().copied())
        .collect();
    assert_eq!(cli["x0"], dx, "dL/dx0");
    // Every exact method = backprop, through the command line.
    let reference = cli_grad(&dir, "backprop", &[]);
    for method in [
        "symplectic",
        "symplectic-stored",
        "aca",
        "checkpoint-component",
        "symplectic-binomial",
    ] {
        let g = cli_grad(&dir, method, &[]);
        for (name, want) in &reference {
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let err = g[name]
                .iter()
                .zip(want)
                .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
            assert!(
                err <= 1e-12 * scale,
                "{method} {name}: {err:e} of {scale:e}"
            );
        }
    }
}

#[test]
fn solve_nll_is_the_library_nll() {
    let (dir, mut flow, rows) = fixture("image-chain-solve");
    let x0 = library_x0(&mut flow, &rows, 2);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    // Block after block over [b, b + 1], each from the previous block's end.
    let mut x = x0.clone();
    for (b, m) in flow.blocks().iter().enumerate() {
        let t = [b as f64, b as f64 + 1.0];
        let sol = solve(m, &scheme, &Stepping::fixed(2), &t, &x).unwrap();
        x.copy_from_slice(&sol.states[0]);
    }
    let last = &x[..];
    let want = symplode::runtime::models::image_flow::nll_rows(last, D);
    let want = want.iter().sum::<f64>() / want.len() as f64;
    let stdout = succeeds(
        &dir,
        &[
            "solve",
            "--model",
            "flow.toml",
            "--weights",
            "w.safetensors",
            "--x0",
            "x0.npy",
            "--noise-seed",
            "2",
            "--nll",
            "--json",
            "--out",
            "states.npy",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let got = v["nll"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    // States at 0, 1, 2, 3 (one per block), [z, Δlogp] each.
    let states = npy::read(dir.join("states.npy")).unwrap();
    assert_eq!(states.shape, [4, 3, D + 1]);
    let s: Vec<f64> = states.to_vec();
    assert_eq!(&s[3 * 3 * (D + 1)..], last);
}

#[test]
fn a_killed_run_resumes_bit_identically() {
    let (dir, _, _) = fixture("image-chain-resume");
    let mut rng = Rng::new(9);
    let x: Vec<f64> = (0..20 * D).map(|_| rng.normal()).collect();
    npy::write(dir.join("x.npy"), &[20, D], &x).unwrap();
    std::fs::write(dir.join("a.toml"), run_toml("a", 4)).unwrap();
    std::fs::write(dir.join("b.toml"), run_toml("b", 4)).unwrap();
    ok(&train(&dir, "a.toml", &[]));
    let killed = crate::common::symplode()
        .current_dir(&dir)
        .args(["train", "--quiet", "--config", "b.toml"])
        .env("SYMPLODE_TEST_KILL_AFTER", "2")
        .output()
        .unwrap();
    assert!(!killed.status.success());
    ok(&train(&dir, "b.toml", &["--resume"]));
    let file = "checkpoints/checkpoint-00000004.safetensors";
    let (a, b) = (
        std::fs::read(dir.join("a").join(file)).unwrap(),
        std::fs::read(dir.join("b").join(file)).unwrap(),
    );
    assert!(a == b, "the resumed run's checkpoint differs");
    let w = tensors(&dir.join("a/weights.safetensors"));
    let names: Vec<&str> = w.iter().map(|t| t.0.as_str()).collect();
    assert!(
        names.contains(&"blocks.2.layers.1._layer.bias"),
        "{names:?}"
    );
    assert_eq!(names.len(), 3 * 4);
    let log = log_lines(&dir.join("a/log.jsonl"));
    assert_eq!(log.len(), 4);
    // The validation NLL after the last update is `solve --nll` of the trained weights on the
    // held-out rows with the run's validation probes (seed 3), bit for bit.
    let mut all = FlowSamples::new(x, D, 4, FlowTrace::Exact, 1.0).unwrap();
    let held = all.split_validation(0.25, 3).unwrap();
    npy::write(dir.join("held.npy"), &[held.len() / D, D], &held).unwrap();
    let stdout = succeeds(
        &dir,
        &[
            "solve",
            "--model",
            "flow.toml",
            "--weights",
            "a/weights.safetensors",
            "--x0",
            "held.npy",
            "--noise-seed",
            "3",
            "--nll",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let val = log[3]["val_loss"].as_f64().unwrap();
    assert_eq!(
        v["nll"].as_f64().unwrap(),
        val,
        "solve --nll vs the run's validation"
    );
    assert_ne!(
        log[1]["val_loss"].as_f64().unwrap(),
        val,
        "training changed nothing"
    );
}

#[test]
fn bad_fields_are_refused_naming_them() {
    let (dir, _, _) = fixture("image-chain-bad");
    npy::write(dir.join("x.npy"), &[8, D], &[0.5; 8 * D]).unwrap();
    std::fs::write(dir.join("run.toml"), run_toml("o", 1)).unwrap();
    for (from, to, field) in [
        ("scales = 2", "scales = 0", "scales"),
        ("blocks = 1", "blocks = 0", "blocks"),
        ("scales = 2", "scales = 5", "scales"),
        ("[1, 8, 8]", "[1, 6, 6]\nscales = 3", "scales"),
        ("noise = \"rademacher\"", "trace = \"exact\"", "trace"),
    ] {
        let text = FLOW.replace(from, to);
        let text = if field == "scales" && to.contains("[1, 6, 6]") {
            text.replace("scales = 2\n", "")
        } else {
            text
        };
        std::fs::write(dir.join("flow.toml"), &text).unwrap();
        fails(
            &dir,
            &["train", "--quiet", "--config", "run.toml"],
            1,
            &["flow.toml", field],
        );
    }
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    std::fs::write(
        dir.join("toy.toml"),
        run_toml("o", 1).replace("samples = \"x.npy\"", "builtin = \"8gaussians\""),
    )
    .unwrap();
    fails(
        &dir,
        &["train", "--quiet", "--config", "toy.toml"],
        1,
        &["data", "multiscale"],
    );
    let args = GRAD_FIXTURE;
    let with =
        |extra: &[&'static str]| -> Vec<&str> { args.iter().chain(extra).copied().collect() };
    fails(&dir, &with(&["--t1", "2"]), 1, &["--t0/--t1", "multiscale"]);
    fails(&dir, &with(&["--trace", "exact"]), 1, &["--trace exact"]);
    let o = run(&dir, &with(&[]));
    ok(&o);
}
