//! The exactness contract: every exact method equals backprop through the solver to rounding,
//! for every built-in tableau, fixed and adaptive steps, one and two chained components.

use crate::common::*;
use symplode_runtime::grad::{Component, Problem};

fn check(name: &str, adaptive: bool, components: usize) {
    let sch = scheme::<f64>(name);
    let nets: Vec<_> = (0..components)
        .map(|m| mlp::<f64>(2, 8, 10 + m as u64))
        .collect();
    let x0 = random_state::<f64>(2 * 5, 3);
    let chain = nets
        .iter()
        .enumerate()
        .map(|(m, net)| Component {
            dynamics: dyn_ref(net),
            times: vec![m as f64, m as f64 + 0.4, m as f64 + 1.0],
        })
        .collect();
    let problem = Problem {
        chain,
        scheme: &sch,
        stepping: stepping_for(name, adaptive),
        x0: &x0,
    };
    let cot = random_cotangents(&problem, 7);
    let reference = run(&symplode_runtime::Backprop, &problem, &cot);
    assert!(reference.stats.accepted > 0);
    for method in exact_methods::<f64>() {
        let r = run(method.as_ref(), &problem, &cot);
        let err = worst_rel(&problem, &r, &reference);
        assert!(
            err <= 1e-12,
            "{name} adaptive={adaptive} M={components}: {} differs from backprop by {err:e}",
            method.name()
        );
        assert_eq!(
            r.grids,
            reference.grids,
            "{name}: {} took another grid",
            method.name()
        );
        assert!((r.loss - reference.loss).abs() <= 1e-14 * reference.loss.abs().max(1.0));
    }
    // Storing the stage states instead of recomputing them changes nothing, bit for bit.
    let recomputed = run(&symplode_runtime::SymplecticAdjoint, &problem, &cot);
    let stored = run(&symplode_runtime::SymplecticAdjointStored, &problem, &cot);
    assert_eq!(
        stored.dx0, recomputed.dx0,
        "{name}: stored stages changed dL/dx0"
    );
    assert_eq!(
        stored.dtheta, recomputed.dtheta,
        "{name}: stored stages changed dL/dθ"
    );
    assert_eq!(stored.stats.nfe_backward, 0);
    assert_eq!(stored.stats.vjp_backward, recomputed.stats.vjp_backward);
}

#[test]
fn fixed_steps_every_tableau() {
    for name in TABLEAUX {
        check(name, false, 1);
    }
}

#[test]
fn adaptive_steps_every_adaptive_tableau() {
    for name in ADAPTIVE {
        check(name, true, 1);
    }
}

#[test]
fn chained_components() {
    for name in ["rk4", "dopri5", "bosh3", "midpoint"] {
        check(name, false, 2);
        if name != "rk4" && name != "midpoint" {
            check(name, true, 2);
        }
    }
}
