//! `babymdd`: movement detection for the mobile router. See `babymdd --help`.

mod cli;
mod linkflush;
mod owner;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse_checked();
    let common = args.common.clone();
    let explicit = args.config.clone();
    shisa_daemon::launch(
        "babymdd",
        &common,
        move || match &explicit {
            Some(path) => shisa_config::load(path).map(Some),
            None if Path::new(cli::DEFAULT_CONFIG).exists() => {
                shisa_config::load(&PathBuf::from(cli::DEFAULT_CONFIG)).map(Some)
            }
            None => Ok(None),
        },
        |daemon| owner::run(daemon, args),
    )
}
