//! [`Auto`]: the fastest exact method whose own prediction fits the budget; the chosen
//! method's counted peak fits too; a clear error naming the smallest achievable peak.

use crate::common::*;
use symplode_runtime::grad::{
    Auto, GradientMethod, MethodOptions, Problem, ProblemSizes, method_with_options,
};
use symplode_runtime::{Stepping, SymplecticAdjoint};

fn names() -> Vec<&'static str> {
    vec![
        "backprop",
        "aca",
        "symplectic-stored",
        "checkpoint-component",
        "symplectic",
    ]
}

#[test]
fn picks_the_fastest_that_fits_and_runs_within_it() {
    let net = mlp::<f64>(2, 16, 1);
    let x0 = random_state::<f64>(2 * 8, 2);
    for (name, stepping) in [
        ("rk4", Stepping::fixed(400)),
        ("dopri5", Stepping::adaptive(1e-8, 1e-10)),
    ] {
        let sch = scheme::<f64>(name);
        let problem = Problem::single(&net, &[0.0, 0.5, 2.0], &sch, stepping.clone(), &x0);
        let reference = run(
            &SymplecticAdjoint,
            &problem,
            &random_cotangents(&problem, 3),
        );
        let steps: Vec<usize> = reference.grids.iter().map(|g| g.steps()).collect();
        let z = ProblemSizes::of(&problem, &steps);
        let peaks: Vec<(&str, usize)> = names()
            .into_iter()
            .map(|n| {
                let m = method_with_options::<f64>(n, &MethodOptions::default()).unwrap();
                (n, m.predict(&z).total())
            })
            .collect();
        println!("{peaks:?}");
        let huge = Auto { budget: usize::MAX }.choose(&problem).unwrap();
        assert_eq!(huge.name, "backprop", "{}", huge.reason);
        // Just below backprop's peak: something slower but smaller.
        let below = peaks[0].1 - 1;
        let c = Auto { budget: below }.choose(&problem).unwrap();
        assert_ne!(c.name, "backprop");
        assert!(c.predicted.total() <= below, "{}", c.reason);
        println!("{}", c.reason);
        // Below the symplectic adjoint's: binomial checkpoints, and its run fits.
        let budget = peaks[4].1 - 1;
        let auto = Auto { budget };
        let c = auto.choose(&problem).unwrap();
        assert_eq!(c.name, "symplectic-binomial", "{}", c.reason);
        println!("{}", c.reason);
        let cot = random_cotangents(&problem, 3);
        let r = run(&auto, &problem, &cot);
        assert!(r.stats.peak_total_bytes <= budget);
        assert_eq!(r.dx0, reference.dx0);
        assert_eq!(r.dtheta, reference.dtheta);
        // Nothing fits: the error names the smallest achievable peak.
        let e = Auto { budget: 100 }
            .choose(&problem)
            .err()
            .expect("too small");
        let text = e.to_string();
        assert!(text.contains("smallest achievable peak"), "{text}");
        println!("{text}");
    }
}

#[test]
fn auto_by_name_needs_a_budget() {
    let e = method_with_options::<f64>("auto", &MethodOptions::default())
        .err()
        .unwrap();
    assert!(e.contains("memory budget"), "{e}");
    let opts = MethodOptions {
        memory_budget: Some(1 << 20),
        ..MethodOptions::default()
    };
    let m = method_with_options::<f64>("auto", &opts).unwrap();
    assert_eq!(m.name(), "auto");
    let _ = GradientMethod::<f64>::name(&Auto { budget: 1 });
}
