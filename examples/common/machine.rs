//! What the benchmark tables say about the machine they were measured on.

/// The CPU (name, family and model), the SIMD path, the caches and the logical CPUs available
/// (`symplode::runtime::machine`).
pub fn cpu() -> String {
    symplode::runtime::machine::machine().to_string()
}

/// `uptime`, or the load averages.
pub fn uptime() -> String {
    std::process::Command::new("uptime")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .or_else(|| {
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|s| format!("load average {}", s.trim()))
        })
        .unwrap_or_else(|| "unknown".into())
}
