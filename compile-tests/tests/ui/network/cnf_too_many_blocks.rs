//! An absurd number of stacked CNF blocks.
symplode::neural_ode! {
    struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(2)],
        form: cnf(hutchinson, blocks: 100000),
        tableau: rk4,
    }
}

fn main() {
    let _ = Flow::new(0);
}
