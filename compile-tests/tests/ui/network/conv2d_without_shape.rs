//! A convolution on a state that was not declared as an image.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 784,
        layers: [conv2d(16, 3, 1, 1, softplus), conv2d(1, 3, 1, 1)],
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
