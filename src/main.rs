//! The `sixbb` binary: parse the command line, dispatch, map the outcome to
//! an exit code (0 clean, 1 rows rejected, 2 failed).

use clap::Parser;

// polars and typst allocate and free large buffers batch after batch; the
// system allocator hands them back to the kernel and pays page faults again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = sixbb::cli::Cli::parse();
    match sixbb::commands::dispatch(cli.command) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // Every error's message already holds its cause (an I/O error ends
            // with the OS message): print it once (`{}`), not as a chain (`{:#}`).
            eprintln!("error: {}", anyhow::Error::from(e));
            std::process::ExitCode::from(2)
        }
    }
}
