//! A continuous normalizing flow with FFJORD ConcatSquash layers (runs on the interpreter).
#![deny(warnings, missing_docs)]

symplode::neural_ode! {
    /// A 2-D density model, exact trace.
    pub struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(16, tanh), concat_squash(16, softplus), concat_squash(2)],
        form: cnf(exact),
        tableau: rk4,
        solver: { steps: 4 },
    }
}

fn main() {
    use symplode::prelude::*;
    let m = Flow::new(0);
    assert_eq!(Flow::DIM, 3);
    assert_eq!(m.dim(), 3);
    assert_eq!(m.n_params(), Flow::N_PARAMS);
    assert!(Flow::scheme().unwrap().is_compiled());
    assert_eq!(Flow::stepping(), Stepping::fixed(4));
}
