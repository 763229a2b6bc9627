//! Gradient methods by their command-line names.

use super::{
    Adjoint, Auto, Backprop, CheckpointComponent, CheckpointStep, GradientMethod, Reversible,
    ReversibleBackprop, SymplecticAdjoint, SymplecticAdjointStored, SymplecticBinomial,
};
use crate::real::Real;

/// The names [`method_by_name`] accepts, in the order the documentation lists them.
pub const METHOD_NAMES: &[&str] = &[
    "symplectic",
    "symplectic-stored",
    "backprop",
    "adjoint",
    "adjoint-seminorm",
    "aca",
    "checkpoint-component",
    "symplectic-binomial",
    "reversible",
    "reversible-backprop",
    "auto",
];

/// The parameters of the parameterised methods, for [`method_with_options`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MethodOptions {
    /// Checkpoint slots C of `symplectic-binomial` (besides the start's); default 16.
    pub checkpoints: usize,
    /// Coupling λ ∈ (0, 1] of `reversible` and `reversible-backprop`; default 0.999.
    pub lambda: f64,
    /// Memory budget in bytes of `auto` (required by it).
    pub memory_budget: Option<usize>,
}

impl Default for MethodOptions {
    fn default() -> Self {
        MethodOptions {
            checkpoints: 16,
            lambda: 0.999,
            memory_budget: None,
        }
    }
}

/// A gradient method by name: `symplectic`, `symplectic-stored`, `backprop`, `adjoint`,
/// `adjoint-seminorm`, `aca` (alias `checkpoint-step`), `checkpoint-component` or
/// `symplectic-binomial`, `reversible`, `reversible-backprop` (with the default
/// [`MethodOptions`]); `auto` needs [`method_with_options`] with a budget. An unknown name is an error
/// message that lists the valid ones.
///
/// ```
/// use symplode_runtime::grad::method_by_name;
/// assert_eq!(method_by_name::<f64>("aca").unwrap().name(), "aca");
/// let err = method_by_name::<f64>("rk4").err().expect("not a method");
/// assert!(err.contains("symplectic-stored"));
/// ```
pub fn method_by_name<T: Real>(name: &str) -> Result<Box<dyn GradientMethod<T>>, String> {
    method_with_options(name, &MethodOptions::default())
}

/// A gradient method by name, with the parameters of the parameterised ones from `options`.
///
/// ```
/// use symplode_runtime::grad::{MethodOptions, method_with_options};
/// let opts = MethodOptions { checkpoints: 3, ..MethodOptions::default() };
/// let m = method_with_options::<f64>("symplectic-binomial", &opts).unwrap();
/// assert_eq!(m.name(), "symplectic-binomial");
/// ```
pub fn method_with_options<T: Real>(
    name: &str,
    options: &MethodOptions,
) -> Result<Box<dyn GradientMethod<T>>, String> {
    Ok(match name {
        "auto" => match options.memory_budget {
            Some(budget) => Box::new(Auto { budget }),
            None => {
                return Err(
                    "method `auto` needs a memory budget (e.g. --memory-budget 256MiB)".into(),
                );
            }
        },
        "reversible" => Box::new(Reversible {
            lambda: options.lambda,
        }),
        "reversible-backprop" => Box::new(ReversibleBackprop {
            lambda: options.lambda,
        }),
        "symplectic-binomial" => Box::new(SymplecticBinomial {
            checkpoints: options.checkpoints,
        }),
        "symplectic" => Box::new(SymplecticAdjoint),
        "symplectic-stored" => Box::new(SymplecticAdjointStored),
        "backprop" => Box::new(Backprop),
        "adjoint" => Box::new(Adjoint::default()),
        "adjoint-seminorm" => Box::new(Adjoint {
            seminorm: true,
            ..Adjoint::default()
        }),
        "aca" | "checkpoint-step" => Box::new(CheckpointStep),
        "checkpoint-component" => Box::new(CheckpointComponent),
        other => {
            return Err(format!(
                "unknown gradient method `{other}`; use one of {}",
                METHOD_NAMES.join(", ")
            ));
        }
    })
}
