//! FFJORD's tabular flow: two stacked Hutchinson CNF blocks, trained with the Hutchinson
//! trace and evaluated with the exact-trace twin.
#![deny(warnings, missing_docs)]
use symplode::prelude::*;
use symplode::runtime::rng::Rng;

symplode::neural_ode! {
    /// Two ConcatSquash CNF blocks on 3-D samples, each over half a time unit.
    pub struct Tabular {
        float: f64,
        dim: 3,
        layers: [concat_squash(8, softplus), concat_squash(3)],
        form: cnf(hutchinson, blocks: 2, time_length: 1/2),
        tableau: dopri5,
        solver: { rtol: 1e-6, atol: 1e-8 },
    }
}

fn main() {
    let mut flow = Tabular::new(0);
    flow.draw_probes(2, &mut Rng::new(1)).unwrap();
    let scheme = Tabular::scheme().unwrap();
    let x0 = vec![0.1, -0.2, 0.3, 0.0, 0.2, 0.1, -0.3, 0.0];
    let problem = flow.problem(&scheme, &Tabular::stepping(), &x0);
    let g = SymplecticAdjoint
        .gradient(&problem, &mut losses::mean_sq_final(Tabular::DIM))
        .unwrap();
    assert_eq!(g.dtheta.len(), Tabular::N_BLOCKS);
    let exact = flow.exact();
    let test = exact.problem(&scheme, &TabularExact::stepping(), &x0);
    let _: &TabularExactBlock = exact.block(1).unwrap();
    let _ = Backprop.gradient(&test, &mut losses::mean_sq_final(Tabular::DIM)).unwrap();
}
