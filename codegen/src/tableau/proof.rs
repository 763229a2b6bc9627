//! Exact, checkable proofs that an adjoint scheme is the symplectic partner of a forward
//! tableau.
//!
//! **Why the identities suffice** (METHOD.md §1.5). Reverse-mode differentiation of one
//! explicit step `x_{n+1} = x_n + h Σ_i b_i k_i`, `k_i = f(x_n + h Σ_{j<i} a_ij k_j)`, gives
//! the cotangents `μ_i = ∂L/∂k_i`:
//!
//! ```text
//! μ_i = h b_i λ_{n+1} + h Σ_{j>i} a_ji J_jᵀ μ_j,     λ_n = λ_{n+1} + Σ_i J_iᵀ μ_i.
//! ```
//!
//! The partner's recursion computes `Λ_i = w_i λ_{n+1} + Σ_j g_ij(h) l_j` with
//! `l_j = −J_jᵀ Λ_j`. Setting `μ_i := h b̃_i(h) Λ_i`, the two agree for every `f` iff, as
//! polynomials in the formal variable `h`,
//!
//! ```text
//! b̃_i(h) · w_i ≡ b_i                                   (weight of λ_{n+1})
//! b̃_i(h) · g_ij(h) + h · b̃_j(h) · a_ji ≡ 0   for all i, j   (coupling; both sides 0 for j <= i)
//! ```
//!
//! and then `λ_n = λ_{n+1} − h Σ_i b̃_i l_i` and `dL/dθ += h Σ_i b̃_i (∂f/∂θ)ᵀ Λ_i` are the
//! exact gradients. Dropped stages must have `b_k = 0` (they feed nothing after them). For
//! rows with `b_i ≠ 0` the coupling identity is Sanz-Serna's condition
//! `b_i A_ij + b_j a_ji − b_i b_j = 0`, which is also checked on the classical rows.

use std::fmt;

use num_traits::Zero;

use super::poly::Poly;
use super::{Q, SymplecticPartner, Tableau, TableauError};

/// Which identity a [`PairingIdentity`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityKind {
    /// A dropped trailing stage `k` has `b_k = 0` (residual `b_k`).
    DroppedStage,
    /// The partner's `B_i` equals the forward `b_i` (residual `B_i − b_i`).
    Weight,
    /// The partner's `C_i` equals the forward `c_i` (residual `C_i − c_i`).
    Node,
    /// `zero_weight[i]` is set exactly when `b_i = 0` (residual 0 or 1).
    ZeroWeightFlag,
    /// `b̃_i(h) · w_i − b_i ≡ 0`.
    LambdaWeight,
    /// `b̃_i(h) · g_ij(h) + h · b̃_j(h) · a_ji ≡ 0`.
    Coupling,
    /// `b_i A_ij + B_j a_ji − b_i B_j = 0` (classical symplectic pairing, `b_i ≠ 0`).
    SanzSerna,
}

impl IdentityKind {
    /// The identity as a formula.
    pub fn formula(self) -> &'static str {
        match self {
            IdentityKind::DroppedStage => "b_k = 0 for a dropped stage k",
            IdentityKind::Weight => "B_i = b_i",
            IdentityKind::Node => "C_i = c_i",
            IdentityKind::ZeroWeightFlag => "zero_weight[i] <=> b_i = 0",
            IdentityKind::LambdaWeight => "b~_i(h) w_i - b_i = 0",
            IdentityKind::Coupling => "b~_i(h) g_ij(h) + h b~_j(h) a_ji = 0",
            IdentityKind::SanzSerna => "b_i A_ij + B_j a_ji - b_i B_j = 0",
        }
    }
}

/// One checked identity: its kind, its (1-based) indices and its residual, which is the zero
/// polynomial in every returned proof.
#[derive(Clone, Debug, PartialEq)]
pub struct PairingIdentity {
    /// Which identity.
    pub kind: IdentityKind,
    /// Stage `i` (1-based; `k` for dropped stages).
    pub i: usize,
    /// Stage `j` (1-based) for two-index identities.
    pub j: Option<usize>,
    /// The residual as a polynomial in `h` (constants for identities without `h`).
    pub residual: Poly,
}

impl fmt::Display for PairingIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.j {
            Some(j) => write!(
                f,
                "({}, {j}) {}: residual {}",
                self.i,
                self.kind.formula(),
                self.residual
            ),
            None => write!(
                f,
                "({}) {}: residual {}",
                self.i,
                self.kind.formula(),
                self.residual
            ),
        }
    }
}

/// The record of an exact pairing proof: every identity checked, each with residual zero.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PairingProof {
    /// The forward tableau's name.
    pub tableau: String,
    /// Stages of the adjoint scheme that was checked.
    pub stages: usize,
    /// Every identity checked, in order.
    pub identities: Vec<PairingIdentity>,
}

impl PairingProof {
    /// Number of identities checked.
    pub fn count(&self) -> usize {
        self.identities.len()
    }

    /// Number of identities of one kind.
    pub fn count_of(&self, kind: IdentityKind) -> usize {
        self.identities.iter().filter(|r| r.kind == kind).count()
    }

    /// `true` when there is at least one identity and all residuals are zero (always the case
    /// for a proof returned by [`prove_pairing`] or [`check_adjoint`]).
    pub fn holds(&self) -> bool {
        !self.identities.is_empty() && self.identities.iter().all(|r| r.residual.is_zero())
    }
}

/// A summary line per kind; the alternate form (`{:#}`) lists every identity.
impl fmt::Display for PairingProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pairing proof for `{}`: {} adjoint stages, {} identities, all residuals {}",
            self.tableau,
            self.stages,
            self.count(),
            if self.holds() { "0" } else { "NOT 0" }
        )?;
        let kinds = [
            IdentityKind::DroppedStage,
            IdentityKind::Weight,
            IdentityKind::Node,
            IdentityKind::ZeroWeightFlag,
            IdentityKind::LambdaWeight,
            IdentityKind::Coupling,
            IdentityKind::SanzSerna,
        ];
        for kind in kinds {
            let n = self.count_of(kind);
            if n > 0 {
                writeln!(f, "  {n:4} × {}", kind.formula())?;
            }
        }
        if f.alternate() {
            for r in &self.identities {
                writeln!(f, "    {r}")?;
            }
        }
        Ok(())
    }
}

/// Collects identities; the first non-zero residual is an error.
struct Recorder<'a> {
    name: &'a str,
    proof: PairingProof,
}

impl Recorder<'_> {
    fn record(
        &mut self,
        kind: IdentityKind,
        i: usize,
        j: Option<usize>,
        residual: Poly,
    ) -> Result<(), TableauError> {
        if !residual.is_zero() {
            return Err(TableauError::NotSymplecticPair {
                name: self.name.to_string(),
                identity: kind.formula().to_string(),
                i,
                j: j.unwrap_or(i),
                residual: residual.to_string(),
            });
        }
        self.proof.identities.push(PairingIdentity {
            kind,
            i,
            j,
            residual,
        });
        Ok(())
    }
}

fn shape(name: &str, what: &str, expected: usize, got: usize) -> TableauError {
    TableauError::Shape {
        name: name.to_string(),
        what: what.to_string(),
        expected: expected.to_string(),
        got,
    }
}

/// Verifies exactly that `partner`'s backward recursion is the transpose of `forward`'s
/// linearised step (see the module documentation) and returns the record.
///
/// # Errors
/// [`TableauError::Shape`] if the partner's vectors do not have `S` entries (or
/// `S + dropped ≠ s`); [`TableauError::NotSymplecticPair`] naming the first failing
/// identity, its 1-based `(i, j)` and its residual.
pub fn prove_pairing(
    forward: &Tableau,
    partner: &SymplecticPartner,
) -> Result<PairingProof, TableauError> {
    let name = forward.name();
    let n = partner.stages;
    if n + partner.dropped != forward.stages() {
        return Err(shape(
            name,
            "partner stages + dropped",
            forward.stages(),
            n + partner.dropped,
        ));
    }
    for (what, len) in [
        ("partner.zero_weight", partner.zero_weight.len()),
        ("partner.b", partner.b.len()),
        ("partner.c", partner.c.len()),
        ("partner.coupling", partner.coupling.len()),
        ("partner.a", partner.a.len()),
    ] {
        if len != n {
            return Err(shape(name, what, n, len));
        }
    }
    if let Some(row) = partner.coupling.iter().find(|r| r.len() != n) {
        return Err(shape(name, "a row of partner.coupling", n, row.len()));
    }
    if let Some(row) = partner.a.iter().flatten().find(|r| r.len() != n) {
        return Err(shape(name, "a row of partner.a", n, row.len()));
    }
    let (a, b, c) = (forward.a(), forward.b(), forward.c());
    let mut rec = Recorder {
        name,
        proof: PairingProof {
            tableau: name.to_string(),
            stages: n,
            identities: Vec::new(),
        },
    };
    for (k, bk) in b.iter().enumerate().skip(n) {
        rec.record(
            IdentityKind::DroppedStage,
            k + 1,
            None,
            Poly::constant(bk.clone()),
        )?;
    }
    let constant = |x: Q| Poly::constant(x);
    for i in 0..n {
        rec.record(
            IdentityKind::Weight,
            i + 1,
            None,
            constant(&partner.b[i] - &b[i]),
        )?;
        rec.record(
            IdentityKind::Node,
            i + 1,
            None,
            constant(&partner.c[i] - &c[i]),
        )?;
        let flag_ok = partner.zero_weight[i] == b[i].is_zero()
            && partner.a[i].is_none() == partner.zero_weight[i];
        let flag = if flag_ok {
            Q::zero()
        } else {
            Q::from_integer(1.into())
        };
        rec.record(IdentityKind::ZeroWeightFlag, i + 1, None, constant(flag))?;
    }
    for i in 0..n {
        let bt_i = partner.adjoint_weight(i);
        let lw = &bt_i.scale(&partner.lambda_weight(i)) - &constant(b[i].clone());
        rec.record(IdentityKind::LambdaWeight, i + 1, None, lw)?;
        for j in 0..n {
            let lhs = &bt_i * &partner.coupling_poly(i, j);
            let rhs = &Poly::h() * &partner.adjoint_weight(j).scale(&a[j][i]);
            rec.record(IdentityKind::Coupling, i + 1, Some(j + 1), &lhs + &rhs)?;
        }
    }
    for i in 0..n {
        if let Some(row) = &partner.a[i] {
            for j in 0..n {
                let r = &b[i] * &row[j] + &b[j] * &a[j][i] - &b[i] * &b[j];
                rec.record(IdentityKind::SanzSerna, i + 1, Some(j + 1), constant(r))?;
            }
        }
    }
    Ok(rec.proof)
}

/// Verifies a user-supplied classical adjoint tableau `(A, B, C)` against `forward`:
/// `B = b`, `C = c` and `b_i A_ij + B_j a_ji − b_i B_j = 0` for all `i, j` (Sanz-Serna's
/// symplectic pairing condition).
///
/// The adjoint may have `s` stages (the whole forward tableau) or `S` stages (after dropping
/// the trailing zero-weight stages, as [`Tableau::partner`] does; needed for FSAL tableaux,
/// whose last stage has `b_s = 0` but `a_sj = b_j ≠ 0`). `adjoint_a` must be full (`n×n`).
/// The classical form needs `b_i ≠ 0`: a forward tableau with an interior zero weight fails
/// at the first `(i, j)` with `b_i = 0` and `b_j a_ji ≠ 0`; use [`Tableau::partner`], whose
/// `b̃ = h` form covers it.
///
/// # Errors
/// [`TableauError::Shape`], [`TableauError::AdjointMismatch`] for `B ≠ b` or `C ≠ c`,
/// [`TableauError::NotSymplecticPair`] with the first failing 1-based `(i, j)` and the
/// residual.
pub fn check_adjoint(
    forward: &Tableau,
    adjoint_a: &[Vec<Q>],
    adjoint_b: &[Q],
    adjoint_c: &[Q],
) -> Result<PairingProof, TableauError> {
    let name = forward.name();
    let s = forward.stages();
    let effective = forward
        .b()
        .iter()
        .rposition(|x| !x.is_zero())
        .map_or(0, |k| k + 1);
    let n = adjoint_b.len();
    if n != s && n != effective {
        return Err(TableauError::Shape {
            name: name.to_string(),
            what: "adjoint B".to_string(),
            expected: format!("{s} (all stages) or {effective} (after dropping trailing b = 0)"),
            got: n,
        });
    }
    if adjoint_c.len() != n {
        return Err(shape(name, "adjoint C", n, adjoint_c.len()));
    }
    if adjoint_a.len() != n {
        return Err(shape(
            name,
            "adjoint A (number of rows)",
            n,
            adjoint_a.len(),
        ));
    }
    if let Some((i, row)) = adjoint_a.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(shape(
            name,
            &format!("row {} of adjoint A", i + 1),
            n,
            row.len(),
        ));
    }
    let (a, b, c) = (forward.a(), forward.b(), forward.c());
    for (vector, expected_name, got, want) in [("B", "b", adjoint_b, b), ("C", "c", adjoint_c, c)] {
        if let Some(i) = (0..n).find(|&i| got[i] != want[i]) {
            return Err(TableauError::AdjointMismatch {
                name: name.to_string(),
                vector,
                expected_name,
                i: i + 1,
                expected: want[i].to_string(),
                got: got[i].to_string(),
            });
        }
    }
    let mut rec = Recorder {
        name,
        proof: PairingProof {
            tableau: name.to_string(),
            stages: n,
            identities: Vec::new(),
        },
    };
    for i in 0..n {
        rec.record(IdentityKind::Weight, i + 1, None, Poly::zero())?;
        rec.record(IdentityKind::Node, i + 1, None, Poly::zero())?;
    }
    for i in 0..n {
        for j in 0..n {
            let r = &b[i] * &adjoint_a[i][j] + &adjoint_b[j] * &a[j][i] - &b[i] * &adjoint_b[j];
            rec.record(
                IdentityKind::SanzSerna,
                i + 1,
                Some(j + 1),
                Poly::constant(r),
            )?;
        }
    }
    Ok(rec.proof)
}
