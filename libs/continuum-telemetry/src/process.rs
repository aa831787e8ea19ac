//! Process metrics as the Prometheus process collector names them: `process_cpu_seconds_total` and
//! `process_resident_memory_bytes`, read from `/proc/self/stat` and `/proc/self/status` by a small periodic
//! task (Linux; elsewhere nothing is exported). CPU seconds are whole seconds: the `metrics` counter is an
//! integer.

use std::time::Duration;

/// How often the process metrics are read.
const EVERY: Duration = Duration::from_secs(5);

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ: 100 on every Linux architecture Continuum
/// runs on).
const TICKS_PER_SECOND: u64 = 100;

/// CPU seconds (user + system) from the text of `/proc/self/stat`.
pub fn cpu_seconds(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Fields 3.. follow; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident memory in bytes from the text of `/proc/self/status` (`VmRSS: <n> kB`).
pub fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 =
        line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Reads both once and sets the metrics; false when `/proc` is not there.
pub fn sample() -> bool {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    if let Some(cpu) = stat.as_deref().and_then(cpu_seconds) {
        metrics::counter!(crate::names::PROCESS_CPU).absolute(cpu);
    }
    if let Some(rss) = status.as_deref().and_then(resident_bytes) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(crate::names::PROCESS_RESIDENT_MEMORY).set(rss as f64);
    }
    stat.is_some() || status.is_some()
}

/// Samples now and then every few seconds on the current Tokio runtime (nothing outside one, or without
/// `/proc`).
pub fn spawn_sampler() {
    if !sample() {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async {
            loop {
                tokio::time::sleep(EVERY).await;
                sample();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_memory_from_proc_text() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 3 0 0 0 250 130 0 0 20 0 9 0 100 1000 200";
        assert_eq!(cpu_seconds(stat), Some(3));
        let status = "Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t   2048 kB\nThreads:\t9\n";
        assert_eq!(resident_bytes(status), Some(2048 * 1024));
        assert_eq!(cpu_seconds("garbage"), None);
        assert_eq!(resident_bytes(""), None);
    }

    #[test]
    fn this_process_has_proc_on_linux() {
        if cfg!(target_os = "linux") {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            assert!(cpu_seconds(&stat).is_some(), "{stat}");
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            assert!(resident_bytes(&status).is_some_and(|b| b > 0));
        }
    }
}
