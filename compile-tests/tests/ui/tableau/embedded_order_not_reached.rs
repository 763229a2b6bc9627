//! The embedded weights do not reach their claimed order.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: {
            a: [[1]],
            b: [1/2, 1/2],
            b_hat: [1, 0],
            c: [0, 1],
            order: 2,
            embedded_order: 2,
        },
    }
}

fn main() {
    let _ = Model::new(0);
}
