//! Exact Butcher tableaux, their order conditions and their symplectic partners.
//!
//! A Runge–Kutta method with `s` stages is given by the Butcher tableau
//!
//! ```text
//!  c | A
//! ---+----
//!    | bᵀ
//!    | b̂ᵀ   (optional embedded weights, for error estimation)
//! ```
//!
//! All coefficients are exact rationals ([`Q`]). A [`Tableau`] is validated structurally
//! when built (shapes, explicit `A`, `c_i = Σ_j a_ij`); the order conditions are checked
//! over all rooted trees up to order [`MAX_ORDER`] ([`Tableau::new_checked`],
//! [`Tableau::satisfied_order`]). [`Tableau::partner`] builds the adjoint scheme of the
//! symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021; Sanz-Serna 2016)
//! and proves exactly that it is the transpose of the linearised forward step.
//!
//! ```
//! use symplode_codegen::tableau::{Tableau, TableauError, builtin, parse_q};
//!
//! let dopri5 = builtin("dopri5")?;
//! assert_eq!(dopri5.satisfied_order(8), 5);
//! let partner = dopri5.partner()?;
//! assert_eq!((partner.stages, partner.dropped), (6, 1)); // the FSAL stage is dropped
//! assert!(partner.proof.holds());
//!
//! // A user tableau (Heun's third-order method), lower-triangular rows of stages 2..s:
//! let q = |s: &str| parse_q(s);
//! let heun3 = Tableau::new_checked(
//!     "heun3",
//!     vec![vec![q("1/3")?], vec![q("0")?, q("2/3")?]],
//!     vec![q("1/4")?, q("0")?, q("3/4")?],
//!     vec![q("0")?, q("1/3")?, q("2/3")?],
//!     None,
//!     3,
//!     None,
//! )?;
//! assert_eq!(heun3.satisfied_order(8), 3);
//! println!("{heun3}"); // draws the Butcher table
//! # Ok::<(), TableauError>(())
//! ```
//!
//! Built-in tableaux: [`builtin`] by name ([`BUILTIN_NAMES`]), or one function each in
//! [`builtins`], whose documentation draws each table and cites its source.

pub mod builtins;
mod display;
mod error;
mod linalg;
mod order;
mod partner;
mod poly;
mod proof;
mod rational;
mod validate;

pub use builtins::{BUILTIN_NAMES, builtin};
pub use error::{OrderFailure, TableauError};
pub use order::{MAX_ORDER, RootedTree, rooted_trees};
pub use partner::SymplecticPartner;
pub use poly::Poly;
pub use proof::{IdentityKind, PairingIdentity, PairingProof, check_adjoint, prove_pairing};
pub use rational::{MAX_COEFFICIENT_CHARS, Q, parse_q, q, q_to_f64};
pub use validate::MAX_STAGES;

use num_traits::Zero;

use order::{StageVectors, forest};
use validate::tolerance_note;

/// An explicit Runge–Kutta method as an exact Butcher tableau, optionally with embedded
/// weights.
///
/// Invariants (checked by every constructor): `s >= 1` stages; `A` is `s×s` and strictly
/// lower triangular; `c_i = Σ_j a_ij` (exactly, or within the tolerance of
/// [`Tableau::new_with_tolerance`]); `b`, `c` and `b_hat` have length `s`; `b_hat` and the
/// embedded order are given together.
#[derive(Clone, Debug, PartialEq)]
pub struct Tableau {
    name: String,
    a: Vec<Vec<Q>>,
    b: Vec<Q>,
    c: Vec<Q>,
    b_hat: Option<Vec<Q>>,
    order: u32,
    embedded_order: Option<u32>,
    tolerance: Q,
}

impl Tableau {
    /// Builds and validates structurally: shapes, strictly lower `A`, consistency
    /// `c_i = Σ_j a_ij` (exact), `b_hat` length. Does **not** check the order: `order` and
    /// `embedded_order` are recorded as claims.
    ///
    /// `a` may be given as `s` full rows of length `s`, as `s` lower-triangular rows (row
    /// `i` holding `a_i1 … a_i,i−1`, so the first row is empty), or as the `s − 1`
    /// lower-triangular rows of stages `2..=s`. It is stored as a full `s×s` matrix.
    ///
    /// # Errors
    /// [`TableauError::EmptyTableau`], [`TableauError::Shape`],
    /// [`TableauError::NotExplicit`], [`TableauError::Inconsistent`],
    /// [`TableauError::InvalidEmbedded`].
    pub fn new(
        name: &str,
        a: Vec<Vec<Q>>,
        b: Vec<Q>,
        c: Vec<Q>,
        b_hat: Option<Vec<Q>>,
        order: u32,
        embedded_order: Option<u32>,
    ) -> Result<Tableau, TableauError> {
        validate::build(name, a, b, c, b_hat, order, embedded_order, Q::zero())
    }

    /// [`Tableau::new`], then checks exactly that the claimed order (weights `b`) and the
    /// claimed embedded order (weights `b_hat`) hold.
    ///
    /// # Errors
    /// Those of [`Tableau::new`], and [`TableauError::OrderNotMet`] naming the first failing
    /// tree and its residual, or [`TableauError::ClaimedOrderTooHigh`] for a claim above
    /// [`MAX_ORDER`].
    pub fn new_checked(
        name: &str,
        a: Vec<Vec<Q>>,
        b: Vec<Q>,
        c: Vec<Q>,
        b_hat: Option<Vec<Q>>,
        order: u32,
        embedded_order: Option<u32>,
    ) -> Result<Tableau, TableauError> {
        let t = Tableau::new(name, a, b, c, b_hat, order, embedded_order)?;
        t.check_claims(&Q::zero())?;
        Ok(t)
    }

    /// Like [`Tableau::new_checked`], but consistency and the claimed orders only need to
    /// hold within `|residual| <= tol`.
    ///
    /// For tableaux published as rational or decimal *approximations* of irrational
    /// coefficients (dopri8's rationals meet the conditions to about `1e-17`; decimal
    /// coefficients copied from a paper to about `1e-16`). The tolerance is kept
    /// ([`Tableau::tolerance`]) so users can see the tableau is not exact.
    ///
    /// # Errors
    /// As [`Tableau::new_checked`], with the tolerance named in the messages;
    /// [`TableauError::BadTolerance`] for a negative tolerance or one above `1e-10`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_with_tolerance(
        name: &str,
        a: Vec<Vec<Q>>,
        b: Vec<Q>,
        c: Vec<Q>,
        b_hat: Option<Vec<Q>>,
        order: u32,
        embedded_order: Option<u32>,
        tol: Q,
    ) -> Result<Tableau, TableauError> {
        let max = Q::new(1.into(), num_bigint::BigInt::from(10u32).pow(10));
        if tol < Q::zero() || tol > max {
            return Err(TableauError::BadTolerance {
                name: name.to_string(),
                tolerance: rational::shown(&tol.to_string()),
                max: "1e-10".into(),
            });
        }
        let t = validate::build(name, a, b, c, b_hat, order, embedded_order, tol.clone())?;
        t.check_claims(&tol)?;
        Ok(t)
    }

    fn check_claims(&self, tol: &Q) -> Result<(), TableauError> {
        let max = self.order.max(self.embedded_order.unwrap_or(0));
        self.too_high("b", self.order)?;
        if let Some(p) = self.embedded_order {
            self.too_high("b_hat", p)?;
        }
        let sv = StageVectors::new(&self.a, max);
        self.check_weights(&sv, "b", &self.b, self.order, tol)?;
        if let (Some(bh), Some(p)) = (&self.b_hat, self.embedded_order) {
            self.check_weights(&sv, "b_hat", bh, p, tol)?;
        }
        Ok(())
    }

    fn too_high(&self, weights: &'static str, claimed: u32) -> Result<(), TableauError> {
        if claimed > MAX_ORDER {
            return Err(TableauError::ClaimedOrderTooHigh {
                name: self.name.clone(),
                weights,
                claimed,
                max: MAX_ORDER,
            });
        }
        Ok(())
    }

    fn check_weights(
        &self,
        sv: &StageVectors,
        weights: &'static str,
        w: &[Q],
        claimed: u32,
        tol: &Q,
    ) -> Result<(), TableauError> {
        match sv.first_failure(w, claimed, tol) {
            None => Ok(()),
            Some((t, residual)) => {
                let tree = &forest()[t];
                Err(TableauError::OrderNotMet(Box::new(OrderFailure {
                    name: self.name.clone(),
                    weights,
                    claimed,
                    tree: tree.to_string(),
                    order: tree.order(),
                    residual_f64: q_to_f64(&residual),
                    residual: residual.to_string(),
                    expected: format!("1/{}", tree.density()),
                    tolerance: tolerance_note(tol),
                })))
            }
        }
    }

    /// The tableau's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of stages `s`.
    pub fn stages(&self) -> usize {
        self.b.len()
    }

    /// The full `s×s` matrix `A` (zero on and above the diagonal).
    pub fn a(&self) -> &[Vec<Q>] {
        &self.a
    }

    /// The propagating weights `b`.
    pub fn b(&self) -> &[Q] {
        &self.b
    }

    /// The nodes `c`.
    pub fn c(&self) -> &[Q] {
        &self.c
    }

    /// The embedded weights `b̂` (`None` for fixed-step tableaux).
    pub fn b_hat(&self) -> Option<&[Q]> {
        self.b_hat.as_deref()
    }

    /// The error weights `b − b̂` (`None` without embedded weights).
    pub fn error_weights(&self) -> Option<Vec<Q>> {
        self.b_hat
            .as_ref()
            .map(|bh| self.b.iter().zip(bh).map(|(x, y)| x - y).collect())
    }

    /// The claimed order of `b` (verified if built by [`Tableau::new_checked`] or
    /// [`Tableau::new_with_tolerance`]).
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The claimed order of `b_hat`.
    pub fn embedded_order(&self) -> Option<u32> {
        self.embedded_order
    }

    /// The tolerance the tableau was validated with: zero when consistency (and, for checked
    /// constructors, the order conditions) hold exactly.
    pub fn tolerance(&self) -> &Q {
        &self.tolerance
    }

    /// First-same-as-last: `b_s = 0` and the last row of `A` equals `b`, so the last stage
    /// is `f(x_{n+1})` and can be reused as the first stage of the next step.
    pub fn is_fsal(&self) -> bool {
        let s = self.stages();
        self.b[s - 1].is_zero() && self.a[s - 1] == self.b
    }

    /// The highest `p <= max` (and `<= MAX_ORDER`) such that every order condition of order
    /// `<= p` holds exactly for `b`.
    pub fn satisfied_order(&self, max: u32) -> u32 {
        self.satisfied_order_within(max, &Q::zero())
    }

    /// [`Tableau::satisfied_order`] with `|Φ(t) − 1/γ(t)| <= tol` counted as satisfied.
    pub fn satisfied_order_within(&self, max: u32, tol: &Q) -> u32 {
        let max = max.min(MAX_ORDER);
        StageVectors::new(&self.a, max).satisfied(&self.b, max, tol)
    }

    /// Like [`Tableau::satisfied_order`] for the embedded weights (`None` without them).
    pub fn satisfied_embedded_order(&self, max: u32) -> Option<u32> {
        self.satisfied_embedded_order_within(max, &Q::zero())
    }

    /// [`Tableau::satisfied_embedded_order`] within a tolerance.
    pub fn satisfied_embedded_order_within(&self, max: u32, tol: &Q) -> Option<u32> {
        let max = max.min(MAX_ORDER);
        let bh = self.b_hat.as_ref()?;
        Some(StageVectors::new(&self.a, max).satisfied(bh, max, tol))
    }

    /// Checks exactly that `b` has order `claimed`.
    ///
    /// # Errors
    /// [`TableauError::OrderNotMet`] with `weights: "b"`, the first failing tree (bracket
    /// notation), its order, the exact residual `Φ(t) − 1/γ(t)` and `1/γ(t)`;
    /// [`TableauError::ClaimedOrderTooHigh`] above [`MAX_ORDER`].
    pub fn check_order(&self, claimed: u32) -> Result<(), TableauError> {
        self.check_order_within(claimed, &Q::zero())
    }

    /// [`Tableau::check_order`] within a tolerance.
    ///
    /// # Errors
    /// As [`Tableau::check_order`].
    pub fn check_order_within(&self, claimed: u32, tol: &Q) -> Result<(), TableauError> {
        self.too_high("b", claimed)?;
        let sv = StageVectors::new(&self.a, claimed);
        self.check_weights(&sv, "b", &self.b, claimed, tol)
    }

    /// Checks exactly that `b_hat` has order `claimed`.
    ///
    /// # Errors
    /// [`TableauError::InvalidEmbedded`] without embedded weights; otherwise as
    /// [`Tableau::check_order`] with `weights: "b_hat"`.
    pub fn check_embedded_order(&self, claimed: u32) -> Result<(), TableauError> {
        self.check_embedded_order_within(claimed, &Q::zero())
    }

    /// [`Tableau::check_embedded_order`] within a tolerance.
    ///
    /// # Errors
    /// As [`Tableau::check_embedded_order`].
    pub fn check_embedded_order_within(&self, claimed: u32, tol: &Q) -> Result<(), TableauError> {
        let Some(bh) = &self.b_hat else {
            return Err(TableauError::InvalidEmbedded {
                name: self.name.clone(),
                reason: "no embedded weights b_hat to check".to_string(),
            });
        };
        self.too_high("b_hat", claimed)?;
        let sv = StageVectors::new(&self.a, claimed);
        self.check_weights(&sv, "b_hat", bh, claimed, tol)
    }

    /// The symplectic partner (adjoint scheme) of this tableau with its pairing proof; see
    /// [`SymplecticPartner`].
    ///
    /// # Errors
    /// [`TableauError::NoPartner`] when all weights are zero (or `A` is not explicit, which
    /// validated tableaux exclude); [`TableauError::NotSymplecticPair`] if the proof fails
    /// (an internal invariant).
    pub fn partner(&self) -> Result<SymplecticPartner, TableauError> {
        SymplecticPartner::new(self)
    }
}
