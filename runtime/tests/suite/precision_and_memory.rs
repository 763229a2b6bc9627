//! f32 against f64, the memory predictions against the runtime's counts, and bad input.

use crate::common::*;
use symplode_runtime::grad::{Component, GradientMethod, Problem, ProblemSizes, losses};
use symplode_runtime::{SolveError, Stepping};

#[test]
fn f32_agrees_with_f64_within_f32_rounding() {
    for name in ["rk4", "dopri5", "midpoint", "dopri8"] {
        let n64 = mlp::<f64>(2, 8, 5);
        let n32 = n64.cast::<f32>();
        let x64 = random_state::<f64>(2 * 4, 1);
        let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        let (s64, s32) = (scheme::<f64>(name), scheme::<f32>(name));
        let times = [0.0, 1.0];
        let p64 = Problem::single(&n64, &times, &s64, Stepping::fixed(10), &x64);
        let p32 = Problem::single(&n32, &times, &s32, Stepping::fixed(10), &x32);
        for (m64, m32) in all_methods::<f64>().iter().zip(all_methods::<f32>()) {
            let g64 = m64
                .gradient(&p64, &mut losses::mean_sq_final(2))
                .expect("f64");
            let g32 = m32
                .gradient(&p32, &mut losses::mean_sq_final(2))
                .expect("f32");
            let mut worst = rel(&to64(&g32.dx0), &g64.dx0);
            worst = worst.max(rel(&to64(&g32.dtheta[0]), &g64.dtheta[0]));
            assert!(worst < 2e-5, "{name} {}: f32 vs f64 {worst:e}", m64.name());
        }
    }
}

#[test]
fn predictions_equal_what_the_runtime_counts() {
    for name in ["rk4", "dopri5", "bosh3", "euler", "midpoint"] {
        for adaptive in [false, true] {
            if adaptive && ["rk4", "euler", "midpoint"].contains(&name) {
                continue;
            }
            let sch = scheme::<f64>(name);
            let nets = [mlp::<f64>(2, 8, 1), mlp::<f64>(2, 8, 2)];
            let x0 = random_state::<f64>(2 * 6, 2);
            let problem = Problem {
                chain: nets
                    .iter()
                    .enumerate()
                    .map(|(m, n)| Component {
                        dynamics: dyn_ref(n),
                        times: vec![m as f64, m as f64 + 0.5, m as f64 + 1.0],
                    })
                    .collect(),
                scheme: &sch,
                stepping: stepping_for(name, adaptive),
                x0: &x0,
            };
            for method in all_methods::<f64>() {
                let r = method
                    .gradient(&problem, &mut losses::mean_sq_final(2))
                    .expect("gradient");
                let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
                let predicted = method.predict(&ProblemSizes::of(&problem, &steps));
                let s = &r.stats;
                assert_eq!(
                    (
                        predicted.checkpoint_bytes,
                        predicted.graph_bytes,
                        predicted.workspace_bytes
                    ),
                    (
                        s.peak_checkpoint_bytes,
                        s.peak_graph_bytes,
                        s.peak_workspace_bytes
                    ),
                    "{name} adaptive={adaptive} {}",
                    method.name()
                );
                assert!(s.peak_total_bytes <= predicted.total());
                assert!(s.peak_total_bytes >= predicted.total() * 3 / 4);
            }
        }
    }
}

fn first_error(problem: &Problem<'_, f64>) -> SolveError {
    symplode_runtime::SymplecticAdjoint
        .gradient(problem, &mut losses::mean_sq_final(2))
        .expect_err("bad input must be an error")
}

#[test]
fn bad_input_is_a_typed_error() {
    let sch = scheme::<f64>("dopri5");
    let rk4 = scheme::<f64>("rk4");
    let net = mlp::<f64>(2, 4, 1);
    let x0 = random_state::<f64>(6, 1);
    let odd = random_state::<f64>(5, 1);
    let mut nan = x0.clone();
    nan[3] = f64::NAN;
    let fixed = Stepping::fixed(4);
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &sch,
        fixed.clone(),
        &odd,
    ));
    assert!(matches!(e, SolveError::Length { .. }), "{e}");
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0, 0.5],
        &sch,
        fixed.clone(),
        &x0,
    ));
    assert!(matches!(e, SolveError::BadTimes { index: 2, .. }), "{e}");
    let e = first_error(&Problem::single(&net, &[0.0], &sch, fixed.clone(), &x0));
    assert!(matches!(e, SolveError::TooFewTimes { .. }), "{e}");
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &sch,
        fixed.clone(),
        &nan,
    ));
    assert!(matches!(e, SolveError::NonFinite { step: 0, .. }), "{e}");
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &sch,
        Stepping::fixed(0),
        &x0,
    ));
    assert!(matches!(e, SolveError::BadOption { .. }), "{e}");
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &rk4,
        Stepping::adaptive(1e-6, 1e-6),
        &x0,
    ));
    assert!(matches!(e, SolveError::NotAdaptive(_)), "{e}");
    let mut tight = symplode_runtime::Adaptive::tol(1e-12, 1e-12);
    tight.max_steps = 5;
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &sch,
        Stepping::Adaptive(tight),
        &x0,
    ));
    assert!(matches!(e, SolveError::TooManySteps { .. }), "{e}");
    let mut tiny = symplode_runtime::Adaptive::tol(1e-12, 1e-12);
    tiny.min_step = 0.1;
    let e = first_error(&Problem::single(
        &net,
        &[0.0, 1.0],
        &sch,
        Stepping::Adaptive(tiny),
        &x0,
    ));
    assert!(matches!(e, SolveError::StepSizeUnderflow { .. }), "{e}");
    // A blow-up: ẋ = x² style growth via a huge decay rate of the wrong sign.
    let blow = symplode_runtime::models::ExpDecay::new(vec![-1e30, -1e30]).expect("decay");
    let e = symplode_runtime::SymplecticAdjoint
        .gradient(
            &Problem::single(&blow, &[0.0, 10.0], &rk4, Stepping::fixed(10), &x0),
            &mut losses::mean_sq_final(2),
        )
        .expect_err("overflow");
    assert!(matches!(e, SolveError::NonFinite { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("step") && msg.contains("t ="), "{msg}");
    let other = symplode_runtime::models::ExpDecay::new(vec![1.0, 1.0, 1.0]).expect("decay");
    let problem = Problem {
        chain: vec![
            Component {
                dynamics: &net,
                times: vec![0.0, 1.0],
            },
            Component {
                dynamics: &other,
                times: vec![1.0, 2.0],
            },
        ],
        scheme: &sch,
        stepping: fixed,
        x0: &x0,
    };
    let e = first_error(&problem);
    assert!(
        matches!(e, SolveError::DimensionMismatch { component: 1, .. }),
        "{e}"
    );
}

#[test]
fn huge_and_tiny_times_print_short_in_messages() {
    let e = SolveError::NonFinite {
        what: "state",
        component: 0,
        step: 3,
        t: 1e308,
    };
    let text = e.to_string();
    assert!(text.contains("t = 1e308") && text.len() < 100, "{text}");
    let e = SolveError::TooManySteps {
        component: 1,
        max_steps: 10,
        t: 2.5e-9,
        t_end: 0.5,
    };
    let text = e.to_string();
    assert!(
        text.contains("t = 2.5e-9") && text.contains("(end 0.5)"),
        "{text}"
    );
}
