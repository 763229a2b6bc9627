//! The data-cache sizes the GEMM ([`super::matmul`]) sizes its blocks from, read from the
//! machine instead of tuned to one CPU: Linux's sysfs (`/sys/devices/system/cpu/cpu0/cache`),
//! else CPUID's deterministic cache parameters (leaf 4 on Intel, 0x8000_001D on AMD), else
//! conservative defaults (32 KiB L1d, 256 KiB L2). A test can force a smaller L2 with
//! [`force_l2`] to run the packed path on small matrices (the L2 decides only what is packed,
//! never the order of the sums, so forcing it cannot change a result's bits).
//!
//! ```
//! use symplode_runtime::linalg::cache::{CacheSizes, cache_sizes};
//!
//! let c = cache_sizes();
//! assert!(c.l1d >= 4096 && c.l2 >= c.l1d);
//! println!("{} ({})", c, c.source);
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Per-core data-cache capacities in bytes and where they were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache (unified).
    pub l2: usize,
    /// Where the sizes came from: `"sysfs"`, `"cpuid"`, `"default"` or `"forced"`.
    pub source: &'static str,
}

impl std::fmt::Display for CacheSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "L1d {} KiB, L2 {} KiB", self.l1d / 1024, self.l2 / 1024)
    }
}

impl CacheSizes {
    /// The defaults when nothing can be read: the smallest L1d/L2 of current x86-64 and
    /// AArch64 server cores, so blocks never overflow a real cache.
    pub const DEFAULT: CacheSizes = CacheSizes {
        l1d: 32 * 1024,
        l2: 256 * 1024,
        source: "default",
    };

    /// The sizes of this machine (read once).
    pub fn detected() -> CacheSizes {
        static DETECTED: OnceLock<CacheSizes> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            from_sysfs()
                .or_else(from_cpuid)
                .filter(|c| c.l1d >= 4096 && c.l2 >= c.l1d)
                .unwrap_or(CacheSizes::DEFAULT)
        })
    }
}

/// The forced L2 in bytes; 0: none.
static FORCED_L2: AtomicUsize = AtomicUsize::new(0);

/// The sizes the kernels block for now: [`CacheSizes::detected`], with the L2 of
/// [`force_l2`] when one is forced.
pub fn cache_sizes() -> CacheSizes {
    let detected = CacheSizes::detected();
    match FORCED_L2.load(Ordering::Relaxed) {
        0 => detected,
        l2 => CacheSizes {
            l2,
            source: "forced",
            ..detected
        },
    }
}

/// Makes the GEMM block as if the L2 had `bytes` (`None`: back to the detected size), for the
/// whole process: a small value makes it pack A in blocks of a few rows even for small
/// products. The K blocks follow the L1d, which is never forced, so every result stays the
/// same bit for bit.
pub fn force_l2(bytes: Option<usize>) {
    FORCED_L2.store(
        bytes.unwrap_or(0).max(usize::from(bytes.is_some())),
        Ordering::Relaxed,
    );
}

/// Parses sysfs sizes such as `"48K"`, `"1024K"`, `"2M"`.
fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: usize = digits.parse().ok()?;
    let scale = match unit.trim() {
        "" => 1,
        "K" | "k" | "KB" | "KiB" => 1024,
        "M" | "MB" | "MiB" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn from_sysfs() -> Option<CacheSizes> {
    let (mut l1d, mut l2) = (None, None);
    for index in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).ok();
        let Some(level) = read("level") else { break };
        let kind = read("type").unwrap_or_default();
        let size = read("size").as_deref().and_then(parse_size);
        match (level.trim(), kind.trim()) {
            ("1", "Data") => l1d = size,
            ("2", "Unified" | "Data") => l2 = size,
            _ => {}
        }
    }
    Some(CacheSizes {
        l1d: l1d?,
        l2: l2?,
        source: "sysfs",
    })
}

#[cfg(target_arch = "x86_64")]
fn from_cpuid() -> Option<CacheSizes> {
    use std::arch::x86_64::__cpuid_count;
    // Leaves above the maximum return zeros; the maxima are checked first.
    let l0 = __cpuid_count(0, 0);
    let (max_basic, max_ext, vendor_ebx) = (l0.eax, __cpuid_count(0x8000_0000, 0).eax, l0.ebx);
    // "Auth" (AuthenticAMD) / "Hygo" (HygonGenuine) use the extended leaf.
    let leaf = if (vendor_ebx == 0x6874_7541 || vendor_ebx == 0x6f67_7948) && max_ext >= 0x8000_001D
    {
        0x8000_001D
    } else if max_basic >= 4 {
        4
    } else {
        return None;
    };
    let (mut l1d, mut l2) = (None, None);
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let kind = r.eax & 0x1f;
        if kind == 0 {
            break;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * partitions * line * sets;
        match (level, kind) {
            (1, 1) => l1d = Some(size),
            (2, 1 | 3) => l2 = Some(size),
            _ => {}
        }
    }
    Some(CacheSizes {
        l1d: l1d?,
        l2: l2?,
        source: "cpuid",
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn from_cpuid() -> Option<CacheSizes> {
    None
}

/// The block sizes of a product with an `mr × nr` register tile of `elem`-byte elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Terms of the K dimension summed per block: a packed `kc × nr` panel of B fills the L1d.
    /// (Half the L1d was the rule before; at 4096 × 256 × 256 it split `K = 256` into two
    /// blocks, and the second pass over an 8 MiB `C` cost 15%: 41 against 48 GFLOP/s in
    /// `bench/gemm` on a Zen 4, faer 50. The micro-kernel does `MR · NR / lanes` FMAs per
    /// panel row, so panel rows that fall out of the L1d come back from the L2 without
    /// stalling it.)
    pub kc: usize,
    /// Rows of A packed per block: an `mc × kc` block fills half the L2, a multiple of `mr`.
    pub mc: usize,
}

impl Blocking {
    /// Most K terms per block, whatever the L1d (bounds the on-stack panel).
    pub const KC_MAX: usize = 512;
    /// Fewest K terms per block, whatever the L1d.
    pub const KC_MIN: usize = 32;

    /// The blocks for these cache sizes and tile.
    #[cfg(test)]
    pub fn new(c: CacheSizes, mr: usize, nr: usize, elem: usize) -> Blocking {
        let kc = Self::kc(c.l1d, nr, elem);
        Blocking {
            kc,
            mc: Self::mc(c.l2, kc, mr, elem),
        }
    }

    /// `KC` for an L1d of `l1d` bytes (inlined into the kernels, where `nr · elem` is a
    /// constant, so the division is a multiplication).
    #[inline(always)]
    pub fn kc(l1d: usize, nr: usize, elem: usize) -> usize {
        (l1d / (nr * elem)).clamp(Self::KC_MIN, Self::KC_MAX)
    }

    /// `MC` for an L2 of `l2` bytes and K blocks of `kc` terms.
    #[inline(always)]
    pub fn mc(l2: usize, kc: usize, mr: usize, elem: usize) -> usize {
        (l2 / 2 / (kc * elem) / mr).max(1) * mr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("48K\n"), Some(48 * 1024));
        assert_eq!(parse_size("2M"), Some(2 * 1024 * 1024));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
    }

    /// 32 KiB L1d and a 6×8 f64 tile give the 256-term blocks the kernels used before the
    /// sizes were read; a 1 MiB L2 holds 256 rows of them in half its capacity.
    #[test]
    fn blocks_follow_the_caches() {
        let c = CacheSizes {
            l1d: 32 * 1024,
            l2: 1024 * 1024,
            source: "forced",
        };
        assert_eq!(Blocking::new(c, 6, 8, 8), Blocking { kc: 512, mc: 126 });
        assert_eq!(Blocking::new(c, 8, 16, 8).kc, 256);
        let big = CacheSizes {
            l1d: 48 * 1024,
            l2: 2 * 1024 * 1024,
            ..c
        };
        assert_eq!(Blocking::new(big, 8, 16, 8).kc, 384);
        assert_eq!(Blocking::new(big, 8, 16, 8).mc % 8, 0);
    }
}
