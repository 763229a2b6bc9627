//! Model files: TOML model specs, safetensors weights and gradients, `.npy` arrays and TOML
//! tableaux, as read and written by the `symplode` command.
//!
//! # Model spec (TOML)
//!
//! A spec describes `dx/dt = f(x, t; θ)` as dense layers (PyTorch `nn.Linear`), plus the
//! tableau and solver options. The layers' `name`s give the safetensors tensor names
//! `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`), so a PyTorch
//! `nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))`
//! stored as attribute `net` is described by:
//!
//! ```toml
//! dim = 2               # state dimension d
//! time_input = true     # the network reads [x, t] (d + 1 features, time last); default false
//! tableau = "dopri5"    # a built-in name, or a tableau file "my_tableau.toml" (next to this spec)
//!
//! [[layers]]
//! name = "net.0"        # tensors net.0.weight [64, 3] and net.0.bias [64]
//! out = 64
//! activation = "tanh"   # tanh, softplus, sigmoid, relu, elu, silu or identity
//!
//! [[layers]]
//! name = "net.2"
//! out = 64
//! activation = "tanh"   # for now every hidden layer uses the same activation
//!
//! [[layers]]
//! name = "net.4"        # the last layer: out = dim, no activation
//! out = 2
//!
//! [solver]
//! rtol = 1e-6           # adaptive steps (or: steps = 20 for fixed steps per output interval)
//! atol = 1e-8
//! first_step = 0.01     # optional
//! max_steps = 10000     # optional
//! ```
//!
//! `tableau` and `[solver]` are optional; the command line's `--tableau`, `--steps`,
//! `--rtol`, `--atol`, `--first-step` and `--max-steps` override them. Unknown fields are
//! errors (with line and column), so typos do not pass silently.
//!
//! A spec of dense layers builds a [`Mlp`](symplode_runtime::models::Mlp) wrapped in [`Named`]
//! so that [`Dynamics::param_tensors`] reports the spec's names.
//!
//! ## Image models
//!
//! With `shape = [channels, height, width]` (the state as a channel-major image, `dim` values)
//! layers may also be `kind = "conv2d"` (PyTorch `Conv2d`: `out` channels, `kernel`, `stride`
//! = 1, `padding` = 0, `bias` = true; `concat_time = true` adds t as a first input channel,
//! FFJORD's `ConcatConv2d`; tensors `{name}.weight` `[out, in, k, k]`, `{name}.bias`),
//! `kind = "squeeze"` (2×2 space-to-channel, FFJORD's order) and `kind = "unsqueeze"` (its
//! inverse; neither has `name`, `out` or tensors). The image shape is followed through the
//! layers (a kernel that does not fit, an odd side to squeeze, a last layer that does not give
//! back `shape` are errors naming the layer); activations may differ per layer. Such a spec
//! builds the `neural_ode!` DSL's network of the same layers, interpreted
//! ([`SpecNet::Graph`], from [`ModelSpec::build_net`] / [`ModelSpec::init_net`], which also
//! build dense specs), and `symplode grad`/`solve` run it:
//!
//! ```toml
//! dim = 784
//! shape = [1, 28, 28]
//! tableau = "dopri5"
//!
//! [[layers]]
//! name = "odefunc.diffeq.layers.0._layer"
//! kind = "conv2d"
//! out = 64
//! kernel = 3
//! padding = 1
//! concat_time = true
//! activation = "softplus"
//!
//! [[layers]]
//! kind = "squeeze"            # 256 × 14 × 14
//!
//! [[layers]]
//! kind = "unsqueeze"          # back to 64 × 28 × 28
//!
//! [[layers]]
//! name = "odefunc.diffeq.layers.1._layer"
//! kind = "conv2d"
//! out = 1
//! kernel = 3
//! padding = 1
//! concat_time = true
//! ```
//!
//! ```
//! use symplode::io::ModelSpec;
//! use symplode::prelude::*;
//!
//! let spec = ModelSpec::parse(
//!     r#"
//!     dim = 2
//!     time_input = true
//!     tableau = "rk4"
//!     [[layers]]
//!     name = "net.0"
//!     out = 16
//!     activation = "tanh"
//!     [[layers]]
//!     name = "net.2"
//!     out = 2
//!     [solver]
//!     steps = 10
//!     "#,
//!     "model.toml",
//! )?;
//! let net = spec.init::<f64>(0)?; // or spec.build(&SafeTensors::read("w.safetensors")?)
//! assert_eq!(net.param_tensors()[0].name, "net.0.weight");
//! assert_eq!(net.param_tensors()[0].shape, vec![16, 3]);
//! let stepping = spec.solver.stepping(spec.origin())?;
//! assert_eq!(stepping, Some(Stepping::fixed(10)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Weights and gradients (safetensors)
//!
//! [`safetensors`]: weights are looked up by the spec's names; `F32` and `F64` tensors are
//! converted to the run precision; a missing tensor, wrong shape, other dtype or non-finite
//! value is an error naming the tensor. [`save_gradients`] writes dL/dθ under the same names
//! and dL/dx0 as `x0`.
//!
//! # Arrays (`.npy`)
//!
//! [`npy`]: initial states and cotangents `[batch, dim]`, solver outputs `[K, batch, dim]`.
//!
//! # Tableaux (TOML)
//!
//! [`parse_tableau`] / [`read_tableau`]: exact rational coefficients, validated with
//! [`Tableau::new_checked`](symplode_codegen::tableau::Tableau::new_checked).

pub mod budget;
mod error;
pub mod files;
mod named;
pub mod npy;
pub mod safetensors;
#[cfg(feature = "model-files")]
mod solver_spec;
#[cfg(feature = "model-files")]
mod spec;
#[cfg(feature = "model-files")]
mod spec_net;
#[cfg(feature = "model-files")]
mod tableau_file;

use std::collections::BTreeMap;
use std::path::Path;

#[cfg(feature = "model-files")]
pub(crate) use error::toml_error;
pub use error::{IoError, printable};
#[cfg(feature = "model-files")]
pub(crate) use files::read_text;
pub use files::{check_output_not_input, same_file, write_atomic};
pub use named::Named;
pub use safetensors::{NamedTensor, SafeTensors};
#[cfg(feature = "model-files")]
pub use solver_spec::SolverSpec;
#[cfg(feature = "model-files")]
pub use spec::{LayerSpec, ModelSpec};
#[cfg(feature = "model-files")]
pub use spec_net::SpecNet;
use symplode_runtime::{Dynamics, Real};
#[cfg(feature = "model-files")]
pub use tableau_file::{parse_tableau, read_tableau, resolve_tableau, tableau_to_toml};

/// Element type of a tensor or array in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
}

impl Dtype {
    /// The type of `T` (`f32` or `f64`).
    pub fn of<T: Real>() -> Self {
        if std::mem::size_of::<T>() == 4 {
            Dtype::F32
        } else {
            Dtype::F64
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }

    /// The safetensors dtype string, `"F32"` or `"F64"`.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
        }
    }

    /// Decodes one element (`bytes.len() == self.size()`), widened to `f64`.
    pub(crate) fn decode(self, bytes: &[u8], little: bool) -> f64 {
        match self {
            Dtype::F32 => {
                let b: [u8; 4] = bytes.try_into().unwrap_or([0; 4]);
                let v = if little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                f64::from(v)
            }
            Dtype::F64 => {
                let b: [u8; 8] = bytes.try_into().unwrap_or([0; 8]);
                if little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }
            }
        }
    }

    /// Appends one element, little-endian (`v` is exact in this type when it came from it).
    pub(crate) fn encode(self, v: f64, out: &mut Vec<u8>) {
        match self {
            Dtype::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Dtype::F64 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// The parameter tensors of `dynamics` under their names (see
/// [`Dynamics::param_tensors`]), ready for [`safetensors::write`].
pub fn param_tensors_of<'a, T: Real>(
    dynamics: &'a dyn Dynamics<T>,
    flat: &'a [T],
) -> Vec<NamedTensor<'a, T>> {
    dynamics
        .param_tensors()
        .into_iter()
        .filter_map(|t| {
            let data = flat.get(t.range())?;
            Some(NamedTensor {
                name: t.name,
                shape: t.shape,
                data,
            })
        })
        .collect()
}

/// Writes the parameters of `dynamics` as safetensors in precision `T` (e.g. weights made by
/// [`ModelSpec::init`] or trained in Rust, for `symplode grad --weights` or PyTorch's
/// `load_state_dict`).
///
/// # Errors
/// [`IoError::Write`].
pub fn save_weights<T: Real>(
    path: impl AsRef<Path>,
    dynamics: &dyn Dynamics<T>,
) -> Result<(), IoError> {
    let tensors = param_tensors_of(dynamics, dynamics.params());
    safetensors::write(path, &tensors, &BTreeMap::new())
}

/// Writes gradients as safetensors: dL/dx0 as `x0` (`[batch, dim]`) and dL/dθ under the names
/// of `dynamics`' parameter tensors, plus `metadata` (e.g. the loss and the method).
///
/// # Errors
/// [`IoError::Shape`] when `dx0` is not a whole number of rows or `dtheta` does not match
/// the parameters; [`IoError::Write`].
pub fn save_gradients<T: Real>(
    path: impl AsRef<Path>,
    dynamics: &dyn Dynamics<T>,
    dx0: &[T],
    dtheta: &[T],
    metadata: &BTreeMap<String, String>,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let dim = dynamics.dim().max(1);
    let shape_err = |what: &str, expected: String, got: usize| IoError::Shape {
        origin: path.display().to_string(),
        what: what.to_string(),
        expected,
        got: vec![got],
    };
    if !dx0.len().is_multiple_of(dim) {
        return Err(shape_err(
            "dL/dx0",
            format!("a multiple of dim = {dim}"),
            dx0.len(),
        ));
    }
    if dtheta.len() != dynamics.n_params() {
        return Err(shape_err(
            "dL/dθ",
            format!("[{}] (the parameter count)", dynamics.n_params()),
            dtheta.len(),
        ));
    }
    let mut tensors = vec![NamedTensor::new("x0", &[dx0.len() / dim, dim], dx0)];
    tensors.extend(param_tensors_of(dynamics, dtheta));
    safetensors::write(path, &tensors, metadata)
}
