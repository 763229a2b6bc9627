//! Every built-in tableau has exactly its stated orders: the claimed order holds, the next
//! one fails (the failing tree is printed).

use symplode_codegen::tableau::{
    BUILTIN_NAMES, MAX_ORDER, Q, Tableau, TableauError, builtin, parse_q, q, q_to_f64,
};

/// Tableaux whose coefficients satisfy the conditions exactly, with (order, embedded order).
const EXACT: &[(&str, u32, Option<u32>)] = &[
    ("euler", 1, None),
    ("midpoint", 2, None),
    ("heun2", 2, Some(1)),
    ("ralston2", 2, None),
    ("rk4", 4, None),
    ("rk38", 4, None),
    ("bosh3", 3, Some(2)),
    ("fehlberg45", 4, Some(5)),
    ("cash_karp45", 5, Some(4)),
    ("dopri5", 5, Some(4)),
];

/// The next order fails: print the first failing tree and its residual.
fn next_fails(t: &Tableau, weights: &str, p: u32) {
    if p >= MAX_ORDER {
        eprintln!(
            "{} {weights}: order {} is beyond the enumerated trees",
            t.name(),
            p + 1
        );
        return;
    }
    let err = if weights == "b" {
        t.check_order(p + 1)
    } else {
        t.check_embedded_order(p + 1)
    };
    match err.as_ref().map_err(TableauError::order_failure) {
        Err(Some(f)) => {
            assert_eq!(f.order, p + 1, "{f}");
            eprintln!("{f}");
        }
        _ => panic!(
            "{} {weights}: order {} should fail, got {err:?}",
            t.name(),
            p + 1
        ),
    }
}

#[test]
fn exact_builtins_have_exactly_their_orders() {
    for &(name, p, ph) in EXACT {
        let t = builtin(name).unwrap();
        assert_eq!(t.order(), p, "{name}");
        assert_eq!(t.embedded_order(), ph, "{name}");
        assert_eq!(t.tolerance(), &q(0, 1), "{name} is exact");
        // Rebuilding with the exact checker succeeds.
        let again = Tableau::new_checked(
            name,
            t.a().to_vec(),
            t.b().to_vec(),
            t.c().to_vec(),
            t.b_hat().map(<[Q]>::to_vec),
            p,
            ph,
        )
        .unwrap();
        assert_eq!(again, t);
        assert_eq!(t.satisfied_order(8), p, "{name}");
        next_fails(&t, "b", p);
        assert_eq!(t.satisfied_embedded_order(8), ph, "{name}");
        if let Some(ph) = ph {
            next_fails(&t, "b_hat", ph);
        }
    }
}

#[test]
fn dopri8_holds_to_1e_16_only() {
    let t = builtin("dopri8").unwrap();
    assert_eq!(t.stages(), 14);
    assert!(t.is_fsal());
    assert_eq!(t.tolerance(), &q(1, 10_i64.pow(16)));
    // The rational approximations are not exact: even Σ b = 1 fails, by 3.7e-18.
    assert_eq!(t.satisfied_order(8), 0);
    let e = t.check_order(1).unwrap_err();
    let f = e.order_failure().unwrap();
    assert_eq!(f.tree, "τ");
    assert!(f.residual_f64.abs() < 1e-17 && f.residual_f64 != 0.0, "{f}");
    let tol = q(1, 10_i64.pow(16));
    assert_eq!(t.satisfied_order_within(8, &tol), 8);
    assert_eq!(t.satisfied_embedded_order_within(8, &tol), Some(7));
    // The embedded order 8 fails for real (residual ~1e-4), not by rounding.
    let e = t.check_embedded_order_within(8, &tol).unwrap_err();
    let f = e.order_failure().unwrap();
    assert!(f.residual_f64.abs() > 1e-6, "{f}");
    eprintln!("{f}");
    // Exact consistency fails by ~1e-17 (row 7 is the first inexact row).
    match Tableau::new(
        "dopri8",
        t.a().to_vec(),
        t.b().to_vec(),
        t.c().to_vec(),
        None,
        8,
        None,
    ) {
        Err(TableauError::Inconsistent { i, .. }) => assert_eq!(i, 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tsit5_is_order_5_to_1e_40_and_matches_the_reference_floats() {
    let t = builtin("tsit5").unwrap();
    assert_eq!((t.stages(), t.order(), t.embedded_order()), (7, 5, Some(4)));
    assert!(t.is_fsal());
    let tol = parse_q("1e-40").unwrap();
    assert_eq!(t.tolerance(), &tol);
    // Exactly: order 4 (one order-5 tree misses by ~5e-44) and embedded order 3.
    assert_eq!(t.satisfied_order(8), 4);
    let e = t.check_order(5).unwrap_err();
    let f = e.order_failure().unwrap();
    assert_eq!(f.tree, "[[τ][τ]]");
    assert!(f.residual_f64.abs() < 1e-43 && f.residual_f64 != 0.0, "{f}");
    eprintln!("{f}");
    assert_eq!(t.satisfied_embedded_order(8), Some(3));
    // Within 1e-40: orders 5 and 4, and the next orders fail for real.
    assert_eq!(t.satisfied_order_within(8, &tol), 5);
    assert_eq!(t.satisfied_embedded_order_within(8, &tol), Some(4));
    for (res, what) in [
        (t.check_order_within(6, &tol), "b"),
        (t.check_embedded_order_within(5, &tol), "b_hat"),
    ] {
        let e = res.unwrap_err();
        let f = e.order_failure().unwrap();
        assert!(f.residual_f64.abs() > 1e-8, "{what}: {f}");
        eprintln!("{f}");
    }
    // Every coefficient rounds to the f64 of the reference implementation
    // (OrdinaryDiffEq.jl, Tsit5ConstantCacheActual for Float64).
    let c = [0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0];
    let a: [&[f64]; 7] = [
        &[],
        &[0.161],
        &[-0.008480655492356989, 0.335480655492357],
        &[2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        &[
            5.325864828439257,
            -11.748883564062828,
            7.4955393428898365,
            -0.09249506636175525,
        ],
        &[
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ],
        &[
            0.09646076681806523,
            0.01,
            0.4798896504144996,
            1.379008574103742,
            -3.290069515436081,
            2.324710524099774,
        ],
    ];
    let b_hat = [
        0.09468075576583945,
        0.009183565540343254,
        0.4877705284247616,
        1.234297566930479,
        -2.7077123499835256,
        1.866628418170587,
        0.015151515151515152,
    ];
    for i in 0..7 {
        assert_eq!(q_to_f64(&t.c()[i]), c[i], "c_{}", i + 1);
        for (j, &want) in a[i].iter().enumerate() {
            assert_eq!(q_to_f64(&t.a()[i][j]), want, "a_{}{}", i + 1, j + 1);
        }
        assert_eq!(
            q_to_f64(&t.b_hat().unwrap()[i]),
            b_hat[i],
            "b_hat_{}",
            i + 1
        );
    }
    assert_eq!(t.b()[6], q(0, 1));
    assert_eq!(t.b()[1], q(1, 100));
    assert_eq!(t.b_hat().unwrap()[6], q(1, 66));
}

#[test]
fn fsal_flags() {
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let want = matches!(*name, "bosh3" | "dopri5" | "tsit5" | "dopri8");
        assert_eq!(t.is_fsal(), want, "{name}");
    }
}

#[test]
fn dopri8_order_8_check_is_fast() {
    let t = builtin("dopri8").unwrap();
    let start = std::time::Instant::now();
    let tol = q(1, 10_i64.pow(16));
    assert_eq!(t.satisfied_order_within(8, &tol), 8);
    let took = start.elapsed();
    eprintln!("dopri8 order-8 check: {took:?}");
    let limit = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
    assert!(took.as_secs_f64() < limit, "took {took:?}");
}

#[test]
fn every_builtin_draws_its_table() {
    for name in BUILTIN_NAMES {
        let text = builtin(name).unwrap().to_string();
        assert!(text.starts_with(name), "{text}");
        assert!(text.lines().count() >= 3, "{text}");
        eprintln!("{text}");
    }
}
