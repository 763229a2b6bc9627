//! The last layer's width is not the state dimension.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(3)],
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
