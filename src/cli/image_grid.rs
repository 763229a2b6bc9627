//! A grid of images as a PNG (written atomically): `n` images `[c, h, w]` with values in
//! `[0, 1]`, `cols` per row, each pixel drawn 2 × 2, a 2-pixel white gap between images;
//! grayscale for one channel, RGB for three (other channel counts: the first channel).

use std::path::Path;

use super::CliError;

/// FFJORD's logit offset α.
#[cfg(feature = "datasets")]
const ALPHA: f64 = symplode::datasets::fashion_mnist::LOGIT_ALPHA;
/// FFJORD's logit offset α.
#[cfg(not(feature = "datasets"))]
const ALPHA: f64 = 1e-6;

/// Pixel size in the picture.
const ZOOM: usize = 2;
/// Gap between images, pixels.
const GAP: usize = 2;

/// The pixel intensity in `[0, 1]` of a logit-space value `y = logit(α + (1 − 2α)·x)`.
pub fn logit_to_pixel(y: f64) -> f64 {
    let s = 1.0 / (1.0 + (-y).exp());
    if s.is_finite() {
        ((s - ALPHA) / (1.0 - 2.0 * ALPHA)).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Writes the images `pixels` (`n·c·h·w` values in `[0, 1]`) of shape `image`, `cols` per row.
pub fn write(path: &Path, pixels: &[f64], image: [usize; 3], cols: usize) -> Result<(), CliError> {
    let [c, h, w] = image;
    let per = (c * h * w).max(1);
    let n = pixels.len() / per;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let (cw, ch) = (w * ZOOM + GAP, h * ZOOM + GAP);
    let (width, height) = (cols * cw + GAP, rows * ch + GAP);
    let mut rgb = vec![255u8; 3 * width * height];
    let byte = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for (k, img) in pixels.chunks_exact(per).enumerate() {
        let (x0, y0) = (GAP + (k % cols) * cw, GAP + (k / cols) * ch);
        for i in 0..h * w {
            let px: [u8; 3] = if c == 3 {
                [0, 1, 2].map(|ch| byte(img[ch * h * w + i]))
            } else {
                [byte(img[i]); 3]
            };
            let (r, q) = (i / w, i % w);
            for dy in 0..ZOOM {
                for dx in 0..ZOOM {
                    let at = 3 * ((y0 + r * ZOOM + dy) * width + x0 + q * ZOOM + dx);
                    rgb[at..at + 3].copy_from_slice(&px);
                }
            }
        }
    }
    super::png_out::write_rgb_png(path, width, height, &rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The logit of FFJORD's transform inverts to the pixel it came from.
    #[test]
    fn logit_inverts() {
        for x in [0.0, 0.25, 0.5, 0.999] {
            let s = ALPHA + (1.0 - 2.0 * ALPHA) * x;
            let y = (s / (1.0 - s)).ln();
            assert!((logit_to_pixel(y) - x).abs() < 1e-9, "{x}");
        }
    }
}
