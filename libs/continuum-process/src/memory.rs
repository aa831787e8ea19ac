//! The process's memory allocator settings, applied once at start-up by every binary ([`tune_allocator`]).
//!
//! glibc's malloc serves a large allocation (a multi-MB request buffer) with its own `mmap` and unmaps it
//! when freed, but it then raises its mmap threshold to that size (up to 32 MiB): later buffers of that
//! size come from the heap arenas, whose freed memory is fragmented and rarely given back. Under a flood
//! of 4 MB messages the all-in-one process grew past 200 MB RSS that way and stayed there (the black-box
//! fuzz, `scripts/blackbox_fuzz.py`); with the threshold fixed at 256 KiB the same flood peaked at
//! ~115 MB and fell back to ~55 MB. It is the one `unsafe` call of the workspace.

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
