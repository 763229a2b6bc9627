//! c_2 is not the row sum of A.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/2]], b: [0, 1], c: [0, 1/3], order: 2 },
    }
}

fn main() {
    let _ = Model::new(0);
}
