//! `symplode tableau list` and `symplode tableau check` on built-ins and on TOML files.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};

use crate::common::fresh_dir;
use symplode::prelude::*;

/// Runs `symplode args…` in `dir`, which must succeed quietly; its standard output.
fn run(args: &[&str], dir: &Path) -> String {
    let out = crate::common::run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lists_every_builtin() {
    let text = run(&["tableau", "list"], &fresh_dir("cli-tableau-list"));
    assert_eq!(text.lines().count(), BUILTIN_NAMES.len() + 1);
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], t.stages().to_string(), "{line}");
        assert_eq!(cols[2], t.order().to_string(), "{line}");
        assert_eq!(cols[4], if t.is_fsal() { "yes" } else { "no" }, "{line}");
        assert_eq!(cols[5], t.partner().unwrap().stages.to_string(), "{line}");
    }
}

#[test]
fn checks_a_builtin() {
    let dir: PathBuf = fresh_dir("cli-tableau-builtin");
    let text = run(&["tableau", "check", "dopri5"], &dir);
    for want in [
        "tableau         dopri5 (built-in `dopri5`)",
        "stages          7",
        "order           5 (verified exactly)",
        "embedded order  4 (verified exactly)",
        "FSAL            yes",
        "4/5 |  44/45       -56/15       32/9",
        "symplectic partner: 6 adjoint stages (1 trailing stage(s) with b = 0 dropped)",
        "b_i = 0 at stage(s) 2",
        "pairing proof for `dopri5`: 6 adjoint stages, 91 identities, all residuals 0",
    ] {
        assert!(text.contains(want), "lacks `{want}`:\n{text}");
    }
    let verbose = run(&["tableau", "check", "dopri5", "--verbose"], &dir);
    assert!(verbose.lines().count() >= text.lines().count() + 91);
}

#[test]
fn checks_a_tableau_file() {
    let d = fresh_dir("cli-tableau-file");
    std::fs::write(
        d.join("heun3.toml"),
        "name = 'heun3'\norder = 3\nc = ['0', '1/3', '2/3']\na = [[], ['1/3'], ['0', '2/3']]\nb = ['1/4', '0', '3/4']\n",
    )
    .unwrap();
    let text = run(&["tableau", "check", "heun3.toml"], &d);
    for want in [
        "tableau         heun3 (heun3.toml)",
        "order           3 (verified exactly)",
        "embedded order  – (no embedded weights: fixed steps only)",
        "FSAL            no",
        "b |  1/4  0    3/4",
        "symplectic partner: 3 adjoint stages (0 trailing stage(s) with b = 0 dropped)",
        "all residuals 0",
    ] {
        assert!(text.contains(want), "lacks `{want}`:\n{text}");
    }
    // A decimal approximation checked within a tolerance.
    std::fs::write(
        d.join("ralston.toml"),
        "order = 2\ntolerance = '1e-15'\nc = [0, 0.6666666666666666]\na = [[], [0.6666666666666666]]\nb = [0.25, 0.75]\n",
    )
    .unwrap();
    let text = run(&["tableau", "check", "ralston.toml"], &d);
    assert!(
        text.contains("order           2 (verified within tolerance 1e-15)"),
        "{text}"
    );
}
