//! `mrd [-f] [-n] [-c FILE] [-a HA-ADDRESS] MIPIF`, as SHISA had it, plus the common flags.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use clap::{ArgAction, Parser};
use shisa_daemon::CommonArgs;

pub const DEFAULT_CONFIG: &str = "/etc/shisa/mrd.conf";

/// Mobile router signaling daemon (NEMO Basic Support with IPv4 mobile network prefixes).
///
/// Registers the mobile router's home address and mobile network prefixes (IPv6 and IPv4)
/// with its home agent: sends Binding Updates when babymdd announces a new care-of address,
/// refreshes them before they expire, and deregisters on return home. Keeps the Binding
/// Update List and announces it on the mobility bus for nemonetd.
#[derive(Debug, Parser)]
#[command(
    name = "mrd",
    version,
    disable_help_flag = true,
    after_long_help = shisa_daemon::after_help("mrd", DEFAULT_CONFIG),
)]
pub struct Args {
    /// Do not resolve addresses to host names in log messages.
    ///
    /// Same as `namelookup 0;` in the configuration; the flag wins.
    #[arg(short = 'n', long = "no-name-lookup")]
    pub no_name_lookup: bool,

    /// Configuration file (SHISA grammar).
    ///
    /// The `interface MIPIF { ... };` block and the top-level statements apply. mrd uses the
    /// prefixtable (its home address and mobile network prefixes, IPv6 and IPv4),
    /// home-registration-lifetime, home-agent-address, ipv4-mnp-encoding,
    /// ipv4-mnp-address and mobile-network-interface.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Home agent address; overrides `home-agent-address` of the configuration.
    #[arg(short = 'a', long = "home-agent", value_name = "HA-ADDRESS")]
    pub home_agent: Option<Ipv6Addr>,

    /// The mobility interface (SHISA's mip0) whose interface block holds the MR's settings.
    ///
    /// On Linux no virtual interface is needed: the name selects the configuration block,
    /// and names the interface the home address lives on if it exists.
    #[arg(value_name = "MIPIF", value_parser = parse_ifname)]
    pub mipif: String,

    /// Where the next Binding Update sequence number is kept across restarts
    /// [default: /var/lib/shisa/mrd.MIPIF.seq].
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
