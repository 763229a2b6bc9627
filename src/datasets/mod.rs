//! Real datasets from Debian packages, for the paper's flow experiments (feature `datasets`).
//!
//! | dataset | package | default location | module |
//! |---|---|---|---|
//! | 63-D natural-image patches (the BSDS300 recipe) | `python3-skimage` (photographs) | [`patches::SKIMAGE_DATA_DIR`] | [`patches`] |
//! | Fashion-MNIST (MNIST's format and size) | `dataset-fashion-mnist` | [`fashion_mnist::DEFAULT_DIR`] | [`fashion_mnist`] |
//!
//! Install with `apt-get install -y dataset-fashion-mnist`, and for the photographs
//! `apt-get download python3-skimage && dpkg -x python3-skimage_*.deb DIR` (no Python
//! dependencies needed; pass `DIR/usr/lib/python3/dist-packages/skimage/data`), or
//! `apt-get install -y python3-skimage`. Every missing or damaged file is a [`DatasetError`]
//! naming the file and what is wrong.

pub mod fashion_mnist;
pub mod patches;

use std::path::{Path, PathBuf};

/// What went wrong loading a dataset, and in which file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file or directory is missing or unreadable.
    #[error("cannot read {path}: {source} (is the package installed? see symplode::datasets)")]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file's content is not what the format says.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("invalid {name} = {value}: {reason}")]
    BadOption {
        /// The option.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is required.
        reason: &'static str,
    },
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DatasetError> {
    std::fs::read(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> DatasetError {
    DatasetError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
