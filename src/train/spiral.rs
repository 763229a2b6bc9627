//! The 2-D spiral of torchdiffeq's `ode_demo.py`, as trajectory data: dy/dt = (y³) A with
//! A = [[-0.1, 2.0], [-2.0, -0.1]], y(0) = (2, 0), observed at uniform times in [0, 25] with
//! seeded Gaussian noise.

use symplode_runtime::rng::Rng;

/// The true dynamics' matrix (row-vector convention: dy/dt = (y³) A).
const A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];
/// The end of the observation interval.
const T_END: f64 = 25.0;

fn rhs(y: [f64; 2]) -> [f64; 2] {
    let c = [y[0].powi(3), y[1].powi(3)];
    [
        c[0] * A[0][0] + c[1] * A[1][0],
        c[0] * A[0][1] + c[1] * A[1][1],
    ]
}

/// `points` observation times in [0, 25] and the states there (`[points · 2]`, classical RK4
/// with 40 sub-steps per interval, plus N(0, noise²) noise from `Rng::new(seed)`).
pub fn spiral_trajectory(points: usize, noise: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let n = points.max(2);
    let times: Vec<f64> = (0..n).map(|i| T_END * i as f64 / (n - 1) as f64).collect();
    let mut y = [2.0, 0.0];
    let mut states = Vec::with_capacity(2 * n);
    let mut rng = Rng::new(seed);
    let mut push = |y: [f64; 2], states: &mut Vec<f64>| {
        states.push(y[0] + noise * rng.normal());
        states.push(y[1] + noise * rng.normal());
    };
    push(y, &mut states);
    for w in times.windows(2) {
        let h = (w[1] - w[0]) / 40.0;
        for _ in 0..40 {
            let add = |a: [f64; 2], k: [f64; 2], s: f64| [a[0] + s * k[0], a[1] + s * k[1]];
            let k1 = rhs(y);
            let k2 = rhs(add(y, k1, h / 2.0));
            let k3 = rhs(add(y, k2, h / 2.0));
            let k4 = rhs(add(y, k3, h));
            for i in 0..2 {
                y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        push(y, &mut states);
    }
    (times, states)
}
