//! All weights zero: no stage influences x_{n+1}, so no symplectic partner exists.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/2]], b: [0, 0], c: [0, 1/2], order: 0 },
    }
}

fn main() {
    let _ = Model::new(0);
}
