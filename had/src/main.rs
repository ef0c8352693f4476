//! `had`: the home agent's signaling daemon. See `had --help`.

mod agent;
mod cli;
mod config;
mod discovery;
mod policy;
mod proxynd;
mod settings;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let common = args.common.clone();
    let path = args.config.clone();
    let homeif = args.homeif.clone();
    shisa_daemon::launch(
        "had",
        &common,
        move || config::load(&path, &homeif),
        |daemon| settings::run(daemon, args),
    )
}
