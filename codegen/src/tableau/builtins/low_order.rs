//! Low-order built-ins: Euler, the second-order methods, the classic fourth-order methods and
//! Bogacki–Shampine 3(2).

use super::super::{Tableau, TableauError};
use super::{qs, rows};

/// Forward Euler, order 1 (Euler 1768).
///
/// ```text
/// euler (order 1)
/// 0 |
/// --+---
/// b |  1
/// ```
///
/// # Errors
/// None in practice (the coefficients are constants; the tests build every built-in).
pub fn euler() -> Result<Tableau, TableauError> {
    Tableau::new_checked("euler", vec![], qs(&["1"])?, qs(&["0"])?, None, 1, None)
}

/// Explicit midpoint rule, order 2 (Runge 1895). `b_1 = 0`: its adjoint stage 1 takes the
/// `b̃ = h` path. Same as torchdiffeq's `midpoint`.
///
/// ```text
/// midpoint (order 2)
///   0 |
/// 1/2 |  1/2
/// ----+--------
///   b |  0    1
/// ```
///
/// # Errors
/// None in practice.
pub fn midpoint() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "midpoint",
        rows(&[&["1/2"]])?,
        qs(&["0", "1"])?,
        qs(&["0", "1/2"])?,
        None,
        2,
        None,
    )
}

/// Heun's method (explicit trapezoidal rule), order 2, with embedded Euler (order 1) for
/// step-size control (Heun 1900). This is torchdiffeq's `adaptive_heun` (error weights
/// `b − b̂ = [−1/2, 1/2]`, the negation of torchdiffeq's `c_error`; only the norm is used).
///
/// ```text
/// heun2 (order 2, embedded order 1)
/// 0 |
/// 1 |  1
/// --+----------
/// b |  1/2  1/2
/// b̂ |  1    0
/// ```
///
/// # Errors
/// None in practice.
pub fn heun2() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "heun2",
        rows(&[&["1"]])?,
        qs(&["1/2", "1/2"])?,
        qs(&["0", "1"])?,
        Some(qs(&["1", "0"])?),
        2,
        Some(1),
    )
}

/// Ralston's second-order method, the one with minimal truncation-error bound among
/// two-stage order-2 methods (Ralston 1962, *Math. Comp.* 16:431–437). Fixed step.
///
/// ```text
/// ralston2 (order 2)
///   0 |
/// 2/3 |  2/3
/// ----+----------
///   b |  1/4  3/4
/// ```
///
/// # Errors
/// None in practice.
pub fn ralston2() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "ralston2",
        rows(&[&["2/3"]])?,
        qs(&["1/4", "3/4"])?,
        qs(&["0", "2/3"])?,
        None,
        2,
        None,
    )
}

/// The classic fourth-order Runge–Kutta method (Kutta 1901), torchdiffeq's `rk4`
/// tableau.
///
/// ```text
/// rk4 (order 4)
///   0 |
/// 1/2 |  1/2
/// 1/2 |  0    1/2
///   1 |  0    0    1
/// ----+--------------------
///   b |  1/6  1/3  1/3  1/6
/// ```
///
/// # Errors
/// None in practice.
pub fn rk4() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "rk4",
        rows(&[&["1/2"], &["0", "1/2"], &["0", "0", "1"]])?,
        qs(&["1/6", "1/3", "1/3", "1/6"])?,
        qs(&["0", "1/2", "1/2", "1"])?,
        None,
        4,
        None,
    )
}

/// Kutta's 3/8 rule, order 4 (Kutta 1901), torchdiffeq's `rk38` tableau.
///
/// ```text
/// rk38 (order 4)
///   0 |
/// 1/3 |  1/3
/// 2/3 |  -1/3  1
///   1 |  1     -1   1
/// ----+---------------------
///   b |  1/8   3/8  3/8  1/8
/// ```
///
/// # Errors
/// None in practice.
pub fn rk38() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "rk38",
        rows(&[&["1/3"], &["-1/3", "1"], &["1", "-1", "1"]])?,
        qs(&["1/8", "3/8", "3/8", "1/8"])?,
        qs(&["0", "1/3", "2/3", "1"])?,
        None,
        4,
        None,
    )
}

/// Bogacki–Shampine 3(2), FSAL (Bogacki & Shampine 1989, *Appl. Math. Lett.* 2:321–325);
/// torchdiffeq's `bosh3`. Propagates the third-order solution; the embedded weights have
/// order 2. The symplectic partner drops the FSAL stage (`S = 3`).
///
/// ```text
/// bosh3 (order 3, embedded order 2, FSAL)
///   0 |
/// 1/2 |  1/2
/// 3/4 |  0     3/4
///   1 |  2/9   1/3  4/9
/// ----+---------------------
///   b |  2/9   1/3  4/9  0
///   b̂ |  7/24  1/4  1/3  1/8
/// ```
///
/// # Errors
/// None in practice.
pub fn bosh3() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "bosh3",
        rows(&[&["1/2"], &["0", "3/4"], &["2/9", "1/3", "4/9"]])?,
        qs(&["2/9", "1/3", "4/9", "0"])?,
        qs(&["0", "1/2", "3/4", "1"])?,
        Some(qs(&["7/24", "1/4", "1/3", "1/8"])?),
        3,
        Some(2),
    )
}
