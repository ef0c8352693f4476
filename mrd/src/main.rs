//! `mrd`: the mobile router's signaling daemon. See `mrd --help`.

mod agent;
mod cli;
mod config;
mod discovery;
mod homeaddr;
mod policy;
mod seqfile;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let common = args.common.clone();
    let path = args.config.clone();
    let mipif = args.mipif.clone();
    shisa_daemon::launch(
        "mrd",
        &common,
        move || config::load(&path, &mipif),
        |daemon| async move {
            settings::log_settings(daemon.config(), &args);
            agent::run(daemon, args).await
        },
    )
}
