//! `flow` is not a form.
symplode::neural_ode! {
    struct Model {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(2)],
        form: flow(exact),
        tableau: rk4,
    }
}

fn main() {
    let _ = Model::new(0);
}
