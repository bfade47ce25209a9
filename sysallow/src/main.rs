//! `sysallow`: record what a program or container really calls, and turn it into the smallest
//! seccomp profile under which it still runs.
//!
//! The binary is thin: each subcommand lives in `cli/<name>.rs`, the logic in this crate's
//! library modules and in `sysallow-profile`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "sysallow",
    version,
    about = "Record the syscalls a program or container really makes, and turn them into the \
             smallest seccomp profile under which it still runs.",
    after_help = "Typical use:\n  \
        sudo sysallow record -o app.json --recording app.rec.json -- ./run-tests.sh\n  \
        sysallow run --profile app.json -- ./run-tests.sh\n  \
        docker run --security-opt seccomp=app.json IMAGE\n\n\
        Data goes to stdout or -o FILE (-o - is stdout); messages go to stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Record(cli::record::Args),
    Generate(cli::generate::Args),
    Merge(cli::merge::Args),
    Diff(cli::diff::Args),
    Run(cli::run::Args),
    Verify(cli::verify::Args),
    Prove(cli::prove::Args),
    Explain(cli::explain::Args),
    Agent(cli::agent::Args),
}

fn main() -> ExitCode {
    // The reaper a recorder starts for its command's cgroup (sysallow::reaper): not a user's
    // subcommand, so not in --help.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 3 && args[1] == sysallow::reaper::SUBCOMMAND {
        return match sysallow::reaper::reap(std::path::Path::new(&args[2])) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("sysallow: reaper: {}", sysallow_profile::error_chain(&err));
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => cli::record::run(args),
        Command::Generate(args) => cli::generate::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Diff(args) => cli::diff::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Verify(args) => cli::verify::run(args),
        Command::Prove(args) => cli::prove::run(args),
        Command::Explain(args) => cli::explain::run(args),
        Command::Agent(args) => cli::agent::run(args),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            if cli::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("sysallow: error: {err:#}");
            ExitCode::from(cli::error_status(&err))
        }
    }
}
