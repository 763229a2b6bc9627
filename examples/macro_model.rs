//! A neural ODE declared with `neural_ode!` and a custom `tableau!`, checked at compile time,
//! differentiated exactly with the symplectic adjoint method.
//!
//! Run with `cargo run --release --example macro_model`.

use symplode::prelude::*;
use symplode::{neural_ode, tableau};

tableau! {
    /// Ralston's third-order method (minimum error bound), with the midpoint rule embedded
    /// for step control. Coefficients are exact rationals; a wrong one is a compile error.
    RALSTON3 = {
        a: [[1/2], [0, 3/4]],
        b: [2/9, 1/3, 4/9],
        b_hat: [0, 1, 0],
        c: [0, 1/2, 3/4],
        order: 3,
        embedded_order: 2,
    }
}

neural_ode! {
    /// dx/dt = f(x, t; θ) on a 2-D state: [x, t] → 32 tanh → 32 tanh → 2.
    pub struct Field {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(32, tanh), dense(32, tanh), dense(2)],
        tableau: RALSTON3,
        solver: { rtol: 1e-6, atol: 1e-8 },
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Field::new(0);
    let scheme = Field::scheme()?; // generated kernels attached
    let x0: Vec<f64> = (0..64).map(|i| (i as f64 * 0.1).sin()).collect(); // 32 samples
    let problem = Problem::single(&model, &[0.0, 1.0], &scheme, Field::stepping(), &x0);

    // The exact gradient of the discrete solution, at the memory of one network evaluation
    // per stage plus the step checkpoints.
    let grad = SymplecticAdjoint.gradient(&problem, &mut losses::mean_sq_final(2))?;
    let reference = Backprop.gradient(&problem, &mut losses::mean_sq_final(2))?;

    let diff = grad.dtheta[0]
        .iter()
        .zip(&reference.dtheta[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "tableau {} ({} stages, order {}), {} parameters",
        Field::TABLEAU,
        scheme.stages(),
        scheme.order(),
        Field::N_PARAMS
    );
    println!(
        "loss {:.6}, {} accepted steps, |dL/dθ| = {:.4e}, max |symplectic − backprop| = {diff:.2e}",
        grad.loss,
        grad.grids[0].t.len() - 1,
        grad.dtheta[0].iter().map(|g| g * g).sum::<f64>().sqrt(),
    );
    assert!(diff < 1e-10);
    Ok(())
}
