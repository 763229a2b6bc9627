//! The physics model from its three front ends gives identical results: the library
//! ([`PhysicsModel`]), the TOML file ([`PhysicsSpec`], weights by DGNet's names from
//! safetensors) and the `neural_ode!` DSL (`conv1d` layers, `form: energy(…)`, run on the
//! interpreter), and the network JIT on top of it; plus the DSL's generated scheme and
//! stepping. (Needs the `model-files` feature, on by default, for the TOML front end.)
#![cfg(feature = "model-files")]

use std::collections::BTreeMap;

use symplode::io::{SafeTensors, param_tensors_of, safetensors};
use symplode::physics::{PdeSystem, PhysicsModel, PhysicsSpec};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;

symplode::neural_ode! {
    /// DGNet's HNN++ for KdV with 6 channels on the 50-point grid (dx = 0.2).
    pub struct KdvEnergy {
        float: f64,
        dim: 50,
        time: false,
        layers: [conv1d(6, 3, tanh), conv1d(6, 1, tanh), conv1d(1, 1, no_bias)],
        tableau: dopri5,
        solver: { rtol: 1e-6, atol: 1e-8 },
        form: energy(central_difference(50, 0.2)),
    }
}

symplode::neural_ode! {
    /// The plain neural-ODE variant for Cahn–Hilliard (one output channel is du/dt).
    pub struct ChNode {
        float: f64,
        dim: 50,
        time: false,
        layers: [conv1d(6, 3, tanh), conv1d(6, 1, tanh), conv1d(1, 1, no_bias)],
        tableau: dopri8,
        solver: { rtol: 1e-6, atol: 1e-8 },
    }
}

fn eval(m: &dyn Dynamics<f64>, x: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; x.len()];
    let mut s = vec![0.0; m.scratch_len(x.len() / m.dim())];
    m.eval(0.0, x, &mut dx, &mut s);
    dx
}

fn vjp(m: &dyn Dynamics<f64>, x: &[f64], lam: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut gx = vec![0.0; x.len()];
    let mut gp = vec![0.0; m.n_params()];
    let mut s = vec![0.0; m.scratch_len(x.len() / m.dim())];
    m.vjp(0.0, x, lam, &mut gx, &mut gp, &mut s);
    (gx, gp)
}

fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    crate::common::scratch_file("physics-forms", name)
}

#[test]
fn library_toml_and_macro_agree_bit_for_bit() {
    let lib = PhysicsModel::energy(PdeSystem::kdv(), 6);
    let mut p = lib.init_params(1).unwrap();
    let noise = random(p.len(), 2);
    for (v, r) in p.iter_mut().zip(noise) {
        *v += 0.1 * r; // non-zero biases too
    }
    let a = lib.build::<f64>(&p).unwrap();
    let b = KdvEnergy::from_params(p.clone()).unwrap();
    // TOML + safetensors under DGNet's names.
    let path = tmp("kdv.safetensors");
    safetensors::write(&path, &param_tensors_of(&a, &p), &BTreeMap::new()).unwrap();
    let spec = PhysicsSpec::parse(
        "system = \"kdv\"\nform = \"energy\"\nchannels = 6\ntableau = \"dopri5\"\n",
        "kdv.toml",
    )
    .unwrap();
    let c = spec
        .build::<f64>(&SafeTensors::read(&path).unwrap())
        .unwrap();
    assert_eq!(c.params(), &p[..]);
    assert_eq!(KdvEnergy::DIM, 50);
    assert_eq!(KdvEnergy::N_PARAMS, lib.n_params());
    let batch = 4;
    let x = random(50 * batch, 3);
    let lam = random(50 * batch, 4);
    let fa = eval(&a, &x);
    assert_eq!(fa, eval(&b, &x));
    assert_eq!(fa, eval(&c, &x));
    let ga = vjp(&a, &x, &lam);
    assert_eq!(ga, vjp(&b, &x, &lam));
    assert_eq!(ga, vjp(&c, &x, &lam));
    // The same gradient through a solve with the macro's scheme and stepping.
    let scheme = KdvEnergy::scheme().unwrap();
    let stepping = KdvEnergy::stepping();
    assert_eq!(stepping, spec.stepping().unwrap());
    let x0: Vec<f64> = x.iter().map(|v| 0.5 * v).collect();
    let run = |m: &dyn Dynamics<f64>| {
        let pr = Problem::single(m, &[0.0, 0.001], &scheme, stepping.clone(), &x0);
        SymplecticAdjoint
            .gradient(&pr, &mut losses::mean_sq_final(50))
            .unwrap()
    };
    let (ra, rb) = (run(&a), run(&b));
    assert_eq!(ra.loss, rb.loss);
    assert_eq!(ra.dtheta, rb.dtheta);
    #[cfg(feature = "jit")]
    {
        use symplode::runtime::jit::{JitNetwork, JitOptions};
        let j = JitNetwork::new(a.clone(), &JitOptions::default()).unwrap();
        assert_eq!(fa, eval(&j, &x));
        assert_eq!(ga, vjp(&j, &x, &lam));
        let rj = run(&j);
        assert_eq!(ra.dtheta, rj.dtheta);
    }
}

#[test]
fn the_node_variant_agrees_too() {
    let mut lib = PhysicsModel::energy(PdeSystem::cahn_hilliard(), 6);
    lib.form = symplode::physics::ModelForm::Node;
    let p = random(lib.n_params(), 5);
    let a = lib.build::<f64>(&p).unwrap();
    let b = ChNode::from_params(p.clone()).unwrap();
    let x = random(100, 6);
    assert_eq!(eval(&a, &x), eval(&b, &x));
    let lam = random(100, 7);
    assert_eq!(vjp(&a, &x, &lam), vjp(&b, &x, &lam));
    assert_eq!(ChNode::scheme().unwrap().name(), "dopri8");
}

#[test]
fn toml_errors_name_the_field() {
    let e = PhysicsSpec::parse("system = \"kdv\"\nchannels = 0\n", "m.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("channels"), "{e}");
    let e = PhysicsSpec::parse("system = \"heat\"\nchannels = 4\n", "m.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("heat"), "{e}");
    let e = PhysicsSpec::parse("system = \"kdv\"\nchannels = 4\nwidth = 3\n", "m.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("width"), "{e}");
    let spec = PhysicsSpec::parse("system = \"kdv\"\nchannels = 4\n", "m.toml").unwrap();
    let empty = tmp("empty.safetensors");
    safetensors::write::<f64>(&empty, &[], &BTreeMap::new()).unwrap();
    let e = spec
        .build::<f64>(&SafeTensors::read(&empty).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("net.1.weight"), "{e}");
}
