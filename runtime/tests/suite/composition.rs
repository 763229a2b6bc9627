//! Gradient methods as (backward kind × storage policy): separate forward and backward calls,
//! every supported pair exact against backprop, predictions equal to the counts, grid replay.

use crate::common::*;
use symplode_runtime::grad::{
    AllTapes, BackwardKind, ComponentStarts, Composed, GradientMethod, Partner, Problem,
    ProblemSizes, StepStages, StepStates, StoragePolicy, Taped, losses,
};
use symplode_runtime::solver::{Trajectory, replay, solve};
use symplode_runtime::{Backprop, SolveError, Stepping, SymplecticAdjoint};

/// Every pair beyond the six named methods.
fn extra_pairs() -> Vec<Box<dyn GradientMethod<f64>>> {
    vec![
        Box::new(Composed::new("partner-starts", Partner, ComponentStarts)),
        Box::new(Composed::new("partner-tapes", Partner, AllTapes)),
        Box::new(Composed::new("taped-stages", Taped, StepStages)),
    ]
}

#[test]
fn forward_then_backward_equals_gradient_bit_for_bit() {
    let sch = scheme::<f64>("dopri5");
    let nets = [mlp::<f64>(2, 8, 1), mlp::<f64>(2, 8, 2)];
    let x0 = random_state::<f64>(2 * 4, 5);
    let problem = chain(&nets, &sch, Stepping::adaptive(1e-6, 1e-8), &x0);
    for method in all_methods::<f64>() {
        let whole = method
            .gradient(&problem, &mut losses::mean_sq_final(2))
            .expect("gradient");
        let pass = method.forward(&problem).expect("forward");
        assert_eq!(pass.method(), method.name());
        // The loss computed outside, from the outputs the forward pass returned.
        let mut cot = pass.zero_cotangents();
        let value = losses::mean_sq_final(2)(pass.outputs(), &mut cot);
        let split = method.backward(pass, &cot, value).expect("backward");
        assert_eq!(split.dx0, whole.dx0, "{}", method.name());
        assert_eq!(split.dtheta, whole.dtheta, "{}", method.name());
        assert_eq!(split.loss, whole.loss);
        assert_eq!(split.stats, whole.stats, "{}", method.name());
    }
}

#[test]
fn a_pass_goes_back_only_through_its_own_method_and_cotangent_shape() {
    let sch = scheme::<f64>("rk4");
    let net = mlp::<f64>(2, 4, 1);
    let x0 = random_state::<f64>(6, 1);
    let problem = Problem::single(&net, &[0.0, 1.0], &sch, Stepping::fixed(4), &x0);
    let pass = SymplecticAdjoint.forward(&problem).expect("forward");
    let cot = pass.zero_cotangents();
    let e = GradientMethod::<f64>::backward(&Backprop, pass, &cot, 0.0).expect_err("mismatch");
    assert!(e.to_string().contains("symplectic"), "{e}");
    let pass = SymplecticAdjoint.forward(&problem).expect("forward");
    let e = SymplecticAdjoint
        .backward(pass, &vec![Trajectory::single(vec![0.0; 5])], 0.0)
        .expect_err("shape");
    assert!(matches!(e, SolveError::Length { .. }), "{e}");
    let pass = SymplecticAdjoint.forward(&problem).expect("forward");
    let e = SymplecticAdjoint
        .backward(pass, &vec![Trajectory::single(vec![f64::NAN; 6])], 0.0)
        .expect_err("non-finite");
    assert!(matches!(e, SolveError::NonFinite { .. }), "{e}");
}

#[test]
fn every_supported_pair_is_exact_and_predicted() {
    for (name, adaptive) in [
        ("rk4", false),
        ("dopri5", true),
        ("bosh3", true),
        ("dopri8", false),
    ] {
        let sch = scheme::<f64>(name);
        let nets = [mlp::<f64>(2, 8, 3), mlp::<f64>(2, 8, 4)];
        let x0 = random_state::<f64>(2 * 5, 9);
        let problem = chain(&nets, &sch, stepping_for(name, adaptive), &x0);
        let cot = random_cotangents(&problem, 11);
        let reference = run(&Backprop, &problem, &cot);
        for method in extra_pairs() {
            let r = run(method.as_ref(), &problem, &cot);
            let err = worst_rel(&problem, &r, &reference);
            assert!(err <= 1e-12, "{name} {}: {err:e}", method.name());
            let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
            let p = method.predict(&ProblemSizes::of(&problem, &steps));
            let s = &r.stats;
            assert_eq!(
                (p.checkpoint_bytes, p.graph_bytes, p.workspace_bytes),
                (
                    s.peak_checkpoint_bytes,
                    s.peak_graph_bytes,
                    s.peak_workspace_bytes
                ),
                "{name} {}",
                method.name()
            );
        }
        // The partner over stored stages or tapes is the symplectic adjoint, bit for bit.
        let sa = run(&SymplecticAdjoint, &problem, &cot);
        for method in &extra_pairs()[..2] {
            let r = run(method.as_ref(), &problem, &cot);
            assert_eq!(r.dx0, sa.dx0, "{name} {}", method.name());
            assert_eq!(r.dtheta, sa.dtheta, "{name} {}", method.name());
        }
    }
}

#[test]
fn unsupported_pairs_are_refused_before_any_work() {
    let m = Composed::new("taped-outputs", Taped, symplode_runtime::grad::OutputStates);
    assert!(!Taped.supports(symplode_runtime::grad::OutputStates.keeps()));
    let sch = scheme::<f64>("rk4");
    let net = mlp::<f64>(2, 4, 1);
    let x0 = random_state::<f64>(6, 1);
    let problem = Problem::single(&net, &[0.0, 1.0], &sch, Stepping::fixed(4), &x0);
    let e = m
        .gradient(&problem, &mut losses::mean_sq_final(2))
        .expect_err("unsupported");
    assert!(e.to_string().contains("output-states"), "{e}");
    assert!(StepStates.name() != ComponentStarts.name());
}

#[test]
fn a_replayed_grid_gives_the_same_states_bit_for_bit() {
    for name in ["dopri5", "bosh3", "tsit5", "dopri8"] {
        let sch = scheme::<f64>(name);
        let net = mlp::<f64>(2, 8, 7);
        let x0 = random_state::<f64>(2 * 3, 2);
        let times = [0.0, 0.25, 1.0];
        let stepping = Stepping::adaptive(1e-7, 1e-9);
        let first = solve(&net, &sch, &stepping, &times, &x0).expect("solve");
        let again = replay(&net, &sch, &stepping, &times, &first.grid, &x0).expect("replay");
        assert_eq!(again.states, first.states, "{name}");
        assert_eq!(again.grid, first.grid);
        assert!(
            again.counters.nfe < first.counters.nfe,
            "{name}: replay re-chose steps"
        );
        assert_eq!(again.counters.rejected, 0);
        // A grid that misses an output time is refused.
        let other = [0.0, 0.5, 1.0];
        let e = replay(&net, &sch, &stepping, &other, &first.grid, &x0).expect_err("mismatch");
        assert!(matches!(e, SolveError::GridMismatch(0)), "{e}");
    }
}
