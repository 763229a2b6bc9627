//! Rooted trees and the order conditions `Φ(t) = 1/γ(t)` (Butcher 1963), in exact rationals.
//!
//! A tableau with weights `w` has order `p` when, for every rooted tree `t` with at most `p`
//! nodes, the elementary weight `Φ(t) = Σ_i w_i u_i(t)` equals `1/γ(t)`, where the stage
//! vector is `u(τ) = 1` for the one-node tree and `u([t_1 … t_m])_i = Π_k (A u(t_k))_i`,
//! and the density is `γ(τ) = 1`, `γ([t_1 … t_m]) = |t| Π_k γ(t_k)`.
//! Stage vectors are computed once per tree and `A u` once per child tree, so checking order
//! 8 (200 trees) of dopri8 (14 stages) costs about 200 sparse matrix–vector products.

use std::fmt;
use std::sync::OnceLock;

use num_traits::{One, Zero};

use super::Q;
use super::rational::within;

/// The highest order whose rooted trees are enumerated (1 + 1 + 2 + 4 + 9 + 20 + 48 + 115 =
/// 200 trees).
pub const MAX_ORDER: u32 = 8;

/// A rooted tree, identified by its place in the enumeration of all trees up to
/// [`MAX_ORDER`] nodes (ordered by node count, then canonically).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootedTree {
    /// Children as indices into the forest, non-decreasing.
    children: Vec<usize>,
    order: u32,
    density: u64,
    text: String,
}

impl RootedTree {
    /// Number of nodes `|t|`, i.e. the order of the condition.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The density `γ(t)`; the condition reads `Φ(t) = 1/γ(t)`.
    pub fn density(&self) -> u64 {
        self.density
    }
}

/// Bracket notation: `τ` is the one-node tree, `[t_1 t_2 …]` grafts subtrees on a new root
/// (written without spaces, larger subtrees first), e.g. `[[τ]τ]` for the order-4 tree of
/// `Σ b_i c_i a_ij c_j = 1/8`.
impl fmt::Display for RootedTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// All rooted trees with at most `max_order` nodes (clamped to [`MAX_ORDER`]), ordered by
/// node count.
pub fn rooted_trees(max_order: u32) -> Vec<RootedTree> {
    let all = forest();
    let n = all
        .iter()
        .take_while(|t| t.order <= max_order.min(MAX_ORDER))
        .count();
    all[..n].to_vec()
}

/// The forest of all trees up to [`MAX_ORDER`], built once.
pub(crate) fn forest() -> &'static [RootedTree] {
    static FOREST: OnceLock<Vec<RootedTree>> = OnceLock::new();
    FOREST.get_or_init(|| {
        let mut trees = vec![RootedTree {
            children: Vec::new(),
            order: 1,
            density: 1,
            text: "τ".to_string(),
        }];
        for n in 2..=MAX_ORDER {
            let existing = trees.len();
            let mut sets = Vec::new();
            child_multisets(&trees[..existing], 0, n - 1, &mut Vec::new(), &mut sets);
            for children in sets {
                let density =
                    u64::from(n) * children.iter().map(|&c| trees[c].density).product::<u64>();
                let mut text = String::from("[");
                for &c in children.iter().rev() {
                    text.push_str(&trees[c].text);
                }
                text.push(']');
                trees.push(RootedTree {
                    children,
                    order: n,
                    density,
                    text,
                });
            }
        }
        trees
    })
}

/// Non-decreasing sequences of tree indices `>= start` whose orders sum to `remaining`.
fn child_multisets(
    trees: &[RootedTree],
    start: usize,
    remaining: u32,
    current: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
) {
    if remaining == 0 {
        out.push(current.clone());
        return;
    }
    for id in start..trees.len() {
        if trees[id].order > remaining {
            // Trees are sorted by order: no later tree fits either.
            break;
        }
        current.push(id);
        child_multisets(trees, id, remaining - trees[id].order, current, out);
        current.pop();
    }
}

/// Stage vectors `u(t)` of one coefficient matrix for all trees up to some order.
pub(crate) struct StageVectors {
    /// `u[t]` for each tree index `t` of the forest prefix.
    u: Vec<Vec<Q>>,
}

impl StageVectors {
    /// Computes `u(t)` for every tree with at most `max_order` nodes; `a` is full `s×s`
    /// (only the strictly lower part is read when it is explicit, but any `A` works).
    pub(crate) fn new(a: &[Vec<Q>], max_order: u32) -> StageVectors {
        let trees = rooted_trees(max_order);
        let s = a.len();
        let mut u: Vec<Vec<Q>> = Vec::with_capacity(trees.len());
        let mut au: Vec<Option<Vec<Q>>> = vec![None; trees.len()];
        for tree in &trees {
            let mut v = vec![Q::one(); s];
            for &child in &tree.children {
                if au[child].is_none() {
                    au[child] = Some(mat_vec(a, &u[child]));
                }
                if let Some(w) = &au[child] {
                    for (vi, wi) in v.iter_mut().zip(w) {
                        if !vi.is_zero() {
                            *vi *= wi;
                        }
                    }
                }
            }
            u.push(v);
        }
        StageVectors { u }
    }

    /// The stage vector `u(t)` of tree index `t`.
    pub(crate) fn u(&self, t: usize) -> &[Q] {
        &self.u[t]
    }

    /// `Φ(t) − 1/γ(t)` for tree index `t` and weights `w`.
    pub(crate) fn residual(&self, t: usize, w: &[Q]) -> Q {
        let tree = &forest()[t];
        let phi = w
            .iter()
            .zip(&self.u[t])
            .filter(|(wi, _)| !wi.is_zero())
            .fold(Q::zero(), |acc, (wi, ui)| acc + wi * ui);
        phi - Q::new(1.into(), tree.density.into())
    }

    /// The first tree (in forest order, up to `max_order` nodes) whose condition fails by more
    /// than `tol`, with its residual.
    pub(crate) fn first_failure(&self, w: &[Q], max_order: u32, tol: &Q) -> Option<(usize, Q)> {
        let n = self.u.len();
        (0..n)
            .take_while(|&t| forest()[t].order <= max_order)
            .map(|t| (t, self.residual(t, w)))
            .find(|(_, r)| !within(r, tol))
    }

    /// The highest `p <= max_order` such that all trees with at most `p` nodes hold within
    /// `tol`.
    pub(crate) fn satisfied(&self, w: &[Q], max_order: u32, tol: &Q) -> u32 {
        match self.first_failure(w, max_order, tol) {
            Some((t, _)) => forest()[t].order - 1,
            None => max_order.min(MAX_ORDER),
        }
    }
}

/// `A x` skipping zero entries (explicit tableaux are mostly zeros).
fn mat_vec(a: &[Vec<Q>], x: &[Q]) -> Vec<Q> {
    a.iter()
        .map(|row| {
            row.iter()
                .zip(x)
                .filter(|(aij, xj)| !aij.is_zero() && !xj.is_zero())
                .fold(Q::zero(), |acc, (aij, xj)| acc + aij * xj)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_counts_match_oeis_a000081() {
        let trees = rooted_trees(8);
        let counts: Vec<usize> = (1..=8)
            .map(|n| trees.iter().filter(|t| t.order() == n).count())
            .collect();
        assert_eq!(counts, [1, 1, 2, 4, 9, 20, 48, 115]);
        assert_eq!(trees.len(), 200);
        assert_eq!(rooted_trees(99).len(), 200);
        assert_eq!(rooted_trees(0).len(), 0);
        let texts: std::collections::HashSet<String> =
            trees.iter().map(|t| t.to_string()).collect();
        assert_eq!(texts.len(), 200, "bracket texts are unique");
    }

    #[test]
    fn small_trees_and_densities() {
        let t: Vec<(String, u64)> = rooted_trees(4)
            .iter()
            .map(|t| (t.to_string(), t.density()))
            .collect();
        let want = [
            ("τ", 1),
            ("[τ]", 2),
            ("[ττ]", 3),
            ("[[τ]]", 6),
            ("[τττ]", 4),
            ("[[τ]τ]", 8),
            ("[[ττ]]", 12),
            ("[[[τ]]]", 24),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(s, g)| (s.to_string(), *g)).collect();
        assert_eq!(t, want);
        // The tall tree of order 8 has γ = 8!.
        assert!(rooted_trees(8).iter().any(|t| t.density() == 40320));
    }
}
