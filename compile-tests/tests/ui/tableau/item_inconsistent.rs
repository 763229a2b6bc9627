//! A `tableau!` item with an inconsistent node, used by a model: one error, at the item.
symplode::tableau! {
    BAD = { a: [[1/2]], b: [0, 1], c: [0, 1], order: 2 }
}

symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: BAD,
    }
}

fn main() {
    let _ = Model::new(0);
}
