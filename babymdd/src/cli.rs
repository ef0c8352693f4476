//! `babymdd [-d] [-D] [-f] -h MIPIF [IFNAME[:BID] ...]`, as SHISA had it, plus the common
//! flags and `-c FILE` to learn the home prefix and interface roles.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, CommandFactory, Parser};
use shisa_daemon::CommonArgs;

/// Read when -c is not given and the file exists.
pub const DEFAULT_CONFIG: &str = "/etc/shisa/mrd.conf";

/// An uplink given on the command line: `IFNAME` or `IFNAME:BID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub name: String,
    /// Binding identifier for multiple care-of addresses (RFC 5648).
    pub binding_id: Option<u16>,
}

impl FromStr for Uplink {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, bid) = match s.split_once(':') {
            Some((n, b)) => (n, Some(b)),
            None => (s, None),
        };
        shisa_config::check_ifname(name)?;
        let binding_id = bid
            .map(|b| {
                b.parse::<u16>()
                    .map_err(|_| format!("binding id '{b}' is not a number 0..=65535"))
            })
            .transpose()?;
        Ok(Uplink {
            name: name.to_string(),
            binding_id,
        })
    }
}

/// Movement detection daemon for the mobile router.
///
/// Watches addresses, links and routers (rtnetlink) and decides whether the mobile router is
/// at home or on a foreign link and which global address is its care-of address; announces
/// every movement on the mobility bus, where mrd picks it up to send Binding Updates.
#[derive(Debug, Parser)]
#[command(
    name = "babymdd",
    version,
    disable_help_flag = true,
    after_long_help = shisa_daemon::after_help("babymdd", DEFAULT_CONFIG),
)]
pub struct Args {
    /// The mobility interface, as given to mrd (SHISA's mip0). Required.
    ///
    /// Note: -h is this interface, as in SHISA; help is --help.
    #[arg(short = 'h', long = "mip-interface", value_name = "MIPIF", value_parser = parse_ifname)]
    pub mipif: String,

    /// Uplinks to watch, most preferred first; none = every interface except MIPIF.
    ///
    /// IFNAME:BID also assigns the binding identifier (RFC 5648) used for care-of addresses of
    /// that interface. When none are given, the configuration's interface blocks with
    /// `role egress;` are used, ordered by `priority N;` (lowest first); when it has none,
    /// every interface with a global address is a candidate.
    #[arg(value_name = "IFNAME[:BID]")]
    pub uplinks: Vec<Uplink>,

    /// Configuration file, read for the home prefix and interface roles [default: /etc/shisa/mrd.conf if it exists].
    ///
    /// babymdd uses home-prefix (else the /64 of the first home address of the prefixtable)
    /// to recognise the home link, and `role`/`priority` of interface blocks. Without a file
    /// it learns the home prefix from mrd's announcements on the bus.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Print this help (it serves as the manual page).
    #[arg(long = "help", action = ArgAction::HelpLong)]
    pub help: Option<bool>,
}

fn parse_ifname(s: &str) -> Result<String, String> {
    shisa_config::check_ifname(s).map(|()| s.to_string())
}

impl Args {
    /// Parses the command line; exits 2 with clap's message on an error.
    pub fn parse_checked() -> Args {
        let args = Args::parse();
        for (i, u) in args.uplinks.iter().enumerate() {
            let msg = if u.name == args.mipif {
                Some(format!("uplink {} is the mobility interface", u.name))
            } else if args.uplinks[..i].iter().any(|o| o.name == u.name) {
                Some(format!("uplink {} given twice", u.name))
            } else {
                None
            };
            if let Some(msg) = msg {
                Args::command()
                    .error(clap::error::ErrorKind::ArgumentConflict, msg)
                    .exit();
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplink_syntax() {
        assert_eq!(
            "eth0:7".parse::<Uplink>(),
            Ok(Uplink {
                name: "eth0".into(),
                binding_id: Some(7)
            })
        );
        assert_eq!("wlan0".parse::<Uplink>().map(|u| u.binding_id), Ok(None));
        assert!("eth0:70000".parse::<Uplink>().is_err());
        assert!("eth0:".parse::<Uplink>().is_err());
        assert!(":5".parse::<Uplink>().is_err());
    }
}
