//! Structural validation: shapes, explicitness, consistency `c_i = Σ_j a_ij`.

use num_traits::Zero;

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
