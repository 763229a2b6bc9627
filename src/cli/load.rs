//! Loading what `grad` and `solve` share: spec, weights, tableau, stepping, initial states.

use std::path::Path;

use symplode::io::{self, IoError, ModelSpec, Named, SafeTensors, SolverSpec, SpecNet, npy};
use symplode::prelude::*;

use super::CliError;
use super::args::{ModelArgs, SolverArgs};

/// Everything a run needs, in precision `T`.
pub struct Loaded<T: CliReal> {
    /// The spec.
    pub spec: ModelSpec,
    /// The network with the spec's tensor names (an `Mlp`, or the interpreted graph of
    /// image layers).
    pub net: Named<SpecNet<T>>,
    /// The tableau (for its name and orders).
    pub tableau: Tableau,
    /// Its float coefficients and symplectic partner.
    pub scheme: Scheme<T>,
    /// Fixed or adaptive steps.
    pub stepping: Stepping,
    /// Initial states, `[batch·dim]`.
    pub x0: Vec<T>,
    /// The shape of x0 as read (`[batch, dim]` or `[dim]`).
    pub x0_shape: Vec<usize>,
    /// Samples.
    pub batch: usize,
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

/// Reads the spec, weights, tableau, step options and x0, checking each against the spec.
pub fn load<T: CliReal>(args: &ModelArgs) -> Result<Loaded<T>, CliError> {
    let spec = ModelSpec::read(&args.model)?;
    let weights = SafeTensors::read(&args.weights)?;
    let net = spec.build_net::<T>(&weights)?;
    let tableau = match (&args.tableau, &args.tableau_file) {
        (_, Some(path)) => io::read_tableau(path)?,
        (Some(name), None) => io::resolve_tableau(name, None).map_err(|e| match e {
            IoError::Field { reason, .. } => CliError(format!("--tableau: {reason}")),
            other => other.into(),
        })?,
        (None, None) => spec.tableau()?.ok_or_else(|| {
            CliError(format!(
                "no tableau: give --tableau NAME (e.g. dopri5, rk4) or `tableau = \"…\"` in {}",
                spec.origin()
            ))
        })?,
    };
    let scheme = if args.jit {
        T::jit_scheme(&tableau)?
    } else {
        Scheme::new(&tableau).map_err(|e| CliError(format!("tableau `{}`: {e}", tableau.name())))?
    };
    let cli = args.solver.to_spec();
    let origin = if cli.is_empty() {
        spec.origin().to_string()
    } else {
        format!("{} [solver] with the command-line options", spec.origin())
    };
    let stepping = spec
        .solver
        .overridden_by(&cli)
        .stepping(&origin)?
        .ok_or_else(|| {
            CliError(format!(
                "no step options: give --steps N or --rtol R --atol A, or a [solver] section in {}",
                spec.origin()
            ))
        })?;
    let stepping = match (args.solver.per_sample, stepping) {
        (false, s) => s,
        (true, s @ Stepping::Adaptive(_)) => s.per_sample(),
        (true, Stepping::Fixed { .. }) => {
            return Err(CliError(format!(
                "--per-sample needs adaptive steps: give --rtol/--atol (the solver of {} is fixed-step)",
                spec.origin()
            )));
        }
    };
    let (x0, x0_shape) = read_states(&args.x0, "x0", spec.dim, None)?;
    let batch = x0.len() / spec.dim;
    Ok(Loaded {
        spec,
        net,
        tableau,
        scheme,
        stepping,
        x0,
        x0_shape,
        batch,
    })
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
