//! `time_length` for a single CNF, which is integrated over its `Problem`'s times.
symplode::neural_ode! {
    struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(2)],
        form: cnf(hutchinson, time_length: 1/2),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
