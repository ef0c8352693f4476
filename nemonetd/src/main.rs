//! `nemonetd`: tunnels and routes for the mobile network, on MR and HA. See `nemonetd --help`.

mod cli;
mod owner;
mod plane;
mod ra;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let common = args.common.clone();
    let path = args.config_path();
    shisa_daemon::launch(
        "nemonetd",
        &common,
        move || shisa_config::load(&path),
        |daemon| owner::run(daemon, args),
    )
}
