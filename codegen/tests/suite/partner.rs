//! Symplectic partners: the pairing proof of every built-in, the dopri5 coefficients of the
//! authors' code, exactness of the backward recursion on a linear ODE, and `check_adjoint`.

use num_traits::{One, Zero};
use symplode_codegen::tableau::{
    BUILTIN_NAMES, IdentityKind, Q, Tableau, TableauError, builtin, check_adjoint, parse_q,
    prove_pairing, q,
};

#[test]
fn every_builtin_partner_is_proved() {
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let p = t.partner().unwrap();
        let (stages, dropped) = match *name {
            "dopri5" => (6, 1),
            "dopri8" => (13, 1),
            "bosh3" => (3, 1),
            "fehlberg45" => (5, 1),
            "tsit5" => (6, 1),
            _ => (t.stages(), 0),
        };
        assert_eq!((p.stages, p.dropped), (stages, dropped), "{name}");
        assert!(p.proof.holds(), "{name}");
        let n = p.stages;
        let classical = p.zero_weight.iter().filter(|z| !**z).count();
        assert_eq!(p.proof.count_of(IdentityKind::Coupling), n * n, "{name}");
        assert_eq!(
            p.proof.count_of(IdentityKind::SanzSerna),
            classical * n,
            "{name}"
        );
        assert_eq!(
            p.proof.count_of(IdentityKind::DroppedStage),
            dropped,
            "{name}"
        );
        assert_eq!(prove_pairing(&t, &p).unwrap(), p.proof, "{name}");
        // Couplings vanish on and below the diagonal.
        for i in 0..n {
            for j in 0..=i {
                assert!(p.coupling[i][j].is_zero());
            }
        }
        let text = format!("{:#}", p.proof);
        assert!(text.contains("all residuals 0"), "{text}");
    }
    let z: Vec<&str> = ["dopri5", "dopri8", "midpoint", "cash_karp45"]
        .iter()
        .copied()
        .filter(|n| {
            builtin(n)
                .unwrap()
                .partner()
                .unwrap()
                .zero_weight
                .contains(&true)
        })
        .collect();
    assert_eq!(z, ["dopri5", "dopri8", "midpoint", "cash_karp45"]);
    let p8 = builtin("dopri8").unwrap().partner().unwrap();
    let zero: Vec<usize> = (0..13)
        .filter(|&i| p8.zero_weight[i])
        .map(|i| i + 1)
        .collect();
    assert_eq!(zero, [2, 3, 4, 5]);
    println!("{}", builtin("dopri5").unwrap().partner().unwrap().proof);
}

fn qv(items: &[&str]) -> Vec<Q> {
    items.iter().map(|s| parse_q(s).unwrap()).collect()
}

/// The hand-coded `DOPRI5_TABLEAU_NEU/BAR` of the authors' code (METHOD.md §5), rebuilt
/// from `coupling` and `b`. Rows and columns are in reversed stage order: with `s = S − 1`,
/// entry `[r][q]` couples stage `i = s − 1 − r` to stage `k = s − q` (0-based), and equals
/// `b̃_k · coupling[i][k]`, i.e. `NEU + h·BAR`.
#[test]
fn dopri5_partner_equals_the_authors_tables() {
    let p = builtin("dopri5").unwrap().partner().unwrap();
    let s = p.stages - 1;
    assert_eq!(s, 5);
    let neu_rows: Vec<Vec<Q>> = vec![
        qv(&["1/9"]),
        qv(&["7/125", "18/125"]),
        qv(&["11683/4500", "-7049/1000", "371/72"]),
        qv(&["-355/252", "1585/424", "-175/72", "75/742"]),
        qv(&["9017/2205", "-19372/1855", "440/63", "960/2597", "0"]),
    ];
    let mut bar = vec![vec![Q::zero(); s]; s];
    bar[4][4] = q(384, 175);
    for r in 0..s {
        for qc in 0..=r {
            let (i, k) = (s - 1 - r, s - qc);
            let (neu, bar_rk) = if p.zero_weight[k] {
                (Q::zero(), p.coupling[i][k].clone())
            } else {
                (&p.b[k] * &p.coupling[i][k], Q::zero())
            };
            assert_eq!(neu, neu_rows[r][qc], "NEU[{r}][{qc}]");
            assert_eq!(bar_rk, bar[r][qc], "BAR[{r}][{qc}]");
        }
    }
    // c_neu = reverse(b), c_bar = reverse([b_i == 0]), alpha = reverse(c).
    let c_neu: Vec<Q> = p.b.iter().rev().cloned().collect();
    assert_eq!(
        c_neu,
        qv(&["11/84", "-2187/6784", "125/192", "500/1113", "0", "35/384"])
    );
    let c_bar: Vec<Q> = p
        .zero_weight
        .iter()
        .rev()
        .map(|z| if *z { Q::one() } else { Q::zero() })
        .collect();
    assert_eq!(c_bar, qv(&["0", "0", "0", "0", "1", "0"]));
    let alpha: Vec<Q> = p.c.iter().rev().cloned().collect();
    assert_eq!(alpha, qv(&["1", "8/9", "4/5", "3/10", "1/5", "0"]));
    // The classical partner row of stage 1: A_1j = b_j (1 − a_j1 / b_1).
    let a1 = p.a[0].as_ref().unwrap();
    assert_eq!(a1[0], q(35, 384));
    assert!(p.a[1].is_none(), "stage 2 has b_2 = 0: no classical row");
}

type Mat = Vec<Vec<Q>>;

fn mat_vec(m: &Mat, v: &[Q]) -> Vec<Q> {
    m.iter()
        .map(|r| r.iter().zip(v).fold(Q::zero(), |s, (x, y)| s + x * y))
        .collect()
}

fn transpose(m: &Mat) -> Mat {
    (0..m[0].len())
        .map(|j| m.iter().map(|r| r[j].clone()).collect())
        .collect()
}

/// One forward step of `x' = L x` (exact rationals).
fn forward_step(t: &Tableau, l: &Mat, h: &Q, x: &[Q]) -> Vec<Q> {
    let s = t.stages();
    let mut k: Vec<Vec<Q>> = Vec::new();
    for i in 0..s {
        let xi: Vec<Q> = (0..x.len())
            .map(|d| (0..i).fold(x[d].clone(), |acc, j| acc + h * &t.a()[i][j] * &k[j][d]))
            .collect();
        k.push(mat_vec(l, &xi));
    }
    (0..x.len())
        .map(|d| (0..s).fold(x[d].clone(), |acc, i| acc + h * &t.b()[i] * &k[i][d]))
        .collect()
}

/// The partner's backward recursion for `x' = L x` (`J_i = L`), evaluated at step `h`.
fn backward_step(t: &Tableau, l: &Mat, h: &Q, lam: &[Q]) -> Vec<Q> {
    let p = t.partner().unwrap();
    let lt = transpose(l);
    let bt = |i: usize| {
        if p.zero_weight[i] {
            h.clone()
        } else {
            p.b[i].clone()
        }
    };
    let mut ls: Vec<Vec<Q>> = vec![Vec::new(); p.stages];
    for i in (0..p.stages).rev() {
        let mut big: Vec<Q> = if p.zero_weight[i] {
            vec![Q::zero(); lam.len()]
        } else {
            lam.to_vec()
        };
        for j in i + 1..p.stages {
            let f = if p.zero_weight[i] {
                Q::one()
            } else {
                h.clone()
            };
            let g = -(f * &p.coupling[i][j] * bt(j));
            for d in 0..lam.len() {
                big[d] += &g * &ls[j][d];
            }
        }
        ls[i] = mat_vec(&lt, &big).into_iter().map(|v| -v).collect();
    }
    (0..lam.len())
        .map(|d| (0..p.stages).fold(lam[d].clone(), |acc, i| acc - h * bt(i) * &ls[i][d]))
        .collect()
}

/// For a linear ODE the step is `x_{n+1} = M x_n`, so the exact discrete gradient is
/// `λ_n = Mᵀ λ_{n+1}`; the partner's recursion must reproduce it exactly.
#[test]
fn backward_recursion_is_the_exact_transpose_on_a_linear_ode() {
    let l: Mat = vec![
        vec![q(-1, 3), q(2, 1), q(1, 5)],
        vec![q(-3, 2), q(1, 7), q(0, 1)],
        vec![q(1, 1), q(-1, 4), q(-2, 1)],
    ];
    let h = q(3, 10);
    let lam = vec![q(1, 1), q(-2, 3), q(5, 2)];
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let cols: Vec<Vec<Q>> = (0..3)
            .map(|e| {
                let x: Vec<Q> = (0..3)
                    .map(|d| if d == e { Q::one() } else { Q::zero() })
                    .collect();
                forward_step(&t, &l, &h, &x)
            })
            .collect();
        // cols[e] = M e_e, so (Mᵀ λ)_e = cols[e] · λ.
        let want: Vec<Q> = cols
            .iter()
            .map(|c| c.iter().zip(&lam).fold(Q::zero(), |s, (x, y)| s + x * y))
            .collect();
        assert_eq!(backward_step(&t, &l, &h, &lam), want, "{name}");
    }
}

#[test]
fn check_adjoint_accepts_the_classical_partner_and_names_a_broken_entry() {
    for name in ["rk4", "rk38", "heun2", "ralston2", "euler", "bosh3"] {
        let t = builtin(name).unwrap();
        let p = t.partner().unwrap();
        let a: Vec<Vec<Q>> = p.a.iter().map(|r| r.clone().unwrap()).collect();
        let proof = check_adjoint(&t, &a, &p.b, &p.c).unwrap();
        assert!(proof.holds());
        assert_eq!(proof.count_of(IdentityKind::SanzSerna), p.stages * p.stages);
    }
    let t = builtin("rk4").unwrap();
    let p = t.partner().unwrap();
    let mut a: Vec<Vec<Q>> = p.a.iter().map(|r| r.clone().unwrap()).collect();
    a[1][2] += q(1, 1000);
    match check_adjoint(&t, &a, &p.b, &p.c) {
        Err(e @ TableauError::NotSymplecticPair { i, j, .. }) => {
            assert_eq!((i, j), (2, 3), "{e}");
            let msg = e.to_string();
            assert!(msg.contains("(2, 3)") && msg.contains("1/3000"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    // B must equal b, C must equal c.
    let a: Vec<Vec<Q>> = p.a.iter().map(|r| r.clone().unwrap()).collect();
    let mut bb = p.b.clone();
    bb[3] = q(1, 5);
    match check_adjoint(&t, &a, &bb, &p.c) {
        Err(TableauError::AdjointMismatch { vector, i, .. }) => assert_eq!((vector, i), ("B", 4)),
        other => panic!("{other:?}"),
    }
    let mut cc = p.c.clone();
    cc[0] = q(1, 5);
    match check_adjoint(&t, &a, &p.b, &cc) {
        Err(TableauError::AdjointMismatch { vector, i, .. }) => assert_eq!((vector, i), ("C", 1)),
        other => panic!("{other:?}"),
    }
    // Wrong sizes.
    match check_adjoint(&t, &a[..3], &p.b, &p.c) {
        Err(TableauError::Shape { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// The classical condition needs b_i ≠ 0: dopri5 (b_2 = 0) has no classical partner and fails
/// at (2, 3), where b_3 a_32 ≠ 0; the b̃ = h form of `partner()` covers it.
#[test]
fn classical_check_fails_for_interior_zero_weights() {
    let t = builtin("dopri5").unwrap();
    let p = t.partner().unwrap();
    let a: Vec<Vec<Q>> =
        p.a.iter()
            .map(|r| r.clone().unwrap_or_else(|| vec![Q::zero(); p.stages]))
            .collect();
    match check_adjoint(&t, &a, &p.b, &p.c) {
        Err(TableauError::NotSymplecticPair { i, j, residual, .. }) => {
            assert_eq!((i, j), (2, 3));
            assert_eq!(parse_q(&residual).unwrap(), q(500, 1113) * q(9, 40));
        }
        other => panic!("{other:?}"),
    }
    // The full 7-stage form fails on the FSAL row; the 6-stage form is the one to give.
    let full: Vec<Vec<Q>> = vec![vec![Q::zero(); 7]; 7];
    assert!(check_adjoint(&t, &full, t.b(), t.c()).is_err());
}

#[test]
fn tampered_partner_fails_the_proof() {
    let t = builtin("dopri5").unwrap();
    let mut p = t.partner().unwrap();
    p.coupling[0][1] += q(1, 7);
    match prove_pairing(&t, &p) {
        Err(TableauError::NotSymplecticPair { i, j, identity, .. }) => {
            assert_eq!((i, j), (1, 2));
            assert!(identity.contains("g_ij"), "{identity}");
        }
        other => panic!("{other:?}"),
    }
    let mut p = t.partner().unwrap();
    p.zero_weight[1] = false;
    assert!(matches!(
        prove_pairing(&t, &p),
        Err(TableauError::NotSymplecticPair { .. })
    ));
    let mut p = t.partner().unwrap();
    p.b.pop();
    assert!(matches!(
        prove_pairing(&t, &p),
        Err(TableauError::Shape { .. })
    ));
}

#[test]
fn no_partner_when_all_weights_vanish() {
    let t = Tableau::new(
        "null",
        vec![vec![]],
        vec![q(0, 1)],
        vec![q(0, 1)],
        None,
        0,
        None,
    )
    .unwrap();
    match t.partner() {
        Err(e @ TableauError::NoPartner { .. }) => {
            assert!(e.to_string().contains("all weights b are zero"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Repeated dropping: b = [1, 0, 0] keeps one stage.
    let t = Tableau::new(
        "drop2",
        vec![vec![q(1, 2)], vec![q(1, 3), q(1, 3)]],
        vec![q(1, 1), q(0, 1), q(0, 1)],
        vec![q(0, 1), q(1, 2), q(2, 3)],
        None,
        1,
        None,
    )
    .unwrap();
    let p = t.partner().unwrap();
    assert_eq!((p.stages, p.dropped), (1, 2));
    assert!(p.proof.holds());
}
