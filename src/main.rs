//! The `cutover` binary: parse, run, print errors once, exit with a meaningful code.
fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
