//! Fashion-MNIST from the `dataset-fashion-mnist` package: the IDX reader and FFJORD's image
//! preprocessing (uniform dequantisation, logit transform, bits per dimension).
//!
//! FFJORD (`train_cnf.py`) trains on y = logit(α + (1 − 2α)·x) with x = (byte + u)/256,
//! u ~ U(0, 1), α = 1e-6, and reports bits/dim = −(log p(x) / D − log 256) / ln 2, where
//! log p(x) = log p(y) + log |dy/dx| (the logit's Jacobian, [`Dequantised::log_det`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use symplode_runtime::rng::Rng;

use super::{DatasetError, corrupt, read};

/// Where `dataset-fashion-mnist` installs the files.
pub const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// FFJORD's α of the logit transform.
pub const LOGIT_ALPHA: f64 = 1e-6;

/// Images of one IDX file: `count` images of `rows × cols` bytes, row-major.
#[derive(Clone, Debug)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count·rows·cols` bytes.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image.
    pub fn dim(&self) -> usize {
        self.rows * self.cols
    }
    /// Image i's bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.dim()..(i + 1) * self.dim()]
    }
}

/// The training and test splits with labels.
#[derive(Clone, Debug)]
pub struct FashionMnist {
    /// 60,000 training images.
    pub train: Images,
    /// Their labels 0..9.
    pub train_labels: Vec<u8>,
    /// 10,000 test images.
    pub test: Images,
    /// Their labels.
    pub test_labels: Vec<u8>,
}

impl FashionMnist {
    /// Loads `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` from `dir` (see [`DEFAULT_DIR`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let dir = dir.as_ref();
        let file = |name: &str| -> PathBuf { dir.join(name) };
        let train = read_images(&file("train-images-idx3-ubyte.gz"))?;
        let train_labels = read_labels(&file("train-labels-idx1-ubyte.gz"))?;
        let test = read_images(&file("t10k-images-idx3-ubyte.gz"))?;
        let test_labels = read_labels(&file("t10k-labels-idx1-ubyte.gz"))?;
        for (images, labels, name) in [
            (&train, &train_labels, "train"),
            (&test, &test_labels, "t10k"),
        ] {
            if images.count != labels.len() {
                return Err(corrupt(
                    &file(&format!("{name}-labels-idx1-ubyte.gz")),
                    format!("{} labels for {} images", labels.len(), images.count),
                ));
            }
        }
        Ok(FashionMnist {
            train,
            train_labels,
            test,
            test_labels,
        })
    }
}

/// The bytes of a file, gunzipped when its name ends in `.gz`.
fn contents(path: &Path) -> Result<Vec<u8>, DatasetError> {
    let raw = read(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("not a valid gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX header with `dims` dimensions of unsigned bytes; returns the sizes and the
/// payload, refusing a wrong magic, a payload shorter or longer than the sizes claim.
fn idx<'a>(
    path: &Path,
    data: &'a [u8],
    dims: usize,
) -> Result<(Vec<usize>, &'a [u8]), DatasetError> {
    let header = 4 + 4 * dims;
    if data.len() < header {
        return Err(corrupt(
            path,
            format!("{} bytes: shorter than an IDX header", data.len()),
        ));
    }
    if data[0] != 0 || data[1] != 0 || data[2] != 0x08 || data[3] as usize != dims {
        return Err(corrupt(
            path,
            format!(
                "IDX magic {:02x} {:02x} {:02x} {:02x}: expected 00 00 08 {dims:02x} (unsigned bytes, {dims} dimensions)",
                data[0], data[1], data[2], data[3]
            ),
        ));
    }
    let sizes: Vec<usize> = (0..dims)
        .map(|i| {
            u32::from_be_bytes([
                data[4 + 4 * i],
                data[5 + 4 * i],
                data[6 + 4 * i],
                data[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let expected = sizes.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
    let payload = &data[header..];
    if expected != Some(payload.len()) {
        return Err(corrupt(
            path,
            format!(
                "sizes {sizes:?} claim {expected:?} bytes, the file holds {}",
                payload.len()
            ),
        ));
    }
    Ok((sizes, payload))
}

/// Reads an IDX image file (`idx3-ubyte`, optionally gzipped).
pub fn read_images(path: &Path) -> Result<Images, DatasetError> {
    let data = contents(path)?;
    let (sizes, payload) = idx(path, &data, 3)?;
    Ok(Images {
        count: sizes[0],
        rows: sizes[1],
        cols: sizes[2],
        pixels: payload.to_vec(),
    })
}

/// Reads an IDX label file (`idx1-ubyte`, optionally gzipped).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DatasetError> {
    let data = contents(path)?;
    let (_, payload) = idx(path, &data, 1)?;
    if let Some(&bad) = payload.iter().find(|&&l| l > 9) {
        return Err(corrupt(path, format!("label {bad} outside 0..9")));
    }
    Ok(payload.to_vec())
}

/// A batch of dequantised, logit-transformed images.
#[derive(Clone, Debug)]
pub struct Dequantised {
    /// `[n, D]` row-major: y = logit(α + (1 − 2α)·x).
    pub y: Vec<f64>,
    /// Per image, log |dy/dx| summed over its D pixels.
    pub log_det: Vec<f64>,
    /// D, pixels per image.
    pub dim: usize,
}

/// FFJORD's preprocessing of the images `indices` of `images`: x = (byte + u)/256 with
/// u ~ U(0, 1) from `rng`, then the logit transform with α = [`LOGIT_ALPHA`].
pub fn dequantise_logit(images: &Images, indices: &[usize], rng: &mut Rng) -> Dequantised {
    let d = images.dim();
    let mut y = Vec::with_capacity(indices.len() * d);
    let mut log_det = Vec::with_capacity(indices.len());
    let a = LOGIT_ALPHA;
    for &i in indices {
        let mut ld = 0.0;
        for &b in images.image(i) {
            let x = (b as f64 + rng.uniform()) / 256.0;
            let s = a + (1.0 - 2.0 * a) * x;
            y.push((s / (1.0 - s)).ln());
            // dy/dx = (1 − 2α) / (s (1 − s))
            ld += (1.0 - 2.0 * a).ln() - s.ln() - (1.0 - s).ln();
        }
        log_det.push(ld);
    }
    Dequantised { y, log_det, dim: d }
}

/// Bits per dimension from the log density of y (per image) and the transform's log-det:
/// −((log p(y) + log|dy/dx|)/D − log 256)/ln 2, averaged over the images.
pub fn bits_per_dim(log_p_y: &[f64], log_det: &[f64], dim: usize) -> f64 {
    let n = log_p_y.len().max(1) as f64;
    let mean: f64 = log_p_y.iter().zip(log_det).map(|(a, b)| a + b).sum::<f64>() / n;
    -(mean / dim as f64 - 256f64.ln()) / std::f64::consts::LN_2
}
