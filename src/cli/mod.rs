//! The internals of the `symplode` command (compiled into the binary, `src/bin/symplode.rs`).
//!
//! Every failure ends the program with a non-zero exit code and one line `error: …` on
//! standard error that says what is wrong and where: exit code 1 for bad input files or
//! values, 2 for command-line usage errors. See `docs/cli.md`.

mod any_net;
mod args;
mod curve;
mod data;
mod density;
mod grad;
mod hvp;
mod image_grid;
mod load;
mod png_out;
mod report;
mod solve;
mod tableau;
mod train;
mod train_chain;
mod train_flow;
mod train_image;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use symplode::io::IoError;

use args::{Cli, Command, TableauCommand};

/// A failure of the command: one line saying what and where.
#[derive(Debug)]
pub struct CliError(pub String);

impl From<IoError> for CliError {
    fn from(e: IoError) -> Self {
        CliError(e.to_string())
    }
}

/// Checks that `times` are finite and strictly increasing (at least two).
fn check_span(times: &[f64], what: &str) -> Result<(), CliError> {
    if times.len() < 2 {
        return Err(CliError(format!(
            "{what}: need a start time and at least one more time, got {}",
            times.len()
        )));
    }
    for (i, w) in times.windows(2).enumerate() {
        if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
            return Err(CliError(format!(
                "{what}: times must be finite and strictly increasing, but time {} ({}) follows {}",
                i + 1,
                report::num(w[1]),
                report::num(w[0])
            )));
        }
    }
    Ok(())
}

/// The memory budget of `--memory-budget`, or the machine's default.
fn memory_budget(arg: Option<&str>) -> Result<symplode::io::budget::MemoryBudget, CliError> {
    use symplode::io::budget::MemoryBudget;
    match arg {
        Some(text) => Ok(MemoryBudget::parse(text, "--memory-budget")?),
        None => Ok(MemoryBudget::machine_default()),
    }
}

/// Runs the parsed command, appending what it prints to `out`.
fn dispatch(cli: Cli, out: &mut String) -> Result<(), CliError> {
    match cli.command {
        Command::Grad(a) if a.model.f32 => grad::run::<f32>(&a, out),
        Command::Grad(a) => grad::run::<f64>(&a, out),
        Command::Hvp(a) if a.model.f32 => hvp::run::<f32>(&a, out),
        Command::Hvp(a) => hvp::run::<f64>(&a, out),
        Command::Solve(a) if a.model.f32 => solve::run::<f32>(&a, out),
        Command::Solve(a) => solve::run::<f64>(&a, out),
        Command::Tableau(TableauCommand::List) => tableau::list(out),
        Command::Tableau(TableauCommand::Check {
            tableau,
            verbose,
            jit,
            disasm,
        }) => tableau::check(&tableau, verbose, jit, disasm, out),
        Command::Train(a) => train::run(&a, out),
        Command::Data(d) => data::run(&d, out),
    }
}

/// Squeezes a message onto one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Prints a clap error as one line (help and version are printed as clap formats them).
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
        _ => {
            let text = e.render().to_string();
            let head = text.split("\n\n").next().unwrap_or("");
            let head = one_line(head);
            let head = head.strip_prefix("error:").unwrap_or(&head).trim();
            eprintln!("error: {head} (try --help)");
            ExitCode::from(2)
        }
    }
}

/// The program: parse, run, print the report or one `error:` line.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: internal error, please report it: {}",
            one_line(&info.to_string())
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let mut out = String::new();
    match dispatch(cli, &mut out) {
        Ok(()) => {
            // A closed pipe (e.g. `| head`) is not an error of ours.
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(CliError(msg)) => {
            eprintln!("error: {}", one_line(&msg));
            ExitCode::from(1)
        }
    }
}
