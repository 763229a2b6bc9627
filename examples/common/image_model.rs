//! FFJORD's multiscale image flow on 28 × 28 single-channel images: the model is the
//! library's ([`symplode::runtime::models::image_flow`], which describes it); here are its
//! 28 × 28 forms and what the example needs around it (data batches, bits/dim, pictures).

use std::error::Error;

use symplode::prelude::*;
use symplode::runtime::models::image_flow;
use symplode::runtime::rng::Rng;

/// Image side.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const D: usize = SIDE * SIDE;

/// `−log p(y)` in nats of each row `[z, Δlogp]` of a final state.
pub fn nll_rows<T: Real>(state: &[T]) -> Vec<f64> {
    image_flow::nll_rows(state, D)
}

/// Mean `−log p(y)` (nats per image) of the last block's final state, with its cotangent.
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
    image_flow::nll_loss(out, cot, D)
}

/// Bits per dimension of pixels from the mean `−log p(y)` (nats per image) and the mean
/// log-determinant of the dequantisation + logit transform
/// (`symplode::datasets::fashion_mnist::bits_per_dim`).
pub fn bits_per_dim(nll_y: f64, log_det: f64) -> f64 {
    symplode::datasets::fashion_mnist::bits_per_dim(&[-nll_y], &[log_det], D)
}

/// The dequantised, logit-transformed images `indices` as augmented states `[y, 0]`, with
/// the mean log-determinant of the transform.
pub fn batch_states<T: Real>(
    images: &symplode::datasets::fashion_mnist::Images,
    indices: &[usize],
    rng: &mut Rng,
) -> (Vec<T>, f64) {
    let dq = symplode::datasets::fashion_mnist::dequantise_logit(images, indices, rng);
    let x: Vec<T> =
        dq.y.chunks_exact(D)
            .flat_map(|r| r.iter().map(|&v| T::of(v)).chain([T::zero()]))
            .collect();
    let ld = dq.log_det.iter().sum::<f64>() / indices.len().max(1) as f64;
    (x, ld)
}

/// Logit pixel → intensity in [0, 1] (the inverse of FFJORD's logit transform, clamped).
pub fn to_intensity(y: f64) -> f64 {
    let a = symplode::datasets::fashion_mnist::LOGIT_ALPHA;
    let s = 1.0 / (1.0 + (-y).exp());
    ((s - a) / (1.0 - 2.0 * a)).clamp(0.0, 1.0)
}

/// Writes grids of images side by side (each panel `cols` wide, intensities in [0, 1] shown
/// black to white, `D` per image), scaled ×`zoom`, as a grayscale PNG drawn into a
/// temporary and renamed.
pub fn write_grids(
    path: &std::path::Path,
    panels: &[&[f64]],
    cols: usize,
    zoom: u32,
) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    let rows = panels
        .iter()
        .map(|p| (p.len() / D).div_ceil(cols))
        .max()
        .unwrap_or(1);
    let gap = 8u32;
    let pw = (cols * SIDE) as u32 * zoom;
    let width = panels.len() as u32 * pw + (panels.len() as u32 + 1) * gap;
    let height = (rows * SIDE) as u32 * zoom + 2 * gap;
    let tmp = super::png::tmp_path(path);
    {
        let root = BitMapBackend::new(&tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (pi, panel) in panels.iter().enumerate() {
            let x0 = gap + pi as u32 * (pw + gap);
            for (n, img) in panel.chunks_exact(D).enumerate() {
                let (gr, gc) = (n / cols, n % cols);
                for (k, &v) in img.iter().enumerate() {
                    let g = (255.0 * v.clamp(0.0, 1.0)).round() as u8;
                    let (py, px) = (k / SIDE, k % SIDE);
                    for dy in 0..zoom {
                        for dx in 0..zoom {
                            let x = x0 + ((gc * SIDE + px) as u32) * zoom + dx;
                            let y = gap + ((gr * SIDE + py) as u32) * zoom + dy;
                            root.draw_pixel((x as i32, y as i32), &RGBColor(g, g, g))?;
                        }
                    }
                }
            }
        }
        root.present()?;
    }
    super::png::commit(&tmp, path)?;
    Ok(())
}
