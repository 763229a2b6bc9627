//! The symplectic adjoint over binomial (revolve) checkpoints: bit-identical to the symplectic
//! adjoint (fixed and adaptive, one and two components), forward-step recomputations equal to
//! the revolve optimum t(N, C) (Griewank & Walther), checkpoint memory ≤ C + 1 states (C
//! checkpoints, the start's included, and the live state) plus the S recomputed stage states,
//! prediction equal to the count.

use crate::common::*;
use symplode_runtime::grad::revolve::optimal_advances;
use symplode_runtime::grad::{GradientMethod, Problem, ProblemSizes, SymplecticBinomial};
use symplode_runtime::{Stepping, SymplecticAdjoint};

/// The expected replays: the full revolve count without a forward placement (adaptive), N − 1
/// fewer when the forward sweep placed the first descent (fixed).
fn expected_replays(steps: usize, c: usize, fixed: bool) -> usize {
    let t = optimal_advances(steps, c);
    if fixed { t - (steps - 1) } else { t }
}

fn check(name: &str, stepping: Stepping, fixed: bool, components: usize) {
    let sch = scheme::<f64>(name);
    let nets: Vec<_> = (0..components)
        .map(|m| mlp::<f64>(2, 8, 3 + m as u64))
        .collect();
    let x0 = random_state::<f64>(2 * 3, 9);
    let problem = chain(&nets, &sch, stepping, &x0);
    let cot = random_cotangents(&problem, 11);
    let sa = run(&SymplecticAdjoint, &problem, &cot);
    let state_bytes = x0.len() * 8;
    let stage_bytes = sch.effective_stages() * state_bytes;
    for c in [1usize, 2, 3, 4, 6, 9, 41] {
        let m = SymplecticBinomial { checkpoints: c };
        let r = run(&m, &problem, &cot);
        assert_eq!(r.dx0, sa.dx0, "{name} C={c}");
        assert_eq!(r.dtheta, sa.dtheta, "{name} C={c}");
        assert_eq!(r.grids, sa.grids);
        let expected: usize = r
            .grids
            .iter()
            .map(|g| expected_replays(g.steps(), c, fixed))
            .sum();
        assert_eq!(r.stats.recomputed_steps, expected, "{name} C={c}");
        let evals_per_step = if fixed && !sch.is_fsal() {
            sch.effective_stages()
        } else {
            sch.stages()
        };
        assert_eq!(
            r.stats.nfe_backward,
            sa.stats.nfe_backward + expected * evals_per_step,
            "{name} C={c}"
        );
        // Per component: C checkpoints and the live state; all components' records at once.
        let slots = components * (c + 1);
        assert!(
            r.stats.peak_checkpoint_bytes <= slots * state_bytes + stage_bytes,
            "{name} C={c}: {} > {}",
            r.stats.peak_checkpoint_bytes,
            slots * state_bytes + stage_bytes
        );
        let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
        let p = GradientMethod::<f64>::predict(&m, &ProblemSizes::of(&problem, &steps));
        assert_eq!(
            (p.checkpoint_bytes, p.graph_bytes, p.workspace_bytes),
            (
                r.stats.peak_checkpoint_bytes,
                r.stats.peak_graph_bytes,
                r.stats.peak_workspace_bytes
            ),
            "{name} C={c}"
        );
    }
}

#[test]
fn fixed_steps_are_bit_identical_and_optimal() {
    check("rk4", Stepping::fixed(37), true, 1);
    check("dopri5", Stepping::fixed(23), true, 1);
    check("rk4", Stepping::fixed(19), true, 2);
}

#[test]
fn adaptive_steps_are_bit_identical_and_optimal() {
    check("dopri5", Stepping::adaptive(1e-8, 1e-10), false, 1);
    check("bosh3", Stepping::adaptive(1e-6, 1e-8), false, 2);
    check("tsit5", Stepping::adaptive(1e-8, 1e-10), false, 1);
}

/// With C = 1 (the start only) the backward replays from the start for every step — the
/// formula checked by hand, not through `optimal_advances`; C = 0 is refused.
#[test]
fn one_checkpoint_means_quadratic_replays() {
    let sch = scheme::<f64>("rk4");
    let net = mlp::<f64>(2, 4, 1);
    let x0 = random_state::<f64>(4, 1);
    let n = 12;
    let problem = Problem::single(&net, &[0.0, 1.0], &sch, Stepping::fixed(n), &x0);
    let cot = random_cotangents(&problem, 2);
    let r = run(&SymplecticBinomial { checkpoints: 1 }, &problem, &cot);
    // Fixed: x_{N−1} is live after the forward sweep; x_{N−2}, …, x_1 are replayed from x_0.
    assert_eq!(r.stats.recomputed_steps, (n - 1) * (n - 2) / 2);
    // Two states at most: x_0 and the live one (plus the S stage states of the sweep).
    let state_bytes = x0.len() * 8;
    let stage_bytes = sch.effective_stages() * state_bytes;
    assert!(r.stats.peak_checkpoint_bytes <= 2 * state_bytes + stage_bytes);
    let zero = SymplecticBinomial { checkpoints: 0 };
    let err = GradientMethod::<f64>::forward(&zero, &problem)
        .err()
        .expect("C = 0 is refused");
    assert!(err.to_string().contains("checkpoints"), "{err}");
}
