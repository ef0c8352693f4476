//! `nemonetd`: tunnels and routes for the mobile network, on MR and HA. See `nemonetd --help`.

mod cli;
mod core;
mod plane;
mod ra;
mod settings;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse_checked();
    let common = args.common.clone();
    let path = args.config_path();
    shisa_daemon::launch(
        "nemonetd",
        &common,
        move || shisa_config::load(&path),
        |daemon| async move {
            settings::log_settings(daemon.config(), &args);
            plane::run(daemon, args).await
        },
    )
}
