//! The learning curve as a PNG (written atomically): log₁₀ of the training loss per iteration
//! (blue) and of the validation loss where evaluated (red dots), on a grid with a line per
//! decade; no text, the numbers are in the log.

use std::path::Path;

use symplode::train::IterationLog;

use super::CliError;

const W: usize = 640;
const H: usize = 400;
const MARGIN: usize = 20;

/// An RGB canvas.
struct Canvas(Vec<u8>);

impl Canvas {
    fn set(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x < W && y < H {
            let i = 3 * (y * W + x);
            self.0[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// A line by uniform sampling (enough for a plot).
    fn line(&mut self, a: (f64, f64), b: (f64, f64), rgb: [u8; 3]) {
        let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
        for i in 0..=n {
            let s = i as f64 / n as f64;
            let (x, y) = (a.0 + s * (b.0 - a.0), a.1 + s * (b.1 - a.1));
            self.set(x.round() as usize, y.round() as usize, rgb);
        }
    }
}

/// Writes the curve of `history` to `path`.
pub fn write(path: &Path, history: &[IterationLog]) -> Result<(), CliError> {
    let mut c = Canvas(vec![255; W * H * 3]);
    let pts: Vec<(f64, f64, Option<f64>)> = history
        .iter()
        .filter(|r| r.loss > 0.0 && r.loss.is_finite())
        .map(|r| {
            (
                r.iteration as f64,
                r.loss.log10(),
                r.val_loss
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .map(f64::log10),
            )
        })
        .collect();
    let (x0, x1) = (
        pts.first().map_or(0.0, |p| p.0),
        pts.last()
            .map_or(1.0, |p| p.0)
            .max(pts.first().map_or(0.0, |p| p.0) + 1.0),
    );
    let ys = pts.iter().flat_map(|p| std::iter::once(p.1).chain(p.2));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
        (l.min(y), h.max(y))
    });
    let (lo, hi) = if lo.is_finite() {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (0.0, 1.0)
    };
    let px = |x: f64| MARGIN as f64 + (x - x0) / (x1 - x0) * (W - 2 * MARGIN) as f64;
    let py = |y: f64| (H - MARGIN) as f64 - (y - lo) / (hi - lo) * (H - 2 * MARGIN) as f64;
    let grey = [210, 210, 210];
    let mut d = lo;
    while d <= hi {
        c.line((px(x0), py(d)), (px(x1), py(d)), grey);
        d += 1.0;
    }
    let black = [0, 0, 0];
    c.line((px(x0), py(lo)), (px(x1), py(lo)), black);
    c.line((px(x0), py(lo)), (px(x0), py(hi)), black);
    for w in pts.windows(2) {
        c.line(
            (px(w[0].0), py(w[0].1)),
            (px(w[1].0), py(w[1].1)),
            [31, 119, 180],
        );
    }
    for p in &pts {
        if let Some(v) = p.2 {
            let (x, y) = (px(p.0).round() as usize, py(v).round() as usize);
            for dx in 0..5 {
                for dy in 0..5 {
                    c.set(
                        (x + dx).saturating_sub(2),
                        (y + dy).saturating_sub(2),
                        [214, 39, 40],
                    );
                }
            }
        }
    }
    super::png_out::write_rgb_png(path, W, H, &c.0)
}
