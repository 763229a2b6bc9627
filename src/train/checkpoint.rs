//! Checkpoints: model parameters and optimiser state as safetensors, plus a JSON of metadata,
//! each written atomically.
//!
//! A checkpoint directory holds
//!
//! - `checkpoint-<iteration>.safetensors`: every parameter tensor as `model.<name>` (its
//!   [`ParamTensor`](symplode_runtime::ParamTensor) shape) and the optimiser state as
//!   `optimizer.<buffer>` (flat), `optimizer.lr` and `optimizer.base_lr` (`[1]`), all `F64`
//!   (an `f32` value widens exactly, so loading it back is exact too);
//! - `checkpoint.json` ([`CheckpointMeta`]): iteration, seed, random-stream state, dtype, the
//!   tensor file's name, size and FNV-1a checksum, the model's tensor layout, the optimiser's
//!   kind and hyper-parameters, and the run configuration.
//!
//! Each file is written to a temporary file in the same directory, synced, and renamed over
//! the old one (then the directory is synced). The tensor file comes first and the JSON last:
//! the JSON is the commit record, so a run interrupted at any point leaves either the old or
//! the new checkpoint, complete, and never a torn file. Older tensor files are deleted after
//! the commit.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use symplode_runtime::optim::{OptimState, Optimizer};
use symplode_runtime::{ParamTensor, Real};

use super::{TrainError, TrainModel};
use crate::io::IoError;
use crate::io::safetensors::{self, NamedTensor, SafeTensors};

/// Name of the metadata file (the commit record) inside a checkpoint directory.
pub const META_FILE: &str = "checkpoint.json";

/// The `format` field of [`CheckpointMeta`].
pub const FORMAT: &str = "symplode-checkpoint";

/// Version of the checkpoint layout.
pub const VERSION: u32 = 1;

/// Name and shape of one parameter tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Tensor name (the model's, without the `model.` prefix of the file).
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
}

/// The state of the mini-batch random stream.
///
/// Batch `i` (0-based) is drawn from `Rng::new(batch_seed(seed, i))`, a fresh xoshiro256**
/// stream per iteration, so the whole state is the seed and the next iteration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// How the per-iteration streams are derived.
    pub algorithm: String,
    /// The seed.
    pub seed: u64,
    /// The next iteration (0-based) whose batch will be drawn.
    pub next_iteration: u64,
}

/// The optimiser part of [`CheckpointMeta`] (readable copies; the exact values are tensors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerMeta {
    /// `"adam"` or `"sgd"`.
    pub kind: String,
    /// Steps taken.
    pub step: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// The schedule's base rate.
    pub base_lr: f64,
    /// Names of the state buffers stored as `optimizer.<name>`.
    pub buffers: Vec<String>,
    /// Hyper-parameters by name.
    pub hyperparameters: BTreeMap<String, f64>,
}

/// The contents of `checkpoint.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// Iterations completed.
    pub iteration: u64,
    /// The run's seed.
    pub seed: u64,
    /// The mini-batch random stream.
    pub rng: RngState,
    /// Precision of the model, `"f32"` or `"f64"`.
    pub dtype: String,
    /// File name (in the same directory) of the tensors.
    pub tensors_file: String,
    /// Its size in bytes.
    pub tensors_bytes: u64,
    /// Its FNV-1a 64-bit checksum, as 16 hex digits.
    pub tensors_fnv1a64: String,
    /// The model's parameter tensors, in order.
    pub model: Vec<TensorInfo>,
    /// The optimiser.
    pub optimizer: OptimizerMeta,
    /// The run configuration (method, tableau, stepping, loss, schedule, caller's extras).
    pub config: serde_json::Value,
}

/// What [`Trainer::resume`](super::Trainer::resume) restored besides the model and the
/// optimiser.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    /// Iterations completed.
    pub iteration: u64,
    /// The schedule's base learning rate.
    pub base_lr: f64,
    /// The whole metadata.
    pub meta: CheckpointMeta,
}

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Writes `bytes` to `path` atomically (see [`crate::io::write_atomic`]): a temporary file in
/// the same directory, `fsync`, rename over `path`, then `fsync` of the directory; stale
/// temporaries of interrupted earlier saves are removed. On failure the temporary file is
/// removed and `path` is unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    crate::io::write_atomic(path, bytes).map_err(TrainError::Io)
}

/// The first non-finite parameter or optimiser state entry, as a
/// [`TrainError::NonFiniteState`] at `iteration`.
pub(crate) fn check_finite_state<T: Real>(
    params: &[T],
    layout: impl FnOnce() -> Vec<ParamTensor>,
    optimizer: &dyn Optimizer<T>,
    iteration: u64,
) -> Result<(), TrainError> {
    if let Some(i) = params.iter().position(|v| !v.f64().is_finite()) {
        let name = layout()
            .into_iter()
            .find(|t| t.range().contains(&i))
            .map_or(String::new(), |t| format!(" (`{}`)", t.name));
        return Err(TrainError::NonFiniteState {
            iteration,
            what: format!("parameter {i}{name}"),
            value: params[i].f64(),
        });
    }
    let state = optimizer.state();
    for (name, buf) in &state.buffers {
        if let Some(i) = buf.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::NonFiniteState {
                iteration,
                what: format!("optimiser state {name}[{i}]"),
                value: buf[i],
            });
        }
    }
    if !state.lr.is_finite() {
        return Err(TrainError::NonFiniteState {
            iteration,
            what: "the learning rate".into(),
            value: state.lr,
        });
    }
    Ok(())
}

/// Saves a checkpoint of a model (its parameters `params` in the tensors `layout`) and
/// `optimizer` after `iteration` iterations into `dir` (created if needed); returns the path
/// of `checkpoint.json`.
#[allow(clippy::too_many_arguments)]
pub fn save<T: Real>(
    dir: &Path,
    params: &[T],
    layout: Vec<ParamTensor>,
    optimizer: &dyn Optimizer<T>,
    iteration: u64,
    seed: u64,
    base_lr: f64,
    config: serde_json::Value,
) -> Result<PathBuf, TrainError> {
    check_finite_state(params, || layout.clone(), optimizer, iteration)?;
    fs::create_dir_all(dir).map_err(|e| TrainError::file("create directory", dir, e))?;
    let tensors_file = format!("checkpoint-{iteration:08}.safetensors");
    let tensors_path = dir.join(&tensors_file);
    let params: Vec<f64> = params.iter().map(|v| v.f64()).collect();
    let state = optimizer.state();
    let lr = [state.lr];
    let base = [base_lr];
    let mut tensors = Vec::with_capacity(layout.len() + state.buffers.len() + 2);
    for t in &layout {
        let data = params.get(t.range()).unwrap_or_default();
        tensors.push(NamedTensor::new(
            &format!("model.{}", t.name),
            &t.shape,
            data,
        ));
    }
    for (name, buf) in &state.buffers {
        tensors.push(NamedTensor::new(
            &format!("optimizer.{name}"),
            &[buf.len()],
            buf,
        ));
    }
    tensors.push(NamedTensor::new("optimizer.lr", &[1], &lr));
    tensors.push(NamedTensor::new("optimizer.base_lr", &[1], &base));
    let metadata = BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("iteration".to_string(), iteration.to_string()),
    ]);
    let origin = tensors_path.display().to_string();
    let bytes = safetensors::to_bytes(&tensors, &metadata, &origin).map_err(|e| {
        TrainError::CheckpointCorrupt {
            path: tensors_path.clone(),
            reason: format!("cannot encode: {e}"),
        }
    })?;
    write_atomic(&tensors_path, &bytes)?;

    let meta = CheckpointMeta {
        format: FORMAT.into(),
        version: VERSION,
        iteration,
        seed,
        rng: RngState {
            algorithm: super::RNG_ALGORITHM.into(),
            seed,
            next_iteration: iteration,
        },
        dtype: T::NAME.into(),
        tensors_file: tensors_file.clone(),
        tensors_bytes: bytes.len() as u64,
        tensors_fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
        model: layout
            .iter()
            .map(|t| TensorInfo {
                name: t.name.clone(),
                shape: t.shape.clone(),
            })
            .collect(),
        optimizer: OptimizerMeta {
            kind: state.kind.clone(),
            step: state.step,
            lr: state.lr,
            base_lr,
            buffers: state.buffers.iter().map(|(n, _)| n.clone()).collect(),
            hyperparameters: optimizer
                .hyperparameters()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        },
        config,
    };
    let meta_path = dir.join(META_FILE);
    let mut json = serde_json::to_vec_pretty(&meta).map_err(|e| TrainError::CheckpointCorrupt {
        path: meta_path.clone(),
        reason: format!("cannot encode: {e}"),
    })?;
    json.push(b'\n');
    write_atomic(&meta_path, &json)?;

    // The new checkpoint is committed: older tensor files are garbage (best effort).
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let old_tensors =
                n.starts_with("checkpoint-") && n.ends_with(".safetensors") && n != tensors_file;
            let stale = n.starts_with(".checkpoint") && crate::io::files::is_stale_temporary(&n);
            if old_tensors || stale {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(meta_path)
}

/// Reads `dir/checkpoint.json` and checks it is a checkpoint of this format.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta, TrainError> {
    let path = dir.join(META_FILE);
    let text = match crate::io::files::read_bytes(&path) {
        Ok(t) => t,
        Err(IoError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(TrainError::CheckpointMissing {
                path,
                reason: "the directory has no checkpoint.json".into(),
            });
        }
        Err(e) => return Err(TrainError::Io(e)),
    };
    let meta: CheckpointMeta =
        serde_json::from_slice(&text).map_err(|e| TrainError::CheckpointCorrupt {
            path: path.clone(),
            reason: format!("not a checkpoint metadata file: {e}"),
        })?;
    if meta.format != FORMAT || meta.version != VERSION {
        return Err(TrainError::CheckpointCorrupt {
            path,
            reason: format!(
                "format `{}` version {}, expected `{FORMAT}` version {VERSION}",
                meta.format, meta.version
            ),
        });
    }
    Ok(meta)
}

/// Loads the checkpoint in `dir` into `model` and `optimizer`. Everything is checked (the
/// tensor file's size and checksum, every tensor's presence, shape and finiteness, the model
/// layout, the optimiser kind, the seed) before anything is changed, so on error both are left
/// as they were.
pub fn load<T: Real>(
    dir: &Path,
    model: &mut dyn TrainModel<T>,
    optimizer: &mut dyn Optimizer<T>,
    seed: u64,
    iterations: u64,
) -> Result<Restored, TrainError> {
    let meta = read_meta(dir)?;
    let meta_path = dir.join(META_FILE);
    let mismatch = |what: &str, expected: String, got: String| TrainError::CheckpointMismatch {
        path: meta_path.clone(),
        what: what.to_string(),
        expected,
        got,
    };
    if meta.seed != seed {
        return Err(mismatch("seed", seed.to_string(), meta.seed.to_string()));
    }
    if meta.dtype != T::NAME {
        return Err(mismatch(
            "the precision (`dtype`)",
            T::NAME.to_string(),
            meta.dtype.clone(),
        ));
    }
    if meta.iteration > iterations {
        return Err(mismatch(
            "`iteration`",
            format!("at most the run's {iterations} iterations"),
            meta.iteration.to_string(),
        ));
    }
    let corrupt_meta = |reason: String| TrainError::CheckpointCorrupt {
        path: meta_path.clone(),
        reason,
    };
    if meta.rng.seed != meta.seed || meta.rng.next_iteration != meta.iteration {
        return Err(corrupt_meta(format!(
            "`rng` (seed {}, next_iteration {}) does not match `seed` {} and `iteration` {}",
            meta.rng.seed, meta.rng.next_iteration, meta.seed, meta.iteration
        )));
    }
    if meta.optimizer.step > meta.iteration {
        return Err(corrupt_meta(format!(
            "`optimizer.step` = {} exceeds `iteration` = {} (one optimiser step per iteration)",
            meta.optimizer.step, meta.iteration
        )));
    }
    for (field, v) in [
        ("optimizer.lr", meta.optimizer.lr),
        ("optimizer.base_lr", meta.optimizer.base_lr),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(corrupt_meta(format!(
                "`{field}` = {v} is not finite and > 0"
            )));
        }
    }
    let layout = model.param_tensors();
    let here: Vec<TensorInfo> = layout
        .iter()
        .map(|t| TensorInfo {
            name: t.name.clone(),
            shape: t.shape.clone(),
        })
        .collect();
    if here != meta.model {
        let show = |v: &[TensorInfo]| {
            v.iter()
                .map(|t| format!("{} {:?}", t.name, t.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(mismatch(
            "the model's tensors",
            show(&here),
            show(&meta.model),
        ));
    }
    if meta.optimizer.kind != optimizer.name() {
        return Err(mismatch(
            "the optimiser",
            optimizer.name().into(),
            meta.optimizer.kind.clone(),
        ));
    }
    let name = &meta.tensors_file;
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(TrainError::CheckpointCorrupt {
            path: meta_path,
            reason: format!("`tensors_file` = {name:?} is not a file name in the same directory"),
        });
    }
    let tensors_path = dir.join(name);
    let bytes = match crate::io::files::read_bytes(&tensors_path) {
        Ok(b) => b,
        Err(IoError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(TrainError::CheckpointMissing {
                path: tensors_path,
                reason: "the tensor file named by checkpoint.json does not exist".into(),
            });
        }
        Err(e) => return Err(TrainError::Io(e)),
    };
    let corrupt = |reason: String| TrainError::CheckpointCorrupt {
        path: tensors_path.clone(),
        reason,
    };
    let sum = format!("{:016x}", fnv1a64(&bytes));
    if bytes.len() as u64 != meta.tensors_bytes || sum != meta.tensors_fnv1a64 {
        return Err(corrupt(format!(
            "{} bytes with checksum {sum}, but checkpoint.json recorded {} bytes with checksum {}",
            bytes.len(),
            meta.tensors_bytes,
            meta.tensors_fnv1a64
        )));
    }
    let file = SafeTensors::parse(bytes, &tensors_path.display().to_string())
        .map_err(|e| corrupt(e.to_string()))?;
    let read = |name: &str, shape: &[usize]| {
        file.tensor_checked(name, shape, "as recorded in checkpoint.json")
            .map_err(|e| corrupt(e.to_string()))
    };
    let mut params = vec![T::zero(); model.params().len()];
    for t in &layout {
        let v = read(&format!("model.{}", t.name), &t.shape)?;
        for (p, x) in params[t.range()].iter_mut().zip(v) {
            *p = T::of(x);
        }
    }
    let mut buffers = Vec::with_capacity(meta.optimizer.buffers.len());
    for b in &meta.optimizer.buffers {
        let key = format!("optimizer.{b}");
        let len = file
            .info(&key)
            .and_then(|(s, _)| s.first().copied())
            .unwrap_or(0);
        if len != 0 && len != params.len() {
            return Err(corrupt(format!(
                "`{key}` has {len} elements for {} parameters",
                params.len()
            )));
        }
        buffers.push((b.clone(), read(&key, &[len])?));
    }
    let lr = read("optimizer.lr", &[1])?[0];
    let base_lr = read("optimizer.base_lr", &[1])?[0];
    if !(lr > 0.0 && base_lr > 0.0) {
        return Err(corrupt(format!(
            "learning rates must be > 0, got optimizer.lr = {lr}, optimizer.base_lr = {base_lr}"
        )));
    }
    let state = OptimState {
        kind: meta.optimizer.kind.clone(),
        step: meta.optimizer.step,
        lr,
        buffers,
    };
    optimizer
        .load_state(&state)
        .map_err(|e| corrupt(format!("optimiser state: {e}")))?;
    model.params_mut().copy_from_slice(&params);
    Ok(Restored {
        iteration: meta.iteration,
        base_lr,
        meta,
    })
}
