//! A full row of A with a non-zero entry on the diagonal: not explicit.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[0, 0], [1/2, 1/2]], b: [0, 1], c: [0, 1], order: 2 },
    }
}

fn main() {
    let _ = Model::new(0);
}
