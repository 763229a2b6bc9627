//! The image data of `symplode train` with an image flow (`form = "image_flow"`,
//! `[data] builtin = "fashion-mnist"`): Fashion-MNIST dequantised and logit-transformed as
//! FFJORD does, and the conversion of the trained NLL (nats of the logit image) to bits/dim
//! (see `docs/train.md`, "Training an image flow").

use std::path::PathBuf;

use symplode::train::{BitsPerDim, FlowSpec, RunConfig};

use super::CliError;
use super::train::field;

/// Salt of the training subset and dequantisation generator.
#[cfg(feature = "datasets")]
const IMAGE_SALT: u64 = 0x1A6E_F1A5;
/// Salt of the validation images' dequantisation.
#[cfg(feature = "datasets")]
const TEST_SALT: u64 = 0x7E57_1A6E;

/// Fashion-MNIST prepared for an image flow.
pub(super) struct ImageData {
    /// Training rows `[n·D]` (logit space).
    pub train: Vec<f64>,
    /// Validation rows from the test split.
    pub validation: Vec<f64>,
    /// The bits/dim conversion.
    pub bits: BitsPerDim,
}

/// Loads Fashion-MNIST for `spec` (an image flow on `[1, 28, 28]`): `points` training images
/// (a seeded random subset; all 60,000 without), and `round(fraction · n)` test images
/// (between 1 and 10,000; `fraction` from `[validation]`, else 0.1) for validation, each
/// dequantised once with a seeded uniform noise and logit-transformed.
#[cfg(feature = "datasets")]
pub(super) fn fashion(
    cfg: &RunConfig,
    spec: &FlowSpec,
    dir: Option<&PathBuf>,
    points: Option<usize>,
) -> Result<ImageData, CliError> {
    use symplode::datasets::fashion_mnist::{DEFAULT_DIR, FashionMnist, dequantise_logit};
    use symplode::runtime::rng::Rng;

    let Some(image) = spec.image.as_ref().map(|c| c.image) else {
        return Err(field(
            cfg,
            "model",
            format!(
                "\"fashion-mnist\" needs an image flow model file (form = \"image_flow\", \
                 image = [1, 28, 28]); {} is a dense flow",
                cfg.model.display()
            ),
        ));
    };
    let dir = dir.cloned().unwrap_or_else(|| {
        std::env::var_os("SYMPLODE_FASHION_MNIST_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
    });
    let data = FashionMnist::load(&dir).map_err(|e| {
        field(
            cfg,
            "data.builtin",
            format!(
                "\"fashion-mnist\" needs the IDX files in {}: {e}. Install them with \
                 `apt-get install -y dataset-fashion-mnist`, or set `data.dir` (or \
                 SYMPLODE_FASHION_MNIST_DIR)",
                dir.display()
            ),
        )
    })?;
    let have = [1, data.train.rows, data.train.cols];
    if image != have {
        return Err(field(
            cfg,
            "model",
            format!(
                "the image flow of {} has image = {image:?}, Fashion-MNIST's images are \
                 {have:?}",
                cfg.model.display()
            ),
        ));
    }
    let total = data.train.count;
    let n = points.unwrap_or(total);
    if n > total {
        return Err(field(
            cfg,
            "data.points",
            format!("{n}; Fashion-MNIST has {total} training images"),
        ));
    }
    let mut rng = Rng::new(cfg.seed ^ IMAGE_SALT);
    let mut order: Vec<usize> = (0..total).collect();
    if n < total {
        for i in (1..total).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order.truncate(n);
    }
    let train = dequantise_logit(&data.train, &order, &mut rng);
    let fraction = cfg.validation.map_or(0.1, |v| v.0);
    let m = ((fraction * n as f64).round() as usize).clamp(1, data.test.count);
    let test_idx: Vec<usize> = (0..m).collect();
    let test = dequantise_logit(&data.test, &test_idx, &mut Rng::new(cfg.seed ^ TEST_SALT));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(ImageData {
        bits: BitsPerDim {
            dim: train.dim,
            train_log_det: mean(&train.log_det),
            validation_log_det: mean(&test.log_det),
        },
        train: train.y,
        validation: test.y,
    })
}

/// Without the `datasets` feature Fashion-MNIST is not available.
#[cfg(not(feature = "datasets"))]
pub(super) fn fashion(
    cfg: &RunConfig,
    _spec: &FlowSpec,
    _dir: Option<&PathBuf>,
    _points: Option<usize>,
) -> Result<ImageData, CliError> {
    Err(field(
        cfg,
        "data.builtin",
        "\"fashion-mnist\" needs symplode built with the `datasets` feature",
    ))
}
