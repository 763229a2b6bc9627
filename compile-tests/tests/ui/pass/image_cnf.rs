//! A multiscale image CNF (FFJORD's ConcatConv2d layers around a squeeze), Hutchinson trace.
#![deny(warnings, missing_docs)]

symplode::neural_ode! {
    /// A flow on 1 × 8 × 8 images.
    pub struct Images {
        float: f64,
        shape: [1, 8, 8],
        layers: [
            conv2d(8, 3, 1, 1, softplus, concat_time),
            squeeze,
            conv2d(4, 3, 1, 1, softplus, concat_time),
            unsqueeze,
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: cnf(hutchinson),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

fn main() {
    use symplode::prelude::*;
    let m = Images::new(0);
    assert_eq!(Images::DIM, 65);
    assert_eq!(m.dim(), 65);
    assert_eq!(m.n_params(), Images::N_PARAMS);
}
