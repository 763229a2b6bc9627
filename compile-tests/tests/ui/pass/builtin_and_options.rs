//! Built-in tableaux, solver options, f32 and an explicit adjoint that pairs.
#![deny(warnings, missing_docs)]

symplode::neural_ode! {
    /// A model with a built-in tableau.
    pub struct Spiral {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, softplus), dense(2)],
        tableau: dopri5,
        solver: { rtol: 1e-6, atol: 1e-8, max_steps: 1000 },
    }
}

symplode::neural_ode! {
    /// Heun's method with its (checked) adjoint, in f32.
    pub(crate) struct Heun {
        float: f32,
        dim: 1,
        time: false,
        layers: [dense(4, relu), dense(1)],
        tableau: { a: [[1]], b: [1/2, 1/2], c: [0, 1], order: 2 },
        adjoint: { a: [[1/2, -1/2], [1/2, 1/2]], b: [1/2, 1/2], c: [0, 1] },
        solver: { steps: 8 },
    }
}

fn main() {
    use symplode::prelude::*;
    let m = Spiral::new(0);
    assert_eq!(m.n_params(), Spiral::N_PARAMS);
    assert!(Spiral::scheme().unwrap().is_compiled());
    let h = Heun::new(1);
    assert_eq!(h.dim(), 1);
    assert_eq!(Heun::stepping(), Stepping::fixed(8));
}
