//! Drawing a tableau as a Butcher table.

use std::fmt;

use super::{Q, Tableau, q_to_f64};

/// The exact text of `x`, or `≈` and its `f64` value when that text is long.
fn entry(x: &Q) -> String {
    let exact = x.to_string();
    if exact.chars().count() <= 32 {
        exact
    } else {
        format!("≈{}", q_to_f64(x))
    }
}

/// Draws the Butcher table: a header line, then `c | A` (strictly lower part), a rule, `b`
/// and, if present, `b̂`. Entries whose exact text is longer than 32 characters (tsit5's
/// derived coefficients) are shown as `≈` and their `f64` value.
///
/// ```text
/// heun2 (order 2, embedded order 1)
/// 0 |
/// 1 |  1
/// --+----------
/// b |  1/2  1/2
/// b̂ |  1    0
/// ```
impl fmt::Display for Tableau {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stages();
        write!(f, "{} (order {}", self.name(), self.order())?;
        if let Some(p) = self.embedded_order() {
            write!(f, ", embedded order {p}")?;
        }
        if self.is_fsal() {
            write!(f, ", FSAL")?;
        }
        writeln!(f, ")")?;

        // Left column: c_i, then the row labels of the weights.
        let mut left: Vec<String> = self.c().iter().map(entry).collect();
        let mut cells: Vec<Vec<String>> = (0..s)
            .map(|i| self.a()[i][..i].iter().map(entry).collect())
            .collect();
        left.push("b".to_string());
        cells.push(self.b().iter().map(entry).collect());
        if let Some(bh) = self.b_hat() {
            left.push("b̂".to_string());
            cells.push(bh.iter().map(entry).collect());
        }
        // Display width: combining marks (the hat of `b̂`) take no column.
        let width = |x: &str| {
            x.chars()
                .filter(|ch| !('\u{300}'..='\u{36f}').contains(ch))
                .count()
        };
        let lw = left.iter().map(|x| width(x)).max().unwrap_or(0);
        let mut cw = vec![0usize; s];
        for row in &cells {
            for (j, x) in row.iter().enumerate() {
                cw[j] = cw[j].max(width(x));
            }
        }
        let total: usize = cw.iter().map(|w| w + 2).sum();
        for (k, (label, row)) in left.iter().zip(&cells).enumerate() {
            if k == s {
                writeln!(f, "{}+{}", "-".repeat(lw + 1), "-".repeat(total))?;
            }
            let mut line = format!("{}{} |", " ".repeat(lw - width(label)), label);
            for (j, x) in row.iter().enumerate() {
                line.push_str("  ");
                line.push_str(x);
                if j + 1 < row.len() {
                    line.push_str(&" ".repeat(cw[j] - width(x)));
                }
            }
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::builtin;

    #[test]
    fn draws_heun2() {
        let t = builtin("heun2").unwrap();
        let text = t.to_string();
        let want = "heun2 (order 2, embedded order 1)\n\
                    0 |\n\
                    1 |  1\n\
                    --+----------\n\
                    b |  1/2  1/2\n\
                    b̂ |  1    0\n";
        assert_eq!(text, want, "\n{text}");
    }
}
