//! The command line, as clap derive structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Neural ODEs with exact gradients at minimal memory (the symplectic adjoint method).
#[derive(Debug, Parser)]
#[command(name = "symplode", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// dL/dx0 and dL/dθ of a loss at the final state; writes them as safetensors.
    Grad(GradArgs),
    /// Hessian-vector product H·v of the loss at x(t1) with respect to (x0, θ).
    Hvp(super::hvp::HvpArgs),
    /// Integrates and writes the states at the output times as .npy [K, batch, dim].
    Solve(SolveArgs),
    /// Lists the built-in tableaux or checks one (orders, symplectic partner, pairing proof).
    #[command(subcommand)]
    Tableau(TableauCommand),
    /// Fits a model to trajectory data as a run file says (see docs/train.md).
    Train(super::train::TrainArgs),
    /// Writes example data sets (.npy) for `train`.
    #[command(subcommand)]
    Data(super::data::DataCommand),
}

/// Model, weights, initial state, tableau, solver and precision options.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model spec (TOML): layers, time input, tableau, solver options.
    #[arg(long, value_name = "M.toml")]
    pub model: PathBuf,
    /// Weights (safetensors, F32 or F64) under the spec's tensor names.
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// Initial states (.npy, f32 or f64) of shape [batch, dim] (or [dim] for one sample).
    #[arg(long, value_name = "X.npy")]
    pub x0: PathBuf,
    /// Tableau: a built-in name (see `symplode tableau list`) or a tableau TOML file;
    /// overrides the spec's.
    #[arg(long, value_name = "NAME|T.toml")]
    pub tableau: Option<String>,
    /// Tableau TOML file (rational coefficients); overrides the spec's.
    #[arg(long, value_name = "T.toml", conflicts_with = "tableau")]
    pub tableau_file: Option<PathBuf>,
    /// Compile the tableau's step kernels with the Cranelift JIT (feature `jit`).
    #[arg(long)]
    pub jit: bool,
    /// Solver options (override the spec's [solver] section).
    #[command(flatten)]
    pub solver: SolverArgs,
    /// Compute in f32 (default f64); outputs are written in the computing precision.
    #[arg(long)]
    pub f32: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Refuse (before starting) a run whose predicted peak memory exceeds this, e.g. `4G`,
    /// `512M` (default: 3/4 of the machine's memory). Adaptive runs whose step budget
    /// (max_steps) does not fit get a smaller step budget.
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<String>,
}

impl ModelArgs {
    /// The input files named by these options (an output must not be one of them).
    pub fn inputs(&self) -> Vec<(&'static str, &std::path::Path)> {
        let mut inputs = vec![
            ("--model", self.model.as_path()),
            ("--weights", self.weights.as_path()),
            ("--x0", self.x0.as_path()),
        ];
        if let Some(p) = &self.tableau_file {
            inputs.push(("--tableau-file", p.as_path()));
        }
        if let Some(p) = &self.tableau {
            inputs.push(("--tableau", std::path::Path::new(p)));
        }
        inputs
    }
}

/// Options that only flow model files (`form = "cnf"`) use.
#[derive(Debug, Args)]
pub struct FlowArgs {
    /// The divergence of a flow model file: exact (dim JVPs per evaluation) or Hutchinson's
    /// estimate (default: exact up to 16 dimensions, above it the file's).
    #[arg(long, value_enum)]
    pub trace: Option<TraceArg>,
    /// Seed of the Hutchinson noise of a flow model file (the run file's `seed` reproduces
    /// its validation NLL above 16 dimensions).
    #[arg(long, default_value_t = 0)]
    pub noise_seed: u64,
}

/// `--trace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceArg {
    /// The exact divergence.
    Exact,
    /// Hutchinson's estimate with the file's noise (Gaussian unless it says `rademacher`).
    Hutchinson,
}

/// Step options.
#[derive(Debug, Args)]
pub struct SolverArgs {
    /// Fixed steps per output interval.
    #[arg(long, value_name = "N", conflicts_with_all = ["rtol", "atol", "first_step", "max_steps"])]
    pub steps: Option<usize>,
    /// Relative tolerance of adaptive steps.
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    pub rtol: Option<f64>,
    /// Absolute tolerance of adaptive steps.
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub atol: Option<f64>,
    /// First adaptive step (default: Hairer's selection).
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub first_step: Option<f64>,
    /// Budget of accepted plus rejected adaptive steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<usize>,
    /// Per-sample adaptive steps: every sample its own step sizes and error norm (counters
    /// then count sample-steps and sample-evaluations).
    #[arg(long, conflicts_with = "steps")]
    pub per_sample: bool,
}

/// `symplode grad`.
#[derive(Debug, Args)]
pub struct GradArgs {
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Start time.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub t0: f64,
    /// End time, the loss is taken at x(t1) (default 1; a flow model file's time_length).
    #[arg(long, allow_hyphen_values = true)]
    pub t1: Option<f64>,
    /// Options for flow model files.
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Gradient method.
    #[arg(long, value_enum, default_value_t = Method::Symplectic)]
    pub method: Method,
    /// Checkpoints C of `--method symplectic-binomial`, the start's included (≥ 1): at most
    /// C + 1 states held per component.
    #[arg(long, default_value_t = 16)]
    pub checkpoints: usize,
    /// Coupling λ ∈ (0, 1] of `--method reversible` / `reversible-backprop`.
    #[arg(long, default_value_t = 0.999)]
    pub lambda: f64,
    /// Loss at x(t1) (default mean-sumsq: mean over the batch of ‖x(t1)‖²; for a flow
    /// model file nll, its negative log-likelihood of the x0 samples).
    #[arg(long, value_enum, conflicts_with = "cotangent")]
    pub loss: Option<LossKind>,
    /// Cotangent ∂L/∂x(t1) (.npy, shaped like x0): the loss is L = Σ c·x(t1).
    #[arg(long, value_name = "C.npy")]
    pub cotangent: Option<PathBuf>,
    /// Where to write dL/dx0 (as `x0`) and dL/dθ (under the spec's names), safetensors.
    #[arg(long, value_name = "G.safetensors")]
    pub out: Option<PathBuf>,
}

/// `symplode solve`.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Start time.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub t0: f64,
    /// End time (default 1; a flow model file's time_length).
    #[arg(long, allow_hyphen_values = true)]
    pub t1: Option<f64>,
    /// All times, the first being the start (torchdiffeq's `t`), e.g. `0,0.5,1`; replaces
    /// --t0/--t1.
    #[arg(long, value_name = "T0,T1,...", value_delimiter = ',', num_args = 1,
          allow_hyphen_values = true, conflicts_with_all = ["t0", "t1"])]
    pub times: Option<Vec<f64>>,
    /// Where to write the states at the times, .npy [K, batch, dim] (K = number of times;
    /// the first is x0 itself; a flow's states are [z, Δlogp], [K, batch, dim + 1]).
    #[arg(long, value_name = "STATES.npy")]
    pub out: Option<PathBuf>,
    /// With a flow model file: report the negative log-likelihood −mean log p(x) of the x0
    /// samples in nats, at the last time.
    #[arg(long)]
    pub nll: bool,
    /// Options for flow model files.
    #[command(flatten)]
    pub flow: FlowArgs,
}

/// `symplode tableau …`.
#[derive(Debug, Subcommand)]
pub enum TableauCommand {
    /// Lists the built-in tableaux with their stages and orders.
    List,
    /// Validates a tableau (built-in name or TOML file) and prints its table, orders,
    /// symplectic partner and the proof of the pairing conditions.
    Check {
        /// A tableau TOML file or a built-in name.
        #[arg(value_name = "T.toml|NAME")]
        tableau: String,
        /// List every identity of the pairing proof.
        #[arg(long)]
        verbose: bool,
        /// Also compile the step kernels with the Cranelift JIT and print compile time and a
        /// summary of the generated functions (feature `jit`).
        #[arg(long)]
        jit: bool,
        /// With `--jit`: print the generated machine code.
        #[arg(long, requires = "jit")]
        disasm: bool,
    },
}

/// The gradient methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Symplectic adjoint: exact, checkpoints one state per step.
    Symplectic,
    /// Symplectic adjoint with the stage states stored by the forward pass (faster, S states
    /// per step).
    SymplecticStored,
    /// Backpropagation through every stage (most memory).
    Backprop,
    /// Continuous adjoint (Chen et al.): approximate, least memory.
    Adjoint,
    /// Continuous adjoint with the seminorm of Kidger et al.
    AdjointSeminorm,
    /// ACA: checkpoint per step, re-run one step with tapes.
    #[value(alias = "checkpoint-step")]
    Aca,
    /// Checkpoint per component, re-run the component with tapes.
    CheckpointComponent,
    /// Symplectic adjoint with binomial (revolve) checkpoints: at most `--checkpoints` + 1 states.
    SymplecticBinomial,
    /// Algebraically reversible Runge–Kutta (McCallum & Foster), coupling `--lambda`: states
    /// reconstructed backwards, memory flat in the number of steps.
    Reversible,
    /// Backpropagation through the same reversible scheme (its reference).
    ReversibleBackprop,
    /// The fastest exact method whose predicted peak fits `--memory-budget`.
    Auto,
}

impl Method {
    /// The library's name of the method.
    pub fn name(self) -> &'static str {
        match self {
            Method::Symplectic => "symplectic",
            Method::SymplecticStored => "symplectic-stored",
            Method::Backprop => "backprop",
            Method::Adjoint => "adjoint",
            Method::AdjointSeminorm => "adjoint-seminorm",
            Method::Aca => "aca",
            Method::CheckpointComponent => "checkpoint-component",
            Method::SymplecticBinomial => "symplectic-binomial",
            Method::Reversible => "reversible",
            Method::ReversibleBackprop => "reversible-backprop",
            Method::Auto => "auto",
        }
    }
}

/// The built-in losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossKind {
    /// Mean over the batch of ‖x(t1)‖².
    MeanSumsq,
    /// A flow's negative log-likelihood −mean log p(x) of the x0 samples (flow model files).
    Nll,
}
