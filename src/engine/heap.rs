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

/// `hold`, for a one-shot command, which exits when done: the main heap grows now by
/// `RESERVE` and that part is asked for transparent huge pages, so what the start builds on
/// the main thread faults in 2 MiB at a time instead of 4 KiB. At 10,000 connections a
/// `status` took ~17,000 page faults, most of its system time (BENCHMARKS.md, issue 16). A
/// process that stays does not do this: huge pages would hold its RSS above its live heap.
pub fn hold_for_exit() {
    hold();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    huge_reserve();
}

/// The main heap's growth for a one-shot start: below glibc's mmap threshold as `hold` sets
/// it, so it comes from the program break; with `hold`'s top pad the heap grows by ~90 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESERVE: usize = 24 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn huge_reserve() {
    const HUGE: usize = 2 << 20;
    // SAFETY: sbrk(0) only reads the program break. The block is freed at once and never
    // touched by us; `hold`'s trim threshold keeps the heap's top where it is. madvise is
    // given a range inside what the break just grew by (page aligned, mapped, ours) and only
    // changes how its future faults are served; it fails harmlessly where THP is off.
    unsafe {
        let before = libc::sbrk(0) as usize;
        // black_box: an allocation nothing reads is otherwise removed with its free.
        let block = std::hint::black_box(libc::malloc(RESERVE));
        if block.is_null() {
            return;
        }
        libc::free(block);
        let after = libc::sbrk(0) as usize;
        // Another thread's allocation may have moved the break too; the range stays ours
        // either way, since the break only grows while `hold` is in force.
        let start = before.next_multiple_of(HUGE);
        let end = after - after % HUGE;
        if before == usize::MAX || after <= before || end <= start {
            return;
        }
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
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
