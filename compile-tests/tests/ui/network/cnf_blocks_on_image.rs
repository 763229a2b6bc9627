//! Stacked CNF blocks on an image state (the multiscale form with one scale says that).
symplode::neural_ode! {
    struct Flow {
        float: f64,
        shape: [1, 4, 4],
        layers: [conv2d(4, 3, 1, 1, softplus, concat_time), conv2d(1, 3, 1, 1, concat_time)],
        form: cnf(hutchinson, blocks: 2),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
