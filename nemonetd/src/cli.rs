//! `nemonetd [-d] [-f] (-h | -m) [-c FILE] IFNAME`, as SHISA had it, plus the common flags.
//! SHISA's `-s` and `-M` are recognised and refused: they have no meaning on this data plane.

use std::path::PathBuf;

use clap::{ArgAction, ArgGroup, CommandFactory, Parser};
use shisa_daemon::CommonArgs;

pub const HA_CONFIG: &str = "/etc/shisa/had.conf";
pub const MR_CONFIG: &str = "/etc/shisa/mrd.conf";

/// Which side of the tunnel this nemonetd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    HomeAgent,
    MobileRouter,
}

/// NEMO data plane daemon: tunnels and routes for IPv6 and IPv4 mobile networks.
///
/// On every completed registration (announced on the mobility bus by had or mrd) installs the
/// bidirectional tunnel between home agent and mobile router and the IPv6 and IPv4 routes of
/// the mobile network prefixes through it, in one step; removes them on deregistration or
/// expiry. The backend (kernel seg6 encapsulation, or a TUN device) comes from `data-plane`.
/// When the kernel refuses a change (a netlink error), nemonetd applies the whole state again
/// after a back-off (0.1 s, doubling up to 30 s) until it succeeds, logging the first failure
/// and then once a minute how long the kernel has been diverged.
///
/// At home there is no tunnel: with -h, the prefixes of a mobile router of the prefixtable
/// that has no binding (or that deregistered from its home link) are routed to its home
/// address on the home link, IPv4 through an IPv6 next hop; with -m, after babymdd reports
/// the home link, IPv4 goes to the home agent (`home-agent-address`) on that link.
///
/// Path MTU: the tunnel is 40 bytes narrower than the path between MR and HA (1460 on an
/// MTU-1500 access network; `tunnel-mtu N;` in the file sets another). nemonetd clamps the TCP MSS of connections through the tunnel,
/// answers packets that do not fit with ICMPv4 Fragmentation Needed (DF set) or ICMPv6
/// Packet Too Big carrying the tunnel MTU, fragments IPv4 without DF, and lowers the tunnel
/// MTU when the access network itself sends a Packet Too Big about a tunnel packet (relaying
/// it to the inner sender; the configured MTU is tried again after 10 minutes; a home agent
/// lowers it towards that mobile router only). A Destination Unreachable or Time Exceeded
/// about a tunnel packet becomes a host/address unreachable for the inner sender. With -m it
/// also sends Router Advertisements on the mobile-network-interface every 10 s (and on a
/// Router Solicitation or an MTU change) with the IPv6 prefixes of that interface and an MTU
/// option of the tunnel MTU, so IPv6 hosts size their packets from the start. Do not run
/// radvd on that interface as well. IPv4 has no such option: give IPv4 hosts of the mobile
/// network an MTU of 1460 (DHCP option 26, or statically) to avoid the round trip of a
/// Fragmentation Needed; hosts left at 1500 still work through path MTU discovery and MSS
/// clamping, as long as nothing between them filters ICMP.
#[derive(Debug, Parser)]
#[command(
    name = "nemonetd",
    version,
    disable_help_flag = true,
    group(ArgGroup::new("role").required(true).args(["home_agent", "mobile_router"])),
    after_long_help = shisa_daemon::after_help("nemonetd", "/etc/shisa/had.conf (-h), /etc/shisa/mrd.conf (-m)"),
)]
pub struct Args {
    /// Run on a home agent: routes to the mobile network prefixes point into the tunnels.
    ///
    /// Note: -h is the role, as in SHISA; help is --help.
    #[arg(short = 'h', long = "home-agent")]
    pub home_agent: bool,

    /// Run on a mobile router: IPv4 default route and MNP-sourced IPv6 default into the tunnel.
    #[arg(short = 'm', long = "mobile-router")]
    pub mobile_router: bool,

    /// SHISA's static tunnels (named by the static-tunnel table): refused, see below.
    ///
    /// SHISA's nemonetd -s gave each mobile router the tunnel interface named for its home
    /// address in `static-tunnel { IFNAME HOA [BID]; };`. Only the ip6tnl backend has a
    /// tunnel interface per mobile router, and it names them `nemoN` (seg6 and bpf
    /// encapsulate in the routes themselves, tun uses one shared device `nemo0`), so nemonetd
    /// refuses -s (exit status 2) rather than accept it and do nothing. Leave it out; static-tunnel
    /// statements in the file are accepted and logged as unused.
    #[arg(short = 's', long = "static-tunnel")]
    pub static_tunnel: bool,

    /// SHISA's multiple care-of addresses (a tunnel per binding id): refused, see below.
    ///
    /// SHISA's nemonetd -M kept one tunnel per home address and binding id (RFC 5648). mrd
    /// and had register one care-of address per home address (no binding ids), so there is
    /// never more than one tunnel per mobile router: nemonetd refuses -M (exit status 2).
    /// Leave it out.
    #[arg(short = 'M', long = "multiple-coa")]
    pub multiple_coa: bool,

    /// Configuration file [default: /etc/shisa/had.conf with -h, /etc/shisa/mrd.conf with -m].
    ///
    /// nemonetd reads the same file as the signaling daemon of its node: data-plane,
    /// prefixtable (implicit prefixes, the IPv4 MNPs for config-only encoding),
    /// mobile-network-interface and ipv4-mnp-address (MR).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The interface whose configuration block applies: the home interface (as given to had)
    /// with -h, the mobility interface (as given to mrd) with -m.
    #[arg(value_name = "IFNAME", value_parser = parse_ifname)]
    pub ifname: String,

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
    /// Parses the command line; exits with status 2 and a usage error naming the flag for
    /// SHISA's `-s` and `-M`, which this data plane cannot honour.
    pub fn parse_checked() -> Args {
        let args = Args::parse();
        if let Some(msg) = args.unsupported() {
            Args::command()
                .error(clap::error::ErrorKind::ArgumentConflict, msg)
                .exit();
        }
        args
    }

    /// Why a SHISA flag given on the command line cannot be honoured, if one was.
    pub fn unsupported(&self) -> Option<String> {
        if self.static_tunnel {
            return Some(
                "-s (--static-tunnel) is not supported: SHISA's nemonetd named each mobile \
                 router's tunnel interface after the static-tunnel table; here only the ip6tnl \
                 backend has a device per mobile router and it names them nemoN (seg6 and bpf \
                 encapsulate in the routes, tun shares one device nemo0); run \
                 nemonetd without -s (static-tunnel statements are accepted and unused)"
                    .into(),
            );
        }
        if self.multiple_coa {
            return Some(
                "-M (--multiple-coa) is not supported: SHISA's nemonetd kept a tunnel per home \
                 address and binding id (multiple care-of addresses, RFC 5648), but mrd and had \
                 register one care-of address per home address, so there is one tunnel per \
                 mobile router; run nemonetd without -M"
                    .into(),
            );
        }
        None
    }

    pub fn role(&self) -> Role {
        if self.home_agent {
            Role::HomeAgent
        } else {
            Role::MobileRouter
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| {
            PathBuf::from(match self.role() {
                Role::HomeAgent => HA_CONFIG,
                Role::MobileRouter => MR_CONFIG,
            })
        })
    }
}
