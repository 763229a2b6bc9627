//! Loading what `grad`, `solve` and `hvp` share: model file (a spec, or for `grad` and
//! `solve` a flow model file), weights, tableau, stepping, initial states.

use std::path::Path;

use symplode::io::{self, IoError, ModelSpec, Named, SafeTensors, SolverSpec, SpecNet, npy};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;
use symplode::train::flow::{EXACT_EVAL_MAX_DIM, FlowSamples, FlowTrace, Noise};
use symplode::train::{FlowSpec, TrainModel, is_flow_model_file};

use super::CliError;
use super::any_net::AnyNet;
use super::args::{FlowArgs, ModelArgs, SolverArgs, TraceArg};
use super::train_flow::VALIDATION_SALT;

/// Everything a run needs, in precision `T`, with the network `N` (the spec's MLP, or any
/// dynamics for `grad`/`solve`, which also take flow model files).
pub struct Loaded<T: CliReal, N = Named<SpecNet<T>>> {
    /// The model file, as given.
    pub origin: String,
    /// One line describing the model.
    pub summary: String,
    /// The network with the model file's tensor names (a spec's `Mlp` or the interpreted
    /// graph of its image layers, or a flow).
    pub net: N,
    /// For a flow model file: how its state is built.
    pub flow: Option<FlowEval>,
    /// The tableau (for its name and orders).
    pub tableau: Tableau,
    /// Its float coefficients and symplectic partner.
    pub scheme: Scheme<T>,
    /// Fixed or adaptive steps.
    pub stepping: Stepping,
    /// Initial states, `[batch·width]` (a flow's: `[x, 0]` or `[x, 0, ε]` per sample).
    pub x0: Vec<T>,
    /// The shape of x0 as read (`[batch, dim]` or `[dim]`).
    pub x0_shape: Vec<usize>,
    /// The dimension of x0's rows as read (a flow's sample dimension).
    pub dim: usize,
    /// Samples.
    pub batch: usize,
}

/// How a flow model file is evaluated: the state `[z, Δlogp]` (exact trace) or
/// `[z, Δlogp, ε]` (Hutchinson, above [`EXACT_EVAL_MAX_DIM`] dimensions).
#[derive(Clone, Copy, Debug)]
pub struct FlowEval {
    /// The divergence of the evaluation.
    pub trace: FlowTrace,
    /// The file's integration time T (the default end time; a chain's per block).
    pub time_length: f64,
    /// CNF blocks (more than one: a multiscale flow, state `[z, Δlogp]`, probes as inputs).
    pub blocks: usize,
}

impl FlowEval {
    /// Width of the state per sample for sample dimension `dim`.
    pub fn width(&self, dim: usize) -> usize {
        if self.blocks > 1 {
            dim + 1
        } else {
            self.trace.width(dim)
        }
    }
}

impl SolverArgs {
    /// The command line's solver options.
    fn to_spec(&self) -> SolverSpec {
        SolverSpec {
            steps: self.steps,
            rtol: self.rtol,
            atol: self.atol,
            first_step: self.first_step,
            max_steps: self.max_steps,
        }
    }
}

/// Reads the spec (an MLP model spec, not a flow), weights, tableau, step options and x0,
/// checking each against the spec.
pub fn load<T: CliReal>(args: &ModelArgs) -> Result<Loaded<T>, CliError> {
    if is_flow_model_file(&args.model)? {
        return Err(CliError(format!(
            "{}: a flow model file (form = \"cnf\") is read by `grad` and `solve` only",
            args.model.display()
        )));
    }
    let spec = ModelSpec::read(&args.model)?;
    let weights = SafeTensors::read(&args.weights)?;
    let net = spec.build_net::<T>(&weights)?;
    let (tableau, scheme, stepping) = numerics(args, spec.tableau(), &spec.solver, spec.origin())?;
    let (x0, x0_shape) = read_states(&args.x0, "x0", spec.dim, None)?;
    let batch = x0.len() / spec.dim;
    Ok(Loaded {
        origin: spec.origin().to_string(),
        summary: spec.summary(),
        net,
        flow: None,
        tableau,
        scheme,
        stepping,
        x0,
        x0_shape,
        dim: spec.dim,
        batch,
    })
}

/// As [`load`], for a model spec or a flow model file (`form = "cnf"`): a flow's x0 are
/// samples `[n, d]`, started as `[x, 0]` (exact trace: `--trace exact`, or by default when
/// d ≤ [`EXACT_EVAL_MAX_DIM`]) or `[x, 0, ε]` (Hutchinson, ε from `--noise-seed` as the
/// training's validation draws it).
pub fn load_any<T: CliReal>(
    args: &ModelArgs,
    flow_args: &FlowArgs,
) -> Result<Loaded<T, AnyNet<T>>, CliError> {
    if !is_flow_model_file(&args.model)? {
        let l = load::<T>(args)?;
        return Ok(Loaded {
            origin: l.origin,
            summary: l.summary,
            net: AnyNet::One(Box::new(l.net)),
            flow: l.flow,
            tableau: l.tableau,
            scheme: l.scheme,
            stepping: l.stepping,
            x0: l.x0,
            x0_shape: l.x0_shape,
            dim: l.dim,
            batch: l.batch,
        });
    }
    let spec = FlowSpec::read(&args.model)?;
    let weights = SafeTensors::read(&args.weights)?;
    let params = spec.read_params(&weights)?;
    if spec.is_chain() {
        return load_chain(args, flow_args, &spec, &params);
    }
    let d = spec.dim;
    let trace = match (flow_args.trace, spec.trace) {
        (Some(TraceArg::Exact), _) => FlowTrace::Exact,
        (Some(TraceArg::Hutchinson), FlowTrace::Exact) => FlowTrace::Hutchinson(Noise::Gaussian),
        (Some(TraceArg::Hutchinson), t) => t,
        (None, _) if d <= EXACT_EVAL_MAX_DIM => FlowTrace::Exact,
        (None, t) => t,
    };
    let net = spec.build::<T>(trace, &params)?;
    let (tableau, scheme, mut stepping) =
        numerics(args, spec.tableau(), &spec.solver, spec.origin())?;
    let noisy = [spec.trace, trace]
        .iter()
        .any(|t| matches!(t, FlowTrace::Hutchinson(_)));
    if let (true, Stepping::Adaptive(a)) = (noisy, &mut stepping) {
        // As `symplode train` does for a Hutchinson flow, in training and validation (also
        // by the exact trace): ε's d constant components never err, so the tolerances are
        // scaled to keep the step control on [z, Δlogp] FFJORD's.
        let f = ((d + 1) as f64 / (2 * d + 1) as f64).sqrt();
        a.rtol *= f;
        a.atol *= f;
    }
    let (rows, x0_shape) = read_states::<f64>(&args.x0, "x0", d, None)?;
    let mut rng = Rng::new(flow_args.noise_seed ^ VALIDATION_SALT);
    let x0 = FlowSamples::states::<T>(&rows, d, trace, spec.time_length, &mut rng).x0;
    let summary = format!("{}, {} trace", spec.summary(), trace.name());
    Ok(Loaded {
        origin: spec.origin().to_string(),
        summary,
        net: AnyNet::One(Box::new(net)),
        flow: Some(FlowEval {
            trace,
            time_length: spec.time_length,
            blocks: 1,
        }),
        tableau,
        scheme,
        stepping,
        x0,
        x0_shape,
        dim: d,
        batch: rows.len() / d,
    })
}

/// [`load_any`] of a chain of CNF blocks: prepared with the x0 samples `[x, 0]` and, with
/// Hutchinson's trace, one probe per block and sample, drawn from `--noise-seed` row after row
/// as the training's validation draws them. A multiscale image flow is evaluated with
/// Hutchinson's trace only; a tabular flow with the exact trace unless `--trace hutchinson`
/// (as its training's validation and test).
fn load_chain<T: CliReal>(
    args: &ModelArgs,
    flow_args: &FlowArgs,
    spec: &FlowSpec,
    params: &[f64],
) -> Result<Loaded<T, AnyNet<T>>, CliError> {
    let origin = spec.origin().to_string();
    let tabular = spec.chain().is_none();
    if !tabular && flow_args.trace == Some(TraceArg::Exact) {
        return Err(CliError(format!(
            "--trace exact: {origin} is a multiscale image flow, evaluated with Hutchinson's \
             estimator only"
        )));
    }
    let trace = match (flow_args.trace, spec.trace) {
        (Some(TraceArg::Hutchinson), FlowTrace::Exact) => FlowTrace::Hutchinson(Noise::Gaussian),
        (Some(TraceArg::Hutchinson), t) => t,
        _ if tabular => FlowTrace::Exact,
        (_, t) => t,
    };
    let mut chain = spec.build_chain::<T>(Some(params), 0)?;
    if tabular && trace != spec.trace {
        chain = match trace {
            FlowTrace::Exact => chain.exact()?,
            FlowTrace::Hutchinson(_) => {
                let mut hutchinson = spec.clone();
                hutchinson.trace = trace;
                hutchinson.build_chain::<T>(Some(params), 0)?
            }
        };
    }
    let (d, k) = (spec.dim, chain.blocks());
    let (tableau, scheme, stepping) = numerics(args, spec.tableau(), &spec.solver, &origin)?;
    let (rows, x0_shape) = read_states::<f64>(&args.x0, "x0", d, None)?;
    let mut rng = Rng::new(flow_args.noise_seed ^ VALIDATION_SALT);
    let batch =
        FlowSamples::states_with_probes::<T>(&rows, d, trace, k, spec.time_length, &mut rng);
    chain
        .prepare(&batch)
        .map_err(|e| CliError(format!("{origin}: {e}")))?;
    let width = batch.x0.len() / (rows.len() / d).max(1);
    let x0 = batch
        .x0
        .chunks_exact(width)
        .flat_map(|r| r[..d + 1].iter().copied())
        .collect();
    Ok(Loaded {
        origin,
        summary: format!("{}, {} trace", spec.summary(), trace.name()),
        net: AnyNet::Chain {
            chain: Box::new(chain),
            batch,
        },
        flow: Some(FlowEval {
            trace,
            time_length: spec.time_length,
            blocks: k,
        }),
        tableau,
        scheme,
        stepping,
        x0,
        x0_shape,
        dim: d,
        batch: rows.len() / d,
    })
}

/// The tableau, its scheme and the stepping: the command line's options over the model
/// file's (`origin`).
fn numerics<T: CliReal>(
    args: &ModelArgs,
    spec_tableau: Result<Option<Tableau>, IoError>,
    spec_solver: &SolverSpec,
    origin: &str,
) -> Result<(Tableau, Scheme<T>, Stepping), CliError> {
    let tableau = match (&args.tableau, &args.tableau_file) {
        (_, Some(path)) => io::read_tableau(path)?,
        (Some(name), None) => io::resolve_tableau(name, None).map_err(|e| match e {
            IoError::Field { reason, .. } => CliError(format!("--tableau: {reason}")),
            other => other.into(),
        })?,
        (None, None) => spec_tableau?.ok_or_else(|| {
            CliError(format!(
                "no tableau: give --tableau NAME (e.g. dopri5, rk4) or `tableau = \"…\"` in {origin}"
            ))
        })?,
    };
    let scheme = if args.jit {
        T::jit_scheme(&tableau)?
    } else {
        Scheme::new(&tableau).map_err(|e| CliError(format!("tableau `{}`: {e}", tableau.name())))?
    };
    let cli = args.solver.to_spec();
    let solver_origin = if cli.is_empty() {
        origin.to_string()
    } else {
        format!("{origin} [solver] with the command-line options")
    };
    let stepping = spec_solver
        .overridden_by(&cli)
        .stepping(&solver_origin)?
        .ok_or_else(|| {
            CliError(format!(
                "no step options: give --steps N or --rtol R --atol A, or a [solver] section in {origin}"
            ))
        })?;
    let stepping = match (args.solver.per_sample, stepping) {
        (false, s) => s,
        (true, s @ Stepping::Adaptive(_)) => s.per_sample(),
        (true, Stepping::Fixed { .. }) => {
            return Err(CliError(format!(
                "--per-sample needs adaptive steps: give --rtol/--atol (the solver of {origin} is fixed-step)"
            )));
        }
    };
    Ok((tableau, scheme, stepping))
}

/// Reads a `[batch, dim]` (or `[dim]`) array of finite values; with `like`, the shape must be
/// exactly that.
pub fn read_states<T: Real>(
    path: &Path,
    what: &str,
    dim: usize,
    like: Option<&[usize]>,
) -> Result<(Vec<T>, Vec<usize>), CliError> {
    let origin = path.display().to_string();
    let a = npy::read(path)?;
    let ok = match like {
        Some(shape) => a.shape == shape,
        None => match a.shape[..] {
            [d] => d == dim,
            [b, d] => b >= 1 && d == dim,
            _ => false,
        },
    };
    if !ok {
        let expected = match like {
            Some(shape) => format!("{shape:?} (the shape of x0)"),
            None => {
                format!("[batch, {dim}] with batch ≥ 1, or [{dim}] (dim = {dim} from the spec)")
            }
        };
        return Err(IoError::Shape {
            origin,
            what: what.to_string(),
            expected,
            got: a.shape,
        }
        .into());
    }
    a.check_finite(&origin, what)?;
    Ok((a.to_vec(), a.shape))
}

/// The precisions the command computes in (f32, f64), with their JIT entry point.
pub trait CliReal: Real {
    /// The scheme of `tableau` with Cranelift-compiled step kernels attached.
    fn jit_scheme(tableau: &Tableau) -> Result<Scheme<Self>, CliError>;
}

macro_rules! cli_real {
    ($t:ty) => {
        impl CliReal for $t {
            #[cfg(feature = "jit")]
            fn jit_scheme(tableau: &Tableau) -> Result<Scheme<Self>, CliError> {
                let opts = symplode::codegen::jit::JitOptions::default();
                symplode::runtime::jit::jit_scheme::<$t>(tableau, &opts)
                    .map(|(scheme, _report)| scheme)
                    .map_err(|e| CliError(format!("--jit: tableau `{}`: {e}", tableau.name())))
            }
            #[cfg(not(feature = "jit"))]
            fn jit_scheme(_tableau: &Tableau) -> Result<Scheme<Self>, CliError> {
                Err(CliError(
                    "--jit: this symplode was built without the `jit` feature".into(),
                ))
            }
        }
    };
}
cli_real!(f32);
cli_real!(f64);
