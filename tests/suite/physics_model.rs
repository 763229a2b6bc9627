//! The HNN++ energy model and the plain neural ODE of the physics experiment: shapes and
//! names, DGNet's orthogonal initialisation, `du/dt = D ∇H` against central differences of
//! the energy, the structure of `D` (KdV conserves the learned energy, CH dissipates it),
//! the VJP against central differences, the interpreter against the IR's reference
//! evaluator and the network JIT, and the gradient methods: every exact method equals
//! backprop (≤ 1e-12) on an adaptive one-interval solve, and the symplectic adjoint equals
//! central differences of the discrete loss.

use symplode::codegen::ir::eval::evaluate_f64;
use symplode::physics::{ModelForm, PdeSystem, PhysicsModel};
use symplode::prelude::*;
use symplode::runtime::interp::Interpreted;
use symplode::runtime::rng::Rng;

fn model(system: PdeSystem, form: ModelForm) -> PhysicsModel {
    let mut system = system;
    system.n = 10; // small grid, same dx
    PhysicsModel {
        system,
        channels: 6,
        form,
    }
}

/// Orthogonal init, then every parameter perturbed so that biases are non-zero too.
fn params(m: &PhysicsModel, seed: u64) -> Vec<f64> {
    let mut p = m.init_params(seed).unwrap();
    let mut rng = Rng::new(seed + 100);
    for v in &mut p {
        *v += 0.2 * rng.uniform_range(-1.0, 1.0);
    }
    p
}

fn state(n: usize, batch: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n * batch)
        .map(|_| rng.uniform_range(-1.0, 1.0))
        .collect()
}

fn eval(m: &dyn Dynamics<f64>, x: &[f64]) -> Vec<f64> {
    let batch = x.len() / m.dim();
    let mut dx = vec![0.0; x.len()];
    let mut s = vec![0.0; m.scratch_len(batch)];
    m.eval(0.0, x, &mut dx, &mut s);
    dx
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let den = b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-300);
    num / den
}

#[test]
fn network_has_dgnet_shapes_names_and_initialisation() {
    let m = PhysicsModel::energy(PdeSystem::kdv(), 200);
    let g = m.network().unwrap();
    let shapes: Vec<(String, Vec<usize>)> = g
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("net.1.weight".into(), vec![200, 1, 3]),
            ("net.1.bias".into(), vec![200]),
            ("net.3.weight".into(), vec![200, 200, 1]),
            ("net.3.bias".into(), vec![200]),
            ("net.5.weight".into(), vec![1, 200, 1]),
        ]
    );
    assert_eq!(g.param_len(), m.n_params());
    let p = m.init_params(3).unwrap();
    // net.1: 200 × 3 with orthonormal columns; net.3 orthogonal; net.5 a unit row.
    let w1 = &p[..600];
    for a in 0..3 {
        for b in 0..3 {
            let d: f64 = (0..200).map(|r| w1[r * 3 + a] * w1[r * 3 + b]).sum();
            assert!(
                (d - f64::from(a == b)).abs() < 1e-13,
                "net.1 columns {a},{b}: {d}"
            );
        }
    }
    assert!(p[600..800].iter().all(|&v| v == 0.0));
    let w3 = &p[800..40800];
    for a in [0, 7, 199] {
        for b in [0, 7, 199] {
            let d: f64 = (0..200).map(|c| w3[a * 200 + c] * w3[b * 200 + c]).sum();
            assert!(
                (d - f64::from(a == b)).abs() < 1e-13,
                "net.3 rows {a},{b}: {d}"
            );
        }
    }
    assert!(p[40800..41000].iter().all(|&v| v == 0.0));
    let norm: f64 = p[41000..].iter().map(|v| v * v).sum();
    assert!((norm - 1.0).abs() < 1e-13);
    assert_ne!(m.init_params(4).unwrap(), p);
}

/// `du/dt = D ∇H`, `H = Σ network(u)`: against central differences of `H`.
#[test]
fn energy_dynamics_is_the_operator_on_the_energy_gradient() {
    for sys in [PdeSystem::kdv(), PdeSystem::cahn_hilliard()] {
        let m = model(sys, ModelForm::Energy);
        let p = params(&m, 1);
        let f = m.build::<f64>(&p).unwrap();
        let net = Interpreted::<f64>::new(m.network().unwrap(), p.clone()).unwrap();
        let n = m.system.n;
        let u = state(n, 1, 5);
        let energy = |u: &[f64]| eval(&net, u).iter().sum::<f64>();
        let h = 1e-5;
        let grad: Vec<f64> = (0..n)
            .map(|k| {
                let (mut a, mut b) = (u.clone(), u.clone());
                a[k] += h;
                b[k] -= h;
                (energy(&a) - energy(&b)) / (2.0 * h)
            })
            .collect();
        let op = m.system.operator();
        let want: Vec<f64> = (0..n)
            .map(|k| {
                op.coeffs
                    .iter()
                    .enumerate()
                    .map(|(j, c)| c * grad[(k + n + j - 1) % n])
                    .sum()
            })
            .collect();
        let got = eval(&f, &u);
        assert!(
            rel(&got, &want) < 1e-8,
            "{}: {:e}",
            sys.kind,
            rel(&got, &want)
        );
        // KdV: ⟨∇H, δ₁∇H⟩ = 0 (the learned energy is conserved); CH: ⟨∇H, δ₂∇H⟩ < 0.
        let dh: f64 = grad.iter().zip(&got).map(|(a, b)| a * b).sum();
        let scale: f64 = grad.iter().zip(&got).map(|(a, b)| (a * b).abs()).sum();
        match sys.kind {
            symplode::physics::SystemKind::Kdv => {
                assert!(dh.abs() < 1e-7 * scale, "kdv dH/dt {dh:e}")
            }
            symplode::physics::SystemKind::CahnHilliard => assert!(dh < 0.0, "ch dH/dt {dh:e}"),
        }
    }
}

#[test]
fn interpreter_matches_the_reference_evaluator_and_the_vjp_central_differences() {
    for form in [ModelForm::Energy, ModelForm::Node] {
        for sys in [PdeSystem::kdv(), PdeSystem::cahn_hilliard()] {
            let m = model(sys, form);
            let p = params(&m, 2);
            let f = m.build::<f64>(&p).unwrap();
            let n = m.system.n;
            let batch = 3;
            let x = state(n, batch, 6);
            let reference =
                evaluate_f64(&m.dynamics_graph().unwrap(), batch, &[&x], 0.0, &p).unwrap();
            let got = eval(&f, &x);
            assert!(rel(&got, &reference[0]) < 1e-13, "{form:?} {}", sys.kind);
            // VJP against central differences of ⟨λ, f⟩, state and parameters.
            let lam = state(n, batch, 7);
            let mut gx = vec![0.0; x.len()];
            let mut gp = vec![0.0; p.len()];
            let mut s = vec![0.0; f.scratch_len(batch)];
            f.vjp(0.0, &x, &lam, &mut gx, &mut gp, &mut s);
            let phi = |f: &dyn Dynamics<f64>, x: &[f64]| -> f64 {
                eval(f, x).iter().zip(&lam).map(|(a, b)| a * b).sum()
            };
            let h = 1e-5;
            let fx: Vec<f64> = (0..x.len())
                .map(|i| {
                    let (mut a, mut b) = (x.clone(), x.clone());
                    a[i] += h;
                    b[i] -= h;
                    (phi(&f, &a) - phi(&f, &b)) / (2.0 * h)
                })
                .collect();
            let mut q = f.clone();
            let fp: Vec<f64> = (0..p.len())
                .map(|j| {
                    q.params_mut()[j] = p[j] + h;
                    let a = phi(&q, &x);
                    q.params_mut()[j] = p[j] - h;
                    let b = phi(&q, &x);
                    q.params_mut()[j] = p[j];
                    (a - b) / (2.0 * h)
                })
                .collect();
            assert!(
                rel(&gx, &fx) < 1e-7,
                "{form:?} {}: gx {:e}",
                sys.kind,
                rel(&gx, &fx)
            );
            assert!(
                rel(&gp, &fp) < 1e-7,
                "{form:?} {}: gp {:e}",
                sys.kind,
                rel(&gp, &fp)
            );
        }
    }
}

fn mse_loss(target: Vec<f64>) -> impl FnMut(&Outputs<f64>, &mut Outputs<f64>) -> f64 {
    move |o, c| {
        let (o, c) = (&o[0][0], &mut c[0][0]);
        let k = 1.0 / o.len() as f64;
        let mut s = 0.0;
        for i in 0..o.len() {
            let r = o[i] - target[i];
            s += r * r * k;
            c[i] = 2.0 * r * k;
        }
        s
    }
}

/// One data interval with adaptive dopri5 (KdV) and dopri8 (CH): the exact methods against
/// backprop, and the symplectic adjoint (fixed steps) against central differences.
#[test]
fn gradient_methods_are_exact_on_the_energy_model() {
    for (sys, tableau, dt) in [
        (PdeSystem::kdv(), "dopri5", 0.001),
        (PdeSystem::cahn_hilliard(), "dopri8", 1e-4),
    ] {
        let m = model(sys, ModelForm::Energy);
        let p = params(&m, 3);
        let f = m.build::<f64>(&p).unwrap();
        let n = m.system.n;
        let batch = 2;
        let x0: Vec<f64> = state(n, batch, 8).iter().map(|v| 0.5 * v).collect();
        let target = state(n, batch, 9);
        let scheme = Scheme::<f64>::builtin(tableau).unwrap();
        let times = [0.0, dt];
        let problem = Problem::single(&f, &times, &scheme, Stepping::adaptive(1e-8, 1e-10), &x0);
        let reference = Backprop
            .gradient(&problem, &mut mse_loss(target.clone()))
            .unwrap();
        assert!(reference.stats.accepted >= 1);
        let methods: Vec<Box<dyn GradientMethod<f64>>> = vec![
            Box::new(CheckpointStep),
            Box::new(CheckpointComponent),
            Box::new(SymplecticAdjoint),
            Box::new(SymplecticAdjointStored),
        ];
        for method in &methods {
            let g = method
                .gradient(&problem, &mut mse_loss(target.clone()))
                .unwrap();
            assert_eq!(g.loss, reference.loss, "{}", method.name());
            let e = rel(&g.dtheta[0], &reference.dtheta[0]);
            let ex = rel(&g.dx0, &reference.dx0);
            assert!(
                e <= 1e-12 && ex <= 1e-12,
                "{} {}: θ {e:e}, x0 {ex:e}",
                sys.kind,
                method.name()
            );
        }
        // Fixed steps: the discrete loss is smooth in θ, so central differences apply.
        let fixed = Stepping::fixed(2);
        let loss = |f: &Interpreted<f64>| {
            let pr = Problem::single(f, &times, &scheme, fixed.clone(), &x0);
            Backprop
                .gradient(&pr, &mut mse_loss(target.clone()))
                .unwrap()
                .loss
        };
        let pr = Problem::single(&f, &times, &scheme, fixed.clone(), &x0);
        let g = SymplecticAdjoint
            .gradient(&pr, &mut mse_loss(target.clone()))
            .unwrap();
        let mut q = f.clone();
        let h = 1e-5;
        let fd: Vec<f64> = (0..p.len())
            .map(|j| {
                q.params_mut()[j] = p[j] + h;
                let a = loss(&q);
                q.params_mut()[j] = p[j] - h;
                let b = loss(&q);
                q.params_mut()[j] = p[j];
                (a - b) / (2.0 * h)
            })
            .collect();
        let e = rel(&g.dtheta[0], &fd);
        assert!(
            e < 1e-6,
            "{}: symplectic vs central differences {e:e}",
            sys.kind
        );
    }
}

#[cfg(feature = "jit")]
#[test]
fn network_jit_is_bit_equal_to_the_interpreter() {
    use symplode::runtime::jit::{JitNetwork, JitOptions};
    let m = model(PdeSystem::kdv(), ModelForm::Energy);
    let p = params(&m, 4);
    let interp = m.build::<f64>(&p).unwrap();
    let jit = JitNetwork::new(interp.clone(), &JitOptions::default()).unwrap();
    let batch = 3;
    let x = state(m.system.n, batch, 10);
    assert_eq!(eval(&jit, &x), eval(&interp, &x));
    let lam = state(m.system.n, batch, 11);
    let run = |f: &dyn Dynamics<f64>| {
        let mut gx = vec![0.0; x.len()];
        let mut gp = vec![0.0; p.len()];
        let mut s = vec![0.0; f.scratch_len(batch)];
        f.vjp(0.0, &x, &lam, &mut gx, &mut gp, &mut s);
        (gx, gp)
    };
    assert_eq!(run(&jit), run(&interp));
}

#[test]
fn bad_configurations_are_errors() {
    let mut m = PhysicsModel::energy(PdeSystem::kdv(), 0);
    assert!(m.network().unwrap_err().to_string().contains("channels"));
    m.channels = 2;
    let e = m.build::<f64>(&[0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("parameter"), "{e}");
    assert!("hamiltonian".parse::<ModelForm>().is_err());
}
