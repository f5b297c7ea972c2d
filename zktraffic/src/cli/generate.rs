//! `zktraffic --generate KIND`: man pages and shell completions, rendered from the same clap
//! definitions the parser uses (as ripgrep's `--generate`), so they never drift from `--help`.

use std::io::{self, Write};

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::Cli;

/// What `--generate` writes to standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// The man page of `zktraffic` (roff).
    Man,
    /// The man page of `zktraffic dump`.
    ManDump,
    /// The man page of `zktraffic serve`.
    ManServe,
    /// The man page of `zktraffic top`.
    ManTop,
    /// Completions for bash.
    CompleteBash,
    /// Completions for zsh.
    CompleteZsh,
    /// Completions for fish.
    CompleteFish,
}

/// Writes `kind` to `out`.
pub fn generate(kind: Generate, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match kind {
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::ManDump => return subcommand_man(&cmd, "dump", "zktraffic-dump", out),
        Generate::ManServe => return subcommand_man(&cmd, "serve", "zktraffic-serve", out),
        Generate::ManTop => return subcommand_man(&cmd, "top", "zktraffic-top", out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
    };
    // Rendered in memory first: clap_complete panics on a write error (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "zktraffic", &mut script);
    out.write_all(&script)
}

/// `zktraffic-NAME(1)`, as git names its subcommands' pages.
fn subcommand_man(
    cmd: &clap::Command,
    name: &str,
    page: &'static str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let sub = cmd
        .find_subcommand(name)
        .ok_or_else(|| io::Error::other(format!("no subcommand {name}")))?
        .clone()
        .name(page)
        .version(env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(sub).render(out)
}
