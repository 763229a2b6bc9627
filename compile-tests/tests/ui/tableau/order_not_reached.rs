//! Heun's third-order method claimed as fourth order.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/3], [0, 2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 4 },
    }
}

fn main() {
    let _ = Model::new(0);
}
