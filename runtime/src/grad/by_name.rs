//! Gradient methods by their command-line names.

use super::{
    Adjoint, Backprop, CheckpointComponent, CheckpointStep, GradientMethod, SymplecticAdjoint,
    SymplecticAdjointStored,
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
];

/// A gradient method by name: `symplectic`, `symplectic-stored`, `backprop`, `adjoint`,
/// `adjoint-seminorm`, `aca` (alias `checkpoint-step`) or `checkpoint-component`. An unknown
/// name is an error message that lists the valid ones.
///
/// ```
/// use symplode_runtime::grad::method_by_name;
/// assert_eq!(method_by_name::<f64>("aca").unwrap().name(), "aca");
/// let err = method_by_name::<f64>("rk4").err().expect("not a method");
/// assert!(err.contains("symplectic-stored"));
/// ```
pub fn method_by_name<T: Real>(name: &str) -> Result<Box<dyn GradientMethod<T>>, String> {
    Ok(match name {
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
