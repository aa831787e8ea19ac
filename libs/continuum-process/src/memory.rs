//! The process's memory allocator: [`Allocator`], every binary's `#[global_allocator]`, and the glibc
//! setting applied once at start-up by every binary ([`tune_allocator`]).
//!
//! Small allocations go to mimalloc, large ones ([`LARGE_BYTES`] or more) to the system allocator (issue
//! 12). Under the 32-in-flight intake benchmark glibc's malloc, free and their copies were about a fifth
//! of the all-in-one process's CPU, nearly all of it in allocations of a few hundred bytes (protobuf and
//! JSON values, HTTP/2 frames, SQL text). mimalloc serves those from thread-local free lists. It is built
//! as mimalloc 2 without transparent huge pages (the crate's `v2` and `no_thp` features): mimalloc 3 with
//! its defaults backed its arenas with 2 MiB pages and gave freed pages back only after a second (idle
//! 65 MB instead of 34).
//!
//! Large buffers stay with glibc because of how each gives memory back. mimalloc alone kept the segments of
//! freed multi-MB request buffers for reuse: under the black-box fuzz's floods of 4 MB messages
//! (`scripts/blackbox_fuzz.py`) the process peaked at 197 MB against its 200 MB limit, where glibc stays
//! near 115 MB. glibc serves an allocation at or above its mmap threshold with its own mapping and unmaps
//! it when freed, so RSS follows the live buffers. But glibc raises that threshold to the size of each
//! mapping freed (up to 32 MiB), after which buffers of that size come from its heap arenas, whose freed
//! memory is fragmented and rarely given back (past 200 MB under the same flood): [`tune_allocator`]
//! fixes the threshold at [`MMAP_THRESHOLD_BYTES`], which is also [`LARGE_BYTES`], so every large
//! allocation is its own mapping. The threshold also covers what the C libraries allocate themselves
//! (SQLite's page cache among them).
//!
//! The allocator's `impl` and `mallopt` are the workspace's only `unsafe` code (besides this module's tests).

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Allocations of this size or more go to the system allocator (each its own mapping), smaller ones to
/// mimalloc.
pub const LARGE_BYTES: usize = 256 * 1024;

/// The global allocator of every binary: mimalloc for allocations under [`LARGE_BYTES`], the system
/// allocator for the rest (see the module docs). Which one owns a block follows from its size alone:
/// Rust hands `dealloc` and `realloc` the layout the block was allocated with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

const fn is_large(size: usize) -> bool {
    size >= LARGE_BYTES
}

// SAFETY: every method forwards to an allocator that upholds `GlobalAlloc`'s contract, chosen by the
// block's size; a block is always freed or resized by the allocator that allocated it, because the layout
// Rust passes back is the one it was allocated with (for `realloc`, the old layout; the new size decides
// where the resized block lives). A resize that crosses `LARGE_BYTES` allocates in the other allocator,
// copies the smaller of the two sizes and frees the old block, as `GlobalAlloc::realloc`'s default does.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout has a non-zero size (`GlobalAlloc::alloc`'s contract).
        unsafe {
            if is_large(layout.size()) { System.alloc(layout) } else { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if is_large(layout.size()) {
                System.alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator with `layout`, hence by the one its size selects.
        unsafe {
            if is_large(layout.size()) {
                System.dealloc(ptr, layout);
            } else {
                MiMalloc.dealloc(ptr, layout);
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated with `layout` by the allocator its size selects; when the new size
        // selects the same one, that allocator resizes it; otherwise the new block (a valid layout:
        // `realloc`'s contract makes `new_size` valid at `layout`'s alignment) receives the smaller of the
        // two sizes before the old block is freed by its own allocator.
        unsafe {
            match (is_large(layout.size()), is_large(new_size)) {
                (false, false) => MiMalloc.realloc(ptr, layout, new_size),
                (true, true) => System.realloc(ptr, layout, new_size),
                _ => {
                    let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// The mmap threshold: allocations of this size or more get their own mapping, returned on free.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
pub const MMAP_THRESHOLD_BYTES: i32 = LARGE_BYTES as i32;

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
    #![allow(clippy::expect_used)]
    use super::{Allocator, LARGE_BYTES};
    use std::alloc::{GlobalAlloc, Layout};

    /// Fills `len` bytes at `p` with a pattern that depends on the offset.
    fn fill(p: *mut u8, len: usize) {
        for i in 0..len {
            #[allow(unsafe_code, clippy::cast_possible_truncation)]
            // SAFETY: `p` points to at least `len` writable bytes (the callers allocate them).
            unsafe {
                *p.add(i) = (i % 251) as u8;
            }
        }
    }

    fn holds_pattern(p: *const u8, len: usize) -> bool {
        #[allow(unsafe_code, clippy::cast_possible_truncation)]
        // SAFETY: `p` points to at least `len` initialised bytes.
        (0..len).all(|i| unsafe { *p.add(i) } == (i % 251) as u8)
    }

    /// Sizes on both sides of the boundary, resized across it both ways, keep their contents and their
    /// alignment (a block is always resized and freed by the allocator that holds it: a mix-up would
    /// corrupt either heap and abort the test process).
    #[test]
    #[allow(unsafe_code)]
    fn blocks_keep_contents_and_alignment_across_the_boundary() {
        let a = Allocator;
        let sizes = [1, 24, 4096, LARGE_BYTES - 1, LARGE_BYTES, LARGE_BYTES + 1, 4 << 20];
        for &align in &[8, 64, 4096] {
            for &from in &sizes {
                for &to in &sizes {
                    let layout = Layout::from_size_align(from, align).expect("valid layout");
                    // SAFETY: a non-zero size; every block is freed once with the layout it has.
                    unsafe {
                        let p = a.alloc(layout);
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "{from} bytes at {align}");
                        fill(p, from);
                        let q = a.realloc(p, layout, to);
                        assert!(!q.is_null());
                        assert_eq!(q as usize % align, 0, "{from} -> {to} bytes at {align}");
                        assert!(holds_pattern(q, from.min(to)), "{from} -> {to} bytes at {align}");
                        a.dealloc(q, Layout::from_size_align(to, align).expect("valid layout"));
                    }
                }
            }
        }
    }

    #[test]
    #[allow(unsafe_code)]
    fn zeroed_blocks_are_zero_on_both_sides() {
        for size in [64, LARGE_BYTES + 8] {
            let layout = Layout::from_size_align(size, 16).expect("valid layout");
            // SAFETY: a non-zero size, freed once with its layout.
            unsafe {
                let p = Allocator.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!((0..size).all(|i| *p.add(i) == 0), "{size} bytes");
                Allocator.dealloc(p, layout);
            }
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_threshold() {
        assert!(super::tune_allocator());
    }
}
