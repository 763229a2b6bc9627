//! A built-in tableau that does not exist.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: rk5,
    }
}

fn main() {
    let _ = Model::new(0);
}
