//! PNGs of a physics rollout (`examples/physics.rs`): space–time heat maps of the truth, the
//! learned model's prediction and their difference, and the energy and mass against time.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

/// One rollout to draw: row-major `[states, n]` arrays on the sample times.
pub struct Rollout<'a> {
    /// Title prefix, e.g. `KdV, test trajectory 90`.
    pub title: &'a str,
    /// Sample times.
    pub times: &'a [f64],
    /// Grid points.
    pub n: usize,
    /// The ground truth (DVD scheme).
    pub truth: &'a [f64],
    /// The learned model's rollout from the same initial state.
    pub model: &'a [f64],
    /// Energy of each truth / model state.
    pub energy: (&'a [f64], &'a [f64]),
    /// Mass of each truth / model state.
    pub mass: (&'a [f64], &'a [f64]),
}

/// Blue–white–red ("seismic") colour of `v` in `[−1, 1]`.
fn seismic(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let (r, g, b) = if v < 0.0 {
        let a = 1.0 + v; // 0 at −1 (deep blue), 1 at 0 (white)
        (a, a, 1.0 - 0.5 * (1.0 - a))
    } else {
        let a = 1.0 - v;
        (1.0 - 0.5 * (1.0 - a), a, a)
    };
    RGBColor((255.0 * r) as u8, (255.0 * g) as u8, (255.0 * b) as u8)
}

/// Draws the three heat maps (truth, model, model − truth) stacked.
pub fn heat_maps(path: &Path, r: &Rollout<'_>, text: bool) -> Result<(), Box<dyn Error>> {
    let tmp = super::png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let states = r.times.len();
    let scale = r
        .truth
        .iter()
        .chain(r.model)
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    let err: Vec<f64> = r.model.iter().zip(r.truth).map(|(a, b)| a - b).collect();
    let err_scale = err.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    let t_end = *r.times.last().unwrap_or(&1.0);
    let dt = if states > 1 {
        r.times[1] - r.times[0]
    } else {
        1.0
    };
    for (area, data, s, name) in [
        (
            &panels[0],
            r.truth,
            scale,
            format!("{}: truth (±{scale:.3})", r.title),
        ),
        (
            &panels[1],
            r.model,
            scale,
            format!("learned model (±{scale:.3})"),
        ),
        (
            &panels[2],
            &err[..],
            err_scale,
            format!("model − truth (±{err_scale:.2e})"),
        ),
    ] {
        let mut b = ChartBuilder::on(area);
        b.margin(10).margin_right(20);
        if text {
            b.caption(name, ("sans-serif", 20))
                .x_label_area_size(30)
                .y_label_area_size(50);
        }
        let mut c = b.build_cartesian_2d(0f64..t_end + dt, 0f64..r.n as f64)?;
        if text {
            c.configure_mesh()
                .disable_mesh()
                .x_desc("t")
                .y_desc("grid point")
                .draw()?;
        }
        c.draw_series((0..states).flat_map(|k| {
            (0..r.n).map(move |i| {
                let v = data[k * r.n + i] / s;
                let t = r.times[k];
                Rectangle::new(
                    [(t, i as f64), (t + dt, i as f64 + 1.0)],
                    seismic(v).filled(),
                )
            })
        }))?;
    }
    root.present()?;
    super::png::commit(&tmp, path)?;
    Ok(())
}

/// Draws energy (relative change from the start) and mass against time, truth and model.
pub fn invariants(path: &Path, r: &Rollout<'_>, text: bool) -> Result<(), Box<dyn Error>> {
    let tmp = super::png::tmp_path(path);
    let root = BitMapBackend::new(&tmp, (1200, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    let t_end = *r.times.last().unwrap_or(&1.0);
    let truth_col = RGBColor(30, 70, 200);
    let model_col = RGBColor(210, 60, 30);
    for (area, (truth, model), name) in [
        (&panels[0], r.energy, "energy H(u)"),
        (&panels[1], r.mass, "mass Σ u"),
    ] {
        let (lo, hi) = truth
            .iter()
            .chain(model)
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let pad = ((hi - lo).abs() * 0.1).max(1e-9 * hi.abs().max(1.0));
        let mut b = ChartBuilder::on(area);
        b.margin(10).margin_right(20);
        if text {
            b.caption(format!("{}: {name}", r.title), ("sans-serif", 20))
                .x_label_area_size(30)
                .y_label_area_size(80);
        }
        let mut c = b.build_cartesian_2d(0f64..t_end, (lo - pad)..(hi + pad))?;
        if text {
            c.configure_mesh().x_desc("t").y_desc(name).draw()?;
        }
        for (series, col, label) in [(truth, truth_col, "truth"), (model, model_col, "model")] {
            let pts: Vec<(f64, f64)> = r
                .times
                .iter()
                .zip(series.iter())
                .filter(|(_, v)| v.is_finite())
                .map(|(&t, &v)| (t, v))
                .collect();
            let s = c.draw_series(LineSeries::new(pts, col.stroke_width(2)))?;
            if text {
                s.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
            }
        }
        if text {
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()?;
        }
    }
    root.present()?;
    super::png::commit(&tmp, path)?;
    Ok(())
}
