//! Elementwise functions over slices, written once: every [`UnaryOp`] of the IR
//! ([`unary_in_place`], which the interpreter's unary steps run), and the activations
//! ([`Activation`], the IR's one type) with their derivatives expressed from what the tape
//! keeps ([`ActivationKernels`], which `Mlp` and `neural_ode!`'s code call).
//!
//! Every activation is applied to a whole slice by one function ([`ActivationKernels::apply`],
//! the IR op's [`unary_in_place`]), and its derivative is multiplied into a gradient slice by
//! one function ([`ActivationKernels::mul_derivative`]), so a faster vectorised
//! implementation (e.g. a polynomial `tanh`) can be swapped in at a single place. The scalar
//! forms ([`ActivationKernels::value`], [`ActivationKernels::derivative`]) are the reference
//! definitions.
//!
//! Numerics: `softplus(x) = max(x, 0) + log1p(exp(−|x|))` and `sigmoid` via `exp(−|x|)` never
//! overflow; `elu` uses `expm1`. Unlike PyTorch's `Softplus` (which returns `x` unchanged above
//! its default `threshold = 20`), softplus here is exact for every `x`; the two differ by at most
//! `log1p(e^{-20}) ≈ 2.1e-9` for `x > 20`. The slice kernels of softplus, sigmoid, SiLU and ELU
//! (and the derivatives of softplus and SiLU) are the vectorised ones of
//! `linalg::fastmath::logistic`, within a few ulp of these scalar definitions.

use symplode_codegen::ir::{Activation, UnaryOp};

use crate::linalg::fastmath::logistic::FastOp;
use crate::linalg::simd::{Widened, widest};
use crate::real::Real;

/// Numerically stable logistic sigmoid: never computes `exp` of a positive number.
#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    let e = (-x.abs()).exp();
    let r = T::one() / (T::one() + e);
    if x >= T::zero() { r } else { e * r }
}

/// `x` as a freshly computed value (`x + 0`; −0 becomes +0). An element loop that stores either
/// a new value or the element it loaded is turned by LLVM into a store of only the changed
/// lanes (`vmaskmovpd`), microcoded and slow on AMD's AVX2 cores: ReLU took 3 ns per element on
/// a Zen 3 core. Storing a computed value in every lane keeps the plain store.
#[inline(always)]
fn kept<T: Real>(x: T) -> T {
    x + T::zero()
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

/// `y[i] ← op(y[i])` for every elementwise op of the IR (`tanh` vectorised through
/// [`Real::tanh_slice`]).
#[inline(always)]
pub fn unary_in_place<T: Real>(op: UnaryOp, y: &mut [T]) {
    let (zero, one) = (T::zero(), T::one());
    match op {
        UnaryOp::Tanh => T::tanh_slice(y),
        UnaryOp::Softplus => T::logistic_slice(FastOp::Softplus, y),
        UnaryOp::Sigmoid => T::logistic_slice(FastOp::Sigmoid, y),
        UnaryOp::Relu => map_slice(y, |x| if x < zero { zero } else { kept(x) }),
        UnaryOp::Elu => T::logistic_slice(FastOp::Elu, y),
        UnaryOp::Silu => T::logistic_slice(FastOp::Silu, y),
        UnaryOp::Step => map_slice(y, |x| if x > zero { one } else { zero }),
        UnaryOp::Sin => map_slice(y, T::sin),
        UnaryOp::Cos => map_slice(y, T::cos),
        UnaryOp::Square => map_slice(y, |x| x * x),
        UnaryOp::Exp => map_slice(y, T::exp),
        UnaryOp::Log => map_slice(y, T::ln),
        UnaryOp::Neg => map_slice(y, |x| -x),
        UnaryOp::Recip => map_slice(y, |x| one / x),
    }
}

/// The numeric side of an [`Activation`]: values, derivatives, and the slice kernels the
/// models call. Implemented for the IR's `Activation` (bring the trait into scope, e.g.
/// `use symplode_runtime::models::ActivationKernels`).
pub trait ActivationKernels: Copy {
    /// σ(x) for one value (the reference definition).
    fn value<T: Real>(self, x: T) -> T;
    /// σ'(x) for one value, from the pre-activation `x`.
    fn derivative<T: Real>(self, x: T) -> T;
    /// Applies σ in place over a slice: `v[i] ← σ(v[i])`.
    fn apply<T: Real>(self, v: &mut [T]);
    /// `y[i] ← σ(x[i])`. `x` and `y` must have the same length.
    fn apply_to<T: Real>(self, x: &[T], y: &mut [T]);
    /// Multiplies a gradient by the derivative in place: `g[i] ← g[i] · σ'(x[i])`, where
    /// `saved` holds the output `y = σ(x)` or the input `x` as [`Activation::saves`] says.
    /// `saved` and `g` must have the same length.
    fn mul_derivative<T: Real>(self, saved: &[T], g: &mut [T]);
}

impl ActivationKernels for Activation {
    #[inline]
    fn value<T: Real>(self, x: T) -> T {
        let mut one = [x];
        self.apply(&mut one);
        one[0]
    }

    #[inline]
    fn derivative<T: Real>(self, x: T) -> T {
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

    #[inline]
    fn apply<T: Real>(self, v: &mut [T]) {
        if let Some(op) = self.unary() {
            unary_in_place(op, v);
        }
    }

    #[inline]
    fn apply_to<T: Real>(self, x: &[T], y: &mut [T]) {
        debug_assert_eq!(x.len(), y.len());
        y.copy_from_slice(x);
        self.apply(y);
    }

    fn mul_derivative<T: Real>(self, saved: &[T], g: &mut [T]) {
        debug_assert_eq!(saved.len(), g.len());
        widest(MulDerivative {
            act: self,
            saved,
            g,
        });
    }
}

/// One [`ActivationKernels::mul_derivative`], compiled per SIMD level ([`widest`]: the same
/// bits on every path).
struct MulDerivative<'a, T> {
    act: Activation,
    saved: &'a [T],
    g: &'a mut [T],
}

impl<T: Real> Widened for MulDerivative<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let MulDerivative { act, saved, g } = self;
        let one = T::one();
        match act {
            // PyTorch tanh_backward: g · (1 − y²).
            Activation::Tanh => zip_slice(g, saved, |g, y| g * (one - y * y)),
            // sigmoid(x) = 1 − e^{−softplus(x)}, accurate for every y ≥ 0 through expm1.
            Activation::Softplus => T::logistic_mul_derivative(FastOp::Softplus, saved, g),
            // PyTorch sigmoid_backward: g · (1 − y) · y.
            Activation::Sigmoid => zip_slice(g, saved, |g, y| g * (one - y) * y),
            Activation::Relu => {
                zip_slice(
                    g,
                    saved,
                    |g, y| {
                        if y > T::zero() { kept(g) } else { T::zero() }
                    },
                )
            }
            Activation::Elu => zip_slice(g, saved, |g, y| {
                if y > T::zero() {
                    kept(g)
                } else {
                    g * (y + one)
                }
            }),
            // PyTorch silu_backward: g · s · (1 + x(1 − s)).
            Activation::Silu => T::logistic_mul_derivative(FastOp::Silu, saved, g),
            Activation::Identity => {}
        }
    }
}
