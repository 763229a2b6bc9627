//! The symplectic partner: the adjoint Runge–Kutta scheme whose backward recursion is exactly
//! the transpose of the linearised forward step (METHOD.md §1.3–1.5).

use num_traits::{One, Zero};

use super::poly::Poly;
use super::proof::{PairingProof, prove_pairing};
use super::{Q, Tableau, TableauError};

/// The adjoint scheme paired with an explicit forward tableau, in the form the backward pass
/// runs it (explicit, stages in reverse order), with its exact [`PairingProof`].
///
/// Construction (Matsubara et al. 2021, after Sanz-Serna 2016):
/// 1. **Drop redundant trailing stages**: while the last weight `b_s` is zero, the last
///    stage cannot influence `x_{n+1}` (no later stage reads it), so it is removed. This is
///    the FSAL stage of dopri5, dopri8 and bosh3 (`S = 6, 13, 3`).
/// 2. **Interior zero weights** (`b_i = 0`, e.g. dopri5's stage 2, midpoint's stage 1) use
///    `b̃_i = h` instead of `b̃_i = b_i`, which avoids dividing by `b_i`.
///
/// With `m_j := b̃_j l_j`, the backward recursion over `i = S, S−1, …, 1` is
///
/// ```text
/// if !zero_weight[i]: Λ_i = λ_{n+1} − h Σ_{j>i} coupling[i][j] · m_j     (coupling = a_ji / b_i)
/// if  zero_weight[i]: Λ_i =         − Σ_{j>i} coupling[i][j] · m_j     (coupling = a_ji)
/// l_i = −J_iᵀ Λ_i,   J_i = ∂f/∂x(X_{n,i}, t_n + c_i h)
/// λ_n = λ_{n+1} − h Σ_i m_i,      dL/dθ += h Σ_i b̃_i (∂f/∂θ)ᵀ Λ_i
/// ```
///
/// **When no partner exists.** The forward tableau must be explicit (strictly lower `A`);
/// for an implicit `A` the adjoint stages couple both ways and the adjoint is itself
/// implicit ([`TableauError::NoPartner`]; validated [`Tableau`]s are always explicit). The
/// weights must not all be zero, or every stage is dropped. There is no other restriction:
/// zero weights anywhere are handled by dropping (trailing) or by `b̃ = h` (interior).
#[derive(Clone, Debug, PartialEq)]
pub struct SymplecticPartner {
    /// `S`: effective stage count after dropping trailing redundant stages.
    pub stages: usize,
    /// How many trailing stages were dropped (`s − S`).
    pub dropped: usize,
    /// Length `S`: `b_i == 0`, i.e. the stage takes the `b̃_i = h` path.
    pub zero_weight: Vec<bool>,
    /// Length `S`: the forward weights `b_i` of the effective tableau (`B_i = b_i`).
    pub b: Vec<Q>,
    /// Length `S`: the forward nodes (`C_i = c_i`).
    pub c: Vec<Q>,
    /// `S×S`, zero for `j <= i`: `a_ji / b_i`, or `a_ji` when `zero_weight[i]` (see the type
    /// documentation for the recursion).
    pub coupling: Vec<Vec<Q>>,
    /// Classical Sanz-Serna partner rows `A_ij = b_j (1 − a_ji / b_i)` for `b_i ≠ 0`;
    /// `None` for zero-weight rows, which have no classical form.
    pub a: Vec<Option<Vec<Q>>>,
    /// The exact proof that the recursion is the transpose of the forward step.
    pub proof: PairingProof,
}

impl SymplecticPartner {
    /// Builds the partner of `t` and proves it (see the type documentation).
    pub(crate) fn new(t: &Tableau) -> Result<SymplecticPartner, TableauError> {
        let no_partner = |reason: String| TableauError::NoPartner {
            name: t.name().to_string(),
            reason,
        };
        let a = t.a();
        for (i, row) in a.iter().enumerate() {
            if let Some(j) = (i..row.len()).find(|&j| !row[j].is_zero()) {
                return Err(no_partner(format!(
                    "A is not strictly lower triangular (a_{}{} = {}): stage {} depends on \
                     stage {} or later, so the adjoint scheme would be implicit",
                    i + 1,
                    j + 1,
                    row[j],
                    i + 1,
                    j + 1
                )));
            }
        }
        let s = t.stages();
        let stages = t
            .b()
            .iter()
            .rposition(|x| !x.is_zero())
            .map_or(0, |k| k + 1);
        if stages == 0 {
            return Err(no_partner(
                "all weights b are zero: x_{n+1} = x_n depends on no stage".to_string(),
            ));
        }
        let b: Vec<Q> = t.b()[..stages].to_vec();
        let zero_weight: Vec<bool> = b.iter().map(Zero::is_zero).collect();
        let coupling: Vec<Vec<Q>> = (0..stages)
            .map(|i| {
                (0..stages)
                    .map(|j| {
                        if j <= i {
                            Q::zero()
                        } else if zero_weight[i] {
                            a[j][i].clone()
                        } else {
                            &a[j][i] / &b[i]
                        }
                    })
                    .collect()
            })
            .collect();
        let classical: Vec<Option<Vec<Q>>> = (0..stages)
            .map(|i| {
                (!zero_weight[i]).then(|| {
                    (0..stages)
                        .map(|j| &b[j] * (Q::one() - &a[j][i] / &b[i]))
                        .collect()
                })
            })
            .collect();
        let mut partner = SymplecticPartner {
            stages,
            dropped: s - stages,
            zero_weight,
            b,
            c: t.c()[..stages].to_vec(),
            coupling,
            a: classical,
            proof: PairingProof::default(),
        };
        partner.proof = prove_pairing(t, &partner)?;
        Ok(partner)
    }

    /// `b̃_i(h)`: the constant `b_i`, or `h` for a zero-weight stage (0-based `i < S`).
    ///
    /// # Panics
    /// If `i >= self.stages` or the public vectors were shortened by hand (use
    /// [`prove_pairing`] to validate a hand-edited partner).
    pub fn adjoint_weight(&self, i: usize) -> Poly {
        if self.zero_weight[i] {
            Poly::h()
        } else {
            Poly::constant(self.b[i].clone())
        }
    }

    /// The weight `w_i` of `λ_{n+1}` in `Λ_i`: one, or zero for a zero-weight stage.
    ///
    /// # Panics
    /// If `i >= self.stages`.
    pub fn lambda_weight(&self, i: usize) -> Q {
        if self.zero_weight[i] {
            Q::zero()
        } else {
            Q::one()
        }
    }

    /// `g_ij(h)`, the coefficient of `l_j` in `Λ_i`: `−h·b̃_j(h)·coupling[i][j]`, or
    /// `−b̃_j(h)·coupling[i][j]` for a zero-weight row (0-based, zero for `j <= i`).
    ///
    /// # Panics
    /// If `i` or `j` is `>= self.stages`.
    pub fn coupling_poly(&self, i: usize, j: usize) -> Poly {
        let g = self.adjoint_weight(j).scale(&-&self.coupling[i][j]);
        if self.zero_weight[i] {
            g
        } else {
            &Poly::h() * &g
        }
    }
}
