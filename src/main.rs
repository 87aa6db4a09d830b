//! The `sixbb` binary: parse the command line, dispatch, map the outcome to
//! an exit code (0 clean, 1 rows rejected, 2 failed).

use clap::Parser;

// polars and typst allocate and free large buffers batch after batch; the
// system allocator hands them back to the kernel and pays page faults again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use anyhow::Context;
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
