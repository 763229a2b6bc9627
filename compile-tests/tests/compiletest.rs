//! Compile-time checks of `neural_ode!` and `tableau!` (trybuild): one mistake per file in
//! `tests/ui/<category>/`, each with the expected `.stderr` (regenerate with
//! `TRYBUILD=overwrite cargo test -p symplode-compile-tests` on the pinned toolchain), and
//! the passing declarations in `tests/ui/pass/`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/tableau/*.rs");
    t.compile_fail("tests/ui/network/*.rs");
    t.compile_fail("tests/ui/adjoint/*.rs");
}
