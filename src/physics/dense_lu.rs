//! A small dense LU factorisation with partial pivoting, for the Newton steps of the
//! ground-truth integrator (systems of a few dozen unknowns).

/// Solves `A x = b` in place (`a` row-major `n × n`, overwritten by its LU factors; `b`
/// overwritten by `x`).
///
/// # Errors
/// `Err((column, pivot))` when a pivot is zero or not finite (a singular matrix).
pub(crate) fn solve_in_place(a: &mut [f64], b: &mut [f64], n: usize) -> Result<(), (usize, f64)> {
    debug_assert_eq!(a.len(), n * n);
    debug_assert_eq!(b.len(), n);
    for col in 0..n {
        let (mut best, mut best_abs) = (col, a[col * n + col].abs());
        for r in col + 1..n {
            let v = a[r * n + col].abs();
            if v > best_abs {
                best = r;
                best_abs = v;
            }
        }
        let pivot = a[best * n + col];
        if pivot == 0.0 || !pivot.is_finite() {
            return Err((col, pivot));
        }
        if best != col {
            for j in 0..n {
                a.swap(col * n + j, best * n + j);
            }
            b.swap(col, best);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / pivot;
            if f == 0.0 {
                continue;
            }
            a[r * n + col] = f;
            for j in col + 1..n {
                a[r * n + j] -= f * a[col * n + j];
            }
            b[r] -= f * b[col];
        }
    }
    for col in (0..n).rev() {
        let mut s = b[col];
        for j in col + 1..n {
            s -= a[col * n + j] * b[j];
        }
        b[col] = s / a[col * n + col];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_pivoting_system() {
        // [[0, 2, 1], [1, 1, 0], [3, 0, 1]] x = [5, 3, 6] → x = [1.5, 1.5, 1.5]·… checked below.
        let a0 = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let x = [1.0, 2.0, 3.0];
        let mut b: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| a0[i * 3 + j] * x[j]).sum())
            .collect();
        let mut a = a0.to_vec();
        solve_in_place(&mut a, &mut b, 3).unwrap();
        for i in 0..3 {
            assert!((b[i] - x[i]).abs() < 1e-14, "{b:?}");
        }
    }

    #[test]
    fn reports_a_singular_matrix() {
        let mut a = vec![1.0, 2.0, 2.0, 4.0];
        let mut b = vec![1.0, 2.0];
        assert_eq!(solve_in_place(&mut a, &mut b, 2).unwrap_err().0, 1);
    }
}
