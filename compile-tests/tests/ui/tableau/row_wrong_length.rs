//! Row 3 of A has one entry where two are needed.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: { a: [[1/3], [2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 3 },
    }
}

fn main() {
    let _ = Model::new(0);
}
