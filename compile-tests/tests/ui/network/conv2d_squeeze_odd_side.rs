//! A squeeze on an image with an odd side.
symplode::neural_ode! {
    struct Model {
        float: f64,
        shape: [1, 28, 27],
        layers: [conv2d(4, 3, 1, 1, softplus, concat_time), squeeze, unsqueeze],
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
