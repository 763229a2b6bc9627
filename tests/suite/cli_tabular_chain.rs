//! FFJORD's tabular flow with `M` stacked CNF blocks from the TOML model file (`form = "cnf"`,
//! `blocks = 2`): `symplode grad` gives the library `TabularFlow`'s gradient bit for bit (the
//! exact trace by default, Hutchinson with `--trace hutchinson`), every exact method agrees
//! with backprop to 1e-12 through the command line, `solve --nll` is the exact-trace NLL of
//! the blocks solved one after another by hand, a killed training run resumes to a
//! bit-identical checkpoint and validates with the exact trace, a 2-D run writes its density
//! and samples, and bad `blocks` values are one error line naming the field.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{fails, fresh_dir, log_lines, ok, succeeds, tensors, train};
use crate::flow_cli::{GRAD_FIXTURE, cli_grad, run_toml};
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::{Activation, Graph};
use symplode::io::{NamedTensor, npy, safetensors};
use symplode::prelude::*;
use symplode::runtime::interp::cnf;
use symplode::runtime::models::tabular_flow::{TabularFlow, nll_loss};
use symplode::runtime::rng::Rng;
use symplode::train::flow::{FlowSamples, FlowTrace, Noise};
use symplode::train::{FlowChain, TrainModel};

/// Two CNF blocks of a 3 → 8 softplus → 3 ConcatSquash net, T = 0.5 per block, rk4 × 2.
const FLOW: &str = r#"
form = "cnf"
dim = 3
blocks = 2
time_length = 0.5
tableau = "rk4"
[[layers]]
kind = "concat_squash"
out = 8
activation = "softplus"
[[layers]]
kind = "concat_squash"
out = 3
[solver]
steps = 2
"#;

/// Sample dimension.
const D: usize = 3;
/// Time per block.
const T: f64 = 0.5;
/// The CLI's salt of `--noise-seed` (`VALIDATION_SALT` of `src/cli/train_flow.rs`).
const NOISE_SALT: u64 = 0x5EED_7E57;

/// Each block's vector field, built by the IR's own ConcatSquash net (not the file's parser).
fn field() -> Graph {
    Graph::concat_squash_mlp(D, &[8], Activation::Softplus).unwrap()
}

/// A directory with `flow.toml`, the library flow's weights (seed 7) as `w.safetensors` and 4
/// samples as `x0.npy`; returns it, the flow (Hutchinson trace) and the samples.
fn fixture(name: &str) -> (std::path::PathBuf, TabularFlow<f64>, Vec<f64>) {
    let dir = fresh_dir(name);
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    let flow = TabularFlow::<f64>::from_field(&field(), 2, T, Trace::Hutchinson, 7).unwrap();
    let chain = FlowChain::from_tabular(flow.clone());
    let params = chain.params();
    let named: Vec<NamedTensor<'_, f64>> = chain
        .param_tensors()
        .into_iter()
        .map(|t| NamedTensor::new(&t.name, &t.shape, &params[t.range()]))
        .collect();
    safetensors::write(dir.join("w.safetensors"), &named, &BTreeMap::new()).unwrap();
    let mut rng = Rng::new(3);
    let rows: Vec<f64> = (0..4 * D).map(|_| rng.normal()).collect();
    npy::write(dir.join("x0.npy"), &[4, D], &rows).unwrap();
    (dir, flow, rows)
}

/// The library's start states `[x, 0]` for `rows`, after giving every block the Gaussian
/// probes the CLI draws from `--noise-seed seed`.
fn library_x0(flow: &mut TabularFlow<f64>, rows: &[f64], seed: u64) -> Vec<f64> {
    let k = flow.blocks().len();
    let trace = FlowTrace::Hutchinson(Noise::Gaussian);
    let mut rng = Rng::new(seed ^ NOISE_SALT);
    let b = FlowSamples::states_with_probes::<f64>(rows, D, trace, k, T, &mut rng);
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

/// The CLI gradient equals the library's, tensor by tensor and dL/dx0, bit for bit.
fn assert_same_gradient(cli: &BTreeMap<String, Vec<f64>>, flow: &TabularFlow<f64>, x0: &[f64]) {
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let problem = flow.problem(&scheme, &Stepping::fixed(2), x0);
    let lib = SymplecticAdjoint
        .gradient(&problem, &mut |o: &Outputs<f64>, c: &mut Outputs<f64>| {
            nll_loss(o, c, D)
        })
        .unwrap();
    let mut compared = 0;
    for (b, m) in flow.blocks().iter().enumerate() {
        for t in m.param_tensors() {
            let name = format!("blocks.{b}.{}", t.name);
            let got = &cli[&name];
            assert_eq!(got.as_slice(), &lib.dtheta[b][t.range()], "{name}");
            compared += got.len();
        }
    }
    assert_eq!(compared, flow.n_params());
    assert!(lib.dtheta[1].iter().any(|v| *v != 0.0));
    let dx: Vec<f64> = lib
        .dx0
        .chunks_exact(D + 1)
        .flat_map(|r| r[..D].iter().copied())
        .collect();
    assert_eq!(cli["x0"], dx, "dL/dx0");
}

#[test]
fn grad_is_the_library_gradient_bit_for_bit_and_exact_methods_agree() {
    let (dir, mut flow, rows) = fixture("tabular-chain-grad");
    // Default: the exact trace (what the training validates and tests with).
    let exact = flow.with_trace(Trace::Exact).unwrap();
    let x0: Vec<f64> = rows
        .chunks_exact(D)
        .flat_map(|r| r.iter().copied().chain([0.0]))
        .collect();
    assert_same_gradient(&cli_grad(&dir, "symplectic", &[]), &exact, &x0);
    // Hutchinson's trace with the probes of --noise-seed.
    let x0 = library_x0(&mut flow, &rows, 11);
    let hutchinson = ["--trace", "hutchinson"];
    assert_same_gradient(&cli_grad(&dir, "symplectic", &hutchinson), &flow, &x0);
    // Every exact method = backprop, through the command line, for both traces.
    for extra in [&[][..], &hutchinson[..]] {
        let reference = cli_grad(&dir, "backprop", extra);
        for method in [
            "symplectic",
            "symplectic-stored",
            "aca",
            "checkpoint-component",
            "symplectic-binomial",
        ] {
            let g = cli_grad(&dir, method, extra);
            for (name, want) in &reference {
                let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                let err = g[name]
                    .iter()
                    .zip(want)
                    .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
                assert!(
                    err <= 1e-12 * scale,
                    "{method} {extra:?} {name}: {err:e} of {scale:e}"
                );
            }
        }
    }
}

/// The exact-trace NLL written out by hand: each block an exact-trace CNF of the IR's net with
/// that block's tensors from the weights file, solved over `[b·T, (b+1)·T]` from the previous
/// block's end, `Δlogp` summed through the state, `log N(z; 0, I)` by hand.
fn nll_by_hand(weights: &Path, rows: &[f64]) -> (f64, Vec<f64>) {
    let st = symplode::io::SafeTensors::read(weights).unwrap();
    let f = field();
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut x: Vec<f64> = rows
        .chunks_exact(D)
        .flat_map(|r| r.iter().copied().chain([0.0]))
        .collect();
    for b in 0..2 {
        let params: Vec<f64> = f
            .params()
            .iter()
            .flat_map(|p| st.tensor(&format!("blocks.{b}.{}", p.name)).unwrap().data)
            .collect();
        let m = cnf::<f64>(&f, Trace::Exact, params).unwrap();
        let t = [b as f64 * T, (b + 1) as f64 * T];
        let sol = solve(&m, &scheme, &Stepping::fixed(2), &t, &x).unwrap();
        x.copy_from_slice(&sol.states[0]);
    }
    let n = rows.len() / D;
    let c = 0.5 * D as f64 * (2.0 * std::f64::consts::PI).ln();
    let nll: f64 = x
        .chunks_exact(D + 1)
        .map(|r| 0.5 * r[..D].iter().map(|v| v * v).sum::<f64>() + c + r[D])
        .sum();
    (nll / n as f64, x)
}

#[test]
fn solve_nll_is_the_blocks_solved_one_after_another() {
    let (dir, flow, rows) = fixture("tabular-chain-solve");
    let (want, last) = nll_by_hand(&dir.join("w.safetensors"), &rows);
    assert!(last.chunks_exact(D + 1).all(|r| r[D].abs() > 1e-6));
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
            "--nll",
            "--json",
            "--out",
            "states.npy",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let got = v["nll"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    // The library's exact NLL, block after block.
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let lib = flow
        .with_trace(Trace::Exact)
        .unwrap()
        .nll(&rows, &scheme, &Stepping::fixed(2))
        .unwrap();
    let lib = lib.iter().sum::<f64>() / lib.len() as f64;
    assert!((lib - want).abs() <= 1e-12 * want.abs(), "{lib} vs {want}");
    // States at 0, T, 2T, [z, Δlogp] each; the last is the hand solve's, bit for bit.
    let states = npy::read(dir.join("states.npy")).unwrap();
    assert_eq!(states.shape, [3, 4, D + 1]);
    let s: Vec<f64> = states.to_vec();
    assert_eq!(&s[2 * 4 * (D + 1)..], &last[..]);
}

#[test]
fn a_killed_run_resumes_bit_identically_and_validates_with_the_exact_trace() {
    let (dir, _, _) = fixture("tabular-chain-resume");
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
        names.contains(&"blocks.1.layers.1._hyper_bias.weight"),
        "{names:?}"
    );
    assert_eq!(names.len(), 2 * 2 * 5, "{names:?}");
    let log = log_lines(&dir.join("a/log.jsonl"));
    assert_eq!(log.len(), 4);
    // The validation NLL after the last update is the exact-trace NLL of the trained weights
    // on the held-out rows, written out by hand, and `solve --nll` (default trace) bit for bit.
    let mut all = FlowSamples::new(x, D, 4, FlowTrace::Exact, T).unwrap();
    let held = all.split_validation(0.25, 3).unwrap();
    npy::write(dir.join("held.npy"), &[held.len() / D, D], &held).unwrap();
    let val = log[3]["val_loss"].as_f64().unwrap();
    let (by_hand, _) = nll_by_hand(&dir.join("a/weights.safetensors"), &held);
    assert!(
        (val - by_hand).abs() <= 1e-12 * by_hand.abs(),
        "validation {val} vs exact NLL by hand {by_hand}"
    );
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
            "--nll",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["nll"].as_f64().unwrap(), val, "solve --nll vs validation");
    assert_ne!(
        log[1]["val_loss"].as_f64().unwrap(),
        val,
        "training changed nothing"
    );
}

/// One block of the same file keeps FFJORD's one-block names; the chain's block 0 starts from
/// the one-block file's initialisation (seed + 0).
#[test]
fn one_block_keeps_its_names_and_block_zero_its_init() {
    use symplode::train::FlowSpec;
    let two = FlowSpec::parse(FLOW, "flow.toml").unwrap();
    let one = FlowSpec::parse(&FLOW.replace("blocks = 2", "blocks = 1"), "flow.toml").unwrap();
    let none = FlowSpec::parse(&FLOW.replace("blocks = 2\n", ""), "flow.toml").unwrap();
    assert_eq!(one, none);
    assert!(!one.is_chain() && two.is_chain());
    let p1 = one.init_params(5).unwrap();
    let p2 = two.init_params(5).unwrap();
    assert_eq!(p2.len(), 2 * p1.len());
    assert_eq!(&p2[..p1.len()], &p1[..]);
    assert_ne!(&p2[p1.len()..], &p1[..]);
    let g = one.field_graph().unwrap();
    assert_eq!(g.params()[0].name, "layers.0._layer.weight");
    let chain = two.build_chain::<f64>(Some(&p2), 0).unwrap();
    let names: Vec<String> = chain.param_tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(names[0], "blocks.0.layers.0._layer.weight");
    assert_eq!(names[names.len() / 2], "blocks.1.layers.0._layer.weight");
}

#[test]
fn a_2d_run_writes_density_and_samples() {
    let dir = fresh_dir("tabular-chain-2d");
    let flow = FLOW
        .replace("dim = 3", "dim = 2")
        .replace("out = 3", "out = 2");
    std::fs::write(dir.join("flow.toml"), flow).unwrap();
    let run = run_toml("o", 3)
        .replace(
            "samples = \"x.npy\"",
            "builtin = \"8gaussians\"\npoints = 200",
        )
        .replace("batch = 4", "batch = 20");
    std::fs::write(dir.join("run.toml"), run).unwrap();
    let o = train(&dir, "run.toml", &[]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("density") && text.contains("samples"),
        "{text}"
    );
    for f in ["o/density.png", "o/samples.png", "o/curve.png"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn bad_blocks_are_refused_naming_the_field() {
    let (dir, _, _) = fixture("tabular-chain-bad");
    npy::write(dir.join("x.npy"), &[8, D], &[0.5; 8 * D]).unwrap();
    std::fs::write(dir.join("run.toml"), run_toml("o", 1)).unwrap();
    // Out of range: the field by name; not a count: TOML's line and column (line 4).
    for (to, want) in [
        ("blocks = 0", "`blocks`"),
        ("blocks = 65", "`blocks`"),
        ("blocks = -1", "flow.toml:4:"),
        ("blocks = \"two\"", "flow.toml:4:"),
    ] {
        std::fs::write(dir.join("flow.toml"), FLOW.replace("blocks = 2", to)).unwrap();
        fails(
            &dir,
            &["train", "--quiet", "--config", "run.toml"],
            1,
            &["flow.toml", want],
        );
    }
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    std::fs::write(
        dir.join("fm.toml"),
        run_toml("o", 1).replace("samples = \"x.npy\"", "builtin = \"fashion-mnist\""),
    )
    .unwrap();
    fails(
        &dir,
        &["train", "--quiet", "--config", "fm.toml"],
        1,
        &["data", "tabular flow"],
    );
    fails(
        &dir,
        &[GRAD_FIXTURE.as_slice(), &["--t1", "2"]].concat(),
        1,
        &["--t0/--t1", "chain of CNF blocks"],
    );
}
