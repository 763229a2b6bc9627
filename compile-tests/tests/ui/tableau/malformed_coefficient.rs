//! A coefficient that is not a rational literal.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/2]], b: [0, 1.0f64], c: [0, 1/2], order: 2 },
    }
}

fn main() {
    let _ = Model::new(0);
}
