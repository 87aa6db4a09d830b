//! The `sixbb` binary: parse the command line, dispatch, map the outcome to
//! an exit code (0 clean, 1 rows rejected, 2 failed).

use clap::Parser;

// polars and typst allocate and free large buffers batch after batch; the
// system allocator hands them back to the kernel and pays page faults again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process. With the kernel's THP in
/// `madvise` mode mimalloc asks for huge pages, and every fresh 2 MB page is
/// zeroed whole at its first touch: `perf` put 27% of the validation
/// stage's samples in the kernel's `clear_page_erms` under
/// `do_huge_pmd_anonymous_page` (1,000 clinics: system time 3.5-5.5 s,
/// 1.4-1.7 s without THP, wall 8.3-9.2 s against 6.9-7.1 s).
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    // mimalloc's `mi_option_allow_thp` (index 37 of `mi_option_t` in the
    // mimalloc 2 headers of libmimalloc-sys 0.1.49, pinned in Cargo.toml);
    // the environment variable MIMALLOC_ALLOW_THP=0 does the same but is
    // read before `main`.
    const MI_OPTION_ALLOW_THP: std::ffi::c_int = 37;
    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: both calls take plain integers. mi_option_set stores an option
    // mimalloc reads on each later OS allocation; prctl sets a flag on this
    // process that the kernel checks at each later page fault (a failure on
    // an old kernel changes nothing).
    unsafe {
        mi_option_set(MI_OPTION_ALLOW_THP, 0);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc keeps the pages a step freed for the threads that allocated
/// them; between steps the batch hands them back through this (1,000
/// clinics: 0.1-0.4 GB less resident after a step; README "Benchmarks").
fn release_freed_memory() {
    extern "C" {
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect takes a flag and may be called from any thread.
    unsafe { mi_collect(true) }
}

fn main() -> std::process::ExitCode {
    use anyhow::Context;
    #[cfg(target_os = "linux")]
    no_transparent_huge_pages();
    sixbb::memory::set_release(release_freed_memory);
    let cli = sixbb::cli::Cli::parse();
    let name = cli.command.name();
    match sixbb::commands::dispatch(cli.command).with_context(|| format!("sixbb {name}")) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // The chain once: the command, the library's message, and for an
            // I/O error the OS message (its source, not repeated in its text).
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
