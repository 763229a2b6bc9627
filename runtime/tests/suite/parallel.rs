//! Batch-chunk parallelism: gradients bit-identical at 1, 2 and 4 threads, and equal to the
//! unchunked model to rounding.

use crate::common::*;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::parallel::Chunked;
use symplode_runtime::{Dynamics, Stepping};

#[test]
fn gradients_are_bit_identical_for_any_thread_count() {
    let x0 = random_state::<f64>(2 * 300, 12);
    let times = [0.0, 0.5, 1.0];
    for name in ["rk4", "dopri5"] {
        let sch = scheme::<f64>(name);
        let stepping = if name == "rk4" {
            Stepping::fixed(4)
        } else {
            Stepping::adaptive(1e-6, 1e-8)
        };
        let plain = mlp::<f64>(2, 16, 3);
        let reference_problem = Problem::single(&plain, &times, &sch, stepping.clone(), &x0);
        for method in all_methods::<f64>() {
            let reference = method
                .gradient(&reference_problem, &mut losses::mean_sq_final(2))
                .expect("unchunked");
            let mut first: Option<(Vec<f64>, Vec<f64>)> = None;
            for threads in [1, 2, 4] {
                let net = Chunked::new(mlp::<f64>(2, 16, 3), 64)
                    .and_then(|c| c.with_threads(threads))
                    .expect("chunked");
                let problem = Problem::single(&net, &times, &sch, stepping.clone(), &x0);
                let r = method
                    .gradient(&problem, &mut losses::mean_sq_final(2))
                    .expect("chunked");
                let got = (r.dx0.clone(), r.dtheta[0].clone());
                match &first {
                    None => first = Some(got),
                    Some(f) => assert!(
                        f.0 == got.0 && f.1 == got.1,
                        "{name} {}: {threads} threads differ from 1 thread",
                        method.name()
                    ),
                }
                assert!(
                    rel(&r.dtheta[0], &reference.dtheta[0]) < 1e-12,
                    "{name} {}",
                    method.name()
                );
                assert!(rel(&r.dx0, &reference.dx0) < 1e-12);
                assert_eq!(net.n_params(), plain.n_params());
            }
        }
    }
}
