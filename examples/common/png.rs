//! Atomic picture files: a plot is drawn into a temporary PNG beside its path and renamed over
//! it only once drawn, so an interrupted or failed plot never leaves a truncated picture or
//! destroys the previous good one.

use std::path::{Path, PathBuf};

/// The temporary beside `path` a plot is drawn into (it still ends in `.png`, which the
/// bitmap backend needs to pick the format).
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plot.png".into());
    path.with_file_name(format!(".{name}.tmp-{}.png", std::process::id()))
}

/// Renames the drawn temporary over `path`.
pub fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}
