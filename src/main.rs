//! The `cutover` binary: parse, run, print errors once, exit with a meaningful code.

/// mimalloc instead of the system allocator: the engine allocates and frees many small strings
/// (cells, keys, bills), and glibc's malloc/free/consolidate were a quarter to a third of the main
/// thread's time in issue 11's profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The pool `cutover::par` spreads a page's work over, its threads named for `top` and `perf`
    // (rayon's defaults otherwise: a thread a core, `RAYON_NUM_THREADS` when set). Building it
    // fails only when it exists already, and then that one serves.
    let _ = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("cutover-par-{i}")).build_global();
    cutover::cli::main()
}
