//! [`PhysicsSpec`]: the physics model described in TOML (system, form, channels, tableau,
//! solver options), the counterpart of [`crate::io::ModelSpec`] for the HNN++ model.
//!
//! ```toml
//! system = "kdv"       # kdv | ch: DGNet's 50-point grid and the operator D (δ₁ or δ₂)
//! form = "energy"      # energy (HNN++: du/dt = D ∇H) | node (plain neural ODE)
//! channels = 200       # hidden channels C
//! tableau = "dopri5"   # optional; a built-in name
//!
//! [solver]             # optional; as in a model spec
//! rtol = 1e-6
//! atol = 1e-8
//! ```
//!
//! Weights are safetensors with DGNet's names (`net.1.weight [C, 1, 3]`, `net.1.bias [C]`,
//! `net.3.weight [C, C, 1]`, `net.3.bias [C]`, `net.5.weight [1, C, 1]`), read by
//! [`PhysicsSpec::build`].
//!
//! ```
//! use symplode::physics::PhysicsSpec;
//! use symplode::prelude::*;
//!
//! let spec = PhysicsSpec::parse("system = \"ch\"\nchannels = 4\n[solver]\nrtol = 1e-6\natol = 1e-8\n", "m.toml")?;
//! let model = spec.init::<f64>(0)?;
//! assert_eq!(model.dim(), 50);
//! assert_eq!(model.param_tensors()[2].name, "net.3.weight");
//! # Ok::<(), symplode::physics::PhysicsError>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::{Real, Scheme, Stepping};

use super::error::PhysicsError;
use super::model::{ModelForm, PhysicsModel};
use super::system::{PdeSystem, SystemKind};
use crate::io::{SafeTensors, SolverSpec};

/// The physics model in TOML (see the module documentation of `symplode::physics`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicsSpec {
    /// `kdv` or `ch`.
    pub system: String,
    /// `energy` (default) or `node`.
    #[serde(default = "default_form")]
    pub form: String,
    /// Hidden channels.
    pub channels: usize,
    /// A built-in tableau name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tableau: Option<String>,
    /// Solver options.
    #[serde(default, skip_serializing_if = "SolverSpec::is_empty")]
    pub solver: SolverSpec,
    #[serde(skip)]
    origin: String,
}

fn default_form() -> String {
    "energy".into()
}

impl PhysicsSpec {
    /// Parses and checks a spec; `origin` names it in errors.
    ///
    /// # Errors
    /// [`PhysicsError::Dataset`] for TOML that does not parse or fit (with the TOML reader's
    /// line and column); [`PhysicsError::Config`] for an unknown system or form, zero
    /// channels or solver options that do not fit.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PhysicsError> {
        let mut spec: PhysicsSpec = toml::from_str(text).map_err(|e| PhysicsError::Dataset {
            origin: origin.to_string(),
            reason: e.to_string().trim().replace('\n', " "),
        })?;
        spec.origin = origin.to_string();
        spec.model()?;
        spec.solver.check(origin)?;
        Ok(spec)
    }

    /// Reads a spec file.
    ///
    /// # Errors
    /// Reading the file; those of [`PhysicsSpec::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, PhysicsError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| {
            PhysicsError::Io(crate::io::IoError::Read {
                origin: origin.clone(),
                source,
            })
        })?;
        Self::parse(&text, &origin)
    }

    /// The model it describes.
    ///
    /// # Errors
    /// [`PhysicsError::Config`] naming the field.
    pub fn model(&self) -> Result<PhysicsModel, PhysicsError> {
        let kind: SystemKind = self.system.parse()?;
        let form: ModelForm = self.form.parse()?;
        if self.channels == 0 {
            return Err(PhysicsError::Config {
                field: format!("{}: channels", self.origin),
                reason: "must be at least 1".into(),
            });
        }
        Ok(PhysicsModel {
            system: PdeSystem::of(kind),
            channels: self.channels,
            form,
        })
    }

    /// The model with DGNet's initialisation from `seed`.
    ///
    /// # Errors
    /// As [`PhysicsSpec::model`].
    pub fn init<T: Real>(&self, seed: u64) -> Result<Interpreted<T>, PhysicsError> {
        let m = self.model()?;
        m.build(&m.init_params(seed)?)
    }

    /// The model with the weights of a safetensors file, looked up by DGNet's names and
    /// checked for shape and finiteness.
    ///
    /// # Errors
    /// [`PhysicsError::Io`] naming the missing or malformed tensor.
    pub fn build<T: Real>(&self, weights: &SafeTensors) -> Result<Interpreted<T>, PhysicsError> {
        let m = self.model()?;
        let g = m.network()?;
        let mut params = Vec::with_capacity(g.param_len());
        for p in g.params() {
            let meaning = format!("`{}` of the {} model", p.name, m.form.name());
            params.extend(weights.tensor_checked(&p.name, &p.shape, &meaning)?);
        }
        m.build(&params)
    }

    /// The tableau (`dopri5` when none is named).
    ///
    /// # Errors
    /// [`PhysicsError::Config`] for an unknown name.
    pub fn scheme<T: Real>(&self) -> Result<Scheme<T>, PhysicsError> {
        let name = self.tableau.as_deref().unwrap_or("dopri5");
        Scheme::builtin(name).map_err(|e| PhysicsError::Config {
            field: format!("{}: tableau", self.origin),
            reason: e.to_string(),
        })
    }

    /// The solver's stepping (adaptive `rtol 1e-6`, `atol 1e-8` when none is given).
    ///
    /// # Errors
    /// Solver options that do not fit.
    pub fn stepping(&self) -> Result<Stepping, PhysicsError> {
        Ok(self
            .solver
            .stepping(&self.origin)?
            .unwrap_or_else(|| Stepping::adaptive(1e-6, 1e-8)))
    }
}
