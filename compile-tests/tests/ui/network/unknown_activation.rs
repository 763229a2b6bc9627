//! `tanhh` is not an activation.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanhh), dense(2)],
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
