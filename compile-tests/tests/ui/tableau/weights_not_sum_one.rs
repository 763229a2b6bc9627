//! The weights b sum to 3/4.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/2]], b: [1/4, 1/2], c: [0, 1/2], order: 2 },
    }
}

fn main() {
    let _ = Model::new(0);
}
