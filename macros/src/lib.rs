//! Procedural macros of symplode (`neural_ode!`, `tableau!`): a thin shim over
//! `symplode_codegen::lower_rust`, where parsing, validation and expansion live.
#![deny(missing_docs)]

use proc_macro::TokenStream;

/// Declares a neural ODE model: a network on `[x, t]`, a Runge–Kutta tableau checked in exact
/// rationals at compile time, and specialised step kernels.
///
/// ```ignore
/// symplode::neural_ode! {
///     /// A 2-D field.
///     pub struct Spiral {
///         float: f64,
///         dim: 2,
///         time: true,
///         layers: [dense(64, tanh), dense(64, tanh), dense(2)],
///         tableau: dopri5,                       // or HEUN3 (a `tableau!` item) or { a: …, b: …, … }
///         solver: { rtol: 1e-6, atol: 1e-8 },
///     }
/// }
/// ```
///
/// Emits `Spiral` (implementing `symplode::runtime::Dynamics<f64>`) and `SpiralKernels`
/// (implementing `StepKernels<f64>`); `Spiral::scheme()` attaches the kernels. The full
/// grammar is documented on `symplode_codegen::dsl::NeuralOde`.
#[proc_macro]
pub fn neural_ode(input: TokenStream) -> TokenStream {
    symplode_codegen::lower_rust::expand_neural_ode(input.into()).into()
}

/// Declares a named Butcher tableau of exact rationals, checked at compile time, for use as
/// `tableau: NAME` in `neural_ode!`.
///
/// ```ignore
/// symplode::tableau! {
///     /// Heun's third-order method.
///     pub HEUN3 = { a: [[1/3], [0, 2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 3 }
/// }
/// ```
#[proc_macro]
pub fn tableau(input: TokenStream) -> TokenStream {
    symplode_codegen::lower_rust::expand_tableau(input.into()).into()
}
