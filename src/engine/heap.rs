//! When the process hands freed memory back to the kernel.
//!
//! A start at 10,000 connections allocates and frees a lot in a moment: the config parse's
//! 22 MB token list and tree, then the store's reads. With glibc's defaults each freed block
//! above 128 KiB goes back to the kernel at once and the next allocation faults its pages in
//! again, one by one: a tenth of a `status` and of a console's first frame. So a start holds
//! what it frees (`hold`), and a process that stays hands it back once it is running
//! (`release`), as it does after every whole-fleet window read (`trim`): without that a
//! daemon's RSS stays at its start-up peak, 40 MB above its live heap at 10,000.

use std::sync::atomic::{AtomicBool, Ordering};

static HELD: AtomicBool = AtomicBool::new(false);

/// Two malloc arenas instead of glibc's default of eight per core: each thread that meets a
/// busy arena otherwise gets one of its own, and each keeps what its thread freed. A daemon at
/// 10,000 connections had its main heap and three thread arenas of 15–36 MB each; with two,
/// its RSS at steady state is a few MB lower (BENCHMARKS.md, session 10). On two cores the
/// lock contention this adds does not show. Called before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers; it only bounds how many arenas glibc creates.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Keeps freed memory for reuse until `release`: for the start of a one-shot command (which
/// exits soon after) or of a console.
pub fn hold() {
    HELD.store(true, Ordering::Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers; it only changes when glibc returns memory.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        // glibc's ceiling for this one on 64-bit: 32 MiB.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Back to glibc's defaults if `hold` changed them (its documented values; its sliding mmap
/// threshold stays fixed from then on, which a steady process does not miss), then `trim`.
pub(crate) fn release() {
    if HELD.swap(false, Ordering::Relaxed) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: as in `hold`.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
            libc::mallopt(libc::M_TOP_PAD, 128 << 10);
        }
    }
    trim();
}

/// Hands memory freed by a large transient (a start's reads, a whole-fleet window read) back
/// to the kernel: glibc keeps freed small chunks in its arenas otherwise.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
