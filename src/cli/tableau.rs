//! `symplode tableau list` and `symplode tableau check`.

use std::path::Path;

use symplode::codegen::tableau::{Q, SymplecticPartner, q_to_f64};
use symplode::io::{IoError, read_tableau};
use symplode::prelude::*;

use super::CliError;

/// Exact text of a coefficient, or `≈` and its value when long.
fn entry(x: &Q) -> String {
    let exact = x.to_string();
    if exact.chars().count() <= 24 {
        exact
    } else {
        format!("≈{:.16e}", q_to_f64(x))
    }
}

/// `symplode tableau list`.
pub fn list(out: &mut String) -> Result<(), CliError> {
    out.push_str("name         stages  order  embedded  FSAL  adjoint stages\n");
    for name in BUILTIN_NAMES {
        let t = builtin(name).map_err(|e| CliError(format!("built-in `{name}`: {e}")))?;
        let p = t
            .partner()
            .map_err(|e| CliError(format!("built-in `{name}`: {e}")))?;
        out.push_str(&format!(
            "{:<12} {:>6}  {:>5}  {:>8}  {:<4}  {:>14}\n",
            name,
            t.stages(),
            t.order(),
            t.embedded_order()
                .map_or("–".to_string(), |p| p.to_string()),
            if t.is_fsal() { "yes" } else { "no" },
            p.stages
        ));
    }
    Ok(())
}

/// Loads a tableau file, or a built-in when no such file exists.
fn load(arg: &str) -> Result<(Tableau, String), CliError> {
    let path = Path::new(arg);
    if std::fs::symlink_metadata(path).is_ok() || arg.ends_with(".toml") {
        return Ok((read_tableau(path)?, path.display().to_string()));
    }
    match builtin(arg) {
        Ok(t) => Ok((t, format!("built-in `{arg}`"))),
        Err(_) => Err(IoError::Field {
            origin: symplode::io::printable(arg),
            field: "tableau".into(),
            reason: format!(
                "no such file, and not a built-in ({})",
                BUILTIN_NAMES.join(", ")
            ),
        }
        .into()),
    }
}

/// `symplode tableau check`.
pub fn check(
    arg: &str,
    verbose: bool,
    jit: bool,
    disasm: bool,
    out: &mut String,
) -> Result<(), CliError> {
    let (t, origin) = load(arg)?;
    if jit {
        let summary = jit_summary(&t, disasm)?;
        out.push_str(&summary);
        out.push('\n');
    }
    let partner = t.partner().map_err(|source| IoError::Tableau {
        origin: origin.clone(),
        source: Box::new(source),
    })?;
    let exact = *t.tolerance() == Q::default();
    let how = if exact {
        "verified exactly".to_string()
    } else {
        format!("verified within tolerance {:e}", q_to_f64(t.tolerance()))
    };
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    line("tableau", format!("{} ({origin})", t.name()));
    line("stages", t.stages().to_string());
    line("order", format!("{} ({how})", t.order()));
    line(
        "embedded order",
        t.embedded_order()
            .map_or("– (no embedded weights: fixed steps only)".into(), |p| {
                format!("{p} ({how})")
            }),
    );
    line("FSAL", if t.is_fsal() { "yes" } else { "no" }.to_string());
    out.push_str("\nButcher table:\n");
    out.push_str(&t.to_string());
    out.push('\n');
    partner_text(&partner, out);
    out.push('\n');
    if verbose {
        out.push_str(&format!("{:#}", partner.proof));
    } else {
        out.push_str(&partner.proof.to_string());
    }
    Ok(())
}

/// The symplectic partner: stages, dropped stages, zero-weight stages and the adjoint rows.
fn partner_text(p: &SymplecticPartner, out: &mut String) {
    out.push_str(&format!(
        "symplectic partner: {} adjoint stages ({} trailing stage(s) with b = 0 dropped)\n",
        p.stages, p.dropped
    ));
    let zero: Vec<String> = (0..p.stages)
        .filter(|&i| p.zero_weight[i])
        .map(|i| (i + 1).to_string())
        .collect();
    if !zero.is_empty() {
        out.push_str(&format!(
            "  b_i = 0 at stage(s) {}: these use b̃_i = h (Λ_i couples through a_ji)\n",
            zero.join(", ")
        ));
    }
    out.push_str("  adjoint rows A_ij = b_j (1 − a_ji / b_i) (B = b, C = c):\n");
    for (i, row) in p.a.iter().enumerate() {
        let text = match row {
            Some(r) => r.iter().map(entry).collect::<Vec<_>>().join("  "),
            None => "(b_i = 0: b̃ = h path)".to_string(),
        };
        out.push_str(&format!("  {:>3} |  {text}\n", i + 1));
    }
}

/// The JIT compile report of `symplode tableau check --jit`.
#[cfg(feature = "jit")]
fn jit_summary(t: &Tableau, disasm: bool) -> Result<String, CliError> {
    symplode::runtime::jit::check_summary(t, disasm)
        .map_err(|e| CliError(format!("JIT of tableau `{}`: {e}", t.name())))
}

/// Without the `jit` feature, `--jit` is an error that says so.
#[cfg(not(feature = "jit"))]
fn jit_summary(_t: &Tableau, _disasm: bool) -> Result<String, CliError> {
    Err(CliError(
        "--jit: this symplode was built without the `jit` feature".into(),
    ))
}
