//! Bad tableaux give typed errors that say what and where; layouts of `A`; `f64` conversion.

use num_bigint::BigInt;
use num_traits::ToPrimitive;
use symplode_codegen::tableau::{Q, Tableau, TableauError, builtin, parse_q, q, q_to_f64};

fn qv(items: &[&str]) -> Vec<Q> {
    items.iter().map(|s| parse_q(s).unwrap()).collect()
}

fn rk4_rows() -> Vec<Vec<Q>> {
    vec![qv(&["1/2"]), qv(&["0", "1/2"]), qv(&["0", "0", "1"])]
}

fn rk4_b() -> Vec<Q> {
    qv(&["1/6", "1/3", "1/3", "1/6"])
}

fn rk4_c() -> Vec<Q> {
    qv(&["0", "1/2", "1/2", "1"])
}

#[test]
fn all_three_layouts_of_a_give_the_same_tableau() {
    let short = Tableau::new("rk4", rk4_rows(), rk4_b(), rk4_c(), None, 4, None).unwrap();
    let mut with_empty = vec![vec![]];
    with_empty.extend(rk4_rows());
    let lower = Tableau::new("rk4", with_empty, rk4_b(), rk4_c(), None, 4, None).unwrap();
    let full = Tableau::new("rk4", short.a().to_vec(), rk4_b(), rk4_c(), None, 4, None).unwrap();
    assert_eq!(short, lower);
    assert_eq!(short, full);
    assert_eq!(short, builtin("rk4").unwrap());
    assert_eq!(short.a().len(), 4);
    assert!(short.a().iter().all(|r| r.len() == 4));
}

#[test]
fn inconsistent_c_names_the_stage() {
    let mut c = rk4_c();
    c[2] = q(1, 3);
    let e = Tableau::new("bad", rk4_rows(), rk4_b(), c, None, 4, None).unwrap_err();
    match &e {
        TableauError::Inconsistent {
            i, c_i, row_sum, ..
        } => {
            assert_eq!((*i, c_i.as_str(), row_sum.as_str()), (3, "1/3", "1/2"));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("stage 3") && msg.contains("c_3 = 1/3"),
        "{msg}"
    );
}

#[test]
fn nonzero_diagonal_or_upper_entry_is_not_explicit() {
    let mut a = builtin("rk4").unwrap().a().to_vec();
    a[1][1] = q(1, 4);
    let e = Tableau::new("implicit", a, rk4_b(), rk4_c(), None, 4, None).unwrap_err();
    assert!(
        matches!(e, TableauError::NotExplicit { i: 2, j: 2, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("a_22 = 1/4"), "{e}");
    let mut a = builtin("rk4").unwrap().a().to_vec();
    a[0][3] = q(-1, 1);
    let e = Tableau::new("implicit", a, rk4_b(), rk4_c(), None, 4, None).unwrap_err();
    assert!(
        matches!(e, TableauError::NotExplicit { i: 1, j: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn wrong_lengths_name_the_vector_or_row() {
    let mut rows = rk4_rows();
    rows[1].push(q(1, 9));
    let e = Tableau::new("bad", rows, rk4_b(), rk4_c(), None, 4, None).unwrap_err();
    match &e {
        TableauError::Shape { what, got, .. } => {
            assert_eq!((what.as_str(), *got), ("row 3 of A", 3))
        }
        other => panic!("{other:?}"),
    }
    let e = Tableau::new(
        "bad",
        rk4_rows()[..2].to_vec(),
        rk4_b(),
        rk4_c(),
        None,
        4,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, TableauError::Shape { what, .. } if what == "A (number of rows)"),
        "{e:?}"
    );
    let e = Tableau::new(
        "bad",
        rk4_rows(),
        rk4_b(),
        rk4_c()[..3].to_vec(),
        None,
        4,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, TableauError::Shape { what, got: 3, .. } if what == "c"),
        "{e:?}"
    );
    let e = Tableau::new(
        "bad",
        rk4_rows(),
        rk4_b(),
        rk4_c(),
        Some(rk4_b()[..2].to_vec()),
        4,
        Some(3),
    )
    .unwrap_err();
    assert!(
        matches!(&e, TableauError::Shape { what, .. } if what == "b_hat"),
        "{e:?}"
    );
    let e = Tableau::new("bad", rk4_rows(), rk4_b(), rk4_c(), Some(rk4_b()), 4, None).unwrap_err();
    assert!(matches!(e, TableauError::InvalidEmbedded { .. }), "{e:?}");
    let e = Tableau::new("bad", rk4_rows(), rk4_b(), rk4_c(), None, 4, Some(3)).unwrap_err();
    assert!(matches!(e, TableauError::InvalidEmbedded { .. }), "{e:?}");
    let e = Tableau::new("empty", vec![], vec![], vec![], None, 1, None).unwrap_err();
    assert!(matches!(e, TableauError::EmptyTableau { .. }), "{e:?}");
}

#[test]
fn rk4_claimed_order_5_names_a_fifth_order_tree() {
    let e = Tableau::new_checked("rk4?", rk4_rows(), rk4_b(), rk4_c(), None, 5, None).unwrap_err();
    let f = e.order_failure().unwrap();
    assert_eq!((f.weights, f.claimed, f.order), ("b", 5, 5));
    assert_eq!(f.tree, "[ττττ]");
    assert_eq!(parse_q(&f.residual).unwrap(), q(1, 120));
    assert_eq!(f.expected, "1/5");
    let msg = e.to_string();
    assert!(msg.contains("[ττττ]") && msg.contains("1/120"), "{msg}");
    let t = builtin("rk4").unwrap();
    assert!(matches!(
        t.check_order(9),
        Err(TableauError::ClaimedOrderTooHigh {
            claimed: 9,
            max: 8,
            ..
        })
    ));
    assert!(matches!(
        Tableau::new_checked("rk4", rk4_rows(), rk4_b(), rk4_c(), None, 12, None),
        Err(TableauError::ClaimedOrderTooHigh { claimed: 12, .. })
    ));
    // The claim of `new` is not checked; the satisfied order is computed.
    let unchecked = Tableau::new("rk4", rk4_rows(), rk4_b(), rk4_c(), None, 12, None).unwrap();
    assert_eq!(unchecked.satisfied_order(99), 4);
}

#[test]
fn weights_not_summing_to_one_fail_the_order_1_tree() {
    let b = qv(&["1/6", "1/3", "1/3", "1/5"]);
    let e = Tableau::new_checked("sum", rk4_rows(), b, rk4_c(), None, 1, None).unwrap_err();
    let f = e.order_failure().unwrap();
    assert_eq!((f.tree.as_str(), f.order), ("τ", 1));
    assert_eq!(parse_q(&f.residual).unwrap(), q(1, 30));
    // Embedded weights are checked too, and named as such.
    let e = Tableau::new_checked(
        "heun?",
        vec![qv(&["1"])],
        qv(&["1/2", "1/2"]),
        qv(&["0", "1"]),
        Some(qv(&["1", "0"])),
        2,
        Some(2),
    )
    .unwrap_err();
    let f = e.order_failure().unwrap();
    assert_eq!((f.weights, f.order), ("b_hat", 2), "{f}");
}

#[test]
fn tolerance_accepts_decimal_coefficients() {
    // rk4 with b rounded to 17 digits: exact checks fail, a tolerance accepts.
    let b = qv(&[
        "0.16666666666666667",
        "0.33333333333333333",
        "0.33333333333333333",
        "0.16666666666666667",
    ]);
    assert!(Tableau::new_checked("rk4dec", rk4_rows(), b.clone(), rk4_c(), None, 4, None).is_err());
    let t = Tableau::new_with_tolerance(
        "rk4dec",
        rk4_rows(),
        b,
        rk4_c(),
        None,
        4,
        None,
        parse_q("1e-15").unwrap(),
    )
    .unwrap();
    assert!(t.satisfied_order(8) < 4);
    assert_eq!(t.satisfied_order_within(8, &parse_q("1e-15").unwrap()), 4);
    let e = Tableau::new_with_tolerance(
        "rk4dec",
        rk4_rows(),
        rk4_b(),
        rk4_c(),
        None,
        5,
        None,
        parse_q("1e-15").unwrap(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("tolerance 1/1000000000000000"),
        "{e}"
    );
}

#[test]
fn parse_errors_name_the_text() {
    for bad in ["", "1/0", "x", "1/2/3", "0x10", "1.5/2", "−"] {
        let e = parse_q(bad).unwrap_err();
        assert!(
            matches!(&e, TableauError::Parse { text, .. } if text == bad),
            "{e:?}"
        );
        assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
    }
    assert_eq!(parse_q("−56/15").unwrap(), q(-56, 15));
    assert_eq!(parse_q("0.25").unwrap(), q(1, 4));
}

/// dopri8's coefficients have numerators and denominators below 2^53, so `n as f64 / d as
/// f64` is correctly rounded; `q_to_f64` must agree (we assert equality, which is stronger
/// than the 1-ulp requirement).
#[test]
fn q_to_f64_matches_division_on_dopri8() {
    let t = builtin("dopri8").unwrap();
    let mut all: Vec<Q> = t.a().iter().flatten().cloned().collect();
    all.extend(t.b().iter().cloned());
    all.extend(t.c().iter().cloned());
    all.extend(t.b_hat().unwrap().iter().cloned());
    let limit = BigInt::from(1u64 << 53);
    let mut compared = 0;
    for x in &all {
        let (n, d) = (x.numer(), x.denom());
        if n.magnitude() < limit.magnitude() && d.magnitude() < limit.magnitude() {
            let want = n.to_f64().unwrap() / d.to_f64().unwrap();
            assert_eq!(q_to_f64(x), want, "{x}");
            compared += 1;
        }
    }
    assert_eq!(compared, all.len());
    // The deep products of the order conditions have huge parts; the conversion copes.
    let big = Q::new(BigInt::from(3).pow(700), BigInt::from(2).pow(1100) + 1);
    let v = q_to_f64(&big);
    assert!(v.is_finite() && (v.log2() - (700.0 * 3f64.log2() - 1100.0)).abs() < 1e-9);
}
/// The error stays small (clippy's `result_large_err` threshold is 128 bytes).
#[test]
fn error_is_small() {
    assert!(std::mem::size_of::<TableauError>() <= 120);
}
