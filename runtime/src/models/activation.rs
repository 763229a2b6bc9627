//! Elementwise activation functions with derivatives expressed from what the tape keeps.
//!
//! Every activation is applied to a whole slice by one function ([`Activation::apply`]), and its
//! derivative is multiplied into a gradient slice by one function
//! ([`Activation::mul_derivative`]), so a faster vectorised implementation (e.g. a polynomial
//! `tanh`) can be swapped in at a single place. The scalar forms ([`Activation::value`],
//! [`Activation::derivative`]) are the reference definitions.
//!
//! Numerics: `softplus(x) = max(x, 0) + log1p(exp(−|x|))` and `sigmoid` via `exp(−|x|)` never
//! overflow; `elu` uses `expm1`. Unlike PyTorch's `Softplus` (which returns `x` unchanged above
//! its default `threshold = 20`), softplus here is exact for every `x`; the two differ by at most
//! `log1p(e^{-20}) ≈ 2.1e-9` for `x > 20`.

use std::fmt;
use std::str::FromStr;

use crate::models::error::ModelError;
use crate::real::Real;

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

/// Which tensor [`Activation::mul_derivative`] needs: the activation's output `y = σ(x)` or its
/// input (pre-activation) `x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Saved {
    /// The derivative is a function of the output `y` (all activations except `silu`).
    Output,
    /// The derivative needs the pre-activation `x` (`silu`).
    Input,
}

/// Numerically stable logistic sigmoid: never computes `exp` of a positive number.
#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    let e = (-x.abs()).exp();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() { r } else { e * r }
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

    /// The lowercase name (as parsed by [`FromStr`]).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Elu => "elu",
            Activation::Silu => "silu",
            Activation::Identity => "identity",
        }
    }

    /// What the derivative is computed from, i.e. what a tape must keep for this activation.
    pub fn saves(self) -> Saved {
        match self {
            Activation::Silu => Saved::Input,
            _ => Saved::Output,
        }
    }

    /// σ(x) for one value (the reference definition).
    #[inline]
    pub fn value<T: Real>(self, x: T) -> T {
        match self {
            Activation::Tanh => {
                // The same vectorised tanh as the slice form (within 2 ulp of libm).
                let mut one = [x];
                T::tanh_slice(&mut one);
                one[0]
            }
            Activation::Softplus => x.max(T::zero()) + (-x.abs()).exp().ln_1p(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Relu => {
                if x < T::zero() {
                    T::zero()
                } else {
                    x
                }
            }
            Activation::Elu => {
                if x > T::zero() {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::Silu => x * sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// σ'(x) for one value, from the pre-activation `x`.
    #[inline]
    pub fn derivative<T: Real>(self, x: T) -> T {
        match self {
            Activation::Tanh => {
                let y = x.tanh();
                T::one() - y * y
            }
            Activation::Softplus => sigmoid(x),
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (T::one() - s)
            }
            Activation::Relu => {
                if x > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Elu => {
                if x > T::zero() {
                    T::one()
                } else {
                    x.exp()
                }
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (T::one() + x * (T::one() - s))
            }
            Activation::Identity => T::one(),
        }
    }

    /// Applies σ in place over a slice: `v[i] ← σ(v[i])`.
    pub fn apply<T: Real>(self, v: &mut [T]) {
        match self {
            Activation::Tanh => tanh_slice(v),
            Activation::Softplus => map_slice(v, |x| Activation::Softplus.value(x)),
            Activation::Sigmoid => map_slice(v, sigmoid),
            Activation::Relu => map_slice(v, |x| if x < T::zero() { T::zero() } else { x }),
            Activation::Elu => map_slice(v, |x| if x > T::zero() { x } else { x.exp_m1() }),
            Activation::Silu => map_slice(v, |x| x * sigmoid(x)),
            Activation::Identity => {}
        }
    }

    /// `y[i] ← σ(x[i])`. `x` and `y` must have the same length.
    pub fn apply_to<T: Real>(self, x: &[T], y: &mut [T]) {
        debug_assert_eq!(x.len(), y.len());
        y.copy_from_slice(x);
        self.apply(y);
    }

    /// Multiplies a gradient by the derivative in place: `g[i] ← g[i] · σ'(x[i])`, where `saved`
    /// holds the output `y = σ(x)` or the input `x` as [`Activation::saves`] says.
    /// `saved` and `g` must have the same length.
    pub fn mul_derivative<T: Real>(self, saved: &[T], g: &mut [T]) {
        debug_assert_eq!(saved.len(), g.len());
        let one = T::one();
        match self {
            // PyTorch tanh_backward: g · (1 − y²).
            Activation::Tanh => zip_slice(g, saved, |g, y| g * (one - y * y)),
            // sigmoid(x) = 1 − e^{−softplus(x)}, accurate for every y ≥ 0 through expm1.
            Activation::Softplus => zip_slice(g, saved, |g, y| g * -(-y).exp_m1()),
            // PyTorch sigmoid_backward: g · (1 − y) · y.
            Activation::Sigmoid => zip_slice(g, saved, |g, y| g * (one - y) * y),
            Activation::Relu => {
                zip_slice(g, saved, |g, y| if y > T::zero() { g } else { T::zero() })
            }
            Activation::Elu => zip_slice(
                g,
                saved,
                |g, y| if y > T::zero() { g } else { g * (y + one) },
            ),
            // PyTorch silu_backward: g · s · (1 + x(1 − s)).
            Activation::Silu => zip_slice(g, saved, |g, x| {
                let s = sigmoid(x);
                g * s * (one + x * (one - s))
            }),
            Activation::Identity => {}
        }
    }
}

/// `tanh` over a slice: the one place to swap in a vectorised implementation.
#[inline]
fn tanh_slice<T: Real>(v: &mut [T]) {
    T::tanh_slice(v);
}

/// `v[i] ← f(v[i])`, written as a plain loop over the slice so that LLVM vectorises `f` when it
/// can (no bounds checks, no early exits).
#[inline(always)]
fn map_slice<T: Real>(v: &mut [T], f: impl Fn(T) -> T) {
    for x in v.iter_mut() {
        *x = f(*x);
    }
}

/// `g[i] ← f(g[i], s[i])` over two equal-length slices.
#[inline(always)]
fn zip_slice<T: Real>(g: &mut [T], s: &[T], f: impl Fn(T, T) -> T) {
    for (gi, &si) in g.iter_mut().zip(s) {
        *gi = f(*gi, si);
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ModelError;

    /// Parses a lowercase name (`"tanh"`, `"softplus"`, …); the error lists the valid names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| ModelError::UnknownActivation { name: s.to_owned() })
    }
}
