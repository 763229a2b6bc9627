//! Comparing results: the largest absolute and relative difference between two slices, as the
//! gradient checks, the reports and the tests use them.
//!
//! Folding with `f64::max` skips NaN (`0.0_f64.max(f64::NAN)` is `0.0`), so a NaN in a result
//! would read as no difference at all. These functions return `f64::INFINITY` instead when a
//! value is not finite or the lengths differ: a check `diff <= tol` then fails.
//!
//! ```
//! use symplode_runtime::compare::max_rel_diff;
//!
//! assert_eq!(max_rel_diff(&[1.0, 2.0], &[1.0, 4.0]), 0.5);
//! assert_eq!(max_rel_diff(&[1.0, f64::NAN], &[1.0, 4.0]), f64::INFINITY);
//! assert_eq!(max_rel_diff(&[1.0], &[1.0, 4.0]), f64::INFINITY);
//! ```

/// `max |v|`; `f64::INFINITY` when a value is not finite.
pub fn max_abs(v: &[f64]) -> f64 {
    v.iter()
        .try_fold(0.0f64, |m, x| x.is_finite().then(|| m.max(x.abs())))
        .unwrap_or(f64::INFINITY)
}

/// `max |a − b|`; `f64::INFINITY` when the lengths differ or a value is not finite.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.iter().chain(b).any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `max |a − b| / max |b|` (`max |a − b|` when `b` is all zeros): the difference relative to
/// the reference `b`'s largest entry; `f64::INFINITY` when the lengths differ or a value is
/// not finite.
pub fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num = max_abs_diff(a, b);
    let den = max_abs(b);
    if den == 0.0 || num.is_infinite() {
        num
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_and_lengths_are_never_small() {
        let inf = f64::INFINITY;
        assert_eq!(max_abs(&[1.0, -3.0]), 3.0);
        assert_eq!(max_abs(&[]), 0.0);
        for bad in [f64::NAN, inf, -inf] {
            assert_eq!(max_abs(&[1.0, bad]), inf);
            assert_eq!(max_abs_diff(&[bad, 1.0], &[0.0, 1.0]), inf);
            assert_eq!(max_abs_diff(&[0.0, 1.0], &[0.0, bad]), inf);
            assert_eq!(max_rel_diff(&[0.0, bad], &[0.0, 1.0]), inf);
        }
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0]), inf);
        assert_eq!(max_rel_diff(&[1.0, 3.0], &[0.0, 0.0]), 3.0);
        assert_eq!(max_rel_diff(&[1.0, 3.0], &[1.0, 2.0]), 0.5);
    }
}
