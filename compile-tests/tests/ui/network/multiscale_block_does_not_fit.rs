//! A multiscale flow whose net fits the 1 × 12 × 12 state but not the twice-squeezed block
//! (8 × 3 × 3: an odd side to squeeze).
symplode::neural_ode! {
    struct Flow {
        float: f64,
        shape: [1, 12, 12],
        layers: [
            squeeze,
            conv2d(4, 3, 1, 1, softplus, concat_time),
            unsqueeze,
            conv2d(1, 3, 1, 1, concat_time),
        ],
        form: multiscale(scales: 3, blocks: 1),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
