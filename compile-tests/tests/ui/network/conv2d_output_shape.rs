//! The last convolution loses the border (no padding): its output is not the state's shape.
symplode::neural_ode! {
    struct Model {
        float: f64,
        shape: [1, 28, 28],
        layers: [conv2d(16, 3, 1, 1, softplus), conv2d(1, 3)],
        form: cnf(hutchinson),
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
