//! `symplode data spiral`: writes the spiral of torchdiffeq's demo as trajectory data for
//! `symplode train` (`[K, 1, 2]` states and `[K]` times, .npy f64); `symplode data toy NAME`:
//! samples `[n, 2]` of one of FFJORD's toy densities, for training a flow.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use symplode::io::npy;
use symplode::train::spiral_trajectory;

use super::CliError;

/// `symplode data …`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// The 2-D spiral dy/dt = (y³) A of torchdiffeq's `ode_demo.py`, with noise.
    Spiral(SpiralArgs),
    /// Samples of one of FFJORD's 2-D toy densities (8gaussians, 2spirals, checkerboard,
    /// moons, circles, pinwheel, swissroll, rings), .npy [n, 2] f64.
    Toy(ToyArgs),
}

/// `symplode data toy`.
#[derive(Debug, Args)]
pub struct ToyArgs {
    /// The density, e.g. 8gaussians.
    pub name: String,
    /// Samples, .npy [n, 2].
    #[arg(long, value_name = "SAMPLES.npy")]
    pub out: PathBuf,
    /// Number of samples n.
    #[arg(long, default_value_t = 10_000)]
    pub points: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `symplode data spiral`.
#[derive(Debug, Args)]
pub struct SpiralArgs {
    /// States, .npy [K, 1, 2].
    #[arg(long, value_name = "STATES.npy")]
    pub out: PathBuf,
    /// Times, .npy [K].
    #[arg(long, value_name = "TIMES.npy")]
    pub times: PathBuf,
    /// Observations K.
    #[arg(long, default_value_t = 1000)]
    pub points: usize,
    /// Standard deviation of the observation noise.
    #[arg(long, default_value_t = 0.01)]
    pub noise: f64,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `data`.
pub fn run(cmd: &DataCommand, out: &mut String) -> Result<(), CliError> {
    match cmd {
        DataCommand::Spiral(a) => {
            if a.points < 2 {
                return Err(CliError(format!("--points: {}; must be ≥ 2", a.points)));
            }
            if !(a.noise.is_finite() && a.noise >= 0.0) {
                return Err(CliError(format!(
                    "--noise: {}; must be finite and ≥ 0",
                    a.noise
                )));
            }
            if a.out == a.times || symplode::io::same_file(&a.out, &a.times) {
                return Err(CliError("--out and --times are the same file".into()));
            }
            let (t, s) = spiral_trajectory(a.points, a.noise, a.seed);
            npy::write(&a.out, &[a.points, 1, 2], &s)?;
            npy::write(&a.times, &[a.points], &t)?;
            out.push_str(&format!(
                "wrote {} ([{}, 1, 2]) and {} ([{}])\n",
                a.out.display(),
                a.points,
                a.times.display(),
                a.points
            ));
            Ok(())
        }
        DataCommand::Toy(a) => {
            if a.points == 0 {
                return Err(CliError("--points: 0; must be ≥ 1".into()));
            }
            let mut rng = symplode::runtime::rng::Rng::new(a.seed);
            let pts = symplode::train::toy::sample(&a.name, a.points, &mut rng)
                .map_err(|e| CliError(format!("NAME: {e}")))?;
            let flat: Vec<f64> = pts.into_iter().flatten().collect();
            npy::write(&a.out, &[a.points, 2], &flat)?;
            out.push_str(&format!(
                "wrote {} ([{}, 2], {})\n",
                a.out.display(),
                a.points,
                a.name
            ));
            Ok(())
        }
    }
}
