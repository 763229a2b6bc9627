//! Writing an 8-bit RGB image as a PNG file, atomically (the learning curve, the density and
//! the sample grid all end here).

use std::path::Path;

use super::CliError;

/// Encodes `rgb` (`width · height · 3` bytes, rows top to bottom) as a PNG and writes it to
/// `path` atomically; errors name the file.
pub(super) fn write_rgb_png(
    path: &Path,
    width: usize,
    height: usize,
    rgb: &[u8],
) -> Result<(), CliError> {
    let fail = |e: png::EncodingError| CliError(format!("{}: encode PNG: {e}", path.display()));
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => {
            return Err(CliError(format!(
                "{}: a {width} × {height} image is too large for PNG",
                path.display()
            )));
        }
    };
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(fail)?;
        wr.write_image_data(rgb).map_err(fail)?;
    }
    Ok(symplode::io::write_atomic(path, &bytes)?)
}
