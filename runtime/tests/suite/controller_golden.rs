//! The adaptive step controller against torchdiffeq's, whose algorithm it follows: accepted and
//! rejected step counts, function evaluations and the first step on reference problems
//! (golden numbers printed by `bench/golden/controller_counts.py`), plus unit checks of the
//! error norm (RMS over the whole batch, not the maximum) and of the default constants.
//!
//! A change to the norm, the safety factor, the growth/shrink limits, the exponent or the
//! initial-step selection changes these counts: the test problem of issue 13 went from 22 to
//! 25 accepted steps when the safety factor was 0.8 instead of 0.9.

use symplode_runtime::models::{ExpDecay, HarmonicOscillator};
use symplode_runtime::solver::solve;
use symplode_runtime::{Adaptive, Controller, Dynamics, Scheme, Stepping};

/// What torchdiffeq 0.2.5 reported for one case.
#[derive(Clone, Copy, Debug)]
struct Golden {
    accepted: usize,
    rejected: usize,
    nfe: usize,
    first_step: f64,
}

// Output of `bench/golden/controller_counts.py` (torch 2.15.0, torchdiffeq 0.2.5, float64).
// OSC_DOPRI5: dopri5, times [0.0, 5.0], rtol 1e-06, atol 1e-08; final state [-0.8390700060458698, 1.088041636875105, -0.14752459380415822, 1.383090824483421]
const OSC_DOPRI5: Golden = Golden {
    accepted: 47,
    rejected: 11,
    nfe: 350,
    first_step: 0.004273186073159276,
};
const OSC_DOPRI5_FINAL: [f64; 4] = [
    -0.8390700060458698,
    1.088041636875105,
    -0.14752459380415822,
    1.383090824483421,
];
// OSC_DOPRI5_OUTPUTS: dopri5, times [0.0, 0.7, 2.0, 5.0], rtol 1e-06, atol 1e-08; final state [-0.8390699124451979, 1.0880416202410506, -0.14752455116233504, 1.3830907225657192]
const OSC_DOPRI5_OUTPUTS: Golden = Golden {
    accepted: 47,
    rejected: 8,
    nfe: 332,
    first_step: 0.004273186073159276,
};
const OSC_DOPRI5_OUTPUTS_FINAL: [f64; 4] = [
    -0.8390699124451979,
    1.0880416202410506,
    -0.14752455116233504,
    1.3830907225657192,
];
// DECAY_DOPRI5: dopri5, times [0.0, 2.0], rtol 1e-07, atol 1e-09; final state [0.13533528401613004, 4.256073464071533e-09, -2.4561922592339527]
const DECAY_DOPRI5: Golden = Golden {
    accepted: 60,
    rejected: 0,
    nfe: 362,
    first_step: 0.007049219558793273,
};
const DECAY_DOPRI5_FINAL: [f64; 3] = [
    0.13533528401613004,
    4.256073464071533e-09,
    -2.4561922592339527,
];
// OSC_BOSH3: bosh3, times [0.0, 5.0], rtol 1e-05, atol 1e-07; final state [-0.839021817212344, 1.087983788161786, -0.1475149615657241, 1.3830137112932317]
const OSC_BOSH3: Golden = Golden {
    accepted: 214,
    rejected: 47,
    nfe: 785,
    first_step: 0.0007936941055756415,
};
const OSC_BOSH3_FINAL: [f64; 4] = [
    -0.839021817212344,
    1.087983788161786,
    -0.1475149615657241,
    1.3830137112932317,
];
// DECAY_BOSH3: bosh3, times [0.0, 2.0], rtol 1e-06, atol 1e-08; final state [0.13533496278865176, 3.9947831609370845e-09, -2.4561922586684326]
const DECAY_BOSH3: Golden = Golden {
    accepted: 212,
    rejected: 0,
    nfe: 638,
    first_step: 0.0005583438402015274,
};
const DECAY_BOSH3_FINAL: [f64; 3] = [
    0.13533496278865176,
    3.9947831609370845e-09,
    -2.4561922586684326,
];

const OSC_X0: [f64; 4] = [1.0, 0.0, 0.5, -1.0];
const DECAY_K: [f64; 3] = [1.0, 10.0, 0.1];
const DECAY_X0: [f64; 3] = [1.0, 2.0, -3.0];

/// Solves and compares the counts, the first step and the final state with torchdiffeq's.
fn check(
    label: &str,
    dynamics: &dyn Dynamics<f64>,
    tableau: &str,
    times: &[f64],
    x0: &[f64],
    (rtol, atol): (f64, f64),
    golden: Golden,
    final_state: &[f64],
) {
    let scheme = Scheme::<f64>::builtin(tableau).unwrap();
    let stepping = Stepping::Adaptive(Adaptive::tol(rtol, atol));
    let sol = solve(dynamics, &scheme, &stepping, times, x0).unwrap();
    let c = &sol.counters;
    assert_eq!(
        (c.accepted, c.rejected, c.nfe),
        (golden.accepted, golden.rejected, golden.nfe),
        "{label}: (accepted, rejected, nfe) differ from torchdiffeq's"
    );
    let last = sol.states.last().unwrap();
    for (k, (&got, &want)) in last.iter().zip(final_state).enumerate() {
        let err = (got - want).abs() / want.abs().max(1e-8);
        assert!(
            err < 1e-9,
            "{label}: final state[{k}] = {got:e}, torchdiffeq {want:e} (rel. {err:e})"
        );
    }
    // The first step: without rejections it is the first accepted step.
    if golden.rejected == 0 {
        let h = sol.grid.t[1] - sol.grid.t[0];
        let err = (h - golden.first_step).abs() / golden.first_step;
        assert!(
            err < 1e-12,
            "{label}: first step {h:e}, torchdiffeq {:e}",
            golden.first_step
        );
    }
    // With the first step given explicitly as torchdiffeq's, the counts are unchanged.
    let mut a = Adaptive::tol(rtol, atol);
    a.first_step = Some(golden.first_step);
    let sol2 = solve(dynamics, &scheme, &Stepping::Adaptive(a), times, x0).unwrap();
    assert_eq!(
        (sol2.counters.accepted, sol2.counters.rejected),
        (golden.accepted, golden.rejected),
        "{label}: counts with torchdiffeq's first step given"
    );
    // Hairer's selection costs one evaluation beyond f(t0, x0).
    assert_eq!(sol2.counters.nfe + 1, golden.nfe, "{label}: evaluations");
}

#[test]
fn dopri5_counts_match_torchdiffeq() {
    let osc = HarmonicOscillator::new(2.0).unwrap();
    let decay = ExpDecay::new(DECAY_K.to_vec()).unwrap();
    let tol = (1e-6, 1e-8);
    check(
        "oscillator dopri5",
        &osc,
        "dopri5",
        &[0.0, 5.0],
        &OSC_X0,
        tol,
        OSC_DOPRI5,
        &OSC_DOPRI5_FINAL,
    );
    check(
        "oscillator dopri5, 3 outputs",
        &osc,
        "dopri5",
        &[0.0, 0.7, 2.0, 5.0],
        &OSC_X0,
        tol,
        OSC_DOPRI5_OUTPUTS,
        &OSC_DOPRI5_OUTPUTS_FINAL,
    );
    check(
        "decay dopri5",
        &decay,
        "dopri5",
        &[0.0, 2.0],
        &DECAY_X0,
        (1e-7, 1e-9),
        DECAY_DOPRI5,
        &DECAY_DOPRI5_FINAL,
    );
}

#[test]
fn bosh3_counts_match_torchdiffeq() {
    let osc = HarmonicOscillator::new(2.0).unwrap();
    let decay = ExpDecay::new(DECAY_K.to_vec()).unwrap();
    check(
        "oscillator bosh3",
        &osc,
        "bosh3",
        &[0.0, 5.0],
        &OSC_X0,
        (1e-5, 1e-7),
        OSC_BOSH3,
        &OSC_BOSH3_FINAL,
    );
    check(
        "decay bosh3",
        &decay,
        "bosh3",
        &[0.0, 2.0],
        &DECAY_X0,
        (1e-6, 1e-8),
        DECAY_BOSH3,
        &DECAY_BOSH3_FINAL,
    );
}

/// Hairer's initial step (II.4) with the given norm, written out independently.
fn hairer_first_step(
    f: impl Fn(&[f64]) -> Vec<f64>,
    x0: &[f64],
    rtol: f64,
    atol: f64,
    q: f64,
    norm: impl Fn(&[f64]) -> f64,
) -> f64 {
    let scaled = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .zip(x0)
            .map(|(a, x)| a / (atol + rtol * x.abs()))
            .collect()
    };
    let f0 = f(x0);
    let d0 = norm(&scaled(x0));
    let d1 = norm(&scaled(&f0));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    let x1: Vec<f64> = x0.iter().zip(&f0).map(|(x, g)| x + h0 * g).collect();
    let diff: Vec<f64> = f(&x1).iter().zip(&f0).map(|(a, b)| a - b).collect();
    let d2 = norm(&scaled(&diff)) / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
        (1e-6f64).max(h0 * 1e-3)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / q)
    };
    (100.0 * h0).min(h1)
}

#[test]
fn error_norm_is_rms_over_the_whole_batch_not_the_max() {
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    let max = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let f = |x: &[f64]| -> Vec<f64> { x.iter().zip(DECAY_K).map(|(x, k)| -k * x).collect() };
    let (rtol, atol) = (1e-7, 1e-9);
    let with_rms = hairer_first_step(f, &DECAY_X0, rtol, atol, 5.0, rms);
    let with_max = hairer_first_step(f, &DECAY_X0, rtol, atol, 5.0, max);
    // The two norms give first steps far apart, and torchdiffeq's is the RMS one.
    assert!((with_rms - with_max).abs() > 0.05 * with_rms);
    assert!((with_rms - DECAY_DOPRI5.first_step).abs() < 1e-15 * with_rms);
    // ... and so is ours (the first step is accepted here, so it is the first grid step).
    let decay = ExpDecay::new(DECAY_K.to_vec()).unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let sol = solve(
        &decay,
        &scheme,
        &Stepping::Adaptive(Adaptive::tol(rtol, atol)),
        &[0.0, 2.0],
        &DECAY_X0,
    )
    .unwrap();
    let h = sol.grid.t[1] - sol.grid.t[0];
    assert!(
        (h - with_rms).abs() < 1e-12 * with_rms,
        "{h:e} vs {with_rms:e}"
    );

    // The norm runs over the batch: two identical samples give the same steps as one, and a
    // second, quiet sample (x = 0 decays to 0) halves the mean square and changes them.
    let one = solve(
        &decay,
        &scheme,
        &Stepping::adaptive(rtol, atol),
        &[0.0, 2.0],
        &DECAY_X0,
    )
    .unwrap();
    let twice: Vec<f64> = DECAY_X0.iter().chain(&DECAY_X0).copied().collect();
    let two = solve(
        &decay,
        &scheme,
        &Stepping::adaptive(rtol, atol),
        &[0.0, 2.0],
        &twice,
    )
    .unwrap();
    assert_eq!(one.grid.t, two.grid.t);
    let quiet: Vec<f64> = DECAY_X0.iter().copied().chain([0.0; 3]).collect();
    let mixed = solve(
        &decay,
        &scheme,
        &Stepping::adaptive(rtol, atol),
        &[0.0, 2.0],
        &quiet,
    )
    .unwrap();
    let h_mixed = mixed.grid.t[1] - mixed.grid.t[0];
    let h_one = one.grid.t[1] - one.grid.t[0];
    // The mean square halves, so d1 and d2 shrink by √2 and h1 grows by 2^(1/10).
    let want = h_one * 2f64.powf(0.1);
    assert!(
        (h_mixed - want).abs() < 1e-12 * want,
        "first step {h_mixed:e}, expected {want:e} (RMS over the batch)"
    );
}

#[test]
fn default_controller_constants_are_torchdiffeqs() {
    let a = Adaptive::default();
    assert_eq!(a.rtol, 1e-7);
    assert_eq!(a.atol, 1e-9);
    assert_eq!(a.safety, 0.9);
    assert_eq!(a.max_growth, 10.0);
    assert_eq!(a.min_shrink, 0.2);
    assert_eq!(a.controller, Controller::I);
    assert_eq!(a.first_step, None);
    assert_eq!(a.min_step, 0.0);
    assert_eq!(a.max_step, f64::INFINITY);
    assert_eq!(a.max_steps, 100_000);
    assert_eq!(Adaptive::tol(1e-3, 1e-4).safety, 0.9);
    // The exponent's order: min(p, p̂) + 1.
    assert_eq!(Scheme::<f64>::builtin("dopri5").unwrap().control_order(), 5);
    assert_eq!(Scheme::<f64>::builtin("bosh3").unwrap().control_order(), 3);
}

#[test]
fn safety_factor_changes_the_counts() {
    // The golden counts depend on the safety factor: 0.8 instead of 0.9 is caught.
    let osc = HarmonicOscillator::new(2.0).unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let mut a = Adaptive::tol(1e-6, 1e-8);
    a.safety = 0.8;
    let sol = solve(&osc, &scheme, &Stepping::Adaptive(a), &[0.0, 5.0], &OSC_X0).unwrap();
    assert_ne!(
        (sol.counters.accepted, sol.counters.rejected),
        (OSC_DOPRI5.accepted, OSC_DOPRI5.rejected)
    );
}
