//! One case of the `speed` example, one gradient method, timed `REPS` times: the finer A/B
//! of `docs/performance.md` ("Issue 12 item 8 after 93989ab"), where one binary's `speed`
//! runs spread by 5–35% on a shared VM. It uses only API that `50b3565` (the code before issue
//! 12) already had, so the same file builds there: copy it into both checkouts, build both,
//! alternate the two binaries pinned to one core and compare the minima.
//!
//! ```text
//! cargo run --release --example speed_case -- METHOD REPS BATCH HIDDEN STEPS [TABLEAU [f32]]
//! #   METHOD: symplectic | stored | backprop      e.g. symplectic 30 16 32 100 rk4 f32
//! ```
//!
//! Prints `METHOD bBATCH hHIDDEN NSTEPS TABLEAU TYPE: min S med S` (seconds per gradient).

use std::time::Instant;

use symplode::prelude::*;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(7).is_some_and(|t| t == "f32") {
        case::<f32>(&a);
    } else {
        case::<f64>(&a);
    }
}

/// Times one case in element type `T`.
fn case<T: Real>(a: &[String]) {
    let arg = |i: usize, default: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let method = a.get(1).map_or("backprop", String::as_str);
    let (reps, batch, hidden, steps) = (arg(2, 3).max(1), arg(3, 4096), arg(4, 256), arg(5, 10));
    let tableau = a.get(6).map_or("rk4", String::as_str);
    // The `speed` example's network: [x, t] → H tanh → H tanh → 2, seed 2021.
    let config = MlpConfig {
        dim: 2,
        hidden: vec![hidden, hidden],
        activation: Activation::Tanh,
        time_input: true,
    };
    let model: Mlp<T> = Mlp::new(config, 2021).expect("network");
    let mut rng = symplode::runtime::rng::Rng::new(7);
    let x: Vec<T> = (0..batch * 2)
        .map(|_| T::of(rng.uniform_range(-2.0, 2.0)))
        .collect();
    let scheme = Scheme::<T>::builtin(tableau).expect("tableau");
    let p = Problem::single(&model, &[0.0, 1.0], &scheme, Stepping::fixed(steps), &x);
    let m: &dyn GradientMethod<T> = match method {
        "symplectic" => &SymplecticAdjoint,
        "stored" => &SymplecticAdjointStored,
        _ => &Backprop,
    };
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let g = m
            .gradient(&p, &mut losses::mean_sq_final(2))
            .expect("gradient");
        times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(g);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{method} b{batch} h{hidden} N{steps} {tableau} {}: min {:.7} med {:.7}",
        T::NAME,
        times[0],
        times[times.len() / 2]
    );
}
