//! A multiscale flow with a layer that does not read an image.
symplode::neural_ode! {
    struct Flow {
        float: f64,
        shape: [1, 8, 8],
        layers: [dense(64, tanh), conv2d(1, 3, 1, 1, concat_time)],
        form: multiscale(scales: 2, blocks: 1),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
