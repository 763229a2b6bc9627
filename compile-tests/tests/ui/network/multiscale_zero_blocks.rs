//! A multiscale flow with no blocks.
symplode::neural_ode! {
    struct Flow {
        float: f64,
        shape: [1, 28, 28],
        layers: [conv2d(8, 3, 1, 1, softplus, concat_time), conv2d(1, 3, 1, 1, concat_time)],
        form: multiscale(scales: 3, blocks: 0),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
