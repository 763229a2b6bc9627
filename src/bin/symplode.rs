//! The `symplode` command: gradients and solves of neural ODEs described by model files, and
//! tableau checks. See `docs/cli.md`, or `symplode --help`.

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
