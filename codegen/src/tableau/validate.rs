//! Structural validation: shapes, explicitness, consistency `c_i = Σ_j a_ij`.

use num_traits::{Signed, Zero};

use super::rational::within;
use super::{Q, Tableau, TableauError};

/// Brings `A` to full `s×s` form and checks it is strictly lower triangular.
///
/// Accepted layouts (each row of the first two may use either form):
/// - `s` rows of length `s` (full);
/// - `s` rows where row `i` (1-based) has `i − 1` entries `a_i1 … a_i,i−1`;
/// - `s − 1` rows for stages `2..=s`, the row of stage `i` having `i − 1` entries.
pub(crate) fn full_matrix(
    name: &str,
    a: Vec<Vec<Q>>,
    s: usize,
) -> Result<Vec<Vec<Q>>, TableauError> {
    let shape = |what: String, expected: String, got: usize| TableauError::Shape {
        name: name.to_string(),
        what,
        expected,
        got,
    };
    // Stage index (0-based) of the first given row.
    let first_stage = if a.len() == s {
        0
    } else if a.len() + 1 == s {
        1
    } else {
        return Err(shape(
            "A (number of rows)".to_string(),
            format!(
                "{s} (all stages) or {} (stages 2..{s}, lower-triangular)",
                s - 1
            ),
            a.len(),
        ));
    };
    let mut full = Vec::with_capacity(s);
    if first_stage == 1 {
        full.push(vec![Q::zero(); s]);
    }
    for (k, row) in a.into_iter().enumerate() {
        let i = k + first_stage;
        let row = if row.len() == s && first_stage == 0 {
            for (j, v) in row.iter().enumerate().skip(i) {
                if !v.is_zero() {
                    return Err(TableauError::NotExplicit {
                        name: name.to_string(),
                        i: i + 1,
                        j: j + 1,
                        value: v.to_string(),
                    });
                }
            }
            row
        } else if row.len() == i {
            let mut r = row;
            r.resize(s, Q::zero());
            r
        } else {
            let expected = if first_stage == 0 {
                format!("{s} (full row) or {i} (lower-triangular row)")
            } else {
                format!("{i} (lower-triangular row)")
            };
            return Err(shape(format!("row {} of A", i + 1), expected, row.len()));
        };
        full.push(row);
    }
    Ok(full)
}

/// Checks lengths, explicitness and consistency (within `tol`), and assembles the tableau.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    name: &str,
    a: Vec<Vec<Q>>,
    b: Vec<Q>,
    c: Vec<Q>,
    b_hat: Option<Vec<Q>>,
    order: u32,
    embedded_order: Option<u32>,
    tol: Q,
) -> Result<Tableau, TableauError> {
    let s = b.len();
    if s == 0 {
        return Err(TableauError::EmptyTableau {
            name: name.to_string(),
        });
    }
    if s > MAX_STAGES {
        return Err(TableauError::TooManyStages {
            name: name.to_string(),
            stages: s,
            max: MAX_STAGES,
        });
    }
    let shape = |what: &str, got: usize| TableauError::Shape {
        name: name.to_string(),
        what: what.to_string(),
        expected: format!("{s} (the number of weights b)"),
        got,
    };
    if c.len() != s {
        return Err(shape("c", c.len()));
    }
    if let Some(bh) = &b_hat
        && bh.len() != s
    {
        return Err(shape("b_hat", bh.len()));
    }
    match (&b_hat, embedded_order) {
        (Some(_), None) => {
            return Err(TableauError::InvalidEmbedded {
                name: name.to_string(),
                reason: "embedded weights b_hat are given without an embedded order".to_string(),
            });
        }
        (None, Some(p)) => {
            return Err(TableauError::InvalidEmbedded {
                name: name.to_string(),
                reason: format!("embedded order {p} is given without embedded weights b_hat"),
            });
        }
        _ => {}
    }
    let a = full_matrix(name, a, s)?;
    check_range(name, &a, &b, &c, b_hat.as_deref())?;
    for (i, (row, ci)) in a.iter().zip(&c).enumerate() {
        let sum = row.iter().fold(Q::zero(), |acc, x| acc + x);
        if !within(&(&sum - ci), &tol) {
            return Err(TableauError::Inconsistent {
                name: name.to_string(),
                i: i + 1,
                c_i: ci.to_string(),
                row_sum: sum.to_string(),
                tolerance: tolerance_note(&tol),
            });
        }
    }
    Ok(Tableau {
        name: name.to_string(),
        a,
        b,
        c,
        b_hat,
        order,
        embedded_order,
        tolerance: tol,
    })
}

/// Largest stage count accepted: far above any practical explicit method (dopri8 has 13
/// stages), small enough that the order conditions and the partner proof stay quick.
pub const MAX_STAGES: usize = 64;

/// Fails with [`TableauError::CoefficientOutOfRange`] for the first coefficient whose
/// magnitude exceeds `f64::MAX` (it would become ±∞ in the kernels).
fn check_range(
    name: &str,
    a: &[Vec<Q>],
    b: &[Q],
    c: &[Q],
    b_hat: Option<&[Q]>,
) -> Result<(), TableauError> {
    let limit = Q::from_float(f64::MAX).unwrap_or_default();
    let bad = |what: String, x: &Q| TableauError::CoefficientOutOfRange {
        name: name.to_string(),
        what,
        value: super::rational::shown(&x.to_string()),
    };
    let too_big = |x: &Q| x.abs() > limit;
    for (i, row) in a.iter().enumerate() {
        if let Some(j) = row.iter().position(too_big) {
            return Err(bad(format!("a_{}{}", i + 1, j + 1), &row[j]));
        }
    }
    for (v, label) in [(Some(b), "b"), (Some(c), "c"), (b_hat, "b_hat")] {
        if let Some(v) = v
            && let Some(i) = v.iter().position(too_big)
        {
            return Err(bad(format!("{label}_{}", i + 1), &v[i]));
        }
    }
    Ok(())
}

/// `""` for exact checks, `" (tolerance 1e-16 = …)"` otherwise.
pub(crate) fn tolerance_note(tol: &Q) -> String {
    if tol.is_zero() {
        String::new()
    } else {
        let exact = tol.to_string();
        let approx = super::q_to_f64(tol);
        if exact.len() <= 24 {
            format!(" (tolerance {exact} ≈ {approx:e})")
        } else {
            format!(" (tolerance ≈ {approx:e})")
        }
    }
}
