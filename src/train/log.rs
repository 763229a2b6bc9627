//! What a run reports: one [`IterationLog`] per iteration, written as JSON lines, and an
//! indicatif progress bar.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[cfg(feature = "progress")]
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use symplode_runtime::Stats;

use super::TrainError;

/// One iteration's record (one line of the JSON-lines log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationLog {
    /// Iterations completed, counting this one (1-based).
    pub iteration: u64,
    /// The mini-batch loss before the update.
    pub loss: f64,
    /// The learning rate of the update.
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// Evaluations of f in the forward sweep.
    pub nfe_forward: usize,
    /// Plain evaluations of f in the backward sweep (recomputation).
    pub nfe_backward: usize,
    /// Vector–Jacobian products in the backward sweep.
    pub vjp_backward: usize,
    /// Accepted forward steps.
    pub steps: usize,
    /// Rejected forward steps.
    pub rejected: usize,
    /// Peak bytes the runtime counted (checkpoints, graphs and workspace at once).
    pub peak_bytes: usize,
    /// Peak checkpoint bytes.
    pub peak_checkpoint_bytes: usize,
    /// Peak graph bytes.
    pub peak_graph_bytes: usize,
    /// Wall time of this iteration, seconds.
    pub seconds: f64,
    /// Of `seconds`, the time in the exchange of shard results between processes.
    #[serde(default)]
    pub comm_seconds: f64,
    /// Samples in the batch (0 when unknown).
    #[serde(default)]
    pub samples: usize,
    /// The validation loss, on iterations where it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// An image flow's training loss in bits/dim ([`BitsPerDim`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_dim: Option<f64>,
    /// An image flow's validation loss in bits/dim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bits_per_dim: Option<f64>,
}

/// Converts an image flow's NLL (nats per logit-transformed image) into bits per pixel of the
/// dequantised image, FFJORD's unit: `((nll − log|dy/dx|)/D + log 256) / ln 2`, with the mean
/// log-det of the training (or validation) images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BitsPerDim {
    /// Values per image D.
    pub dim: usize,
    /// Mean log|dy/dx| of the training images.
    pub train_log_det: f64,
    /// Mean log|dy/dx| of the validation images.
    pub validation_log_det: f64,
}

impl BitsPerDim {
    /// bits/dim of the mean NLL `nll` of images whose mean log-det is `log_det`.
    pub fn bits(&self, nll: f64, log_det: f64) -> f64 {
        ((nll - log_det) / self.dim.max(1) as f64 + 256f64.ln()) / std::f64::consts::LN_2
    }

    /// Fills a record's bits/dim from its losses.
    pub fn annotate(&self, r: &mut IterationLog) {
        r.bits_per_dim = Some(self.bits(r.loss, self.train_log_det));
        r.val_bits_per_dim = r.val_loss.map(|v| self.bits(v, self.validation_log_det));
    }
}

impl IterationLog {
    /// A record from a gradient computation's counters.
    pub fn new(
        iteration: u64,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        s: &Stats,
        seconds: f64,
    ) -> Self {
        IterationLog {
            iteration,
            loss,
            lr,
            grad_norm,
            nfe_forward: s.nfe_forward,
            nfe_backward: s.nfe_backward,
            vjp_backward: s.vjp_backward,
            steps: s.accepted,
            rejected: s.rejected,
            peak_bytes: s.peak_total_bytes,
            peak_checkpoint_bytes: s.peak_checkpoint_bytes,
            peak_graph_bytes: s.peak_graph_bytes,
            seconds,
            comm_seconds: 0.0,
            samples: 0,
            val_loss: None,
            bits_per_dim: None,
            val_bits_per_dim: None,
        }
    }
}

/// A JSON-lines log file, flushed after every line (an interrupted run keeps every line
/// written so far).
pub(crate) struct JsonLines {
    path: PathBuf,
    file: File,
}

impl JsonLines {
    /// Opens `path` for a run starting after `iteration` iterations: a fresh run (0) starts a
    /// new file, first renaming a previous non-empty log to `<path>.1` (replacing an older
    /// `.1`), so no earlier run's log is lost by starting another; a resumed run keeps the lines up to `iteration` and drops later ones (written after
    /// the checkpoint by an interrupted run), rewriting the file atomically.
    pub(crate) fn open(path: &Path, iteration: u64) -> Result<Self, TrainError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| TrainError::file("create directory", dir, e))?;
        }
        if iteration == 0 || !path.exists() {
            if fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
                let mut rotated = path.as_os_str().to_owned();
                rotated.push(".1");
                fs::rename(path, &rotated)
                    .map_err(|e| TrainError::file("rotate the previous log", path, e))?;
            }
            let file = File::create(path).map_err(|e| TrainError::file("create", path, e))?;
            return Ok(JsonLines {
                path: path.to_path_buf(),
                file,
            });
        }
        let old = File::open(path).map_err(|e| TrainError::file("read", path, e))?;
        let mut kept = Vec::new();
        for line in BufReader::new(old).lines() {
            let line = line.map_err(|e| TrainError::file("read", path, e))?;
            let it = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("iteration").and_then(serde_json::Value::as_u64));
            if it.is_some_and(|it| it <= iteration) {
                kept.extend_from_slice(line.as_bytes());
                kept.push(b'\n');
            }
        }
        super::checkpoint::write_atomic(path, &kept)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::file("open for appending", path, e))?;
        Ok(JsonLines {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record.
    pub(crate) fn write(&mut self, record: &IterationLog) -> Result<(), TrainError> {
        let mut line = serde_json::to_vec(record).map_err(|e| {
            TrainError::file(
                "encode a log line for",
                &self.path,
                std::io::Error::other(e),
            )
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| TrainError::file("append to", &self.path, e))
    }
}

/// Bytes as `12.3 KiB`.
pub(crate) fn bytes_text(b: usize) -> String {
    let b = b as f64;
    if b < 1024.0 {
        format!("{b} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// Without the `progress` feature: a progress bar that shows nothing.
#[cfg(not(feature = "progress"))]
pub(crate) struct ProgressBar;

#[cfg(not(feature = "progress"))]
impl ProgressBar {
    pub fn abandon(&self) {}
    pub fn set_position(&self, _: u64) {}
    pub fn set_message(&self, _: String) {}
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
    pub fn finish(&self) {}
}

/// Without the `progress` feature there is no bar to show.
#[cfg(not(feature = "progress"))]
pub(crate) fn progress_bar(_show: bool, _total: u64, _start: u64) -> ProgressBar {
    ProgressBar
}

/// The progress bar of a run (hidden when not wanted or stderr is not a terminal).
#[cfg(feature = "progress")]
pub(crate) fn progress_bar(show: bool, total: u64, start: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:28.cyan/blue}] {pos}/{len} (eta {eta}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_position(start);
    bar
}

/// The progress bar's message for one iteration.
pub(crate) fn progress_message(r: &IterationLog, peak: usize) -> String {
    let val = r
        .val_loss
        .map_or(String::new(), |v| format!(" | val {v:.4e}"));
    let rate = if r.seconds > 0.0 {
        format!(" | {:.0} samples/s", r.samples as f64 / r.seconds)
    } else {
        String::new()
    };
    if let Some(b) = r.bits_per_dim {
        let vb = r
            .val_bits_per_dim
            .map_or(String::new(), |v| format!(" | val {v:.4}"));
        return format!(
            "bits/dim {b:.4}{vb} | nfe fwd {} bwd {}+{} vjp | steps {}{rate} | peak {}",
            r.nfe_forward,
            r.nfe_backward,
            r.vjp_backward,
            r.steps,
            bytes_text(peak)
        );
    }
    format!(
        "loss {:.4e}{val} | nfe fwd {} bwd {}+{} vjp | steps {}{rate} | peak {}",
        r.loss,
        r.nfe_forward,
        r.nfe_backward,
        r.vjp_backward,
        r.steps,
        bytes_text(peak)
    )
}

#[cfg(all(test, feature = "datasets"))]
mod bits_tests {
    use super::*;

    #[test]
    fn bits_per_dim_agrees_with_the_dataset_module() {
        let b = BitsPerDim {
            dim: 784,
            train_log_det: 1234.5,
            validation_log_det: -20.0,
        };
        let (nll, ld) = (-300.25, 1234.5);
        let want = crate::datasets::fashion_mnist::bits_per_dim(&[-nll], &[ld], 784);
        assert!(
            (b.bits(nll, ld) - want).abs() < 1e-12,
            "{} {want}",
            b.bits(nll, ld)
        );
        let mut r = IterationLog::new(1, nll, 0.1, 1.0, &Default::default(), 0.0);
        r.val_loss = Some(10.0);
        b.annotate(&mut r);
        assert_eq!(r.bits_per_dim, Some(b.bits(nll, 1234.5)));
        assert_eq!(r.val_bits_per_dim, Some(b.bits(10.0, -20.0)));
    }
}
