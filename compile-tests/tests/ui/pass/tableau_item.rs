//! A `tableau!` item named by path from another module.
#![deny(warnings)]

mod tableaux {
    symplode::tableau! {
        /// Heun's third-order method.
        pub HEUN3 = {
            a: [[1/3], [0, 2/3]],
            b: [1/4, 0, 3/4],
            c: [0, 1/3, 2/3],
            order: 3,
        }
    }
}

symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [dense(8, tanh), dense(2)],
        tableau: tableaux::HEUN3,
        solver: { steps: 4 },
    }
}

fn main() {
    let t = Model::tableau().unwrap();
    assert_eq!((t.name(), t.order()), ("HEUN3", 3));
    let _ = Model::new(0);
}
