//! `symplode data spiral`: writes the spiral of torchdiffeq's demo as trajectory data for
//! `symplode train` (`[K, 1, 2]` states and `[K]` times, .npy f64).

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
    }
}
