//! The process's memory allocator: [`Allocator`], every binary's `#[global_allocator]`, and the glibc
//! settings applied once at start-up by every binary ([`tune_allocator`]).
//!
//! Rust's allocations go to mimalloc (issue 12: under the 32-in-flight intake benchmark glibc's malloc and
//! free were 18 % of the all-in-one process's CPU; with mimalloc the process used 2.0-2.1 instead of 2.4 ms
//! of CPU per routed intake, and the run went from 381-388 to 425-462 intakes/s, side by side). It is built
//! as mimalloc 2 without transparent huge pages (the crate's `v2` and `no_thp` features): mimalloc 3 with
//! its defaults backed its arenas with 2 MiB pages and gave freed pages back only after a second, so the
//! idle process took 65-73 MB instead of 34 and the 100,000-entry, 20,000-provider run peaked at 219 MB
//! against the 200 MB target; built this way it idles at about 42 MB and returns freed pages within 10 ms.
//! The black-box fuzz (`scripts/blackbox_fuzz.py`) checks the RSS under floods of 4 MB messages.
//!
//! glibc's malloc still serves the C libraries (SQLite's page cache among them). It serves a large
//! allocation with its own `mmap` and unmaps it when freed, but then raises its mmap threshold to that size
//! (up to 32 MiB): later buffers of that size come from the heap arenas, whose freed memory is fragmented
//! and rarely given back. Under a flood of 4 MB messages, when Rust's allocations still went to glibc, the
//! all-in-one process grew past 200 MB RSS that way and stayed there; with the threshold fixed at 256 KiB
//! the same flood peaked at ~115 MB and fell back to ~55 MB. The threshold stays fixed for what glibc
//! still serves. It is the one `unsafe` call of the workspace.

/// The allocator every binary declares as its `#[global_allocator]`: mimalloc (see the module docs).
pub use mimalloc::MiMalloc as Allocator;

/// The mmap threshold: allocations of this size or more get their own mapping, returned on free.
pub const MMAP_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`] (which also turns off its dynamic raising).
/// Whether the setting took; `false` off glibc (other allocators keep their own policy).
#[allow(unsafe_code)]
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets a malloc parameter (under malloc's own lock; callable from any
        // thread at any time), with a constant in its documented range; it touches no Rust-managed memory.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        set == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_threshold() {
        assert!(super::tune_allocator());
    }
}
