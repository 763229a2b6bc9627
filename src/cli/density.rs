//! A trained 2-D flow as a PNG (written atomically): the training samples as a histogram
//! (left) and the learned density `exp(log p)` by the exact trace (right), both on
//! `[−BOX, BOX]²` with a perceptual colour map, each normalised to its maximum; no text.

use std::path::Path;

use super::CliError;

/// Half-width of the plotted square (FFJORD's toy plots use [−4, 4]²).
pub const BOX: f64 = 4.0;
/// Pixels per panel side (and grid points per axis of the density).
pub const GRID: usize = 160;
const GAP: usize = 8;

/// The centres of the `GRID × GRID` cells, row-major from the top row (largest y).
pub fn grid_points() -> Vec<[f64; 2]> {
    let cell = 2.0 * BOX / GRID as f64;
    (0..GRID * GRID)
        .map(|k| {
            let (i, j) = (k % GRID, k / GRID);
            [
                -BOX + (i as f64 + 0.5) * cell,
                BOX - (j as f64 + 0.5) * cell,
            ]
        })
        .collect()
}

/// A perceptually ordered colour map (viridis, by linear interpolation of 6 anchors).
fn viridis(u: f64) -> [u8; 3] {
    const A: [[f64; 3]; 6] = [
        [68.0, 1.0, 84.0],
        [65.0, 68.0, 135.0],
        [42.0, 120.0, 142.0],
        [34.0, 168.0, 132.0],
        [122.0, 209.0, 81.0],
        [253.0, 231.0, 37.0],
    ];
    let x = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    } * (A.len() - 1) as f64;
    let i = (x.floor() as usize).min(A.len() - 2);
    let f = x - i as f64;
    std::array::from_fn(|c| (A[i][c] + (A[i + 1][c] - A[i][c]) * f).round() as u8)
}

/// Writes the two panels: `samples` (`[n·2]`) and `logp` on [`grid_points`].
pub fn write(path: &Path, samples: &[f64], logp: &[f64]) -> Result<(), CliError> {
    let cell = 2.0 * BOX / GRID as f64;
    let mut hist = vec![0.0f64; GRID * GRID];
    for p in samples.chunks_exact(2) {
        let i = ((p[0] + BOX) / cell).floor();
        let j = ((BOX - p[1]) / cell).floor();
        if (0.0..GRID as f64).contains(&i) && (0.0..GRID as f64).contains(&j) {
            hist[j as usize * GRID + i as usize] += 1.0;
        }
    }
    let density: Vec<f64> = logp.iter().map(|l| l.exp()).collect();
    let (w, h) = (2 * GRID + GAP, GRID);
    let mut rgb = vec![255u8; 3 * w * h];
    for (panel, values) in [&hist, &density].into_iter().enumerate() {
        let max = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        for (k, &v) in values.iter().enumerate() {
            let (i, j) = (k % GRID, k / GRID);
            let x = panel * (GRID + GAP) + i;
            let at = 3 * (j * w + x);
            let u = if max > 0.0 { v / max } else { 0.0 };
            rgb[at..at + 3].copy_from_slice(&viridis(u));
        }
    }
    super::png_out::write_rgb_png(path, w, h, &rgb)
}
