//! Checks of a tableau body (`neural_ode!`'s inline tableau or a `tableau!` item): the
//! coefficient shapes, consistency, the claimed order and embedded order, and the symplectic
//! partner (proved in rationals, or an explicit adjoint checked against it).

use num_traits::Zero;
use proc_macro2::Span;

use super::err;
use crate::dsl::{Coef, Coefs, TableauBody, TableauValue};
use crate::tableau::{
    MAX_ORDER, Q, SymplecticPartner, Tableau, TableauError, builtin, check_adjoint,
};

/// A tableau that passed every check, with its partner.
#[derive(Clone, Debug)]
pub struct CheckedTableau {
    /// The exact tableau.
    pub tableau: Tableau,
    /// Its symplectic partner (proved).
    pub partner: SymplecticPartner,
    /// `Some(name)` for a built-in (the generated code calls `builtin(name)` at run time).
    pub builtin: Option<String>,
}

pub(super) fn fallback_tableau() -> CheckedTableau {
    let tableau = builtin("euler").expect("euler is a valid built-in");
    let partner = tableau.partner().expect("euler has a partner");
    CheckedTableau {
        tableau,
        partner,
        builtin: Some("euler".into()),
    }
}

/// Checks a model declaration (with the tableau of a `tableau!` item when given by path).
/// Coefficients with their tokens.
type Row = Vec<(Coef, Q)>;
/// A matrix: its span and its rows with their spans.
type Matrix = (Span, Vec<(Span, Row)>);

/// A parsed tableau body, values read, spans kept.
struct Raw {
    a: Option<Matrix>,
    b: Option<(Span, Vec<(Coef, Q)>)>,
    c: Option<(Span, Vec<(Coef, Q)>)>,
    b_hat: Option<(Span, Vec<(Coef, Q)>)>,
    order: Option<(Span, u32)>,
    embedded_order: Option<(Span, u32)>,
    tolerance: Option<Q>,
}

fn read_vector(
    c: &Coefs,
    key: &str,
    errors: &mut Vec<syn::Error>,
) -> Option<(Span, Vec<(Coef, Q)>)> {
    match c {
        Coefs::Vector(span, v) => {
            let mut ok = true;
            let mut out = Vec::new();
            for coef in v {
                match coef.value() {
                    Ok(q) => out.push((coef.clone(), q)),
                    Err(e) => {
                        errors.push(e);
                        ok = false;
                    }
                }
            }
            ok.then_some((*span, out))
        }
        Coefs::Matrix(span, _) => {
            errors.push(err(
                *span,
                format!("`{key}` is a vector `[c, …]`, not a matrix"),
            ));
            None
        }
    }
}

fn read_matrix(c: &Coefs, key: &str, errors: &mut Vec<syn::Error>) -> Option<Matrix> {
    match c {
        Coefs::Matrix(span, rows) => {
            let mut ok = true;
            let mut out = Vec::new();
            for (rs, row) in rows {
                let mut r = Vec::new();
                for coef in row {
                    match coef.value() {
                        Ok(q) => r.push((coef.clone(), q)),
                        Err(e) => {
                            errors.push(e);
                            ok = false;
                        }
                    }
                }
                out.push((*rs, r));
            }
            ok.then_some((*span, out))
        }
        // `[]` parses as an empty vector: a tableau with one stage.
        Coefs::Vector(span, v) if v.is_empty() => Some((*span, Vec::new())),
        Coefs::Vector(span, _) => {
            errors.push(err(
                *span,
                format!("`{key}` is a matrix `[[…], …]` of rows"),
            ));
            None
        }
    }
}

fn read_body(body: &TableauBody, span: Span, errors: &mut Vec<syn::Error>) -> Option<Raw> {
    let mut raw = Raw {
        a: None,
        b: None,
        c: None,
        b_hat: None,
        order: None,
        embedded_order: None,
        tolerance: None,
    };
    let n0 = errors.len();
    let mut seen = Vec::new();
    for f in &body.fields {
        let key = f.key.to_string();
        if seen.contains(&key) {
            errors.push(err(
                f.key.span(),
                format!("tableau field `{key}` is given twice"),
            ));
            continue;
        }
        seen.push(key.clone());
        match (&*key, &f.value) {
            ("a", TableauValue::Coefs(c)) => raw.a = read_matrix(c, "a", errors),
            ("b", TableauValue::Coefs(c)) => raw.b = read_vector(c, "b", errors),
            ("c", TableauValue::Coefs(c)) => raw.c = read_vector(c, "c", errors),
            ("b_hat", TableauValue::Coefs(c)) => raw.b_hat = read_vector(c, "b_hat", errors),
            ("order" | "embedded_order", TableauValue::Int(l)) => match l.base10_parse::<u32>() {
                Ok(p) if p <= MAX_ORDER => {
                    let v = Some((l.span(), p));
                    if key == "order" { raw.order = v } else { raw.embedded_order = v }
                }
                _ => errors.push(err(
                    l.span(),
                    format!("an order must be an integer from 0 to {MAX_ORDER} (the rooted trees checked)"),
                )),
            },
            ("tolerance", TableauValue::Coef(c)) => match c.value() {
                Ok(q) => raw.tolerance = Some(num_traits::Signed::abs(&q)),
                Err(e) => errors.push(e),
            },
            _ => errors.push(err(f.key.span(), format!("bad value for `{key}`"))),
        }
    }
    for (k, present) in [
        ("a", seen.contains(&"a".to_string())),
        ("b", seen.contains(&"b".to_string())),
    ] {
        if !present {
            errors.push(err(span, format!("the tableau needs `{k}`")));
        }
    }
    (errors.len() == n0).then_some(raw)
}

/// Checks a tableau body: coefficients, shape and explicitness, consistency, the claimed
/// orders (the failing rooted tree and its residual) and the symplectic partner. `span` is
/// the body's (errors without a better place point there).
pub fn check_tableau(
    name: &str,
    body: &TableauBody,
    span: Span,
) -> (Option<CheckedTableau>, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let Some(raw) = read_body(body, span, &mut errors) else {
        return (None, errors);
    };
    let (b_span, b) = raw.b.clone().expect("checked present");
    let s = b.len();
    if s == 0 {
        errors.push(err(
            b_span,
            "the weights b are empty: a tableau needs at least one stage",
        ));
        return (None, errors);
    }
    let (a_span, a_rows) = raw.a.clone().expect("checked present");
    // Rows: s (stages 1..s) or s - 1 (stages 2..s); each lower (i - 1 entries) or full (s).
    let first = if a_rows.len() == s {
        0
    } else if a_rows.len() + 1 == s {
        1
    } else {
        errors.push(err(
            a_span,
            format!(
                "A has {} rows but b has {s} weights: give {s} rows (stages 1..{s}) or {} rows \
                 (stages 2..{s})",
                a_rows.len(),
                s - 1
            ),
        ));
        return (None, errors);
    };
    let mut a = vec![vec![Q::zero(); s]; s];
    for (k, (rs, row)) in a_rows.iter().enumerate() {
        let i = k + first; // 0-based stage
        if row.len() == s && row.len() != i {
            for (j, (coef, q)) in row.iter().enumerate() {
                if j >= i && !q.is_zero() {
                    errors.push(coef.error(format!(
                        "a_{}{} = {q} is on or above the diagonal: an explicit tableau needs \
                         a_ij = 0 for j ≥ i (stage {} cannot use stage {} or later)",
                        i + 1,
                        j + 1,
                        i + 1,
                        j + 1
                    )));
                }
                a[i][j] = q.clone();
            }
        } else if row.len() == i {
            for (j, (_, q)) in row.iter().enumerate() {
                a[i][j] = q.clone();
            }
        } else {
            errors.push(err(
                *rs,
                format!(
                    "row {} of A has {} {}, expected {i} (a_{}1 … a_{}{i}, lower triangular) or \
                     {s} (full row)",
                    i + 1,
                    row.len(),
                    if row.len() == 1 { "entry" } else { "entries" },
                    i + 1,
                    i + 1,
                ),
            ));
        }
    }
    let c: Vec<Q> = match &raw.c {
        Some((cs, c)) if c.len() != s => {
            errors.push(err(
                *cs,
                format!(
                    "c has {} entries, expected {s} (one per weight in b)",
                    c.len()
                ),
            ));
            return (None, errors);
        }
        Some((_, c)) => c.iter().map(|(_, q)| q.clone()).collect(),
        None => a
            .iter()
            .map(|r| r.iter().fold(Q::zero(), |x, y| x + y))
            .collect(),
    };
    let b_hat: Option<Vec<Q>> = match &raw.b_hat {
        Some((bs, v)) if v.len() != s => {
            errors.push(err(
                *bs,
                format!("b_hat has {} entries, expected {s}", v.len()),
            ));
            return (None, errors);
        }
        Some((_, v)) => Some(v.iter().map(|(_, q)| q.clone()).collect()),
        None => None,
    };
    if !errors.is_empty() {
        return (None, errors);
    }
    let tol = raw.tolerance.clone().unwrap_or_else(Q::zero);
    if let Some((_, c_coefs)) = &raw.c {
        for (i, (coef, ci)) in c_coefs.iter().enumerate() {
            let sum = a[i].iter().fold(Q::zero(), |x, y| x + y);
            let diff = &sum - ci;
            if num_traits::Signed::abs(&diff) > tol {
                errors.push(coef.error(format!(
                    "inconsistent node: c_{} = {ci} but row {} of A sums to {sum} (need c_i = Σ_j a_ij)",
                    i + 1,
                    i + 1
                )));
            }
        }
    }
    if !errors.is_empty() {
        return (None, errors);
    }
    let bq: Vec<Q> = b.iter().map(|(_, q)| q.clone()).collect();
    let (embedded_order, eo_span) = match (&b_hat, raw.embedded_order) {
        (Some(_), Some((sp, p))) => (Some(p), Some(sp)),
        (Some(_), None) => (Some(0), None),
        (None, Some((sp, _))) => {
            errors.push(err(
                sp,
                "`embedded_order` is given without embedded weights `b_hat`",
            ));
            return (None, errors);
        }
        (None, None) => (None, None),
    };
    let tableau = match Tableau::new(
        name,
        a,
        bq,
        c,
        b_hat,
        raw.order.map_or(0, |o| o.1),
        embedded_order,
    ) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(span, e));
            return (None, errors);
        }
    };
    // Orders: the claimed one (or the highest satisfied when none is claimed).
    let order = match raw.order {
        Some((sp, p)) => {
            if let Err(e) = tableau.check_order_within(p, &tol) {
                errors.push(order_error(&e, sp, b_span, "b"));
            }
            p
        }
        None => tableau.satisfied_order_within(MAX_ORDER, &tol),
    };
    let embedded_order = match (eo_span, &raw.b_hat) {
        (Some(sp), Some((bh_span, _))) => {
            let p = embedded_order.unwrap_or(0);
            if let Err(e) = tableau.check_embedded_order_within(p, &tol) {
                errors.push(order_error(&e, sp, *bh_span, "b_hat"));
            }
            Some(p)
        }
        (None, Some(_)) => tableau.satisfied_embedded_order_within(MAX_ORDER, &tol),
        _ => None,
    };
    if !errors.is_empty() {
        return (None, errors);
    }
    // Rebuild with the final orders (cheap: structure only).
    let tableau = match Tableau::new_with_tolerance(
        name,
        tableau.a().to_vec(),
        tableau.b().to_vec(),
        tableau.c().to_vec(),
        tableau.b_hat().map(<[Q]>::to_vec),
        order,
        embedded_order,
        tol,
    ) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(span, e));
            return (None, errors);
        }
    };
    let partner = match tableau.partner() {
        Ok(p) => p,
        Err(e) => {
            errors.push(err(
                b_span,
                format!("{e}; the symplectic adjoint needs a partner"),
            ));
            return (None, errors);
        }
    };
    (
        Some(CheckedTableau {
            tableau,
            partner,
            builtin: None,
        }),
        errors,
    )
}

/// The error for a failed order claim: on the weights when they do not sum to 1, else on the
/// claim.
fn order_error(e: &TableauError, claim: Span, weights_span: Span, weights: &str) -> syn::Error {
    match e.order_failure() {
        Some(f) if f.order == 1 => {
            let sum = f.residual.parse::<String>().unwrap_or_default();
            err(
                weights_span,
                format!(
                    "the weights {weights} do not sum to 1 (Σ {weights}_i − 1 = {sum}): the \
                     order-1 condition fails, so the tableau is not consistent with dx/dt = f"
                ),
            )
        }
        _ => err(claim, e),
    }
}

/// Checks a user-supplied adjoint tableau `(A, B, C)` against the forward tableau: shapes,
/// `B = b`, `C = c` and the pairing conditions `b_i A_ij + B_j a_ji − b_i B_j = 0`, with the
/// error on the offending coefficient.
pub(super) fn check_explicit_adjoint(
    forward: &Tableau,
    span: Span,
    body: &TableauBody,
) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let Some(raw) = read_body(body, span, &mut errors) else {
        return errors;
    };
    let (_, rows) = raw.a.expect("present");
    let (b_span, b) = raw.b.expect("present");
    let n = b.len();
    let c: Vec<(Option<Coef>, Q)> = match raw.c {
        Some((_, c)) => c.into_iter().map(|(k, q)| (Some(k), q)).collect(),
        None => forward
            .c()
            .iter()
            .take(n)
            .map(|q| (None, q.clone()))
            .collect(),
    };
    let full: Vec<Vec<Q>> = rows
        .iter()
        .map(|(_, r)| r.iter().map(|(_, q)| q.clone()).collect())
        .collect();
    let bq: Vec<Q> = b.iter().map(|(_, q)| q.clone()).collect();
    let cq: Vec<Q> = c.iter().map(|(_, q)| q.clone()).collect();
    match check_adjoint(forward, &full, &bq, &cq) {
        Ok(_) => {}
        Err(TableauError::NotSymplecticPair { i, j, residual, .. }) => {
            let msg = format!(
                "the adjoint tableau is not a symplectic partner of `{}`: the pairing condition \
                 b_i A_ij + B_j a_ji − b_i B_j = 0 fails at (i, j) = ({i}, {j}) with residual {residual}",
                forward.name()
            );
            match rows.get(i - 1).and_then(|(_, r)| r.get(j - 1)) {
                Some((coef, _)) => errors.push(coef.error(msg)),
                None => errors.push(err(span, msg)),
            }
        }
        Err(TableauError::AdjointMismatch {
            vector,
            i,
            expected,
            got,
            expected_name,
            ..
        }) => {
            let msg = format!(
                "the adjoint's {vector}_{i} = {got} must equal the forward {expected_name}_{i} = {expected}"
            );
            let coef = if vector == "B" {
                b.get(i - 1).map(|x| x.0.clone())
            } else {
                c.get(i - 1).and_then(|x| x.0.clone())
            };
            errors.push(coef.map_or_else(|| err(b_span, &msg), |k| k.error(&msg)));
        }
        Err(TableauError::Shape {
            what,
            expected,
            got,
            ..
        }) => errors.push(err(
            if what.starts_with("adjoint B") {
                b_span
            } else {
                span
            },
            format!("{what} has length {got}, expected {expected} (adjoint rows are full rows)"),
        )),
        Err(e) => errors.push(err(span, e)),
    }
    errors
}
