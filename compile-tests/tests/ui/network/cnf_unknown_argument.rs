//! A misspelt `blocks`.
symplode::neural_ode! {
    struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(2)],
        form: cnf(exact, block: 2),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
