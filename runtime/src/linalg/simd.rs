//! Which SIMD path the GEMM ([`super::matmul`]) and activation ([`super::fastmath`]) kernels
//! take: the best the CPU supports, or a lower one forced at run time so that a test suite can
//! run every path the machine can execute (on an AVX-512 machine the AVX2 and portable kernels
//! would otherwise never run).
//!
//! The level in effect is [`simd_level`]: the one set by [`force_simd`], else the environment
//! variable `SYMPLODE_SIMD` (`portable`, `avx2` or `avx512`, read once), else
//! [`SimdLevel::detected`]. It never exceeds what the CPU supports: forcing a higher level is
//! an error, and a higher level in the environment is lowered to the detected one.
//!
//! ```
//! use symplode_runtime::linalg::simd::{SimdLevel, force_simd, simd_level};
//!
//! force_simd(Some(SimdLevel::Portable)).unwrap();
//! assert_eq!(simd_level(), SimdLevel::Portable);
//! force_simd(None).unwrap(); // back to the environment or the CPU's best
//! assert!(simd_level() <= SimdLevel::detected());
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// A SIMD path of the kernels, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// Plain Rust loops (whatever the compiler vectorises for the baseline target).
    Portable,
    /// AVX2 + FMA kernels (x86-64).
    Avx2,
    /// AVX-512F/DQ kernels (x86-64, with AVX2 and FMA).
    Avx512,
}

impl SimdLevel {
    /// All levels, least capable first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512];

    /// `"portable"`, `"avx2"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Portable => "portable",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// The level named `name` (as [`SimdLevel::name`] gives, case-insensitive).
    pub fn parse(name: &str) -> Option<SimdLevel> {
        SimdLevel::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The best level this CPU supports.
    pub fn detected() -> SimdLevel {
        static DETECTED: OnceLock<SimdLevel> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                let avx2 = std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma");
                let avx512 = avx2
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq");
                if avx512 {
                    return SimdLevel::Avx512;
                }
                if avx2 {
                    return SimdLevel::Avx2;
                }
            }
            SimdLevel::Portable
        })
    }

    /// Every level this CPU can execute, least capable first (what a test should run).
    pub fn available() -> Vec<SimdLevel> {
        SimdLevel::ALL
            .into_iter()
            .filter(|&l| l <= SimdLevel::detected())
            .collect()
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Option<SimdLevel> {
        SimdLevel::ALL.into_iter().find(|l| l.code() == c)
    }
}

/// No level forced.
const UNSET: u8 = u8::MAX;

/// The forced level's code, or [`UNSET`].
static FORCED: AtomicU8 = AtomicU8::new(UNSET);

/// The level of `SYMPLODE_SIMD`, lowered to the detected one (read once).
fn from_env() -> SimdLevel {
    static ENV: OnceLock<SimdLevel> = OnceLock::new();
    *ENV.get_or_init(|| {
        let detected = SimdLevel::detected();
        std::env::var("SYMPLODE_SIMD")
            .ok()
            .and_then(|v| SimdLevel::parse(&v))
            .map_or(detected, |l| l.min(detected))
    })
}

/// The level the kernels use now (see the module documentation); never above
/// [`SimdLevel::detected`].
#[inline]
pub fn simd_level() -> SimdLevel {
    match SimdLevel::from_code(FORCED.load(Ordering::Relaxed)) {
        Some(l) => l,
        None => from_env(),
    }
}

/// A level the CPU cannot execute was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SIMD level {} is not supported by this CPU (it supports up to {})", asked.name(), detected.name())]
pub struct UnsupportedSimd {
    /// The level asked for.
    pub asked: SimdLevel,
    /// The best level of this CPU.
    pub detected: SimdLevel,
}

/// Forces the kernels onto `level` for the whole process (`None`: back to the environment or
/// the CPU's best). Results stay correct on every level; only speed differs.
///
/// # Errors
/// [`UnsupportedSimd`] when the CPU cannot execute `level` (nothing is changed).
pub fn force_simd(level: Option<SimdLevel>) -> Result<(), UnsupportedSimd> {
    match level {
        None => FORCED.store(UNSET, Ordering::Relaxed),
        Some(l) if l <= SimdLevel::detected() => FORCED.store(l.code(), Ordering::Relaxed),
        Some(asked) => {
            return Err(UnsupportedSimd {
                asked,
                detected: SimdLevel::detected(),
            });
        }
    }
    Ok(())
}

/// A computation [`widest`] compiles once per SIMD level. Implement [`Widened::run`] with
/// `#[inline(always)]` (and inline what it calls) so that its loops land in each level's
/// instance: a closure would be compiled once, outside them.
pub trait Widened {
    /// What the computation returns.
    type Output;
    /// The computation.
    fn run(self) -> Self::Output;
}

/// Runs `body` compiled for the widest SIMD level in effect ([`simd_level`]): the plain
/// elementwise loops inlined into [`Widened::run`] become 512- or 256-bit vector code instead
/// of the baseline target's 128-bit SSE2. Each element is computed by the same operations in
/// the same order at every width (Rust neither reassociates nor fuses float operations), so
/// the result is the same bit for bit on every path; only speed differs. Functions `run`
/// calls but does not inline keep their own code (and their own dispatch).
#[inline(always)]
pub fn widest<W: Widened>(body: W) -> W::Output {
    #[cfg(target_arch = "x86_64")]
    match simd_level() {
        // SAFETY: `simd_level` never exceeds the detected level, so the CPU has the features.
        SimdLevel::Avx512 => return unsafe { widest_avx512(body) },
        // SAFETY: as above.
        SimdLevel::Avx2 => return unsafe { widest_avx2(body) },
        SimdLevel::Portable => {}
    }
    body.run()
}

/// `body` compiled with AVX-512F/DQ (and AVX2, FMA).
///
/// # Safety
/// The CPU supports AVX-512F, AVX-512DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline(never)]
unsafe fn widest_avx512<W: Widened>(body: W) -> W::Output {
    body.run()
}

/// `body` compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
unsafe fn widest_avx2<W: Widened>(body: W) -> W::Output {
    body.run()
}
