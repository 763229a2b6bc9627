//! The `[data]` table of a run file ([`super::RunConfig`]): trajectories and their times, a
//! built-in trajectory dataset, or samples for a flow (an `.npy` file, a toy density, the
//! image patches). Every bad field is an error naming it.

use std::path::PathBuf;

use serde::Deserialize;

use crate::io::IoError;

/// Where the training data comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// `[K, n, dim]` states and `[K]` times from `.npy` files.
    Trajectories {
        /// The states.
        states: PathBuf,
        /// The times.
        times: PathBuf,
    },
    /// DGNet's KdV (`"kdv"`) or Cahn–Hilliard (`"ch"`) trajectories ([`crate::physics`]),
    /// generated with DGNet's settings but `count` trajectories of `points` states.
    Physics {
        /// The PDE.
        kind: crate::physics::SystemKind,
        /// Trajectories.
        count: usize,
        /// States per trajectory.
        points: usize,
    },
    /// Samples `[n, dim]` from an `.npy` file, for a flow.
    Samples {
        /// The file.
        path: PathBuf,
    },
    /// `points` samples of one of FFJORD's 2-D toy densities ([`super::toy::DATASETS`]),
    /// drawn with the run's seed, for a flow.
    Toy {
        /// The density.
        name: String,
        /// Samples drawn.
        points: usize,
    },
    /// The 63-D natural-image patches of [`crate::datasets::patches`] (feature `datasets`):
    /// training patches for training, the validation photographs' for validation.
    Patches {
        /// skimage's data directory (else `$SYMPLODE_SKIMAGE_DIR`, else the Debian path).
        dir: Option<PathBuf>,
        /// Patches per training photograph.
        points: Option<usize>,
    },
    /// Fashion-MNIST (feature `datasets`, Debian's `dataset-fashion-mnist`) for an image flow:
    /// `points` training images (all 60,000 without), dequantised and logit-transformed as
    /// FFJORD does; held-out test images for validation.
    FashionMnist {
        /// The IDX files' directory (else `$SYMPLODE_FASHION_MNIST_DIR`, else the Debian path).
        dir: Option<PathBuf>,
        /// Training images, a seeded random subset.
        points: Option<usize>,
    },
    /// The noisy spiral of torchdiffeq's demo (`symplode data spiral` writes the same).
    Spiral {
        /// Observations.
        points: usize,
        /// Noise standard deviation.
        noise: f64,
    },
}

impl DataSource {
    /// Whether the data are samples for a flow (not trajectories).
    pub fn is_flow(&self) -> bool {
        matches!(
            self,
            DataSource::Samples { .. }
                | DataSource::Toy { .. }
                | DataSource::Patches { .. }
                | DataSource::FashionMnist { .. }
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawData {
    trajectories: Option<PathBuf>,
    times: Option<PathBuf>,
    samples: Option<PathBuf>,
    builtin: Option<String>,
    dir: Option<PathBuf>,
    window: Option<usize>,
    points: Option<usize>,
    noise: Option<f64>,
    count: Option<usize>,
}

/// Checks the `[data]` table: the source and the window. `bad(field, reason)` makes the error,
/// `at` resolves a path against the run file's directory.
pub(super) fn parse_data(
    d: RawData,
    bad: &dyn Fn(&str, String) -> IoError,
    at: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<(DataSource, Option<usize>), IoError> {
    if d.samples.is_some() {
        for (field, v) in [
            ("data.trajectories", d.trajectories.is_some()),
            ("data.times", d.times.is_some()),
            ("data.builtin", d.builtin.is_some()),
            ("data.window", d.window.is_some()),
            ("data.points", d.points.is_some()),
            ("data.noise", d.noise.is_some()),
            ("data.count", d.count.is_some()),
            ("data.dir", d.dir.is_some()),
        ] {
            if v {
                return Err(bad(
                    field,
                    "not with `samples` (a flow's .npy [n, dim])".into(),
                ));
            }
        }
    }
    if d.dir.is_some() && !matches!(d.builtin.as_deref(), Some("patches" | "fashion-mnist")) {
        return Err(bad(
            "data.dir",
            "only for builtin = \"patches\" or \"fashion-mnist\"".into(),
        ));
    }
    let data = match (d.trajectories, d.times, d.builtin) {
        (None, None, None) if let Some(path) = &d.samples => DataSource::Samples {
            path: at(path.clone()),
        },
        (Some(states), Some(times), None) => {
            for (field, v) in [
                ("data.points", d.points.is_some()),
                ("data.noise", d.noise.is_some()),
                ("data.count", d.count.is_some()),
            ] {
                if v {
                    return Err(bad(field, "only for `builtin` data".into()));
                }
            }
            DataSource::Trajectories {
                states: at(states),
                times: at(times),
            }
        }
        (None, None, Some(name)) => match name.as_str() {
            "spiral" => {
                if d.count.is_some() {
                    return Err(bad(
                        "data.count",
                        "only for builtin = \"kdv\" or \"ch\"".into(),
                    ));
                }
                let points = d.points.unwrap_or(1000);
                if points < 2 {
                    return Err(bad("data.points", format!("{points}; must be ≥ 2")));
                }
                let noise = d.noise.unwrap_or(0.01);
                if !(noise.is_finite() && noise >= 0.0) {
                    return Err(bad(
                        "data.noise",
                        format!("{noise}; must be finite and ≥ 0"),
                    ));
                }
                DataSource::Spiral { points, noise }
            }
            "kdv" | "ch" => {
                if d.noise.is_some() {
                    return Err(bad("data.noise", "only for builtin = \"spiral\"".into()));
                }
                let points = d.points.unwrap_or(501);
                if points < 2 {
                    return Err(bad("data.points", format!("{points}; must be ≥ 2")));
                }
                let count = d.count.unwrap_or(100);
                if count == 0 {
                    return Err(bad("data.count", "0; must be ≥ 1".into()));
                }
                let kind = if name == "kdv" {
                    crate::physics::SystemKind::Kdv
                } else {
                    crate::physics::SystemKind::CahnHilliard
                };
                DataSource::Physics {
                    kind,
                    count,
                    points,
                }
            }
            toy if super::toy::DATASETS.contains(&toy) => {
                for (field, v) in [
                    ("data.noise", d.noise.is_some()),
                    ("data.count", d.count.is_some()),
                ] {
                    if v {
                        return Err(bad(field, "only for trajectory datasets".into()));
                    }
                }
                let points = d.points.unwrap_or(10_000);
                if points < 2 {
                    return Err(bad("data.points", format!("{points}; must be ≥ 2")));
                }
                DataSource::Toy {
                    name: toy.to_string(),
                    points,
                }
            }
            "patches" | "fashion-mnist" => {
                for (field, v) in [
                    ("data.noise", d.noise.is_some()),
                    ("data.count", d.count.is_some()),
                ] {
                    if v {
                        return Err(bad(field, "only for trajectory datasets".into()));
                    }
                }
                if d.points == Some(0) {
                    return Err(bad("data.points", "0; must be ≥ 1".into()));
                }
                let (dir, points) = (d.dir.map(at), d.points);
                if name == "patches" {
                    DataSource::Patches { dir, points }
                } else {
                    DataSource::FashionMnist { dir, points }
                }
            }
            o => {
                return Err(bad(
                    "data.builtin",
                    format!(
                        "`{o}` is not a built-in dataset; trajectories: \"spiral\", \"kdv\", \
             \"ch\"; flow samples: {}, \"patches\", \"fashion-mnist\"",
                        super::toy::DATASETS
                            .iter()
                            .map(|n| format!("\"{n}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        },
        (Some(_), None, None) => {
            return Err(bad(
                "data.times",
                "missing: `trajectories` needs `times` (.npy [K])".into(),
            ));
        }
        (None, Some(_), None) => {
            return Err(bad(
                "data.trajectories",
                "missing: `times` needs `trajectories` (.npy [K, n, dim])".into(),
            ));
        }
        (None, None, None) => {
            return Err(bad(
                "data",
                "give `trajectories` and `times`, `samples`, or `builtin`".into(),
            ));
        }
        (_, _, Some(_)) => {
            return Err(bad(
                "data.builtin",
                "give either `builtin` or `trajectories`/`times`, not both".into(),
            ));
        }
    };
    if let Some(w) = d.window
        && w < 2
    {
        return Err(bad("data.window", format!("{w}; must be ≥ 2")));
    }
    if d.window.is_some() && data.is_flow() {
        return Err(bad(
            "data.window",
            "only for trajectories (flow samples have no windows)".into(),
        ));
    }
    Ok((data, d.window))
}
