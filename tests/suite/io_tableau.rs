//! Tableau TOML files: every layout of `a`, coefficient forms, the round trip of every
//! built-in, and validation errors naming the field or the failing condition.

#![cfg(feature = "model-files")]

use symplode::codegen::tableau::parse_q;
use symplode::io::{IoError, parse_tableau, resolve_tableau, tableau_to_toml};
use symplode::prelude::*;

fn parse(text: &str) -> Result<Tableau, IoError> {
    parse_tableau(text, "t.toml", "t")
}

#[test]
fn reads_every_layout_of_a() {
    let rows = [
        "a = [[], ['1/3'], ['0', '2/3']]",
        "a = [['1/3'], ['0', '2/3']]",
        "a = [['0', '0', '0'], ['1/3', '0', '0'], ['0', '2/3', '0']]",
    ];
    for a in rows {
        let text = format!(
            "name = 'heun3'\norder = 3\nc = ['0', '1/3', '2/3']\n{a}\nb = ['1/4', '0', '3/4']\n"
        );
        let t = parse(&text).unwrap();
        assert_eq!((t.name(), t.stages(), t.order()), ("heun3", 3, 3));
        assert_eq!(t.a()[2][1], parse_q("2/3").unwrap());
    }
}

#[test]
fn coefficients_may_be_decimals_integers_or_floats() {
    let text = "order = 2\nc = [0, 0.5]\na = [[], ['.5']]\nb = ['0', 1]\n";
    let t = parse(text).unwrap();
    assert_eq!(t.name(), "t");
    assert_eq!(t.c()[1], parse_q("1/2").unwrap());
    let ralston =
        "order = 2\nc = ['0', '2/3']\na = [[], [0.6666666666666666]]\nb = ['1/4', '3/4']\n";
    let e = parse(ralston).unwrap_err().to_string();
    assert!(e.contains("stage 2 is inconsistent"), "{e}");
    let t = parse(&format!("{ralston}tolerance = '1e-15'\n")).unwrap();
    assert_eq!(t.tolerance(), &parse_q("1e-15").unwrap());
}

#[test]
fn every_builtin_round_trips_through_toml() {
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let back = parse(&tableau_to_toml(&t)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, t, "{name}");
        assert_eq!(resolve_tableau(name, None).unwrap(), t);
    }
}

#[test]
fn errors_name_the_field_or_the_failing_condition() {
    let ok = "order = 3\nc = ['0', '1/3', '2/3']\na = [[], ['1/3'], ['0', '2/3']]\nb = ['1/4', '0', '3/4']\n";
    let cases = [
        (
            ok.replace("'2/3']]", "'2/0']]"),
            "t.toml: `a[2][1]`: cannot parse `2/0` as an exact rational: zero denominator",
        ),
        (
            ok.replace("'3/4'", "'x'"),
            "t.toml: `b[2]`: cannot parse `x`",
        ),
        (
            ok.replace("order = 3", "order = 4"),
            "does not have order 4 with weights b",
        ),
        (
            ok.replace("'1/3', '2/3']", "'1/3', '1/2']"),
            "stage 3 is inconsistent",
        ),
        (
            ok.replace("order = 3", "order = 3\nembedded_order = 2"),
            "t.toml: tableau `t`",
        ),
        (
            format!("{ok}colour = 'red'\n"),
            "t.toml:5:1: unknown field `colour`",
        ),
        (
            ok.replace("b = ['1/4', '0', '3/4']", "b = ['1/4', true, '3/4']"),
            "t.toml:4:13: invalid type: boolean `true`, expected a coefficient",
        ),
        (ok.replace("order = 3\n", ""), "missing field `order`"),
        (
            ok.replace(
                "a = [[], ['1/3'], ['0', '2/3']]",
                "a = [[], ['1/3', '0'], ['0', '2/3']]",
            ),
            "row 2 of A has length 2, expected 3 (full row) or 1",
        ),
    ];
    for (text, want) in cases {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(want), "`{e}` lacks `{want}`");
        assert!(!e.contains('\n'), "{e}");
    }
    let e = resolve_tableau("dopri", None).unwrap_err().to_string();
    assert!(e.contains("unknown tableau `dopri`"), "{e}");
}
