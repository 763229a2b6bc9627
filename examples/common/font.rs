//! A system TrueType font for plotters' text (the `ab_glyph` backend needs one registered).

use std::path::PathBuf;

use plotters::style::FontStyle;

/// Registers the first readable font of `$SYMPLODE_FONT` and a list of common system paths as
/// "sans-serif"; false if none was found (the examples then draw without text).
pub fn register_font() -> bool {
    let mut candidates: Vec<PathBuf> = std::env::var_os("SYMPLODE_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    for p in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ] {
        candidates.push(PathBuf::from(p));
    }
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}
