//! The JIT's generated functions pass Cranelift's verifier for every built-in tableau (f64
//! and f32), use 128-bit vectors (and FMA where the host has it), compute what they claim at
//! odd lengths, and invalid input is a typed error.
#![cfg(feature = "jit")]

use symplode_codegen::jit::{JitError, JitOptions, JitTableau, OptLevel};
use symplode_codegen::tableau::{BUILTIN_NAMES, Tableau, TableauError, builtin, q, q_to_f64};

fn opts(disasm: bool) -> JitOptions {
    JitOptions {
        verify: true,
        disasm,
        ..JitOptions::default()
    }
}

#[test]
fn every_builtin_passes_the_verifier() {
    for name in BUILTIN_NAMES {
        let t = builtin(name).unwrap();
        let j64 = JitTableau::<f64>::compile(&t, &opts(true)).unwrap();
        let j32 = JitTableau::<f32>::compile(&t, &opts(false)).unwrap();
        for r in [j64.report(), j32.report()] {
            assert!(!r.functions.is_empty());
            assert!(r.functions.iter().all(|f| f.verified && f.code_bytes > 0));
        }
        assert_eq!(j64.report().lanes, 2);
        assert_eq!(j32.report().lanes, 4);
        // Stage, update, error and adjoint functions exist (identical ones are shared).
        let names: Vec<&str> = j64
            .report()
            .functions
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert!(names.iter().any(|n| n.starts_with("adjoint_")), "{names:?}");
        assert_eq!(names.contains(&"error"), t.b_hat().is_some(), "{name}");
        let summary = j64.report().summary(true);
        assert!(summary.contains("verified"), "{summary}");
    }
}

#[test]
fn disassembly_shows_vectors_and_fma() {
    let t = builtin("dopri5").unwrap();
    let j = JitTableau::<f64>::compile(&t, &opts(true)).unwrap();
    let dis: String = j
        .report()
        .functions
        .iter()
        .filter_map(|f| f.disasm.clone())
        .collect();
    assert!(dis.contains("pd"), "no packed-double instructions:\n{dis}");
    if j.report().fma {
        assert!(dis.contains("vfmadd"), "fma expected:\n{dis}");
    }
    let no_fma = JitTableau::<f64>::compile(
        &t,
        &JitOptions {
            fma: false,
            ..opts(true)
        },
    )
    .unwrap();
    let dis: String = no_fma
        .report()
        .functions
        .iter()
        .filter_map(|f| f.disasm.clone())
        .collect();
    assert!(!dis.contains("vfmadd") && !no_fma.report().fma);
}

#[test]
fn kernels_compute_the_combinations_at_odd_lengths() {
    for opt_level in [OptLevel::None, OptLevel::Speed] {
        for unroll in [1, 2, 4] {
            let o = JitOptions {
                opt_level,
                unroll,
                fma: false,
                ..opts(false)
            };
            let t = builtin("rk38").unwrap();
            let j = JitTableau::<f64>::compile(&t, &o).unwrap();
            for n in [0usize, 1, 3, 7, 8, 13] {
                let x: Vec<f64> = (0..n).map(|e| e as f64 * 0.5 - 1.0).collect();
                let k: Vec<Vec<f64>> = (0..4)
                    .map(|s| (0..n).map(|e| (s * 10 + e) as f64 * 0.1).collect())
                    .collect();
                let h = 0.3;
                let mut out = vec![f64::NAN; n];
                j.stage_input(3, h, &x, &k, &mut out);
                for e in 0..n {
                    let mut want = x[e];
                    for jj in 0..3 {
                        let a = q_to_f64(&t.a()[3][jj]);
                        if a != 0.0 {
                            want += h * a * k[jj][e];
                        }
                    }
                    assert_eq!(out[e], want, "n={n} e={e}");
                }
                let mut out = vec![f64::NAN; n];
                j.update(4, h, &x, &k, &mut out);
                for e in 0..n {
                    let mut want = x[e];
                    for (jj, b) in t.b().iter().enumerate() {
                        want += h * q_to_f64(b) * k[jj][e];
                    }
                    assert_eq!(out[e], want, "n={n} e={e}");
                }
            }
        }
    }
}

#[test]
fn invalid_tableau_is_a_typed_error() {
    // Heun's second-order weights claimed as order 3: the tree [[τ]] or [τ,τ] fails.
    let t = Tableau::new(
        "bad",
        vec![vec![q(1, 1)]],
        vec![q(1, 2), q(1, 2)],
        vec![q(0, 1), q(1, 1)],
        None,
        3,
        None,
    )
    .unwrap();
    match JitTableau::<f64>::compile(&t, &opts(false)) {
        Err(JitError::Tableau(TableauError::OrderNotMet(f))) => {
            assert_eq!(f.order, 3);
            assert!(f.residual_f64 != 0.0);
        }
        other => panic!("expected OrderNotMet, got {other:?}"),
    }
    // All weights zero: no symplectic partner.
    let t = Tableau::new(
        "zero",
        vec![vec![q(1, 1)]],
        vec![q(0, 1), q(0, 1)],
        vec![q(0, 1), q(1, 1)],
        None,
        0,
        None,
    )
    .unwrap();
    let e = JitTableau::<f64>::compile(&t, &opts(false)).unwrap_err();
    assert!(
        matches!(e, JitError::Tableau(TableauError::NoPartner { .. })),
        "{e}"
    );
    // A coefficient overflowing f32 is reported with its stage.
    let big = q(1, 1) * q(10, 1).pow(40);
    let t = Tableau::new(
        "huge",
        vec![vec![big.clone()]],
        vec![q(1, 1), q(0, 1)],
        vec![q(0, 1), big],
        None,
        1,
        None,
    )
    .unwrap();
    match JitTableau::<f32>::compile(&t, &opts(false)) {
        Err(JitError::Coefficient { stage, which, .. }) => {
            assert_eq!((stage, which.as_str()), (2, "a_21"));
        }
        other => panic!("expected Coefficient, got {other:?}"),
    }
    assert!(JitTableau::<f64>::compile(&t, &opts(false)).is_ok());
}
