//! The real `babymdd` in a mobile router namespace (issue 6): SLAAC from radvd gives the
//! care-of address, losing the preferred uplink's carrier moves it to the other uplink at
//! once, and an L2 move onto the home link is announced as DEREGHOME. Asserted on the bus.

use integration::{bins, BackgroundProcess, Monitor, Netns, Radvd, Switch};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn in_prefix(v: &Value, prefix: &str) -> bool {
    v["coa"].as_str().is_some_and(|c| c.starts_with(prefix))
}

struct Lab {
    switch: Switch,
    mr: Netns,
    _router: Netns,
    _radvd: Radvd,
    dir: PathBuf,
    babymdd: Option<BackgroundProcess>,
    bus: Monitor,
}

impl Lab {
    fn new() -> Lab {
        let switch = Switch::new(&["home", "fa", "fb"]).unwrap();
        let router = Netns::new("rt").unwrap();
        let mr = Netns::new("mr").unwrap();
        mr.sysctl("net.ipv6.conf.all.forwarding=1").unwrap();
        for (rif, port, bridge) in [
            ("rhome", "phome", "home"),
            ("rfa", "pfa", "fa"),
            ("rfb", "pfb", "fb"),
        ] {
            router.veth(rif, &switch.ns, port).unwrap();
            switch
                .ns
                .ip(&["link", "set", port, "master", bridge])
                .unwrap();
        }
        let radvd = Radvd::start(
            &router,
            &[
                ("rhome", "2001:db8:1::/64"),
                ("rfa", "2001:db8:200::/64"),
                ("rfb", "2001:db8:300::/64"),
            ],
        )
        .unwrap();
        for (mif, port, bridge) in [("eth0", "pmr0", "fa"), ("eth1", "pmr1", "fb")] {
            mr.veth(mif, &switch.ns, port).unwrap();
            switch
                .ns
                .ip(&["link", "set", port, "master", bridge])
                .unwrap();
        }
        let dir = std::env::temp_dir().join(format!("mv-{}", mr.name()));
        std::fs::create_dir_all(dir.join("bus")).unwrap();
        std::fs::write(
            dir.join("mrd.conf"),
            "interface mip0 {\n    home-prefix 2001:db8:1::/64;\n    prefixtable {\n        2001:db8:1::beef 2001:db8:281::/64 explicit;\n    };\n};\n",
        )
        .unwrap();
        let bus = Monitor::start(&dir.join("bus")).unwrap();
        let mut lab = Lab {
            switch,
            mr,
            _router: router,
            _radvd: radvd,
            dir,
            babymdd: None,
            bus,
        };
        lab.start();
        lab
    }

    fn start(&mut self) {
        let d = &self.dir;
        let mut cmd = self
            .mr
            .command(bins::path("babymdd").unwrap().to_str().unwrap());
        cmd.arg("-f").arg("-d").arg("-c").arg(d.join("mrd.conf"));
        for (flag, file) in [
            ("--bus-dir", "bus"),
            ("--pid-file", "babymdd.pid"),
            ("--log-file", "babymdd.log"),
        ] {
            cmd.arg(flag).arg(d.join(file));
        }
        cmd.args(["-h", "mip0", "eth0", "eth1"]);
        self.babymdd = Some(BackgroundProcess::spawn(cmd, "babymdd").unwrap());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("babymdd.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- babymdd log ---\n{}", self.log());
        }
        self.babymdd.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn babymdd_follows_slaac_carrier_loss_and_the_return_home() {
    let mut lab = Lab::new();
    // SLAAC on the preferred uplink (eth0, link A).
    let md = lab
        .bus
        .wait_for("MD_INFO", WAIT, |v| {
            v["command"] == "rereg" && in_prefix(v, "2001:db8:200:")
        })
        .unwrap();
    assert_eq!(md["from"]["name"], "babymdd");

    // The preferred uplink loses carrier: the CoA moves to eth1 (link B) at once.
    let t = Instant::now();
    lab.switch.ns.ip(&["link", "set", "pmr0", "down"]).unwrap();
    lab.bus
        .wait_for("MD_INFO", WAIT, |v| {
            v["command"] == "rereg" && in_prefix(v, "2001:db8:300:")
        })
        .unwrap();
    let moved = t.elapsed();
    // No polling: babymdd reacts to the kernel's carrier report within milliseconds, but the
    // kernel's linkwatch (global, shared with every other test running) may hold that report
    // back for up to a second; a polling babymdd would need its poll interval on top.
    assert!(
        moved < Duration::from_millis(2500),
        "CoA moved after {moved:?}"
    );

    // Carrier back: eth0 is preferred again.
    lab.switch.ns.ip(&["link", "set", "pmr0", "up"]).unwrap();
    lab.bus
        .wait_for("MD_INFO", WAIT, |v| {
            v["command"] == "rereg" && in_prefix(v, "2001:db8:200:")
        })
        .unwrap();

    // eth0 moves to the home link: home wins over eth1's foreign address.
    lab.switch.move_port("pmr0", "home").unwrap();
    let home = lab
        .bus
        .wait_for("MD_INFO", WAIT, |v| v["command"] != "rereg")
        .unwrap();
    assert!(home["command"].as_str().unwrap().contains("home"), "{home}");

    // SIGHUP: the same state again, nothing new.
    let pid = lab.babymdd.as_ref().unwrap().pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let again = lab.bus.wait_for("MD_INFO", WAIT, |_| true).unwrap();
    assert_eq!(again["command"], home["command"]);
    println!("carrier loss to new CoA announced in {moved:?}");
}
