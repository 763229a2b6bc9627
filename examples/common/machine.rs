//! What the benchmark tables say about the machine they were measured on.

/// The CPU model and the number of logical CPUs.
pub fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {n} logical CPUs available to this process")
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
