//! Shared by the namespace tests and the benchmark: the Fig. 6 topology and a per-node
//! thread that owns a DataPlane inside its namespace.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use dataplane::{
    Backend, DataPlane, HaBinding, HaConfig, MrConfig, MrRegistration, Role, TunnelSettings,
};
use integration::Netns;
use std::sync::mpsc;
use std::thread::JoinHandle;

pub const A4: &str = "10.0.0.2";
pub const A6: &str = "2001:db8:281::2";
pub const MR_IN4: &str = "10.0.0.1";
pub const B4: &str = "192.168.64.2";
pub const B6: &str = "2001:db8:290::2";
pub const COA1: &str = "2001:db8:200::5";
pub const COA2: &str = "2001:db8:201::5";
pub const HA: &str = "2001:db8:280::1";
pub const HOA: &str = "2001:db8:280::beef";
pub const DISTRACTOR: &str = "2001:db8:2ff::5";
pub const X6: &str = "2001:db8:300::2";
pub const NFT_TABLE: &str = "nemodp";

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime, &mut Option<DataPlane>) + Send>;

/// A thread inside one namespace with a tokio runtime and (optionally) a DataPlane.
pub struct Node {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    pub fn spawn(ns: &Netns) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let name = ns.name().to_string();
        let path = format!("/run/netns/{name}");
        let thread = std::thread::spawn(move || {
            let entered = std::fs::File::open(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| {
                    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| e.to_string())
                });
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let rt = match (entered, rt) {
                (Ok(()), Ok(rt)) => {
                    let _ = ready_tx.send(Ok(()));
                    rt
                }
                (Err(e), _) => return drop(ready_tx.send(Err(e))),
                (_, Err(e)) => return drop(ready_tx.send(Err(e.to_string()))),
            };
            let mut dp: Option<DataPlane> = None;
            for job in rx {
                job(&rt, &mut dp);
            }
            // Graceful: dropping leaves the kernel state as it is.
            drop(dp);
        });
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("node thread for {name}: {e}"),
            Err(_) => bail!("node thread for {name} died"),
        }
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the node's thread and waits for its result.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&tokio::runtime::Runtime, &mut Option<DataPlane>) -> R + Send + 'static,
    ) -> Result<R> {
        let (rtx, rrx) = mpsc::channel();
        let job: Job = Box::new(move |rt, dp| {
            let _ = rtx.send(f(rt, dp));
        });
        self.tx
            .as_ref()
            .context("node stopped")?
            .send(job)
            .ok()
            .context("node thread gone")?;
        rrx.recv().context("node job panicked")
    }

    pub fn start(&self, role: Role, backend: Backend) -> Result<()> {
        self.run(move |rt, dp| -> Result<()> {
            *dp = Some(rt.block_on(DataPlane::new(role, backend))?);
            Ok(())
        })?
    }

    pub fn apply_mr(&self, reg: Option<MrRegistration>) -> Result<dataplane::ApplyReport> {
        self.run(move |rt, dp| -> Result<dataplane::ApplyReport> {
            let dp = dp.as_mut().context("no data plane")?;
            Ok(rt.block_on(dp.apply_mr(reg.as_ref()))?)
        })?
    }

    pub fn apply_ha(&self, bindings: Vec<HaBinding>) -> Result<dataplane::ApplyReport> {
        self.run(move |rt, dp| -> Result<dataplane::ApplyReport> {
            let dp = dp.as_mut().context("no data plane")?;
            Ok(rt.block_on(dp.apply_ha(&bindings))?)
        })?
    }

    pub fn apply_ha_with_home(
        &self,
        bindings: Vec<HaBinding>,
        at_home: Vec<dataplane::HomeRouter>,
    ) -> Result<dataplane::ApplyReport> {
        self.run(move |rt, dp| -> Result<dataplane::ApplyReport> {
            let dp = dp.as_mut().context("no data plane")?;
            Ok(rt.block_on(dp.apply_ha_with_home(&bindings, &at_home))?)
        })?
    }

    pub fn apply_mr_home(&self, ha: std::net::Ipv6Addr) -> Result<dataplane::ApplyReport> {
        self.run(move |rt, dp| -> Result<dataplane::ApplyReport> {
            let dp = dp.as_mut().context("no data plane")?;
            Ok(rt.block_on(dp.apply_mr_home(ha))?)
        })?
    }

    pub fn home_routers_installed(&self) -> Result<Vec<dataplane::HomeRouter>> {
        self.run(move |rt, dp| -> Result<Vec<dataplane::HomeRouter>> {
            let dp = dp.as_ref().context("no data plane")?;
            Ok(rt.block_on(dp.home_routers_installed())?)
        })?
    }

    /// Drops the data plane without teardown (a daemon restart or graceful stop).
    pub fn drop_dataplane(&self) -> Result<()> {
        self.run(|_, dp| drop(dp.take()))
    }

    pub fn teardown(&self) -> Result<()> {
        self.run(|rt, dp| -> Result<()> {
            let dp = dp.take().context("no data plane")?;
            Ok(rt.block_on(dp.teardown())?)
        })?
    }

    pub fn relay_stats(&self) -> Result<Option<dataplane::RelayStats>> {
        self.run(|_, dp| dp.as_ref().and_then(DataPlane::relay_stats))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Host A - MR - router R - HA - host B, plus X (a stranger) on R.
/// The Nodes are declared first so their threads end before the namespaces go.
pub struct Topology {
    pub mr_node: Node,
    pub ha_node: Node,
    pub a: Netns,
    pub mr: Netns,
    pub r: Netns,
    pub ha: Netns,
    pub b: Netns,
    pub x: Netns,
}

fn addr6(ns: &Netns, dev: &str, cidr: &str) -> Result<()> {
    ns.ip(&["-6", "addr", "add", cidr, "dev", dev, "nodad"])
        .map(drop)
}

impl Topology {
    pub fn new() -> Result<Self> {
        let (a, mr, r, ha, b, x) = (
            Netns::new("dpa")?,
            Netns::new("dpm")?,
            Netns::new("dpr")?,
            Netns::new("dph")?,
            Netns::new("dpb")?,
            Netns::new("dpx")?,
        );
        a.veth("eth0", &mr, "in0")?;
        mr.veth("up0", &r, "rmr")?;
        r.veth("rha", &ha, "home0")?;
        ha.veth("hb0", &b, "eth0")?;
        r.veth("rx", &x, "eth0")?;
        for ns in [&a, &mr, &r, &ha, &b, &x] {
            ns.sysctl("net.ipv6.conf.all.accept_dad=0")?;
        }
        // DATAPLANE_WIRE=1: the access links carry 1500-byte frames, as real links do (a
        // NIC segments in hardware; veth passes TCP super-packets along whole, which makes
        // every per-packet cost of the routers vanish). For the throughput benchmark.
        if std::env::var_os("DATAPLANE_WIRE").is_some() {
            for (ns, dev) in [(&mr, "up0"), (&r, "rmr"), (&r, "rha"), (&ha, "home0")] {
                ns.run(&["ethtool", "-K", dev, "tso", "off", "gso", "off"])?;
            }
        }
        // Host A, mobile network (IPv4 10.0.0.0/24 + IPv6 MNP 2001:db8:281::/64).
        a.ip(&["addr", "add", "10.0.0.2/24", "dev", "eth0"])?;
        addr6(&a, "eth0", "2001:db8:281::2/64")?;
        a.ip(&["route", "add", "default", "via", MR_IN4])?;
        a.ip(&["-6", "route", "add", "default", "via", "2001:db8:281::1"])?;
        // MR: inside, IPv6-only uplink (CoA), home address on lo.
        mr.ip(&["addr", "add", "10.0.0.1/24", "dev", "in0"])?;
        addr6(&mr, "in0", "2001:db8:281::1/64")?;
        addr6(&mr, "up0", &format!("{COA1}/64"))?;
        // A second uplink address that source address selection prefers for the HA
        // (longer common prefix): the outer source must still be the registered CoA.
        addr6(&mr, "up0", &format!("{DISTRACTOR}/64"))?;
        addr6(&mr, "lo", &format!("{HOA}/128"))?;
        mr.ip(&["-6", "route", "add", "default", "via", "2001:db8:200::1"])?;
        // Router: IPv6 only.
        r.sysctl("net.ipv6.conf.all.forwarding=1")?;
        addr6(&r, "rmr", "2001:db8:200::1/64")?;
        addr6(&r, "rmr", "2001:db8:201::1/64")?;
        addr6(&r, "rmr", "2001:db8:2ff::1/64")?;
        addr6(&r, "rha", "2001:db8:280::2/64")?;
        addr6(&r, "rx", "2001:db8:300::1/64")?;
        r.ip(&["-6", "route", "add", "2001:db8:290::/64", "via", HA])?;
        // HA on the home link; host B on its other side.
        addr6(&ha, "home0", &format!("{HA}/64"))?;
        ha.ip(&["-6", "route", "add", "default", "via", "2001:db8:280::2"])?;
        ha.ip(&["addr", "add", "192.168.64.1/25", "dev", "hb0"])?;
        addr6(&ha, "hb0", "2001:db8:290::1/64")?;
        b.ip(&["addr", "add", "192.168.64.2/25", "dev", "eth0"])?;
        addr6(&b, "eth0", "2001:db8:290::2/64")?;
        b.ip(&["route", "add", "default", "via", "192.168.64.1"])?;
        b.ip(&["-6", "route", "add", "default", "via", "2001:db8:290::1"])?;
        // X: a stranger on the Internet.
        addr6(&x, "eth0", &format!("{X6}/64"))?;
        x.ip(&["-6", "route", "add", "default", "via", "2001:db8:300::1"])?;
        Ok(Self {
            mr_node: Node::spawn(&mr)?,
            ha_node: Node::spawn(&ha)?,
            a,
            mr,
            r,
            ha,
            b,
            x,
        })
    }

    pub fn tunnel() -> TunnelSettings {
        TunnelSettings {
            path_mtu: 1500,
            tun_name: "nemo0".into(),
            nft_table: NFT_TABLE.into(),
            ..TunnelSettings::default()
        }
    }

    pub fn mr_role() -> Role {
        Role::Mr(MrConfig {
            uplink: "up0".into(),
            inside: "in0".into(),
            inside_ipv4: MR_IN4.parse().unwrap(),
            tunnel: Self::tunnel(),
        })
    }

    pub fn ha_role() -> Role {
        Role::Ha(HaConfig {
            ha_addr: HA.parse().unwrap(),
            home_if: "home0".into(),
            tunnel: Self::tunnel(),
            announce_table: None,
        })
    }

    pub fn registration(coa: &str) -> MrRegistration {
        MrRegistration {
            hoa: HOA.parse().unwrap(),
            coa: coa.parse().unwrap(),
            ha: HA.parse().unwrap(),
            mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
        }
    }

    pub fn binding(coa: &str) -> HaBinding {
        let r = Self::registration(coa);
        HaBinding {
            hoa: r.hoa,
            coa: r.coa,
            mnp6: r.mnp6,
            mnp4: r.mnp4,
        }
    }

    /// Both data planes up and registered with `coa`.
    pub fn register(&self, backend: Backend, coa: &str) -> Result<()> {
        self.register_with(backend, coa, Self::tunnel())
    }

    /// [`Self::register`] with other tunnel settings on both ends.
    pub fn register_with(&self, backend: Backend, coa: &str, tunnel: TunnelSettings) -> Result<()> {
        let (mut mr, mut ha) = (Self::mr_role(), Self::ha_role());
        *mr.tunnel_mut() = tunnel.clone();
        *ha.tunnel_mut() = tunnel;
        self.ha_node.start(ha, backend)?;
        self.mr_node.start(mr, backend)?;
        self.ha_node.apply_ha(vec![Self::binding(coa)])?;
        self.mr_node.apply_mr(Some(Self::registration(coa)))?;
        Ok(())
    }
}

pub fn ping(ns: &Netns, args: &[&str]) -> Result<()> {
    let mut full = vec!["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2"];
    full.extend_from_slice(args);
    ns.run(&full).map(drop)
}

/// Routes and rules with our protocol in `ns`, as `ip` prints them.
pub fn our_state(ns: &Netns) -> Result<String> {
    let v4 = ns.ip(&["-4", "route", "show", "table", "all", "proto", "168"])?;
    let v6 = ns.ip(&["-6", "route", "show", "table", "all", "proto", "168"])?;
    // iproute2 6.1 does not filter rules by protocol itself.
    let rules: String = ns
        .ip(&["-6", "rule", "show"])?
        .lines()
        .filter(|l| l.contains("proto 168"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(format!("{v4}{v6}{rules}"))
}

/// Single-stream TCP throughput in bit/s from `client` to `server_addr` (iperf3 -J).
pub fn iperf(
    client: &Netns,
    server: &Netns,
    server_addr: &str,
    seconds: u32,
    reverse: bool,
) -> Result<f64> {
    let port = 5201 + (std::process::id() % 1000) as u16;
    let port_s = port.to_string();
    let mut srv_cmd = server.command("iperf3");
    srv_cmd.args(["-s", "-1", "-p", &port_s]);
    srv_cmd.stdout(std::process::Stdio::null());
    let _srv = integration::BackgroundProcess::spawn(srv_cmd, "iperf3 server")?;
    let secs = seconds.to_string();
    let mut args = vec![
        "iperf3",
        "-J",
        "-c",
        server_addr,
        "-p",
        &port_s,
        "-t",
        &secs,
    ];
    if reverse {
        args.push("-R");
    }
    let mut last = None;
    for _ in 0..20 {
        match client.run(&args) {
            Ok(out) => {
                let v: serde_json::Value = serde_json::from_str(&out)?;
                match v["end"]["sum_received"]["bits_per_second"].as_f64() {
                    Some(bps) => return Ok(bps),
                    None => last = Some(anyhow::anyhow!("iperf3: {}", v["error"])),
                }
            }
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("iperf3 never ran")))
}
