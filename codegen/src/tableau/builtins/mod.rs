//! The built-in tableaux, one function each; [`builtin`] looks them up by name.
//!
//! | name | stages | order (b) | embedded (b̂) | FSAL | exact | source |
//! |---|---|---|---|---|---|---|
//! | [`euler`] | 1 | 1 | – | no | yes | Euler 1768 |
//! | [`midpoint`] | 2 | 2 | – | no | yes | Runge 1895 |
//! | [`heun2`] | 2 | 2 | 1 | no | yes | Heun 1900; torchdiffeq `adaptive_heun` |
//! | [`ralston2`] | 2 | 2 | – | no | yes | Ralston 1962 |
//! | [`rk4`] | 4 | 4 | – | no | yes | Kutta 1901 |
//! | [`rk38`] | 4 | 4 | – | no | yes | Kutta 1901 (3/8 rule) |
//! | [`bosh3`] | 4 | 3 | 2 | yes | yes | Bogacki & Shampine 1989 |
//! | [`fehlberg45`] | 6 | 4 | 5 | no | yes | Fehlberg 1969 |
//! | [`cash_karp45`] | 6 | 5 | 4 | no | yes | Cash & Karp 1990 |
//! | [`dopri5`] | 7 | 5 | 4 | yes | yes | Dormand & Prince 1980 |
//! | [`tsit5`] | 7 | 5 | 4 | yes | to 1e-40 | Tsitouras 2011 |
//! | [`dopri8`] | 14 | 8 | 7 | yes | to 1e-16 | Prince & Dormand 1981 |
//!
//! "Exact" means consistency and the order conditions of the stated orders hold exactly in
//! rationals, and the orders are sharp: the next order fails (checked in the tests; dopri8's
//! order 9 lies beyond the enumerated trees). The two exceptions are documented on their
//! functions and built with [`Tableau::new_with_tolerance`].

mod dopri8;
mod low_order;
mod rk45;
mod tsit5;

pub use dopri8::dopri8;
pub use low_order::{bosh3, euler, heun2, midpoint, ralston2, rk4, rk38};
pub use rk45::{cash_karp45, dopri5, fehlberg45};
pub use tsit5::tsit5;

use std::sync::OnceLock;

use super::{Q, Tableau, TableauError, parse_q};

/// Names accepted by [`builtin`].
pub const BUILTIN_NAMES: &[&str] = &[
    "euler",
    "midpoint",
    "heun2",
    "ralston2",
    "rk4",
    "rk38",
    "bosh3",
    "fehlberg45",
    "cash_karp45",
    "dopri5",
    "tsit5",
    "dopri8",
];

/// A built-in tableau by name (see [`BUILTIN_NAMES`] and the functions of [`builtins`](self)).
///
/// Each tableau is built and checked once per process and cloned afterwards (checking
/// dopri8's order 8 takes a few hundred milliseconds; the functions of this module redo it on
/// every call).
///
/// # Errors
/// [`TableauError::UnknownTableau`] listing the known names.
pub fn builtin(name: &str) -> Result<Tableau, TableauError> {
    static CACHE: [OnceLock<Result<Tableau, TableauError>>; BUILTIN_NAMES.len()] =
        [const { OnceLock::new() }; BUILTIN_NAMES.len()];
    let Some(index) = BUILTIN_NAMES.iter().position(|n| *n == name) else {
        return Err(TableauError::UnknownTableau {
            name: name.to_string(),
            known: BUILTIN_NAMES.iter().map(|s| s.to_string()).collect(),
        });
    };
    CACHE[index].get_or_init(|| build(name)).clone()
}

/// Builds a built-in tableau (uncached).
fn build(name: &str) -> Result<Tableau, TableauError> {
    match name {
        "euler" => euler(),
        "midpoint" => midpoint(),
        "heun2" => heun2(),
        "ralston2" => ralston2(),
        "rk4" => rk4(),
        "rk38" => rk38(),
        "bosh3" => bosh3(),
        "fehlberg45" => fehlberg45(),
        "cash_karp45" => cash_karp45(),
        "dopri5" => dopri5(),
        "tsit5" => tsit5(),
        "dopri8" => dopri8(),
        _ => Err(TableauError::UnknownTableau {
            name: name.to_string(),
            known: BUILTIN_NAMES.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// Parses a list of rational literals.
pub(crate) fn qs(items: &[&str]) -> Result<Vec<Q>, TableauError> {
    items.iter().map(|s| parse_q(s)).collect()
}

/// Parses lower-triangular rows of `A` (stages `2..=s`).
pub(crate) fn rows(items: &[&[&str]]) -> Result<Vec<Vec<Q>>, TableauError> {
    items.iter().map(|r| qs(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_unknown_names_list_the_known() {
        for name in BUILTIN_NAMES {
            let t = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name(), *name);
            assert_eq!(build(name).unwrap(), t, "cached equals fresh");
        }
        match builtin("rk5") {
            Err(TableauError::UnknownTableau { name, known }) => {
                assert_eq!(name, "rk5");
                assert_eq!(known.len(), BUILTIN_NAMES.len());
            }
            other => panic!("{other:?}"),
        }
        let msg = builtin("rk5").unwrap_err().to_string();
        assert!(msg.contains("`rk5`") && msg.contains("dopri5"), "{msg}");
    }
}
