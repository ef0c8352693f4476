//! Several home agents (issue 15 items 1 and 2) with the real `had` and `mrd`: two home
//! agents on one home link (a bridge in the router's namespace), each with radvd advertising
//! the H bit and a Home Agent Information option of its own preference; a mobile router
//! away from home without `home-agent-address`. Movement is injected with `mipsock send
//! md-info`, as babymdd would announce it.
//!
//! ```text
//!   ha1 home0 2001:db8:1::1 (preference 20) --+
//!   ha2 home0 2001:db8:1::2 (preference 10) --+-- br0 2001:db8:1::fe  rt  up0 2001:db8:200::1
//!                                                                           |
//!   mr                                                         eth0 2001:db8:200::5
//! ```

use integration::capture::{tshark_fields, Capture};
use integration::{bins, BackgroundProcess, Monitor, Netns};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOA: &str = "2001:db8:1::beef";
const HA1: &str = "2001:db8:1::1";
const HA2: &str = "2001:db8:1::2";
const COA: &str = "2001:db8:200::5";
const ANYCAST: &str = "2001:db8:1:0:fdff:ffff:ffff:fffe";
const WAIT: Duration = Duration::from_secs(15);

// No keys here: the tests are about discovery, so registration without authentication is
// asked for explicitly (the daemons refuse to start otherwise).
fn had_conf(home_prefix: &str, preference: i16) -> String {
    format!(
        "authentication none;\ninterface home0 {{\n    home-prefix {home_prefix};\n    preference {preference};\n    \
         max-binding-lifetime 600;\n    prefixtable {{\n        {HOA} 2001:db8:281::/64 explicit;\n    }};\n}};\n"
    )
}

fn mrd_conf() -> String {
    format!(
        "authentication none;\ninterface mip0 {{\n    home-registration-lifetime 8;\n    prefixtable {{\n        \
         {HOA} 2001:db8:281::/64 explicit;\n    }};\n}};\n"
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

struct HomeAgent {
    /// Kept for its lifetime: dropping it deletes the namespace.
    _ns: Netns,
    addr: &'static str,
    radvd: Option<BackgroundProcess>,
    had: Option<BackgroundProcess>,
    bus: Monitor,
}

struct Lab {
    dir: PathBuf,
    rt: Netns,
    mr: Netns,
    has: Vec<HomeAgent>,
    mrd: Option<BackgroundProcess>,
    mr_bus: Monitor,
    capture: Option<Capture>,
}

fn daemon(ns: &Netns, dir: &Path, tag: &str, name: &str, args: &[&str]) -> BackgroundProcess {
    let mut cmd = ns.command(bins::path(name).unwrap().to_str().unwrap());
    cmd.arg("-f")
        .arg("-d")
        .arg("-c")
        .arg(dir.join(format!("{tag}.conf")))
        .arg("--bus-dir")
        .arg(dir.join(format!("{tag}.bus")))
        .arg("--pid-file")
        .arg(dir.join(format!("{tag}.pid")))
        .arg("--state-file")
        .arg(dir.join(format!("{tag}.state")))
        .arg("--log-file")
        .arg(dir.join(format!("{tag}.log")))
        .args(args);
    let p = BackgroundProcess::spawn(cmd, name).unwrap();
    let log = dir.join(format!("{tag}.log"));
    assert!(
        wait_until(WAIT, || read(&log).contains(&format!("{name} started"))),
        "{name} did not start:\n{}",
        read(&log)
    );
    p
}

/// radvd on a home agent's home link: H bit, Home Agent Information (mobile router support,
/// `preference`, lifetime 30 s), and its global address with the R flag.
fn radvd(ns: &Netns, dir: &Path, tag: &str, addr: &str, preference: i16) -> BackgroundProcess {
    let conf = format!(
        "interface home0 {{\n AdvSendAdvert on;\n AdvIntervalOpt on;\n MinRtrAdvInterval 0.5;\n \
         MaxRtrAdvInterval 1;\n AdvHomeAgentFlag on;\n AdvHomeAgentInfo on;\n \
         AdvMobRtrSupportFlag on;\n HomeAgentPreference {preference};\n HomeAgentLifetime 30;\n \
         prefix {addr}/64 {{ AdvOnLink on; AdvAutonomous off; AdvRouterAddr on; }};\n}};\n"
    );
    let path = dir.join(format!("{tag}.radvd.conf"));
    std::fs::write(&path, conf).unwrap();
    let mut cmd = ns.command("radvd");
    cmd.args(["-n", "-m", "none", "-C"])
        .arg(&path)
        .arg("-p")
        .arg(dir.join(format!("{tag}.radvd.pid")));
    BackgroundProcess::spawn(cmd, "radvd").unwrap()
}

impl Lab {
    fn new() -> Lab {
        let rt = Netns::new("dr").unwrap();
        let mr = Netns::new("dm").unwrap();
        let dir = std::env::temp_dir().join(format!("dhaad-{}", rt.name()));
        std::fs::create_dir_all(&dir).unwrap();
        rt.sh("ip link add br0 type bridge && ip link set br0 up && \
             ip -6 addr add 2001:db8:1::fe/64 dev br0 nodad")
            .unwrap();
        rt.sysctl("net.ipv6.conf.all.forwarding=1").unwrap();
        rt.veth("up0", &mr, "eth0").unwrap();
        rt.ip(&[
            "-6",
            "addr",
            "add",
            "2001:db8:200::1/64",
            "dev",
            "up0",
            "nodad",
        ])
        .unwrap();
        mr.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{COA}/64"),
            "dev",
            "eth0",
            "nodad",
        ])
        .unwrap();
        mr.ip(&["-6", "route", "add", "default", "via", "2001:db8:200::1"])
            .unwrap();
        let mut has = Vec::new();
        for (i, (addr, pref)) in [(HA1, 20i16), (HA2, 10)].into_iter().enumerate() {
            let tag = format!("ha{}", i + 1);
            let ns = Netns::new(&format!("dh{}", i + 1)).unwrap();
            ns.veth("home0", &rt, &format!("p{}", i + 1)).unwrap();
            rt.sh(&format!(
                "ip link set p{} master br0 && ip link set p{} up",
                i + 1,
                i + 1
            ))
            .unwrap();
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                "home0",
                "nodad",
            ])
            .unwrap();
            ns.sysctl("net.ipv6.conf.all.forwarding=1").unwrap();
            ns.ip(&["-6", "route", "add", "default", "via", "2001:db8:1::fe"])
                .unwrap();
            std::fs::write(
                dir.join(format!("{tag}.conf")),
                had_conf("2001:db8:1::/64", pref),
            )
            .unwrap();
            std::fs::create_dir_all(dir.join(format!("{tag}.bus"))).unwrap();
            let bus = Monitor::start(&dir.join(format!("{tag}.bus"))).unwrap();
            let radvd = radvd(&ns, &dir, &tag, addr, pref);
            let had = daemon(&ns, &dir, &tag, "had", &["home0"]);
            has.push(HomeAgent {
                _ns: ns,
                addr,
                radvd: Some(radvd),
                had: Some(had),
                bus,
            });
        }
        std::fs::write(dir.join("mr.conf"), mrd_conf()).unwrap();
        std::fs::create_dir_all(dir.join("mr.bus")).unwrap();
        let mr_bus = Monitor::start(&dir.join("mr.bus")).unwrap();
        let capture = Capture::start(&mr, "eth0", &dir.join("wire.pcap")).unwrap();
        Lab {
            dir,
            rt,
            mr,
            has,
            mrd: None,
            mr_bus,
            capture: Some(capture),
        }
    }

    fn start_mrd(&mut self) {
        self.mrd = Some(daemon(&self.mr, &self.dir, "mr", "mrd", &["mip0"]));
    }

    fn log(&self, tag: &str) -> String {
        read(&self.dir.join(format!("{tag}.log")))
    }

    fn mipsock(&self, bus: &str, args: &[&str]) -> String {
        let out = Command::new(bins::path("mipsock").unwrap())
            .arg("--bus-dir")
            .arg(self.dir.join(bus))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mipsock {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until both home agents list each other (from the RAs).
    fn wait_for_lists(&mut self) {
        for i in 0..2 {
            let other = self.has[1 - i].addr;
            self.has[i]
                .bus
                .wait_for("HA_LIST", WAIT, |v| {
                    v["entries"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x["address"] == other))
                })
                .unwrap_or_else(|e| panic!("ha{} never listed {other}: {e:#}", i + 1));
        }
    }

    /// Registers the MR (away, no HA configured) and returns the BUL_ADD.
    fn register(&mut self) -> serde_json::Value {
        self.start_mrd();
        self.mipsock("mr.bus", &["send", "md-info", "rereg", "coa", COA]);
        self.mr_bus
            .wait_for("BUL_ADD", WAIT, |v| v["coa"] == COA)
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for tag in ["ha1", "ha2", "mr"] {
                eprintln!("--- {tag} log ---\n{}", self.log(tag));
            }
        }
        self.mrd.take();
        for ha in &mut self.has {
            ha.had.take();
            ha.radvd.take();
        }
        self.capture.take();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = &self.rt;
    }
}

#[test]
fn dhaad_finds_the_preferred_home_agent_and_lists_show_on_the_bus() {
    let mut lab = Lab::new();
    lab.wait_for_lists();
    // `mipsock show ha` on ha2: both, ha1 first (preference 20 over 10).
    let shown = lab.mipsock("ha2.bus", &["show", "ha", "--json"]);
    let rows: Vec<serde_json::Value> = shown
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<&str> = rows
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec![HA1, HA2], "{shown}");
    assert_eq!(rows[0]["preference"], 20);
    assert_eq!(rows[1]["own"], true);
    assert_eq!(rows[0]["mobile_router"], true);
    let table = lab.mipsock("ha1.bus", &["show", "ha"]);
    assert!(table.starts_with("RANK"), "{table}");

    let bul = lab.register();
    assert_eq!(bul["ha"], HA1, "registered with the preferred home agent");
    assert!(
        lab.log("mr").contains("DHAAD reply from"),
        "{}",
        lab.log("mr")
    );
    // The MR's list on its bus, too.
    let mr_list = lab.mipsock("mr.bus", &["show", "ha", "--json"]);
    assert!(mr_list.contains(HA2), "{mr_list}");
    // Mobile prefix discovery after the registration: the home prefix, unchanged.
    let hp = lab
        .mr_bus
        .wait_for("HOME_PREFIX", WAIT, |v| v["solicited"] == true)
        .unwrap();
    assert_eq!(hp["prefixes"][0], "2001:db8:1::/64");
    assert_eq!(hp["changed"], false);
    assert_eq!(hp["ha"], HA1);

    // And with its answer to a BUL dump (what a restarted nemonetd asks for), the home
    // agent in use marked: where nemonetd -m sends IPv4 at home.
    lab.mipsock("mr.bus", &["show", "bul"]);
    let dump = lab
        .mr_bus
        .wait_for("DUMP_REQUEST", WAIT, |v| v["what"] == "bul")
        .unwrap();
    let with_dump = lab
        .mr_bus
        .wait_for("HA_LIST", WAIT, |v| v["request_id"] == dump["id"])
        .unwrap();
    assert_eq!(with_dump["entries"][0]["address"], HA1, "{with_dump}");
    assert_eq!(with_dump["entries"][0]["own"], true, "{with_dump}");

    // On the wire (tshark): the request to the anycast address with R, the reply with R
    // listing ha1 then ha2, the solicitation from the care-of address and its answer.
    let pcap = lab.capture.take().unwrap().finish().unwrap();
    let req = tshark_fields(&pcap, "icmpv6.type == 144", &["ipv6.src", "ipv6.dst"]).unwrap();
    assert!(
        req.iter().any(|r| r[0] == COA && r[1] == ANYCAST),
        "{req:?}"
    );
    let rep = tshark_fields(
        &pcap,
        "icmpv6.type == 145",
        &["ipv6.dst", "icmpv6.mip6.home_agent_address"],
    )
    .unwrap();
    assert!(
        rep.iter()
            .any(|r| r[0] == COA && r[1] == format!("{HA1},{HA2}")),
        "{rep:?}"
    );
    let mps = tshark_fields(&pcap, "icmpv6.type == 146", &["ipv6.src", "ipv6.dst"]).unwrap();
    assert!(mps.iter().any(|r| r[0] == COA && r[1] == HA1), "{mps:?}");
    let mpa = tshark_fields(
        &pcap,
        "icmpv6.type == 147",
        &["ipv6.src", "icmpv6.opt.prefix"],
    )
    .unwrap();
    assert!(
        mpa.iter().any(|r| r[0] == HA1 && r[1] == "2001:db8:1::"),
        "{mpa:?}"
    );
}

#[test]
fn killed_home_agent_fails_over_to_the_next_one() {
    let mut lab = Lab::new();
    lab.wait_for_lists();
    let bul = lab.register();
    assert_eq!(bul["ha"], HA1);
    // Let a refresh succeed first, then kill -9 ha1's had (radvd stays: the RAs do not
    // tell a dead had from a live one).
    lab.has[0]
        .bus
        .wait_for("BC_ADD", WAIT, |v| v["hoa"] == HOA)
        .unwrap();
    let killed = Instant::now();
    lab.has[0].had.take();
    let bul = lab
        .mr_bus
        .wait_for("BUL_ADD", Duration::from_secs(40), |v| v["ha"] == HA2)
        .unwrap();
    let outage = killed.elapsed();
    eprintln!("failover: registered with {HA2} {outage:?} after kill -9 of ha1's had");
    assert_eq!(bul["coa"], COA);
    assert!(outage < Duration::from_secs(20), "{outage:?}");
    lab.has[1]
        .bus
        .wait_for("BC_ADD", WAIT, |v| v["hoa"] == HOA)
        .unwrap();
    assert!(
        lab.log("mr")
            .contains("trying the next home agent of the list"),
        "{}",
        lab.log("mr")
    );
}

#[test]
fn home_prefix_change_reaches_the_mobile_router_unsolicited() {
    let mut lab = Lab::new();
    lab.wait_for_lists();
    lab.register();
    lab.mr_bus
        .wait_for("HOME_PREFIX", WAIT, |v| v["solicited"] == true)
        .unwrap();
    // A /56 that still holds the home address (the configuration refuses one that does
    // not), and a reload (SIGHUP).
    let ha1 = &lab.has[0];
    std::fs::write(lab.dir.join("ha1.conf"), had_conf("2001:db8:1::/56", 20)).unwrap();
    let pid = ha1.had.as_ref().unwrap().pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let hp = lab
        .mr_bus
        .wait_for("HOME_PREFIX", WAIT, |v| v["solicited"] == false)
        .unwrap();
    assert_eq!(hp["changed"], true);
    assert_eq!(hp["prefixes"][0], "2001:db8:1::/56");
    assert_eq!(hp["previous"][0], "2001:db8:1::/64");
    assert!(
        lab.log("mr").contains("home prefix changed"),
        "{}",
        lab.log("mr")
    );
}
