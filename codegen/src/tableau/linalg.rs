//! Exact linear solves over the rationals (used to derive coefficients from free parameters).

use num_traits::Zero;

use super::Q;

/// Solves the square system `m x = rhs` by Gaussian elimination; `None` if `m` is singular or
/// the shapes disagree.
pub(crate) fn solve(mut m: Vec<Vec<Q>>, mut rhs: Vec<Q>) -> Option<Vec<Q>> {
    let n = rhs.len();
    if m.len() != n || m.iter().any(|r| r.len() != n) {
        return None;
    }
    for col in 0..n {
        let pivot = (col..n).find(|&r| !m[r][col].is_zero())?;
        m.swap(col, pivot);
        rhs.swap(col, pivot);
        for r in 0..n {
            if r == col || m[r][col].is_zero() {
                continue;
            }
            let f = &m[r][col] / &m[col][col];
            for k in col..n {
                let delta = &f * &m[col][k];
                m[r][k] -= delta;
            }
            let delta = &f * &rhs[col];
            rhs[r] -= delta;
        }
    }
    Some((0..n).map(|i| &rhs[i] / &m[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::super::q;
    use super::*;

    #[test]
    fn solves_and_detects_singular() {
        let m = vec![vec![q(0, 1), q(2, 1)], vec![q(3, 1), q(1, 1)]];
        let x = solve(m, vec![q(4, 1), q(5, 1)]).unwrap();
        assert_eq!(x, vec![q(1, 1), q(2, 1)]);
        let s = vec![vec![q(1, 1), q(2, 1)], vec![q(2, 1), q(4, 1)]];
        assert!(solve(s, vec![q(1, 1), q(1, 1)]).is_none());
        assert!(solve(vec![vec![q(1, 1)]], vec![q(1, 1), q(2, 1)]).is_none());
    }
}
