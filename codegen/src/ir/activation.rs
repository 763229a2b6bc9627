//! The activation between layers: the one `Activation` type of the project. The DSL parses
//! it, the IR expands it into an elementwise op ([`Activation::unary`]), and the runtime's
//! `Mlp` and `neural_ode!`'s code apply it through the runtime's elementwise kernels
//! (`symplode_runtime::linalg::activation`, which give it `apply` / `mul_derivative`).

use std::fmt;
use std::str::FromStr;

use super::error::IrError;
use super::ops::UnaryOp;

/// An elementwise activation function σ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `tanh(x)`; σ' = 1 − y².
    Tanh,
    /// `log(1 + eˣ)`; σ' = sigmoid(x) = 1 − e^{−y}.
    Softplus,
    /// `1 / (1 + e^{−x})`; σ' = y(1 − y).
    Sigmoid,
    /// `max(x, 0)`; σ' = 1 if y > 0 else 0 (0 at x = 0, as in PyTorch).
    Relu,
    /// `x` for x > 0, `eˣ − 1` otherwise (α = 1); σ' = 1 for y > 0, y + 1 otherwise.
    Elu,
    /// `x · sigmoid(x)` (swish); σ' = s(1 + x(1 − s)) with s = sigmoid(x), needs the input.
    Silu,
    /// `x`; σ' = 1.
    Identity,
}

/// Which tensor an activation's derivative is computed from: its output `y = σ(x)` or its
/// input (pre-activation) `x` — what a tape must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Saved {
    /// The derivative is a function of the output `y` (all activations except `silu`).
    Output,
    /// The derivative needs the pre-activation `x` (`silu`).
    Input,
}

impl Activation {
    /// Every activation, in declaration order.
    pub const ALL: [Activation; 7] = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Elu,
        Activation::Silu,
        Activation::Identity,
    ];

    /// The names accepted by [`FromStr`], in the order of [`Activation::ALL`].
    pub const NAMES: [&'static str; 7] = [
        "tanh", "softplus", "sigmoid", "relu", "elu", "silu", "identity",
    ];

    /// The elementwise op, `None` for [`Activation::Identity`].
    pub fn unary(self) -> Option<UnaryOp> {
        match self {
            Activation::Tanh => Some(UnaryOp::Tanh),
            Activation::Softplus => Some(UnaryOp::Softplus),
            Activation::Sigmoid => Some(UnaryOp::Sigmoid),
            Activation::Relu => Some(UnaryOp::Relu),
            Activation::Elu => Some(UnaryOp::Elu),
            Activation::Silu => Some(UnaryOp::Silu),
            Activation::Identity => None,
        }
    }

    /// The lowercase name (as parsed by [`FromStr`]).
    pub fn name(self) -> &'static str {
        self.unary().map_or("identity", UnaryOp::name)
    }

    /// The variant's name in Rust (`"Tanh"`, …), for code that names it.
    pub fn variant_name(self) -> &'static str {
        match self {
            Activation::Tanh => "Tanh",
            Activation::Softplus => "Softplus",
            Activation::Sigmoid => "Sigmoid",
            Activation::Relu => "Relu",
            Activation::Elu => "Elu",
            Activation::Silu => "Silu",
            Activation::Identity => "Identity",
        }
    }

    /// What the derivative is computed from, i.e. what a tape must keep for this activation.
    pub fn saves(self) -> Saved {
        match self {
            Activation::Silu => Saved::Input,
            _ => Saved::Output,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = IrError;

    /// Parses a lowercase name (`"tanh"`, `"softplus"`, …, `"identity"`); the error lists
    /// the valid names.
    fn from_str(s: &str) -> Result<Self, IrError> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| IrError::UnknownActivation {
                name: s.to_owned(),
                expected: Activation::NAMES.join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_list() {
        for (a, n) in Activation::ALL.into_iter().zip(Activation::NAMES) {
            assert_eq!(a.name(), n);
            assert_eq!(n.parse::<Activation>().unwrap(), a);
            assert_eq!(a.variant_name().to_lowercase(), n);
        }
        assert!("Tanh".parse::<Activation>().is_err());
    }
}
