//! `had [-f] [-n] [-c FILE] HOMEIF`, as SHISA had it, plus the common flags.

use std::path::PathBuf;

use clap::{ArgAction, Parser};
use shisa_daemon::CommonArgs;

pub const DEFAULT_CONFIG: &str = "/etc/shisa/had.conf";

/// Home agent signaling daemon (NEMO Basic Support with IPv4 mobile network prefixes).
///
/// Accepts Binding Updates from mobile routers on the home link: checks sequence numbers,
/// lifetimes, authentication (RFC 4285, from the auth database) and that each mobile network
/// prefix, IPv6 or IPv4, belongs to the home address in the prefixtable; answers with Binding
/// Acknowledgements, keeps the Binding Cache, defends home addresses with proxy neighbour
/// discovery, and announces registrations on the mobility bus for nemonetd.
#[derive(Debug, Parser)]
#[command(
    name = "had",
    version,
    disable_help_flag = true,
    after_long_help = shisa_daemon::after_help("had", DEFAULT_CONFIG),
)]
pub struct Args {
    /// Do not resolve addresses to host names in log messages.
    ///
    /// Same as `namelookup 0;` in the configuration; the flag wins.
    #[arg(short = 'n', long = "no-name-lookup")]
    pub no_name_lookup: bool,

    /// Configuration file (SHISA grammar).
    ///
    /// The `interface HOMEIF { ... };` block and the top-level statements apply. had uses the
    /// prefixtable (which prefixes each mobile router's home address may register, and the
    /// implicit ones it registers without naming them), auth-database, authentication,
    /// home-prefix, max-binding-lifetime, preference and ipv4-mnp-encoding. A relative
    /// auth-database path is taken relative to the configuration file's directory. had
    /// refuses to start without an auth-database holding a key for every home address of the
    /// prefixtable (a file of mode 600 owned by root) unless the file says
    /// `authentication none;`.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// The home link interface: Binding Updates arrive for home addresses on it, and proxy
    /// neighbour entries for registered home addresses are installed on it.
    #[arg(value_name = "HOMEIF", value_parser = parse_ifname)]
    pub homeif: String,

    /// Where the Binding Cache is kept across restarts [default: /var/lib/shisa/had.HOMEIF.json].
    ///
    /// Written atomically after every change; read at start, when expired bindings are dropped
    /// and the others announced again on the bus.
    #[arg(long = "state-file", value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Print this help (it serves as the manual page).
    #[arg(long = "help", action = ArgAction::HelpLong)]
    pub help: Option<bool>,
}

fn parse_ifname(s: &str) -> Result<String, String> {
    shisa_config::check_ifname(s).map(|()| s.to_string())
}
