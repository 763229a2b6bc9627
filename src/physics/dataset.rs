//! DGNet's KdV and Cahn–Hilliard data sets: seeded initial states, DVD trajectories, the
//! exact `du/dt` at every state, the train/test split, and `.npy` / safetensors files.
//!
//! Initial states (DGNet `experiment-ch/data.py`), drawn from [`Rng`] in DGNet's order:
//!
//! - KdV: `k₁, k₂ ~ U(0.5, 2)`, `d₁ ~ U(0.2, 0.3)`, `d₂ = d₁ + U(0.2, 0.5)`,
//!   `u₀ = (−6/a)·2k₁² sech²(k₁(x − width·d₁)) + (−6/a)·2k₂² sech²(k₂(x − width·d₂))`; a
//!   shift index is drawn and (as in DGNet) not applied; then the state is mirrored
//!   (`u₀[::-1]`) with probability ½. `dt = 0.001`, seed 1.
//! - Cahn–Hilliard: `u₀[k] = 0.1·(U(0, 1) − 0.5)`. `dt = 1e-4`, seed 0.
//!
//! Both: 100 trajectories of 500 steps (501 states), the first `⌊100·0.9⌋ = 90` train, the
//! rest test. The generator is seeded with this crate's xoshiro256** [`Rng`], not NumPy's
//! Mersenne Twister, so the trajectories follow DGNet's distributions, not its exact draws.

use std::collections::BTreeMap;
use std::path::Path;

use symplode_runtime::rng::Rng;

use super::dvd::{DvdOptions, integrate};
use super::error::PhysicsError;
use super::system::{PdeSystem, SystemKind, mass};
use crate::io::{NamedTensor, SafeTensors, npy, safetensors};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatasetConfig {
    /// The PDE.
    pub system: PdeSystem,
    /// Trajectories.
    pub trajectories: usize,
    /// Steps per trajectory (states: `steps + 1`).
    pub steps: usize,
    /// Time step.
    pub dt: f64,
    /// Fraction of trajectories held out for testing (the last ones).
    pub test_split: f64,
    /// Seed of the initial states.
    pub seed: u64,
    /// Newton tolerance (max-norm of the update).
    pub newton_tol: f64,
}

impl DatasetConfig {
    /// DGNet's set for `kind`: 100 trajectories × 500 steps, 10% test, `dt` 0.001 (KdV,
    /// seed 1) or 1e-4 (CH, seed 0), Newton to 1e-10.
    pub fn dgnet(kind: SystemKind) -> Self {
        let (dt, seed) = match kind {
            SystemKind::Kdv => (0.001, 1),
            SystemKind::CahnHilliard => (1e-4, 0),
        };
        DatasetConfig {
            system: PdeSystem::of(kind),
            trajectories: 100,
            steps: 500,
            dt,
            test_split: 0.1,
            seed,
            newton_tol: 1e-10,
        }
    }

    /// The number of training trajectories, `⌊trajectories·(1 − test_split)⌋` (DGNet's
    /// `int(ndata * (1 - test_split))`).
    pub fn n_train(&self) -> usize {
        ((self.trajectories as f64) * (1.0 - self.test_split)).floor() as usize
    }

    fn validate(&self) -> Result<(), PhysicsError> {
        self.system.validate()?;
        let bad = |field: &str, reason: String| PhysicsError::Config {
            field: field.into(),
            reason,
        };
        if self.trajectories == 0 {
            return Err(bad("trajectories", "must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.test_split) {
            return Err(bad(
                "test_split",
                format!("must be in [0, 1], got {}", self.test_split),
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(bad(
                "dt",
                format!("must be finite and > 0, got {}", self.dt),
            ));
        }
        Ok(())
    }
}

/// The initial state of each trajectory, in generation order (see the
/// [module documentation](self)).
pub fn initial_states(cfg: &DatasetConfig) -> Vec<Vec<f64>> {
    let sys = &cfg.system;
    let n = sys.n;
    let mut rng = Rng::new(cfg.seed);
    let sech2 = |z: f64| {
        let c = z.cosh();
        1.0 / (c * c)
    };
    (0..cfg.trajectories)
        .map(|_| match sys.kind {
            SystemKind::Kdv => {
                let k1 = rng.uniform_range(0.5, 2.0);
                let k2 = rng.uniform_range(0.5, 2.0);
                let d1 = rng.uniform_range(0.2, 0.3);
                let d2 = d1 + rng.uniform_range(0.2, 0.5);
                let _shift = rng.below(n as u64); // drawn, not applied (as in DGNet)
                let amp = -6.0 / sys.a * 2.0;
                let mut u: Vec<f64> = (0..n)
                    .map(|k| {
                        let x = sys.width * k as f64 / n as f64;
                        amp * k1 * k1 * sech2(k1 * (x - sys.width * d1))
                            + amp * k2 * k2 * sech2(k2 * (x - sys.width * d2))
                    })
                    .collect();
                if rng.below(2) == 1 {
                    u.reverse();
                }
                u
            }
            SystemKind::CahnHilliard => (0..n).map(|_| (rng.uniform() - 0.5) * 0.1).collect(),
        })
        .collect()
}

/// A generated (or read) data set: states and exact derivatives of every trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The PDE.
    pub system: PdeSystem,
    /// Time step between states.
    pub dt: f64,
    /// Trajectories.
    pub trajectories: usize,
    /// States per trajectory (`steps + 1`).
    pub states: usize,
    /// Training trajectories (the first ones; the rest are test).
    pub n_train: usize,
    /// The seed the initial states came from.
    pub seed: u64,
    /// States, row-major `[trajectories, states, n]`.
    pub u: Vec<f64>,
    /// The exact right-hand side at every state, same layout.
    pub dudt: Vec<f64>,
}

impl Dataset {
    /// Generates the data set (trajectory by trajectory; progress is reported to
    /// `progress(done, total)`).
    ///
    /// # Errors
    /// A bad configuration, or a failed Newton solve ([`integrate`]'s errors).
    pub fn generate(
        cfg: &DatasetConfig,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self, PhysicsError> {
        cfg.validate()?;
        let n = cfg.system.n;
        let mut opts = DvdOptions::new(cfg.dt, cfg.steps);
        opts.tol = cfg.newton_tol;
        let states = cfg.steps + 1;
        let mut u = Vec::with_capacity(cfg.trajectories * states * n);
        for (i, u0) in initial_states(cfg).iter().enumerate() {
            u.extend(integrate(&cfg.system, u0, &opts, i)?);
            progress(i + 1, cfg.trajectories);
        }
        let mut dudt = vec![0.0; u.len()];
        for (s, d) in u.chunks_exact(n).zip(dudt.chunks_exact_mut(n)) {
            cfg.system.rhs(s, d);
        }
        Ok(Dataset {
            system: cfg.system,
            dt: cfg.dt,
            trajectories: cfg.trajectories,
            states,
            n_train: cfg.n_train(),
            seed: cfg.seed,
            u,
            dudt,
        })
    }

    /// Grid points.
    pub fn n(&self) -> usize {
        self.system.n
    }

    /// State `k` of trajectory `traj`.
    pub fn state(&self, traj: usize, k: usize) -> &[f64] {
        let n = self.n();
        &self.u[(traj * self.states + k) * n..][..n]
    }

    /// `du/dt` at state `k` of trajectory `traj`.
    pub fn derivative(&self, traj: usize, k: usize) -> &[f64] {
        let n = self.n();
        &self.dudt[(traj * self.states + k) * n..][..n]
    }

    /// Trajectory `traj`, `[states, n]`.
    pub fn trajectory(&self, traj: usize) -> &[f64] {
        let len = self.states * self.n();
        &self.u[traj * len..][..len]
    }

    /// The test trajectories' indices.
    pub fn test_range(&self) -> std::ops::Range<usize> {
        self.n_train..self.trajectories
    }

    /// The energy of every state of trajectory `traj`.
    pub fn energies(&self, traj: usize) -> Vec<f64> {
        (0..self.states)
            .map(|k| self.system.energy(self.state(traj, k)))
            .collect()
    }

    /// The mass of every state of trajectory `traj`.
    pub fn masses(&self, traj: usize) -> Vec<f64> {
        (0..self.states)
            .map(|k| mass(self.state(traj, k)))
            .collect()
    }

    /// The sample times `k·dt`.
    pub fn times(&self) -> Vec<f64> {
        (0..self.states).map(|k| k as f64 * self.dt).collect()
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        let s = &self.system;
        [
            ("system", s.kind.name().to_string()),
            ("n", s.n.to_string()),
            ("width", format!("{:e}", s.width)),
            ("a", format!("{:e}", s.a)),
            ("b", format!("{:e}", s.b)),
            ("gamma", format!("{:e}", s.gamma)),
            ("dt", format!("{:e}", self.dt)),
            ("n_train", self.n_train.to_string()),
            ("seed", self.seed.to_string()),
            ("generator", "symplode DVD scheme (DGNet)".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn shape(&self) -> [usize; 3] {
        [self.trajectories, self.states, self.n()]
    }

    /// Writes one safetensors file: tensors `u` and `dudt` `[trajectories, states, n]`,
    /// `t` `[states]`, the system, `dt`, split and seed in `__metadata__`.
    ///
    /// # Errors
    /// [`PhysicsError::Io`].
    pub fn write_safetensors(&self, path: impl AsRef<Path>) -> Result<(), PhysicsError> {
        let t = self.times();
        let shape = self.shape();
        let tensors = [
            NamedTensor::new("u", &shape, &self.u),
            NamedTensor::new("dudt", &shape, &self.dudt),
            NamedTensor::new("t", &[self.states], &t),
        ];
        safetensors::write(path, &tensors, &self.metadata())?;
        Ok(())
    }

    /// Reads a file written by [`Dataset::write_safetensors`].
    ///
    /// # Errors
    /// [`PhysicsError::Io`]; [`PhysicsError::Dataset`] for a missing or malformed metadata
    /// entry or tensors of inconsistent shapes.
    pub fn read_safetensors(path: impl AsRef<Path>) -> Result<Self, PhysicsError> {
        let file = SafeTensors::read(path.as_ref())?;
        let origin = file.origin().to_string();
        let meta = file.metadata().clone();
        let u = file.tensor("u")?;
        let dudt = file.tensor("dudt")?;
        Self::assemble(&origin, &meta, u.shape, u.data, dudt.shape, dudt.data)
    }

    /// Writes `u.npy` and `dudt.npy` (`[trajectories, states, n]`, f64), `t.npy` and
    /// `dataset.json` (the system, `dt`, split, seed) into `dir` (created if missing).
    ///
    /// # Errors
    /// [`PhysicsError::Io`]; [`PhysicsError::Dataset`] if `dir` cannot be created.
    pub fn write_npy(&self, dir: impl AsRef<Path>) -> Result<(), PhysicsError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| PhysicsError::Dataset {
            origin: dir.display().to_string(),
            reason: format!("cannot create the directory: {e}"),
        })?;
        let shape = self.shape();
        npy::write(dir.join("u.npy"), &shape, &self.u)?;
        npy::write(dir.join("dudt.npy"), &shape, &self.dudt)?;
        npy::write(dir.join("t.npy"), &[self.states], &self.times())?;
        let json = serde_json::to_string_pretty(&self.metadata()).unwrap_or_default();
        let path = dir.join("dataset.json");
        std::fs::write(&path, json).map_err(|source| {
            PhysicsError::Io(crate::io::IoError::Write {
                origin: path.display().to_string(),
                source,
            })
        })
    }

    /// Reads a directory written by [`Dataset::write_npy`].
    ///
    /// # Errors
    /// As [`Dataset::read_safetensors`].
    pub fn read_npy(dir: impl AsRef<Path>) -> Result<Self, PhysicsError> {
        let dir = dir.as_ref();
        let path = dir.join("dataset.json");
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| {
            PhysicsError::Io(crate::io::IoError::Read {
                origin: origin.clone(),
                source,
            })
        })?;
        let meta: BTreeMap<String, String> =
            serde_json::from_str(&text).map_err(|e| PhysicsError::Dataset {
                origin: origin.clone(),
                reason: format!("not a map of strings: {e}"),
            })?;
        let u = npy::read(dir.join("u.npy"))?;
        let dudt = npy::read(dir.join("dudt.npy"))?;
        Self::assemble(&origin, &meta, u.shape, u.data, dudt.shape, dudt.data)
    }

    fn assemble(
        origin: &str,
        meta: &BTreeMap<String, String>,
        u_shape: Vec<usize>,
        u: Vec<f64>,
        d_shape: Vec<usize>,
        dudt: Vec<f64>,
    ) -> Result<Self, PhysicsError> {
        let bad = |reason: String| PhysicsError::Dataset {
            origin: origin.to_string(),
            reason,
        };
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| bad(format!("metadata entry `{key}` is missing")))
        };
        let num = |key: &str| -> Result<f64, PhysicsError> {
            let s = get(key)?;
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(format!("metadata `{key}` = `{s}` is not a finite number")))
        };
        let int = |key: &str| -> Result<u64, PhysicsError> {
            let s = get(key)?;
            s.parse::<u64>()
                .map_err(|_| bad(format!("metadata `{key}` = `{s}` is not an integer")))
        };
        let kind: SystemKind = get("system")?.parse()?;
        let system = PdeSystem {
            kind,
            n: int("n")? as usize,
            width: num("width")?,
            a: num("a")?,
            b: num("b")?,
            gamma: num("gamma")?,
        };
        system.validate()?;
        let dt = num("dt")?;
        let n_train = int("n_train")? as usize;
        let seed = int("seed")?;
        let [trajectories, states, n] = match u_shape.as_slice() {
            &[a, b, c] => [a, b, c],
            other => {
                return Err(bad(format!(
                    "`u` has shape {other:?}, expected 3 dimensions"
                )));
            }
        };
        if n != system.n || d_shape != u_shape || n_train > trajectories || states == 0 {
            return Err(bad(format!(
                "inconsistent shapes: u {u_shape:?}, dudt {d_shape:?}, grid {} points, \
                 {n_train} training trajectories",
                system.n
            )));
        }
        if let Some(i) = u.iter().chain(&dudt).position(|v| !v.is_finite()) {
            return Err(bad(format!("non-finite value at flat index {i} of u/dudt")));
        }
        Ok(Dataset {
            system,
            dt,
            trajectories,
            states,
            n_train,
            seed,
            u,
            dudt,
        })
    }
}
