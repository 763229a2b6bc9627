//! [`ModelSpec`]: a neural ODE described in TOML (network, tableau, solver options).
//!
//! The format is documented with a full example on [`crate::io`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use symplode_codegen::tableau::Tableau;
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::{ParamTensor, Real};

use super::error::{IoError, printable, toml_error};
use super::named::Named;
use super::safetensors::SafeTensors;
use super::solver_spec::SolverSpec;
use super::tableau_file::resolve_tableau;
use super::{read_text, write_atomic};

mod image;

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// Largest state dimension or layer width a spec may give (2^24): far beyond practical
/// networks, and small enough that sizes computed from it cannot overflow.
pub const MAX_WIDTH: usize = 1 << 24;

/// One layer: by default a dense layer `y = x Wᵀ + b` (PyTorch `nn.Linear`), followed by
/// `activation` (none on the last layer), with tensors `{name}.weight` `[out, in]` and
/// `{name}.bias` `[out]`; or an image layer (`kind = "conv2d"`, `"squeeze"`, `"unsqueeze"`,
/// see [`crate::io`]).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Tensor name prefix, e.g. `net.0` (optional on `squeeze`/`unsqueeze`, which have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `dense` (the default), `conv2d`, `squeeze` or `unsqueeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Output width (output channels of a `conv2d`; none on `squeeze`/`unsqueeze`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub out: usize,
    /// A `conv2d`'s kernel size (required), tensors `{name}.weight` `[out, in, k, k]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    /// A `conv2d`'s stride (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// A `conv2d`'s zero padding on every side (default 0, as PyTorch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<usize>,
    /// Whether a `conv2d` has the bias `{name}.bias` `[out]` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// Whether a `conv2d` reads t as an extra first input channel (FFJORD's `ConcatConv2d`;
    /// default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concat_time: Option<bool>,
    /// Activation after this layer: `tanh`, `softplus`, `sigmoid`, `relu`, `elu`, `silu` or
    /// `identity`; absent on the last layer; in a dense-only spec required on every other
    /// layer (one kind for all), in an image spec optional (none = identity) and absent on
    /// `squeeze`/`unsqueeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
}

/// A neural ODE `dx/dt = f(x, t; θ)` described in TOML: state dimension, time input, dense
/// layers, tableau and solver options (see [`crate::io`] for the format).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// State dimension d.
    pub dim: usize,
    /// The state as a `[channels, height, width]` image (channel-major), for image layers;
    /// `channels·height·width` must be `dim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 3]>,
    /// When true the network reads `[x, t]` (d + 1 features, time last).
    #[serde(default)]
    pub time_input: bool,
    /// The layers, input side first; the last one has `out = dim` and no activation.
    pub layers: Vec<LayerSpec>,
    /// A built-in tableau name (`dopri5`, `rk4`, …) or a tableau TOML file (a value ending in
    /// `.toml`, relative to this spec's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tableau: Option<String>,
    /// Solver options.
    #[serde(default, skip_serializing_if = "SolverSpec::is_empty")]
    pub solver: SolverSpec,
    #[serde(skip)]
    origin: String,
    #[serde(skip)]
    dir: Option<PathBuf>,
}

impl ModelSpec {
    /// Parses and validates a spec; `origin` names it in errors.
    ///
    /// # Errors
    /// [`IoError::Toml`] (syntax, unknown or missing field, wrong type, with line and column)
    /// and the errors of [`ModelSpec::validate`].
    pub fn parse(text: &str, origin: &str) -> Result<Self, IoError> {
        let mut spec: ModelSpec = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        spec.origin = origin.to_string();
        spec.validate()?;
        Ok(spec)
    }

    /// Reads a spec file; a tableau file it names is looked up next to it.
    ///
    /// # Errors
    /// [`IoError::Read`] and those of [`ModelSpec::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, IoError> {
        let path = path.as_ref();
        let mut spec = Self::parse(&read_text(path)?, &path.display().to_string())?;
        spec.dir = path.parent().map(Path::to_path_buf);
        Ok(spec)
    }

    /// The spec as TOML text (parses back to an equal spec).
    ///
    /// # Errors
    /// [`IoError::Field`] if serialisation fails (a non-finite solver option).
    pub fn to_toml(&self) -> Result<String, IoError> {
        toml::to_string(self).map_err(|e| IoError::Field {
            origin: self.origin.clone(),
            field: "spec".into(),
            reason: format!("cannot write as TOML: {e}"),
        })
    }

    /// Writes the spec as TOML.
    ///
    /// # Errors
    /// Those of [`ModelSpec::to_toml`], and [`IoError::Write`].
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), IoError> {
        write_atomic(path.as_ref(), self.to_toml()?.as_bytes())
    }

    /// The file (or label) this spec came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn field(&self, field: String, reason: String) -> IoError {
        IoError::Field {
            origin: self.origin.clone(),
            field,
            reason,
        }
    }

    /// Checks the spec: `dim ≥ 1`, at least one layer, non-empty unique names, widths ≥ 1, one
    /// known activation on every layer but the last (the same on all of them, for now), none
    /// on the last, whose width is `dim`; solver options that fit together. An image spec
    /// ([`ModelSpec::is_image`]) is checked as [`crate::io`] describes: `shape` of `dim`
    /// values, each layer's fields for its kind, the image shape followed through the layers.
    ///
    /// # Errors
    /// [`IoError::Field`] naming the field, e.g. `layers[1].activation`.
    pub fn validate(&self) -> Result<(), IoError> {
        if self.is_image() {
            return self.validate_image().map(|_| ());
        }
        if self.dim == 0 {
            return Err(self.field("dim".into(), "must be at least 1".into()));
        }
        if self.dim > MAX_WIDTH {
            return Err(self.field(
                "dim".into(),
                format!("{} is more than the {MAX_WIDTH} supported", self.dim),
            ));
        }
        let Some(last) = self.layers.len().checked_sub(1) else {
            return Err(self.field(
                "layers".into(),
                "need at least one [[layers]] entry (the output layer)".into(),
            ));
        };
        let mut first_act: Option<(Activation, &str)> = None;
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.layers.len());
        for (k, l) in self.layers.iter().enumerate() {
            let at = |f: &str| format!("layers[{k}].{f}");
            if l.name.is_empty() {
                return Err(self.field(at("name"), "must not be empty".into()));
            }
            if l.name.chars().any(char::is_control) {
                return Err(self.field(
                    at("name"),
                    format!("`{}` contains control characters", printable(&l.name)),
                ));
            }
            if let Some(j) = seen.insert(l.name.as_str(), k) {
                return Err(self.field(
                    at("name"),
                    format!("`{}` is also the name of layers[{j}]", printable(&l.name)),
                ));
            }
            if l.out == 0 {
                return Err(self.field(at("out"), "must be at least 1".into()));
            }
            if l.out > MAX_WIDTH {
                return Err(self.field(
                    at("out"),
                    format!("{} is more than the {MAX_WIDTH} supported", l.out),
                ));
            }
            if k == last {
                if let Some(a) = &l.activation {
                    return Err(self.field(
                        at("activation"),
                        format!(
                            "the last layer (`{}`) gives dx/dt and takes no activation, got `{a}`",
                            l.name
                        ),
                    ));
                }
                if l.out != self.dim {
                    return Err(self.field(
                        at("out"),
                        format!(
                            "the last layer (`{}`) gives dx/dt, so out must equal dim = {}, got {}",
                            l.name, self.dim, l.out
                        ),
                    ));
                }
                continue;
            }
            let Some(name) = &l.activation else {
                return Err(self.field(
                    at("activation"),
                    format!(
                        "missing on layer `{}`: every layer but the last needs one (one of {}; \
                         `identity` for none)",
                        l.name,
                        Activation::NAMES.join(", ")
                    ),
                ));
            };
            let act: Activation = name.parse().map_err(|_: symplode_codegen::ir::IrError| {
                self.field(
                    at("activation"),
                    format!(
                        "unknown activation `{name}`; valid names: {}",
                        Activation::NAMES.join(", ")
                    ),
                )
            })?;
            match first_act {
                None => first_act = Some((act, &l.name)),
                Some((a, first)) if a != act => {
                    return Err(self.field(
                        at("activation"),
                        format!(
                            "`{act}` differs from `{a}` of layer `{first}`: all hidden layers \
                             must use the same activation for now"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        self.solver.check(&self.origin)?;
        self.mlp_config()
            .n_params()
            .map(|_| ())
            .map_err(|source| IoError::Model {
                origin: self.origin.clone(),
                source,
            })
    }

    /// The activation of the hidden layers (`identity` without hidden layers).
    pub fn activation(&self) -> Activation {
        self.layers
            .iter()
            .rev()
            .skip(1)
            .find_map(|l| l.activation.as_deref()?.parse().ok())
            .unwrap_or(Activation::Identity)
    }

    /// The equivalent [`MlpConfig`].
    pub fn mlp_config(&self) -> MlpConfig {
        let n = self.layers.len().saturating_sub(1);
        MlpConfig::new(
            self.dim,
            self.layers[..n].iter().map(|l| l.out).collect(),
            self.activation(),
            self.time_input,
        )
    }

    /// The tensor names, in parameter order: `{name}.weight`, `{name}.bias` per layer (no
    /// bias for a `conv2d` with `bias = false`, nothing for `squeeze`/`unsqueeze`).
    pub fn tensor_names(&self) -> Vec<String> {
        self.layers
            .iter()
            .flat_map(|l| {
                let kind = l.kind.as_deref().unwrap_or("dense");
                let w = (kind == "dense" || kind == "conv2d").then(|| format!("{}.weight", l.name));
                let b = (kind == "dense" || kind == "conv2d" && l.bias != Some(false))
                    .then(|| format!("{}.bias", l.name));
                w.into_iter().chain(b)
            })
            .collect()
    }

    /// The named tensors of the flat parameter vector (PyTorch `nn.Linear` layout).
    ///
    /// # Errors
    /// Those of [`ModelSpec::validate`].
    pub fn param_tensors(&self) -> Result<Vec<ParamTensor>, IoError> {
        if self.is_image() {
            return self.image_tensors();
        }
        self.validate()?;
        let mut inp = self.dim + usize::from(self.time_input);
        let mut offset = 0;
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for l in &self.layers {
            for (suffix, shape) in [("weight", vec![l.out, inp]), ("bias", vec![l.out])] {
                let len: usize = shape.iter().product();
                out.push(ParamTensor {
                    name: format!("{}.{suffix}", l.name),
                    shape,
                    offset,
                });
                offset += len;
            }
            inp = l.out;
        }
        Ok(out)
    }

    /// Wraps a network of this spec's shape so that its tensors carry the spec's names.
    fn named<T: Real>(&self, mlp: Mlp<T>) -> Result<Named<Mlp<T>>, IoError> {
        Named::new(mlp, self.tensor_names())
    }

    /// Builds the network with the weights of a safetensors file: each tensor looked up by
    /// name, checked for shape and finiteness, converted to `T`. Extra tensors are ignored.
    ///
    /// # Errors
    /// Those of [`ModelSpec::validate`]; [`IoError::MissingTensor`], [`IoError::Shape`],
    /// [`IoError::Dtype`], [`IoError::NonFinite`] naming the tensor.
    pub fn build<T: Real>(&self, weights: &SafeTensors) -> Result<Named<Mlp<T>>, IoError> {
        self.no_image("build")?;
        let tensors = self.param_tensors()?;
        let mut params = Vec::new();
        for (k, t) in tensors.iter().enumerate() {
            let layer = &self.layers[k / 2].name;
            let meaning = if k % 2 == 0 {
                format!("[out, in] of layer `{layer}`")
            } else {
                format!("[out] of layer `{layer}`")
            };
            let data = weights.tensor_checked(&t.name, &t.shape, &meaning)?;
            params.extend(data.into_iter().map(T::of));
        }
        let mlp = Mlp::from_params(self.mlp_config(), params).map_err(|source| IoError::Model {
            origin: weights.origin().to_string(),
            source,
        })?;
        self.named(mlp)
    }

    /// Builds the network with PyTorch's default `nn.Linear` initialisation from `seed` (see
    /// [`Mlp::new`]).
    ///
    /// # Errors
    /// Those of [`ModelSpec::validate`]; [`IoError::Model`].
    pub fn init<T: Real>(&self, seed: u64) -> Result<Named<Mlp<T>>, IoError> {
        self.no_image("init")?;
        self.validate()?;
        let mlp = Mlp::new(self.mlp_config(), seed).map_err(|source| IoError::Model {
            origin: self.origin.clone(),
            source,
        })?;
        self.named(mlp)
    }

    /// The spec's tableau (a built-in, or a file relative to the spec's directory), if it
    /// names one.
    ///
    /// # Errors
    /// [`IoError::Field`] for an unknown name; the errors of reading a tableau file.
    pub fn tableau(&self) -> Result<Option<Tableau>, IoError> {
        let Some(name) = &self.tableau else {
            return Ok(None);
        };
        resolve_tableau(name, self.dir.as_deref())
            .map(Some)
            .map_err(|e| match e {
                IoError::Field { reason, .. } if !name.ends_with(".toml") => IoError::Field {
                    origin: self.origin.clone(),
                    field: "tableau".into(),
                    reason,
                },
                other => other,
            })
    }

    /// A one-line description: `2 → [x, t] → 64 tanh → 64 tanh → 2 (4482 parameters)`.
    pub fn summary(&self) -> String {
        if self.is_image() {
            return self.image_summary();
        }
        let mut s = if self.time_input {
            format!("{} → [x, t]", self.dim)
        } else {
            self.dim.to_string()
        };
        for l in &self.layers {
            s.push_str(&format!(" → {}", l.out));
            if let Some(a) = &l.activation {
                s.push_str(&format!(" {a}"));
            }
        }
        let n: usize = self
            .param_tensors()
            .map(|t| t.iter().map(ParamTensor::len).sum())
            .unwrap_or(0);
        format!("{s} ({n} parameters)")
    }
}
