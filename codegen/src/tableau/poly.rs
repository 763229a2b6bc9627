//! Polynomials in the step size `h` with exact rational coefficients.
//!
//! The pairing proof treats `h` as a formal variable: the adjoint weights `b̃_i(h)` (`b_i`,
//! or `h` for zero-weight stages) and the couplings are polynomials of degree at most two,
//! and an identity is proved when a polynomial is identically zero.

use std::fmt;
use std::ops::{Add, Mul, Neg, Sub};

use num_traits::{One, Signed, Zero};

use super::Q;

/// A polynomial `Σ_k coeffs[k] h^k` over the rationals, kept without trailing zero
/// coefficients (the zero polynomial has no coefficients).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Poly {
    coeffs: Vec<Q>,
}

impl Poly {
    /// The zero polynomial.
    pub fn zero() -> Poly {
        Poly { coeffs: Vec::new() }
    }

    /// The constant polynomial `c`.
    pub fn constant(c: Q) -> Poly {
        Poly::from_coeffs(vec![c])
    }

    /// The variable `h`.
    pub fn h() -> Poly {
        Poly::from_coeffs(vec![Q::zero(), Q::one()])
    }

    /// `Σ_k coeffs[k] h^k`, lowest degree first.
    pub fn from_coeffs(mut coeffs: Vec<Q>) -> Poly {
        while coeffs.last().is_some_and(Zero::is_zero) {
            coeffs.pop();
        }
        Poly { coeffs }
    }

    /// Coefficients, lowest degree first (empty for the zero polynomial).
    pub fn coeffs(&self) -> &[Q] {
        &self.coeffs
    }

    /// `true` for the zero polynomial, i.e. an identity in `h` holds.
    pub fn is_zero(&self) -> bool {
        self.coeffs.is_empty()
    }

    /// Degree, `None` for the zero polynomial.
    pub fn degree(&self) -> Option<usize> {
        self.coeffs.len().checked_sub(1)
    }

    /// `c · self`.
    pub fn scale(&self, c: &Q) -> Poly {
        Poly::from_coeffs(self.coeffs.iter().map(|x| x * c).collect())
    }
}

impl Add for &Poly {
    type Output = Poly;
    fn add(self, rhs: &Poly) -> Poly {
        let n = self.coeffs.len().max(rhs.coeffs.len());
        let zero = Q::zero();
        Poly::from_coeffs(
            (0..n)
                .map(|k| self.coeffs.get(k).unwrap_or(&zero) + rhs.coeffs.get(k).unwrap_or(&zero))
                .collect(),
        )
    }
}

impl Neg for &Poly {
    type Output = Poly;
    fn neg(self) -> Poly {
        Poly::from_coeffs(self.coeffs.iter().map(|x| -x).collect())
    }
}

impl Sub for &Poly {
    type Output = Poly;
    fn sub(self, rhs: &Poly) -> Poly {
        self + &(-rhs)
    }
}

impl Mul for &Poly {
    type Output = Poly;
    fn mul(self, rhs: &Poly) -> Poly {
        if self.is_zero() || rhs.is_zero() {
            return Poly::zero();
        }
        let mut out = vec![Q::zero(); self.coeffs.len() + rhs.coeffs.len() - 1];
        for (i, x) in self.coeffs.iter().enumerate() {
            for (j, y) in rhs.coeffs.iter().enumerate() {
                out[i + j] += x * y;
            }
        }
        Poly::from_coeffs(out)
    }
}

/// Written like `-3/2·h^2 + h + 1/4`; the zero polynomial is `0`.
impl fmt::Display for Poly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut first = true;
        for (k, c) in self.coeffs.iter().enumerate().rev() {
            if c.is_zero() {
                continue;
            }
            let sign = if c.is_negative() { "-" } else { "+" };
            if first {
                if c.is_negative() {
                    f.write_str("-")?;
                }
            } else {
                write!(f, " {sign} ")?;
            }
            first = false;
            let m = c.abs();
            let var = match k {
                0 => String::new(),
                1 => "h".to_string(),
                _ => format!("h^{k}"),
            };
            match (m.is_one(), var.is_empty()) {
                (true, false) => write!(f, "{var}")?,
                (_, true) => write!(f, "{m}")?,
                (false, false) => write!(f, "{m}·{var}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::q;
    use super::*;

    #[test]
    fn arithmetic_and_display() {
        let h = Poly::h();
        let p = &(&h * &h).scale(&q(-3, 2)) + &(&h + &Poly::constant(q(1, 4)));
        assert_eq!(p.degree(), Some(2));
        assert_eq!(p.to_string(), "-3/2·h^2 + h + 1/4");
        assert!((&p - &p).is_zero());
        assert_eq!((&p - &p).to_string(), "0");
        assert_eq!((&h * &Poly::zero()), Poly::zero());
        assert_eq!(Poly::constant(q(0, 1)).degree(), None);
        assert_eq!((-&h).to_string(), "-h");
    }
}
