//! The `fdt` binary's global allocator: mimalloc, with its arenas committed on demand.
//!
//! Used by the `fdt` binary: `#[global_allocator] static A: MiMalloc = MiMalloc;`. Linking
//! this crate is enough for the option: it is set from the executable's `.init_array`
//! ([`EARLY_TUNE`]), before anything allocates. A crate of its own because that takes
//! `unsafe` (an FFI call, a link section), and the other crates forbid unsafe code. (The
//! relay was tried with it too: idle and 1,000-connection RSS, CPU per request all within
//! noise of glibc's malloc, so it keeps the system allocator.)
//!
//! mimalloc (v3, as libmimalloc-sys builds it) commits a whole arena eagerly on an OS with
//! overcommit, which is meant to cost nothing until pages are touched. Measured, it costs
//! 19 MiB on the idle agent (two tunnels, one exchange, `Rss` of `/proc/PID/smaps_rollup`):
//! 32.0 MiB with the default, 13.2 MiB with the arena committed on demand (inspection on:
//! 36.0 → 15.2 MiB). The likely mechanism: memory of an eagerly committed arena is not known
//! to be zero, so zeroed allocations are cleared by hand and become resident, quinn's
//! receive buffer (`1472 × 64 (GRO) × 32 (batch)` bytes = 3 MiB, zeroed) among them.

pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_arena_eager_commit` (`mimalloc.h`'s `mi_option_e`: show_errors,
/// show_stats, verbose, deprecated_eager_commit, arena_eager_commit, …). libmimalloc-sys does
/// not name it; the test below pins the position by the options' documented defaults.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Makes the arena committed on demand the default. `MIMALLOC_ARENA_EAGER_COMMIT` in the
/// environment still wins (a default, not an override), for measuring.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[allow(unsafe_code)]
fn tune() {
    // SAFETY: a plain setter of a global option (an atomic store in mimalloc); no pointer is
    // passed and the value is in the option's range (0, 1 or 2).
    unsafe { libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
extern "C" fn early_tune() {
    tune();
}

/// Runs [`tune`] from the executable's `.init_array`, before Rust's runtime starts: the
/// arena's commit mode is chosen when mimalloc first reserves it, at the first allocation, and
/// the runtime allocates before `main` (setting the option in `main` measured no change).
/// Other targets (macOS, Windows) have no `.init_array` and keep mimalloc's default.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".init_array")]
pub static EARLY_TUNE: extern "C" fn() = early_tune;

#[cfg(all(
    test,
    any(target_os = "linux", target_os = "android", target_os = "freebsd")
))]
mod tests {
    use super::*;

    /// The `.init_array` entry ran before the test harness started (this test binary links
    /// this crate, so it has the entry too), and it changed arena_eager_commit only: the
    /// options around index 4 keep the defaults mimalloc documents (deprecated_eager_commit
    /// 1, purge_decommits 1, allow_large_os_pages 0), while index 4 moved from its default, 2
    /// ("only on overcommit systems"), to 0. A mimalloc with another layout fails here.
    #[test]
    #[allow(unsafe_code)]
    fn arena_eager_commit_is_off_before_main() {
        // The environment wins by design: with MIMALLOC_ARENA_EAGER_COMMIT set to a number,
        // mimalloc must report that number; otherwise our default, 0.
        // Words ("on", "true"…) are mimalloc's own parsing, not ours to pin.
        let expected: Option<std::ffi::c_long> = match std::env::var("MIMALLOC_ARENA_EAGER_COMMIT")
        {
            Ok(v) => v.trim().parse().ok(),
            Err(_) => Some(0),
        };
        // SAFETY: plain getters of global options.
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        assert_eq!(get(ARENA_EAGER_COMMIT - 1), 1);
        if let Some(expected) = expected {
            assert_eq!(get(ARENA_EAGER_COMMIT), expected);
        }
        assert_eq!(get(ARENA_EAGER_COMMIT + 1), 1);
        assert_eq!(get(ARENA_EAGER_COMMIT + 2), 0);
    }
}
