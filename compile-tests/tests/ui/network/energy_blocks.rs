//! Stacked blocks asked of an energy form.
symplode::neural_ode! {
    struct Wave {
        float: f64,
        dim: 8,
        time: false,
        layers: [dense(16, tanh), dense(1)],
        form: energy(central_difference(8, 0.25), blocks: 2),
        tableau: rk4,
    }
}

fn main() {
    let _ = Wave::new(0);
}
