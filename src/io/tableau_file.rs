//! Butcher tableaux in TOML, with exact rational coefficients.
//!
//! ```toml
//! name = "heun3"            # optional, default: the file name without .toml
//! order = 3                 # claimed order of b, verified exactly
//! # embedded_order = 2      # claimed order of b_hat (give both or neither)
//! c = ["0", "1/3", "2/3"]
//! a = [[], ["1/3"], ["0", "2/3"]]   # lower-triangular rows (or s full rows, or rows 2..s)
//! b = ["1/4", "0", "3/4"]
//! # b_hat = [...]
//! # tolerance = "1e-16"     # for decimal approximations: conditions need only hold to this
//! ```
//!
//! Coefficients are strings read exactly: integers, fractions `"-56/15"`, decimals
//! `"0.125"`, `"2.5e-3"`. TOML integers and floats are accepted too (a float is read through
//! its shortest decimal form, so `0.1` means 1/10; use strings for long decimals).

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use symplode_codegen::tableau::{
    BUILTIN_NAMES, MAX_COEFFICIENT_CHARS, Q, Tableau, builtin, parse_q,
};

use super::error::{IoError, printable, toml_error};
use super::read_text;

/// A coefficient as written: the text to parse exactly.
struct Coef(String);

impl<'de> Deserialize<'de> for Coef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Coef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a coefficient: a string such as \"-56/15\" or \"0.25\", or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Coef, E> {
                Ok(Coef(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coef, E> {
                Ok(Coef(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coef, E> {
                Ok(Coef(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coef, E> {
                if v.is_finite() {
                    Ok(Coef(format!("{v:?}")))
                } else {
                    Err(E::custom(format!("coefficient {v} is not finite")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The file's fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableauToml {
    #[serde(default)]
    name: Option<String>,
    order: u32,
    #[serde(default)]
    embedded_order: Option<u32>,
    c: Vec<Coef>,
    a: Vec<Vec<Coef>>,
    b: Vec<Coef>,
    #[serde(default)]
    b_hat: Option<Vec<Coef>>,
    #[serde(default)]
    tolerance: Option<Coef>,
}

/// Parses a tableau TOML and validates it: [`Tableau::new_checked`] (consistency and the
/// claimed orders, exactly), or [`Tableau::new_with_tolerance`] when `tolerance` is given.
/// `origin` names the text in errors; `default_name` is used when the file has no `name`.
///
/// # Errors
/// [`IoError::Toml`] (syntax, unknown field, wrong type, with line and column);
/// [`IoError::Field`] for a coefficient that does not parse (e.g. `a` row 3 entry 2);
/// [`IoError::Tableau`] for a tableau that fails validation (the failing condition).
pub fn parse_tableau(text: &str, origin: &str, default_name: &str) -> Result<Tableau, IoError> {
    let t: TableauToml = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
    let q = |field: String, c: &Coef| -> Result<Q, IoError> {
        parse_q(&c.0).map_err(|e| IoError::Field {
            origin: origin.to_string(),
            field,
            reason: e.to_string(),
        })
    };
    let vector = |name: &str, v: &[Coef]| -> Result<Vec<Q>, IoError> {
        v.iter()
            .enumerate()
            .map(|(k, c)| q(format!("{name}[{k}]"), c))
            .collect()
    };
    check_work(&t, origin)?;
    let c = vector("c", &t.c)?;
    let b = vector("b", &t.b)?;
    let b_hat = t.b_hat.as_deref().map(|v| vector("b_hat", v)).transpose()?;
    let a =
        t.a.iter()
            .enumerate()
            .map(|(i, row)| vector(&format!("a[{i}]"), row))
            .collect::<Result<Vec<_>, _>>()?;
    let name = match t.name.as_deref() {
        Some(n) => {
            check_name(n).map_err(|reason| IoError::Field {
                origin: origin.to_string(),
                field: "name".into(),
                reason,
            })?;
            n.to_string()
        }
        None => printable(default_name),
    };
    let name = name.as_str();
    let built = match &t.tolerance {
        None => Tableau::new_checked(name, a, b, c, b_hat, t.order, t.embedded_order),
        Some(tol) => {
            let tol = q("tolerance".into(), tol)?;
            Tableau::new_with_tolerance(name, a, b, c, b_hat, t.order, t.embedded_order, tol)
        }
    };
    built.map_err(|source| IoError::Tableau {
        origin: origin.to_string(),
        source: Box::new(source),
    })
}

/// Budget of coefficient characters × claimed order: the exact order conditions multiply up to
/// `order` coefficients, so their cost grows with both. 8000 allows 1000-character
/// coefficients at order 8 and tsit5's exact 1334-character rationals at order 5.
pub const MAX_CHARS_TIMES_ORDER: usize = 8000;

/// Largest total of coefficient characters in one file (tsit5's exact tableau has 15,417).
pub const MAX_TOTAL_CHARS: usize = 64 * 1024;

/// Refuses coefficients whose length would make the exact order conditions slow, before any
/// is parsed (each coefficient alone is also capped by `parse_q`).
fn check_work(t: &TableauToml, origin: &str) -> Result<(), IoError> {
    let mut all: Vec<(String, &Coef)> = Vec::new();
    all.extend(t.c.iter().enumerate().map(|(k, c)| (format!("c[{k}]"), c)));
    all.extend(t.b.iter().enumerate().map(|(k, c)| (format!("b[{k}]"), c)));
    for (i, row) in t.a.iter().enumerate() {
        all.extend(
            row.iter()
                .enumerate()
                .map(|(j, c)| (format!("a[{i}][{j}]"), c)),
        );
    }
    if let Some(bh) = &t.b_hat {
        all.extend(
            bh.iter()
                .enumerate()
                .map(|(k, c)| (format!("b_hat[{k}]"), c)),
        );
    }
    if let Some(tol) = &t.tolerance {
        all.push(("tolerance".into(), tol));
    }
    if all
        .iter()
        .any(|(_, c)| c.0.chars().count() > MAX_COEFFICIENT_CHARS)
    {
        // `parse_q` refuses it, naming it, before any big number is built.
        return Ok(());
    }
    let total: usize = all.iter().map(|(_, c)| c.0.len()).sum();
    if total > MAX_TOTAL_CHARS {
        return Err(IoError::Field {
            origin: origin.to_string(),
            field: "coefficients".into(),
            reason: format!("{total} characters in all, more than the {MAX_TOTAL_CHARS} supported"),
        });
    }
    let order = t.order.max(t.embedded_order.unwrap_or(0)).max(1) as usize;
    let limit = MAX_CHARS_TIMES_ORDER / order;
    if let Some((field, c)) = all.iter().max_by_key(|(_, c)| c.0.len())
        && c.0.len() > limit
    {
        return Err(IoError::Field {
            origin: origin.to_string(),
            field: field.clone(),
            reason: format!(
                "{} characters; with claimed order {order}, coefficients may have at most \
                 {limit} (the exact order conditions multiply up to {order} of them)",
                c.0.len()
            ),
        });
    }
    Ok(())
}

/// Longest tableau name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A tableau name is printed in reports: it must be non-empty, short and free of control
/// characters (terminal escape codes, newlines).
fn check_name(n: &str) -> Result<(), String> {
    if n.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if n.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "{} is longer than {MAX_NAME_CHARS} characters",
            printable(n)
        ));
    }
    if let Some(c) = n.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{} contains the control character U+{:04X}",
            printable(n),
            u32::from(c)
        ));
    }
    Ok(())
}

/// Reads and validates a tableau TOML file (see [`parse_tableau`]); its name defaults to the
/// file stem.
///
/// # Errors
/// [`IoError::Read`] and those of [`parse_tableau`].
pub fn read_tableau(path: impl AsRef<Path>) -> Result<Tableau, IoError> {
    let path = path.as_ref();
    let stem = path
        .file_stem()
        .map_or("tableau".into(), |s| s.to_string_lossy());
    parse_tableau(&read_text(path)?, &path.display().to_string(), &stem)
}

/// A built-in tableau by name, or a tableau file when `name` ends in `.toml` (relative paths
/// are taken from `base`, e.g. the model spec's directory, when given).
///
/// # Errors
/// [`IoError::Field`] (origin `"tableau"`) for a name that is neither; the errors of
/// [`read_tableau`].
pub fn resolve_tableau(name: &str, base: Option<&Path>) -> Result<Tableau, IoError> {
    if BUILTIN_NAMES.contains(&name) {
        return builtin(name).map_err(|source| IoError::Tableau {
            origin: name.to_string(),
            source: Box::new(source),
        });
    }
    if name.ends_with(".toml") {
        let path = Path::new(name);
        return match base {
            Some(dir) if path.is_relative() => read_tableau(dir.join(path)),
            _ => read_tableau(path),
        };
    }
    Err(IoError::Field {
        origin: "tableau".into(),
        field: "tableau".into(),
        reason: format!(
            "unknown tableau `{}`: neither a built-in ({}) nor a .toml file",
            printable(name),
            BUILTIN_NAMES.join(", ")
        ),
    })
}

/// The tableau as TOML text in the format [`parse_tableau`] reads (exact rationals; the
/// tolerance is written when it is not zero).
pub fn tableau_to_toml(t: &Tableau) -> String {
    let list = |v: &[Q]| {
        let items: Vec<String> = v.iter().map(|x| format!("\"{x}\"")).collect();
        format!("[{}]", items.join(", "))
    };
    let mut s = format!("name = \"{}\"\norder = {}\n", t.name(), t.order());
    if let Some(p) = t.embedded_order() {
        s.push_str(&format!("embedded_order = {p}\n"));
    }
    if *t.tolerance() != Q::default() {
        s.push_str(&format!("tolerance = \"{}\"\n", t.tolerance()));
    }
    s.push_str(&format!("c = {}\n", list(t.c())));
    s.push_str("a = [\n");
    for (i, row) in t.a().iter().enumerate() {
        s.push_str(&format!("    {},\n", list(&row[..i])));
    }
    s.push_str("]\n");
    s.push_str(&format!("b = {}\n", list(t.b())));
    if let Some(bh) = t.b_hat() {
        s.push_str(&format!("b_hat = {}\n", list(bh)));
    }
    s
}
