//! An explicit adjoint tableau for Heun's method that is not its symplectic partner.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1]], b: [1/2, 1/2], c: [0, 1], order: 2 },
        adjoint: { a: [[1/2, 1/2], [1/2, 1/2]], b: [1/2, 1/2], c: [0, 1] },
    }
}

fn main() {
    let _ = Model::new(0);
}
