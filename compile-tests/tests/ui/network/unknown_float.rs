//! Only f32 and f64 are supported.
symplode::neural_ode! {
    struct Model {
        float: f16,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
