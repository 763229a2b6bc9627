//! ns per element of the activation kernels (`ActivationKernels::apply` and `mul_derivative`)
//! on every SIMD path this CPU can run, f64 and f32: which path is fastest is the CPU's to say,
//! and `simd_level()` picks the best it supports.

use std::hint::black_box;
use std::time::Instant;

use symplode_runtime::linalg::simd::{SimdLevel, force_simd, simd_level};
use symplode_runtime::models::{Activation, ActivationKernels};
use symplode_runtime::real::Real;

/// Elements per call: a batch-256 × hidden-64 layer, twice (fits L1/L2 on every x86-64).
const LEN: usize = 32_768;
/// Best of this many calls.
const CALLS: usize = 200;

/// Best ns/element of `f` over [`CALLS`] calls on `LEN` elements.
fn best_ns(mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..CALLS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e9 / LEN as f64
}

/// A buffer of `x.len()` elements that starts at the same offset within a 4 KiB page as `x`
/// (the buffer and the start index). glibc's `memcpy` (2.36, `rep movsb` on CPUs with FSRM)
/// copies 4 KiB–1 MiB 10–30× slower on a Zen 3 when the destination lies 8–24 bytes past the
/// source modulo 4 KiB, and a clone allocated right after its source often does (the 16-byte
/// chunk header): `apply`'s copy then took ~3 ns per element, more than the kernel.
fn page_matched<T: Real>(x: &[T]) -> (Vec<T>, usize) {
    const PAGE: usize = 4096;
    let elem = size_of::<T>();
    let buf = vec![T::of(0.0); x.len() + PAGE / elem];
    let want = x.as_ptr() as usize % PAGE;
    let have = buf.as_ptr() as usize % PAGE;
    (buf, (want + PAGE - have) % PAGE / elem)
}

/// (apply, mul_derivative) ns/element of `act` in `T` on the current SIMD path.
fn time_activation<T: Real>(act: Activation) -> (f64, f64) {
    let x: Vec<T> = (0..LEN)
        .map(|i| T::of(((i * 7919) % 2001) as f64 / 250.0 - 4.0))
        .collect();
    let (mut buf, start) = page_matched(&x);
    let y = &mut buf[start..start + LEN];
    let apply = best_ns(|| {
        y.copy_from_slice(&x);
        act.apply(black_box(&mut *y));
    });
    let mut g = vec![T::of(0.5); LEN];
    let deriv = best_ns(|| act.mul_derivative(black_box(&*y), black_box(&mut g)));
    // `apply` includes the copy of `LEN` elements (≈ 0.02–0.05 ns/element).
    (apply, deriv)
}

/// Prints the table: one row per activation, one column pair per path and type.
pub fn table() {
    let levels = SimdLevel::available();
    println!(
        "Activation kernels, ns per element ({LEN} elements, best of {CALLS} calls; `apply` \
         includes copying the input; the default path here: {}):",
        simd_level().name()
    );
    println!();
    let mut head = String::from("| activation |");
    let mut rule = String::from("|---|");
    for l in &levels {
        for t in ["f64", "f32"] {
            head += &format!(" {} {t} σ | {} {t} σ' |", l.name(), l.name());
            rule += "---|---|";
        }
    }
    println!("{head}");
    println!("{rule}");
    for act in [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Silu,
        Activation::Elu,
        Activation::Relu,
    ] {
        let mut row = format!("| {act:?} |");
        for &l in &levels {
            force_simd(Some(l)).expect("an available level");
            let (a, d) = time_activation::<f64>(act);
            let (af, df) = time_activation::<f32>(act);
            row += &format!(" {a:.3} | {d:.3} | {af:.3} | {df:.3} |");
        }
        println!("{row}");
    }
    force_simd(None).expect("back to the default");
}
