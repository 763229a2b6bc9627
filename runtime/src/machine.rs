//! What the runtime sees of the machine it runs on, for benchmark tables and bug reports: the
//! CPU's name and, where `/proc/cpuinfo` gives them, its family and model numbers (a virtual
//! machine's "AMD EPYC" alone does not tell a Zen 3 from a Zen 5), the SIMD path the kernels
//! take ([`simd_level`]), the cache sizes the GEMM blocks for ([`cache_sizes`]) and the logical
//! CPUs this process may use.
//!
//! ```
//! let m = symplode_runtime::machine::machine();
//! println!("CPU: {m}"); // e.g. "AMD EPYC (family 25 model 1), avx2 kernels, L1d 32 KiB, …"
//! assert!(m.logical_cpus >= 1);
//! ```

use crate::linalg::cache::{CacheSizes, cache_sizes};
use crate::linalg::simd::{SimdLevel, simd_level};

/// The machine as the runtime sees it ([`machine`]); `Display` gives one line for a table
/// header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The CPU's name (`model name` in `/proc/cpuinfo`), else the architecture.
    pub name: String,
    /// `cpu family` and `model` from `/proc/cpuinfo` (x86), when it has them.
    pub family_model: Option<(u32, u32)>,
    /// The SIMD path the kernels take.
    pub simd: SimdLevel,
    /// The cache sizes the GEMM blocks for, and where they were read.
    pub caches: CacheSizes,
    /// Logical CPUs available to this process (its affinity mask counts).
    pub logical_cpus: usize,
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some((family, model)) = self.family_model {
            write!(f, " (family {family} model {model})")?;
        }
        write!(
            f,
            ", {} kernels, {} ({}), {} logical CPU{} available to this process",
            self.simd.name(),
            self.caches,
            self.caches.source,
            self.logical_cpus,
            if self.logical_cpus == 1 { "" } else { "s" }
        )
    }
}

/// Reads the machine's description (`/proc/cpuinfo` where there is one; never fails).
pub fn machine() -> Machine {
    let (name, family_model) = std::fs::read_to_string("/proc/cpuinfo")
        .map(|text| parse_cpuinfo(&text))
        .unwrap_or((None, None));
    Machine {
        name: name.unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        family_model,
        simd: simd_level(),
        caches: cache_sizes(),
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// The first processor's `model name` and (`cpu family`, `model`) in `/proc/cpuinfo` text.
fn parse_cpuinfo(text: &str) -> (Option<String>, Option<(u32, u32)>) {
    let field = |key: &str| {
        text.lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
    };
    let number = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok());
    let name = field("model name").filter(|n| !n.is_empty());
    (name, number("cpu family").zip(number("model")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_gives_name_family_and_model_of_the_first_processor() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
                    model name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\ncpu family\t: 26\n\
                    model\t\t: 2\nmodel name\t: other\n";
        assert_eq!(
            parse_cpuinfo(text),
            (Some("AMD EPYC".to_string()), Some((25, 1)))
        );
        // "model" is not "model name"; no family and model without both numbers.
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n";
        assert_eq!(parse_cpuinfo(arm), (None, None));
        let half = "cpu family\t: 6\nmodel name\t: Intel(R) Xeon(R)\n";
        assert_eq!(
            parse_cpuinfo(half),
            (Some("Intel(R) Xeon(R)".to_string()), None)
        );
    }

    #[test]
    fn the_line_names_what_the_tables_need() {
        let m = Machine {
            name: "AMD EPYC".into(),
            family_model: Some((25, 1)),
            simd: SimdLevel::Avx2,
            caches: CacheSizes {
                l1d: 32 * 1024,
                l2: 512 * 1024,
                source: "sysfs",
            },
            logical_cpus: 1,
        };
        assert_eq!(
            m.to_string(),
            "AMD EPYC (family 25 model 1), avx2 kernels, L1d 32 KiB, L2 512 KiB (sysfs), \
             1 logical CPU available to this process"
        );
    }
}
