//! radvd on test links: Router Advertisements every 30-70 ms (DESIGN.md: radvd accepts such
//! intervals only with `AdvIntervalOpt on`), so SLAAC on a moved MR is quick.

use crate::{BackgroundProcess, Netns};
use anyhow::Result;
use std::path::PathBuf;

/// One radvd process advertising a prefix on each `(interface, prefix)`; stopped on drop.
pub struct Radvd {
    _process: BackgroundProcess,
    dir: PathBuf,
}

impl Radvd {
    pub fn start(ns: &Netns, interfaces: &[(&str, &str)]) -> Result<Self> {
        Self::start_with(ns, interfaces, "")
    }

    /// [`Self::start`] with extra radvd interface statements (e.g. `AdvDefaultLifetime 2;`).
    pub fn start_with(ns: &Netns, interfaces: &[(&str, &str)], extra: &str) -> Result<Self> {
        let with_slaac: Vec<_> = interfaces.iter().map(|(i, p)| (*i, *p, true)).collect();
        Self::start_links(ns, &with_slaac, extra)
    }

    /// [`Self::start_with`] with each prefix's A flag (`AdvAutonomous`): off for a link
    /// without SLAAC (managed or static addressing), where the prefix is still on-link.
    pub fn start_links(ns: &Netns, interfaces: &[(&str, &str, bool)], extra: &str) -> Result<Self> {
        ns.sysctl("net.ipv6.conf.all.forwarding=1")?;
        let dir = std::env::temp_dir().join(format!("radvd-{}", crate::unique_name("r")));
        std::fs::create_dir_all(&dir)?;
        let mut conf = String::new();
        for (ifname, prefix, slaac) in interfaces {
            let autonomous = if *slaac { "on" } else { "off" };
            conf.push_str(&format!(
                "interface {ifname} {{\n AdvSendAdvert on;\n AdvIntervalOpt on;\n \
                 MinRtrAdvInterval 0.03;\n MaxRtrAdvInterval 0.07;\n MinDelayBetweenRAs 0.03;\n \
                 {extra}\n prefix {prefix} {{ AdvOnLink on; AdvAutonomous {autonomous}; }};\n}};\n"
            ));
        }
        let conf_path = dir.join("radvd.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = ns.command("radvd");
        cmd.args(["-n", "-m", "none", "-C"])
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.join("radvd.pid"));
        let process = BackgroundProcess::spawn(cmd, "radvd")?;
        Ok(Self {
            _process: process,
            dir,
        })
    }
}

impl Drop for Radvd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A switch namespace holding one bridge per link; ports move between bridges the way a
/// re-association looks to the MR (carrier drops and returns).
pub struct Switch {
    pub ns: Netns,
}

impl Switch {
    pub fn new(bridges: &[&str]) -> Result<Self> {
        let ns = Netns::new("sw")?;
        for b in bridges {
            ns.ip(&["link", "add", b, "type", "bridge"])?;
            ns.ip(&["link", "set", b, "up"])?;
        }
        Ok(Self { ns })
    }

    pub fn move_port(&self, port: &str, bridge: &str) -> Result<()> {
        self.ns.sh(&format!(
            "ip link set {port} down && ip link set {port} master {bridge} && ip link set {port} up"
        ))?;
        Ok(())
    }
}

/// radvd on a home agent's home link (`ifname` in `ns`): the H bit, a Home Agent Information
/// option (mobile router support, `preference`, lifetime 30 s) and the home agent's global
/// address `addr` with the R flag, every 0.5-1 s; router lifetime 0 (the home agent is not a
/// default router of the link). Killed on drop.
pub fn home_agent_radvd(
    ns: &Netns,
    dir: &std::path::Path,
    tag: &str,
    ifname: &str,
    addr: &str,
    preference: i16,
) -> Result<BackgroundProcess> {
    let conf = format!(
        "interface {ifname} {{\n AdvSendAdvert on;\n AdvIntervalOpt on;\n MinRtrAdvInterval 0.5;\n \
         MaxRtrAdvInterval 1;\n AdvDefaultLifetime 0;\n AdvHomeAgentFlag on;\n AdvHomeAgentInfo on;\n \
         AdvMobRtrSupportFlag on;\n HomeAgentPreference {preference};\n HomeAgentLifetime 30;\n \
         prefix {addr}/64 {{ AdvOnLink on; AdvAutonomous off; AdvRouterAddr on; }};\n}};\n"
    );
    let path = dir.join(format!("{tag}.radvd.conf"));
    std::fs::write(&path, conf)?;
    let mut cmd = ns.command("radvd");
    cmd.args(["-n", "-m", "none", "-C"])
        .arg(&path)
        .arg("-p")
        .arg(dir.join(format!("{tag}.radvd.pid")));
    BackgroundProcess::spawn(cmd, "radvd (home agent)")
}
