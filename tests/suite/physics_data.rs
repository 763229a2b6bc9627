//! KdV and Cahn–Hilliard data (DGNet's generator): the invariants the discrete variational
//! derivative scheme guarantees, the right-hand side against central differences of the
//! energy, the Newton Jacobian against central differences of the residual, seeding, the
//! initial-state distributions and the file round trips.

use symplode::physics::system::{PdeSystem, SystemKind, mass};
use symplode::physics::{Dataset, DatasetConfig, PhysicsError};

fn small(kind: SystemKind, trajectories: usize, steps: usize) -> Dataset {
    let mut cfg = DatasetConfig::dgnet(kind);
    cfg.trajectories = trajectories;
    cfg.steps = steps;
    Dataset::generate(&cfg, |_, _| {}).unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    crate::common::scratch_file("physics-data", name)
}

#[test]
fn kdv_conserves_energy_and_mass_over_500_steps() {
    let data = small(SystemKind::Kdv, 3, 500);
    for traj in 0..3 {
        let e = data.energies(traj);
        let m = data.masses(traj);
        let scale: f64 = data.state(traj, 0).iter().map(|v| v.abs()).sum();
        for k in 0..e.len() {
            let de = ((e[k] - e[0]) / e[0]).abs();
            let dm = ((m[k] - m[0]) / m[0]).abs();
            assert!(
                de <= 1e-12,
                "trajectory {traj}, state {k}: energy drift {de:e}"
            );
            assert!(
                dm <= 1e-12,
                "trajectory {traj}, state {k}: mass drift {dm:e}"
            );
        }
        // The solution moves: the state at the end differs from the start.
        let moved: f64 = data
            .state(traj, 500)
            .iter()
            .zip(data.state(traj, 0))
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(moved > 1e-2 * scale, "trajectory {traj} did not move");
    }
}

#[test]
fn cahn_hilliard_conserves_mass_and_dissipates_energy_every_step() {
    let data = small(SystemKind::CahnHilliard, 3, 500);
    for traj in 0..3 {
        let e = data.energies(traj);
        let m = data.masses(traj);
        // The mass is near zero (a sum of ±0.05 noise): relative to Σ|u₀|.
        let scale: f64 = data.state(traj, 0).iter().map(|v| v.abs()).sum();
        for k in 1..e.len() {
            let dm = (m[k] - m[0]).abs() / scale;
            assert!(
                dm <= 1e-12,
                "trajectory {traj}, state {k}: mass drift {dm:e}"
            );
            assert!(
                e[k] <= e[k - 1],
                "trajectory {traj}: energy rose from {:e} to {:e} at step {k}",
                e[k - 1],
                e[k]
            );
        }
        // Phase separation: the energy falls by orders of magnitude of its start.
        assert!(e[500] < e[0] - 1e-2, "energy {:e} → {:e}", e[0], e[500]);
    }
}

/// `du/dt = D ∇H / dx` (the energy is `Σ h dx`): the right-hand side against central
/// differences of the energy.
#[test]
fn right_hand_side_is_the_operator_on_the_energy_gradient() {
    for kind in [SystemKind::Kdv, SystemKind::CahnHilliard] {
        let data = small(kind, 1, 3);
        let sys = data.system;
        let u = data.state(0, 3).to_vec();
        let n = sys.n;
        let h = 1e-5 * u.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-3);
        let grad: Vec<f64> = (0..n)
            .map(|k| {
                let (mut a, mut b) = (u.clone(), u.clone());
                a[k] += h;
                b[k] -= h;
                (sys.energy(&a) - sys.energy(&b)) / (2.0 * h) / sys.dx()
            })
            .collect();
        let mut want = vec![0.0; n];
        let op = sys.operator();
        for k in 0..n {
            for (j, c) in op.coeffs.iter().enumerate() {
                want[k] += c * grad[(k + n + j - 1) % n];
            }
        }
        let mut got = vec![0.0; n];
        sys.rhs(&u, &mut got);
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 1e-6 * scale,
            "{kind}: rhs vs FD of H: {err:e} (scale {scale:e})"
        );
        // The stored derivative is the right-hand side.
        assert_eq!(data.derivative(0, 3), &got[..]);
    }
}

#[test]
fn newton_jacobian_matches_central_differences_of_the_residual() {
    for sys in [PdeSystem::kdv(), PdeSystem::cahn_hilliard()] {
        let n = sys.n;
        let u: Vec<f64> = (0..n).map(|k| (0.3 * k as f64).sin()).collect();
        let v: Vec<f64> = (0..n).map(|k| (0.3 * k as f64 + 0.1).sin() * 1.1).collect();
        let dt = 1e-3;
        let mut jac = vec![0.0; n * n];
        sys.dvd_jacobian(&u, &v, dt, &mut jac);
        let h = 1e-6;
        let (mut ra, mut rb) = (vec![0.0; n], vec![0.0; n]);
        let mut worst = 0.0f64;
        let scale = jac.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for j in 0..n {
            let (mut a, mut b) = (v.clone(), v.clone());
            a[j] += h;
            b[j] -= h;
            sys.dvd_residual(&u, &a, dt, &mut ra);
            sys.dvd_residual(&u, &b, dt, &mut rb);
            for i in 0..n {
                let fd = (ra[i] - rb[i]) / (2.0 * h);
                worst = worst.max((fd - jac[i * n + j]).abs());
            }
        }
        assert!(
            worst <= 1e-7 * scale,
            "{}: {worst:e} of {scale:e}",
            sys.kind
        );
    }
}

/// The DVD step satisfies its equation: the residual at every stored step is at rounding.
#[test]
fn every_stored_step_solves_the_scheme() {
    for kind in [SystemKind::Kdv, SystemKind::CahnHilliard] {
        let data = small(kind, 1, 20);
        let mut r = vec![0.0; data.n()];
        for k in 0..20 {
            let (u, v) = (data.state(0, k), data.state(0, k + 1));
            data.system.dvd_residual(u, v, data.dt, &mut r);
            let rate: Vec<f64> = (0..data.n()).map(|i| (v[i] - u[i]) / data.dt).collect();
            // Both infinite (so the check fails) when a value is not finite.
            let scale = symplode::runtime::compare::max_abs(&rate);
            assert!(
                scale.is_finite(),
                "{kind} step {k}: the states are not finite"
            );
            let res = symplode::runtime::compare::max_abs(&r);
            assert!(
                res <= 1e-9 * scale.max(1.0),
                "{kind} step {k}: residual {res:e}"
            );
        }
    }
}

#[test]
fn initial_states_follow_dgnet_distributions() {
    let kdv = small(SystemKind::Kdv, 40, 0);
    let mut mirrored = 0;
    for traj in 0..40 {
        let u = kdv.state(traj, 0);
        let max = u.iter().fold(0.0f64, |m, v| m.max(*v));
        // 2k² with k ∈ [0.5, 2]: peaks between 0.5 and 8 (two solitons may overlap a little).
        assert!((0.4..=8.5).contains(&max), "trajectory {traj}: peak {max}");
        assert!(u.iter().all(|&v| v > 0.0));
        // The first soliton sits at 10·d₁ ∈ [2, 3] unless mirrored (then near 10 − that).
        let arg = (0..50).fold(0, |b, k| if u[k] > u[b] { k } else { b });
        if arg >= 25 {
            mirrored += 1;
        }
    }
    assert!((8..=32).contains(&mirrored), "{mirrored} of 40 mirrored");
    let ch = small(SystemKind::CahnHilliard, 20, 0);
    assert!(ch.u.iter().all(|v| v.abs() <= 0.05));
    let spread = ch.u.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(spread > 0.045);
}

#[test]
fn generation_is_seeded_and_split_as_dgnet() {
    let a = small(SystemKind::CahnHilliard, 10, 5);
    let b = small(SystemKind::CahnHilliard, 10, 5);
    assert_eq!(a, b);
    assert_eq!((a.n_train, a.test_range()), (9, 9..10));
    let mut cfg = DatasetConfig::dgnet(SystemKind::CahnHilliard);
    cfg.trajectories = 10;
    cfg.steps = 5;
    cfg.seed = 7;
    let c = Dataset::generate(&cfg, |_, _| {}).unwrap();
    assert_ne!(a.u, c.u);
    let full = DatasetConfig::dgnet(SystemKind::Kdv);
    assert_eq!(
        (full.trajectories, full.steps, full.n_train()),
        (100, 500, 90)
    );
    assert_eq!(
        (full.system.n, full.system.dx(), full.dt, full.seed),
        (50, 0.2, 0.001, 1)
    );
    let ch = DatasetConfig::dgnet(SystemKind::CahnHilliard);
    assert_eq!(
        (ch.system.dx(), ch.dt, ch.seed, ch.system.gamma),
        (0.02, 1e-4, 0, 0.0005)
    );
    assert_eq!(mass(&[1.0, -0.5]), 0.5);
}

#[test]
fn files_round_trip_exactly() {
    let data = small(SystemKind::Kdv, 3, 4);
    let st = tmp("kdv.safetensors");
    data.write_safetensors(&st).unwrap();
    assert_eq!(Dataset::read_safetensors(&st).unwrap(), data);
    let dir = tmp("kdv-npy");
    data.write_npy(&dir).unwrap();
    assert_eq!(Dataset::read_npy(&dir).unwrap(), data);
    let t = symplode::io::npy::read(dir.join("t.npy")).unwrap();
    assert_eq!(t.shape, vec![5]);
    assert_eq!(t.data[4], 4.0 * 0.001);
}

#[test]
fn bad_files_and_options_are_errors_naming_the_culprit() {
    let data = small(SystemKind::CahnHilliard, 2, 2);
    let dir = tmp("ch-npy");
    data.write_npy(&dir).unwrap();
    std::fs::write(dir.join("dataset.json"), r#"{"system": "heat"}"#).unwrap();
    let e = Dataset::read_npy(&dir).unwrap_err().to_string();
    assert!(e.contains("unknown system `heat`"), "{e}");
    std::fs::write(
        dir.join("dataset.json"),
        r#"{"system": "ch", "n": "50", "width": "1", "a": "1", "b": "1", "gamma": "x"}"#,
    )
    .unwrap();
    let e = Dataset::read_npy(&dir).unwrap_err().to_string();
    assert!(e.contains("`gamma` = `x`"), "{e}");
    let missing = Dataset::read_safetensors(tmp("nope.safetensors")).unwrap_err();
    assert!(matches!(missing, PhysicsError::Io(_)), "{missing}");
    let mut cfg = DatasetConfig::dgnet(SystemKind::Kdv);
    cfg.dt = -1.0;
    let e = Dataset::generate(&cfg, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("dt"), "{e}");
    assert!("heat".parse::<SystemKind>().is_err());
}
