//! FFJORD's 2-D toy densities (`lib/toy_data.py` of rtqichen/ffjord, `inf_train_gen`),
//! re-implemented on the seeded [`Rng`] (the sklearn generators `make_swiss_roll`,
//! `make_circles` and `make_moons` written out): every generator returns exactly `n` points, so
//! `2spirals` and `pinwheel` split the batch as evenly as possible where FFJORD returns
//! `2⌊n/2⌋` / `5⌊n/5⌋` points. Used by `symplode train` (`builtin = "8gaussians"`, …),
//! `symplode data 8gaussians` and the `cnf` example.

use std::f64::consts::{PI, TAU};

use symplode_runtime::rng::Rng;

/// A toy dataset name that is not one of [`DATASETS`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown toy dataset `{0}`; use one of {list}", list = DATASETS.join(", "))]
pub struct UnknownToy(pub String);

/// The toy densities, in FFJORD's names.
pub const DATASETS: [&str; 8] = [
    "8gaussians",
    "2spirals",
    "checkerboard",
    "moons",
    "circles",
    "pinwheel",
    "swissroll",
    "rings",
];

/// Shuffles `v` in place (Fisher–Yates).
fn shuffle<X>(v: &mut [X], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// `numpy.linspace(a, b, n, endpoint)`.
fn linspace(a: f64, b: f64, n: usize, endpoint: bool) -> impl Iterator<Item = f64> {
    let div = if endpoint {
        n.saturating_sub(1).max(1)
    } else {
        n.max(1)
    } as f64;
    (0..n).map(move |i| a + (b - a) * i as f64 / div)
}

/// `n` points of the toy density `name` (one of [`DATASETS`]), a pure function of `rng`'s
/// state. The error names the unknown dataset and lists the known ones.
pub fn sample(name: &str, n: usize, rng: &mut Rng) -> Result<Vec<[f64; 2]>, UnknownToy> {
    let mut pts: Vec<[f64; 2]> = Vec::with_capacity(n);
    match name {
        "swissroll" => {
            // make_swiss_roll(noise = 1): t = 1.5π(1 + 2u), (t cos t, 21u, t sin t) + noise;
            // FFJORD keeps columns 0 and 2 and divides by 5.
            for _ in 0..n {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                let _height = 21.0 * rng.uniform();
                let x = t * t.cos() + rng.normal();
                let y = t * t.sin() + rng.normal();
                pts.push([x / 5.0, y / 5.0]);
            }
        }
        "circles" => {
            // make_circles(factor = .5, noise = .08), times 3.
            let n_out = n / 2;
            let n_in = n - n_out;
            for a in linspace(0.0, TAU, n_out, false) {
                pts.push([a.cos(), a.sin()]);
            }
            for a in linspace(0.0, TAU, n_in, false) {
                pts.push([0.5 * a.cos(), 0.5 * a.sin()]);
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] = 3.0 * (p[0] + 0.08 * rng.normal());
                p[1] = 3.0 * (p[1] + 0.08 * rng.normal());
            }
        }
        "rings" => {
            // Four circles of radii 1, .75, .5, .25 (times 3), shuffled, noise .08.
            let q = n / 4;
            let counts = [q, q, q, n - 3 * q];
            for (radius, &count) in [1.0, 0.75, 0.5, 0.25].iter().zip(&counts) {
                for a in linspace(0.0, TAU, count, false) {
                    pts.push([3.0 * radius * a.cos(), 3.0 * radius * a.sin()]);
                }
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] += 0.08 * rng.normal();
                p[1] += 0.08 * rng.normal();
            }
        }
        "moons" => {
            // make_moons(noise = .1), times 2, shifted by (−1, −0.2).
            let n_out = n / 2;
            let n_in = n - n_out;
            for a in linspace(0.0, PI, n_out, true) {
                pts.push([a.cos(), a.sin()]);
            }
            for a in linspace(0.0, PI, n_in, true) {
                pts.push([1.0 - a.cos(), 1.0 - a.sin() - 0.5]);
            }
            shuffle(&mut pts, rng);
            for p in &mut pts {
                p[0] = 2.0 * (p[0] + 0.1 * rng.normal()) - 1.0;
                p[1] = 2.0 * (p[1] + 0.1 * rng.normal()) - 0.2;
            }
        }
        "8gaussians" => {
            let s = std::f64::consts::FRAC_1_SQRT_2;
            let centers = [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (s, s),
                (s, -s),
                (-s, s),
                (-s, -s),
            ];
            for _ in 0..n {
                let (px, py) = (0.5 * rng.normal(), 0.5 * rng.normal());
                let c = centers[rng.below(8) as usize];
                pts.push([(px + 4.0 * c.0) / 1.414, (py + 4.0 * c.1) / 1.414]);
            }
        }
        "pinwheel" => {
            // Five arms: radial N(1, .3²), tangential N(0, .1²), rotated by the arm's angle plus
            // 0.25·exp(radial), times 2.
            for i in 0..n {
                let arm = (i % 5) as f64;
                let r = 0.3 * rng.normal() + 1.0;
                let tang = 0.1 * rng.normal();
                let a = TAU * arm / 5.0 + 0.25 * r.exp();
                let (sn, cs) = a.sin_cos();
                pts.push([2.0 * (r * cs + tang * sn), 2.0 * (-r * sn + tang * cs)]);
            }
            shuffle(&mut pts, rng);
        }
        "2spirals" => {
            for i in 0..n {
                let t = rng.uniform().sqrt() * 540.0 * TAU / 360.0;
                let dx = -t.cos() * t + 0.5 * rng.uniform();
                let dy = t.sin() * t + 0.5 * rng.uniform();
                let sign = if i < n / 2 { 1.0 } else { -1.0 };
                pts.push([
                    sign * dx / 3.0 + 0.1 * rng.normal(),
                    sign * dy / 3.0 + 0.1 * rng.normal(),
                ]);
            }
        }
        "checkerboard" => {
            for _ in 0..n {
                let x1 = 4.0 * rng.uniform() - 2.0;
                let x2 = rng.uniform() - 2.0 * rng.below(2) as f64 + x1.floor().rem_euclid(2.0);
                pts.push([2.0 * x1, 2.0 * x2]);
            }
        }
        other => {
            return Err(UnknownToy(other.to_string()));
        }
    }
    Ok(pts)
}
