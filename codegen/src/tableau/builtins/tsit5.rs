//! Tsitouras 5(4), derived in exact rationals from its free parameters.

use num_traits::{One, Zero};

use super::super::linalg::solve;
use super::super::order::StageVectors;
use super::super::{Q, Tableau, TableauError, parse_q, q};

/// Tsitouras 5(4), 7 stages, FSAL (Ch. Tsitouras, "Runge–Kutta pairs of order 5(4)
/// satisfying only the first column simplifying assumption", *Comput. Math. Appl.* 62
/// (2011) 770–775), the default `Tsit5` of DifferentialEquations.jl.
///
/// **How the coefficients are obtained.** The published coefficients are decimals, and the
/// exact method is *not rational*: with the published `c_2 … c_5` and `b_2 = 1/100`, the
/// order-5 conditions leave `a_63` free and make `a_64` a root of a quadratic whose
/// discriminant is not a rational square (all other coefficients then follow linearly). So
/// this tableau is derived exactly from its free parameters, with the one irrational value
/// rounded:
/// 1. `c = [0, 161/1000, 327/1000, 9/10, c_5, 1, 1]`, `c_5` and `a_63` to 40 digits (from the
///    high-precision table of OrdinaryDiffEq.jl, `Tsit5ConstantCacheActual`), `b_2 = 1/100`,
///    `b_7 = 0`;
/// 2. `b_1, b_3 … b_6` from the quadrature conditions `Σ b_i c_i^k = 1/(k+1)`, `k = 0…4`;
/// 3. `a_64` = the root of that quadratic, rounded to 40 digits;
/// 4. `a_32, a_42, a_43, a_52, a_53, a_54, a_65, a_62` from the column simplifying
///    assumption `Σ_i b_i a_ij = b_j (1 − c_j)` (`j = 2…5`) and the conditions of the trees
///    `[[τ]τ]`, `[[τ]ττ]`, `[[ττ]τ]`, `[[[τ]]τ]` (linear solves); `a_i1` from
///    `c_i = Σ_j a_ij`; row 7 = `b` (FSAL);
/// 5. `b̂` (order 4, `b̂_7 = 1/66`) from the conditions of `τ, [τ], [ττ], [τττ], [[τ]], [[[τ]]]`.
///
/// **Result.** Consistency, FSAL and every order condition up to order 5 hold exactly
/// except one: tree `[[τ][τ]]` (`Σ b_i (Σ_j a_ij c_j)² = 1/20`) fails by `5.1e-44`. The
/// embedded weights meet all order-4 conditions but two (`[[τ]τ]`, `[[ττ]]`) exactly, those
/// two to `1e-42`. Hence [`Tableau::satisfied_order`] is 4 and the embedded 3, while within
/// `1e-40` the orders are 5 and 4, and orders 6 and 5 fail by `O(1e-4)`. Every coefficient
/// rounds to the same `f64` as the reference implementation's. The tableau is built with
/// [`Tableau::new_with_tolerance`] at `1e-40`.
///
/// Approximately (`f64`):
///
/// ```text
/// c = [0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1]
/// a21 = 0.161
/// a3· = [-0.008480655492356989, 0.335480655492357]
/// a4· = [2.8971530571054935, -6.359448489975075, 4.3622954328695815]
/// a5· = [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525]
/// a6· = [5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
///        -0.028269050394068383]
/// a7· = b = [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742,
///            -3.290069515436081, 2.324710524099774, 0]
/// b̂ = [0.09468075576583945, 0.009183565540343254, 0.4877705284247616, 1.234297566930479,
///      -2.7077123499835256, 1.866628418170587, 0.015151515151515152]
/// ```
///
/// # Errors
/// [`TableauError::Derivation`] if a linear solve were singular (an internal invariant).
pub fn tsit5() -> Result<Tableau, TableauError> {
    let fail = |reason: &str| TableauError::Derivation {
        name: "tsit5".to_string(),
        reason: reason.to_string(),
    };
    let c = vec![
        Q::zero(),
        q(161, 1000),
        q(327, 1000),
        q(9, 10),
        parse_q("0.9800255409045096857298102862870245954942")?,
        Q::one(),
        Q::one(),
    ];
    let a63 = parse_q("8.159367898576158643180400794539253485182")?;
    let a64 = parse_q("-0.07158497328140099722453054252582973869123")?;
    let b = weights(&c).ok_or_else(|| fail("singular quadrature system for b"))?;

    // Unknowns u = (a32, a42, a43, a52, a53, a54, a65) (0-based positions below) and the
    // parameter t = a62; the seven conditions are affine in (u, t).
    const POS: [(usize, usize); 7] = [(2, 1), (3, 1), (3, 2), (4, 1), (4, 2), (4, 3), (5, 4)];
    let assemble = |u: &[Q], t: &Q| -> Vec<Vec<Q>> {
        let mut a = vec![vec![Q::zero(); 7]; 7];
        for (&(i, j), v) in POS.iter().zip(u) {
            a[i][j] = v.clone();
        }
        a[5][1] = t.clone();
        a[5][2] = a63.clone();
        a[5][3] = a64.clone();
        for i in 1..6 {
            let rest = a[i][1..i].iter().fold(Q::zero(), |s, x| s + x);
            a[i][0] = &c[i] - rest;
        }
        a[6] = b.clone();
        a
    };
    let zero7 = vec![Q::zero(); 7];
    let l0 = linear_conditions(&assemble(&zero7, &Q::zero()), &b, &c);
    let mut m = vec![vec![Q::zero(); 7]; 7];
    for k in 0..7 {
        let mut e = zero7.clone();
        e[k] = Q::one();
        let lk = linear_conditions(&assemble(&e, &Q::zero()), &b, &c);
        for r in 0..7 {
            m[r][k] = &lk[r] - &l0[r];
        }
    }
    let lt = linear_conditions(&assemble(&zero7, &Q::one()), &b, &c);
    let neg = |v: &[Q]| v.iter().map(|x| -x).collect::<Vec<Q>>();
    let x0 = solve(m.clone(), neg(&l0)).ok_or_else(|| fail("singular system for A"))?;
    let mt: Vec<Q> = lt.iter().zip(&l0).map(|(x, y)| x - y).collect();
    let x1 = solve(m, neg(&mt)).ok_or_else(|| fail("singular system for A"))?;
    let at = |t: &Q| {
        let u: Vec<Q> = x0.iter().zip(&x1).map(|(p, d)| p + d * t).collect();
        assemble(&u, t)
    };
    // The tree [[[τ]]τ] condition is linear in t = a62 along this line.
    let g = |t: &Q| tall_condition(&at(t), &b, &c);
    let (g0, g1, gm1) = (g(&Q::zero()), g(&Q::one()), g(&-Q::one()));
    if &g1 + &gm1 != &g0 + &g0 || g1 == g0 {
        return Err(fail("the [[[τ]]τ] condition is not linear in a62"));
    }
    let t = -&g0 / (&g1 - &g0);
    let a = at(&t);

    // Embedded weights: b̂_7 = 1/66 and six order conditions of order <= 4.
    let sv = StageVectors::new(&a, 4);
    let b7 = q(1, 66);
    let trees = [(0usize, 1i64), (1, 2), (2, 3), (4, 4), (3, 6), (7, 24)];
    let mut mb = Vec::new();
    let mut rhs = Vec::new();
    for (tree, gamma) in trees {
        let u = sv.u(tree);
        mb.push(u[..6].to_vec());
        rhs.push(q(1, gamma) - &b7 * &u[6]);
    }
    let mut b_hat = solve(mb, rhs).ok_or_else(|| fail("singular system for b_hat"))?;
    b_hat.push(b7);
    Tableau::new_with_tolerance("tsit5", a, b, c, Some(b_hat), 5, Some(4), tol())
}

/// The tolerance tsit5 is validated with, `1e-40`.
fn tol() -> Q {
    Q::new(1.into(), num_traits::pow(num_bigint::BigInt::from(10), 40))
}

/// `b` with `b_2 = 1/100`, `b_7 = 0` and the quadrature conditions of orders 1–5.
fn weights(c: &[Q]) -> Option<Vec<Q>> {
    let free = [0usize, 2, 3, 4, 5];
    let b2 = q(1, 100);
    let mut m = Vec::new();
    let mut rhs = Vec::new();
    for k in 0..5usize {
        m.push(
            free.iter()
                .map(|&i| num_traits::pow(c[i].clone(), k))
                .collect(),
        );
        rhs.push(q(1, k as i64 + 1) - &b2 * num_traits::pow(c[1].clone(), k));
    }
    let x = solve(m, rhs)?;
    Some(vec![
        x[0].clone(),
        b2,
        x[1].clone(),
        x[2].clone(),
        x[3].clone(),
        x[4].clone(),
        Q::zero(),
    ])
}

fn mat_vec(a: &[Vec<Q>], v: &[Q]) -> Vec<Q> {
    a.iter()
        .map(|row| row.iter().zip(v).fold(Q::zero(), |s, (x, y)| s + x * y))
        .collect()
}

fn dot(x: &[Q], y: &[Q]) -> Q {
    x.iter().zip(y).fold(Q::zero(), |s, (p, r)| s + p * r)
}

/// Residuals of the seven conditions that are affine in the unknown entries of `A`:
/// `Σ_i b_i a_ij − b_j (1 − c_j)` for `j = 2…5`, and the trees `[[τ]τ]`, `[[τ]ττ]`, `[[ττ]τ]`.
fn linear_conditions(a: &[Vec<Q>], b: &[Q], c: &[Q]) -> Vec<Q> {
    let mut out: Vec<Q> = (1..5)
        .map(|j| {
            let col: Vec<Q> = a.iter().map(|row| row[j].clone()).collect();
            dot(b, &col) - &b[j] * (Q::one() - &c[j])
        })
        .collect();
    let ac = mat_vec(a, c);
    let c2: Vec<Q> = c.iter().map(|x| x * x).collect();
    let ac2 = mat_vec(a, &c2);
    let bc: Vec<Q> = b.iter().zip(c).map(|(x, y)| x * y).collect();
    let bc2: Vec<Q> = bc.iter().zip(c).map(|(x, y)| x * y).collect();
    out.push(dot(&bc, &ac) - q(1, 8));
    out.push(dot(&bc2, &ac) - q(1, 10));
    out.push(dot(&bc, &ac2) - q(1, 15));
    out
}

/// Residual of the tree `[[[τ]]τ]`: `Σ_i b_i c_i (A A c)_i − 1/30`.
fn tall_condition(a: &[Vec<Q>], b: &[Q], c: &[Q]) -> Q {
    let aac = mat_vec(a, &mat_vec(a, c));
    let bc: Vec<Q> = b.iter().zip(c).map(|(x, y)| x * y).collect();
    dot(&bc, &aac) - q(1, 30)
}
