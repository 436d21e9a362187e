//! The `cutover` binary: parse, run, print errors once, exit with a meaningful code.

/// mimalloc instead of the system allocator: the engine allocates and frees many small strings
/// (cells, keys, bills), and glibc's malloc/free/consolidate were a quarter to a third of the main
/// thread's time in issue 11's profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
