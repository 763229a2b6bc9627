//! JIT kernels match the interpreter for every built-in tableau: kernel by kernel (bit for bit
//! without FMA, to rounding with it), and in all five gradient methods, fixed and adaptive.
#![cfg(feature = "jit")]

use std::sync::Arc;

use crate::common::*;
use symplode_codegen::tableau::builtin;
use symplode_runtime::Scheme;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::jit::{JitKernels, JitOptions, JitReal, jit_scheme};

fn opts(fma: bool) -> JitOptions {
    JitOptions {
        fma,
        verify: true,
        ..JitOptions::default()
    }
}

fn kernels_match<T: JitReal>(name: &str, fma: bool, tol: f64) {
    let t = builtin(name).unwrap();
    let plain = Scheme::<T>::new(&t).unwrap();
    let jit = plain
        .clone()
        .with_kernels(Arc::new(JitKernels::<T>::compile(&t, &opts(fma)).unwrap()));
    let s = plain.stages();
    for n in [1usize, 6, 37] {
        let x = random_state::<T>(n, 1);
        let k: Vec<Vec<T>> = (0..s)
            .map(|j| random_state::<T>(n, 10 + j as u64))
            .collect();
        let h = T::of(0.37);
        let check = |a: &[T], b: &[T], what: &str| {
            let r = rel(&to64(a), &to64(b));
            if fma {
                assert!(r <= tol, "{name} {what} n={n}: rel {r:e}");
            } else {
                assert_eq!(a, b, "{name} {what} n={n}");
            }
        };
        let (mut a, mut b) = (vec![T::zero(); n], vec![T::zero(); n]);
        for i in 1..s {
            plain.stage_input(i, h, &x, &k, &mut a);
            jit.stage_input(i, h, &x, &k, &mut b);
            check(&a, &b, &format!("stage {i}"));
        }
        for m in 0..=s {
            plain.update(m, h, &x, &k, &mut a);
            jit.update(m, h, &x, &k, &mut b);
            check(&a, &b, &format!("update {m}"));
        }
        plain.error_estimate(h, &k, &mut a);
        jit.error_estimate(h, &k, &mut b);
        check(&a, &b, "error");
        for i in 0..plain.effective_stages() {
            plain.adjoint_cotangent(i, h, &x, &k, &mut a);
            jit.adjoint_cotangent(i, h, &x, &k, &mut b);
            check(&a, &b, &format!("adjoint {i}"));
        }
    }
}

#[test]
fn kernels_match_the_interpreter_for_every_builtin() {
    for name in TABLEAUX {
        kernels_match::<f64>(name, false, 0.0);
        kernels_match::<f64>(name, true, 1e-14);
        kernels_match::<f32>(name, false, 0.0);
        kernels_match::<f32>(name, true, 1e-5);
    }
}

fn gradients_match(name: &str, adaptive: bool, fma: bool) {
    let t = builtin(name).unwrap();
    let plain = Scheme::<f64>::new(&t).unwrap();
    let (jit, _) = jit_scheme::<f64>(&t, &opts(fma)).unwrap();
    let net = mlp::<f64>(2, 8, 3);
    let x0 = random_state::<f64>(2 * 5, 4);
    let stepping = stepping_for(name, adaptive);
    for method in all_methods::<f64>() {
        let run = |sch: &Scheme<f64>| {
            method
                .gradient(
                    &Problem::single(&net, &[0.0, 0.6, 1.0], sch, stepping.clone(), &x0),
                    &mut losses::mean_sq_final(2),
                )
                .unwrap_or_else(|e| panic!("{name} {}: {e}", method.name()))
        };
        let (a, b) = (run(&plain), run(&jit));
        if fma {
            let problem = Problem::single(&net, &[0.0, 1.0], &plain, stepping.clone(), &x0);
            let r = worst_rel(&problem, &a, &b);
            assert!(
                r < 1e-9,
                "{name} adaptive={adaptive} {}: {r:e}",
                method.name()
            );
        } else {
            assert_eq!(a.dx0, b.dx0, "{name} adaptive={adaptive} {}", method.name());
            assert_eq!(a.dtheta, b.dtheta, "{name} {}", method.name());
        }
    }
}

#[test]
fn all_five_methods_match_fixed_and_adaptive() {
    for name in TABLEAUX {
        for fma in [false, true] {
            gradients_match(name, false, fma);
            if ADAPTIVE.contains(name) {
                gradients_match(name, true, fma);
            }
        }
    }
}
