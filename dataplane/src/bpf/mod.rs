//! The bpf backend: kernel forwarding where the kernel has neither seg6 nor ip6tnl.
//!
//! The programs are `bpf/nemo.bpf.c` (built by build.rs, embedded here): `nemo_encap` runs
//! on the tunnel routes (`encap bpf xmit`), looks the inner destination up in the `encap4`/
//! `encap6` longest-prefix-match maps and pushes the outer IPv6 header found there;
//! `nemo_decap_*` runs at tc ingress of the uplink (MR) or home interface (HA) and strips
//! the outer header of what a registered peer sends to our endpoint (`decap` map).
//!
//! State lives in bpffs under `<root>/shisa/<netns>` (one data plane per network namespace):
//! the maps, the encapsulation program, and the tcx link of the decapsulation. A restarted
//! nemonetd loads the object again with the pinned maps (libbpf reuses them), keeps using
//! the pinned encapsulation program when its code is unchanged (so the routes that run it
//! are kept, nothing is duplicated) and moves the pinned tcx link to its new decapsulation
//! program in one atomic update. Forwarding never depends on the process: routes hold the
//! encapsulation program, the link (or the clsact filter) the decapsulation.

mod attach;
pub(crate) mod route;

use crate::desired::{RouteAction, RouteSpec, METRIC_V4, METRIC_V6};
use crate::error::{Error, Result};
use crate::netlink::{route_message, Netlink};
use crate::tun::PeerTable;
use attach::DecapAttachment;
use ipnet::IpNet;
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, ProgramHandle};
use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use attach::ingress_programs;
pub use route::BpfProg;

/// The compiled programs (bpf/nemo.bpf.c).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/nemo.bpf.o"));

/// Where bpffs is normally mounted; nemonetd mounts it there when it is missing.
pub const DEFAULT_ROOT: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` of statfs(2).
const BPF_FS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0xcafe_4a11);

const ENCAP_PROG: &str = "nemo_encap";
const ENCAP_PIN: &str = "nemo_encap";
const MAPS: [&str; 4] = ["encap4", "encap6", "decap", "counters"];

/// The loaded backend of one data plane.
pub struct BpfPlane {
    dir: PathBuf,
    /// Keeps the maps (pinned) and the decapsulation programs of this load alive.
    obj: Object,
    /// The encapsulation program the routes run: the pinned one when adopted.
    encap: ProgramHandle,
    /// What routes know the program by: its tag and its read-only data (see [`identity`]).
    encap_identity: u64,
    decap: DecapAttachment,
}

/// Counters of the programs, summed over CPUs (`enum counter` in nemo.bpf.c).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BpfStats {
    pub encapsulated: u64,
    pub encap_no_peer: u64,
    pub encap_failed: u64,
    pub decapsulated: u64,
    pub decap_failed: u64,
}

impl BpfPlane {
    /// Loads (or adopts) the programs and maps for this network namespace and attaches the
    /// decapsulation at ingress of `ifindex`.
    /// Outer headers carry `hop_limit`.
    pub fn open(root: &Path, ifindex: u32, ifname: &str, hop_limit: u8) -> Result<Self> {
        let persistent = ensure_bpffs(root)?;
        let dir = root.join("shisa").join(netns_id()?);
        std::fs::create_dir_all(&dir).map_err(|e| bpf_err(format!("{}: {e}", dir.display())))?;
        let obj = match load(&dir, hop_limit) {
            Ok(obj) => obj,
            Err(e) => {
                // Pinned maps of an incompatible (older) layout: start them afresh; the
                // next apply fills them again.
                tracing::warn!(error = %e, dir = %dir.display(), "pinned bpf maps not reusable; recreating them");
                // The pinned program uses the old maps: not to be adopted either.
                for name in MAPS.iter().chain([&ENCAP_PIN]) {
                    let _ = std::fs::remove_file(dir.join(name));
                }
                load(&dir, hop_limit)?
            }
        };
        collect_orphans(&root.join("shisa"), &dir);
        let encap = adopt_encap(&obj, &dir)?;
        let encap_identity = identity(&encap)?;
        let decap_prog = if is_ethernet(ifname) {
            "nemo_decap_eth"
        } else {
            "nemo_decap_l3"
        };
        let prog = find_prog(&obj, decap_prog)?;
        let decap = DecapAttachment::attach(&prog, ifindex, &dir, persistent)?;
        tracing::info!(
            dir = %dir.display(),
            attach = decap.kind(),
            interface = ifname,
            "bpf programs ready"
        );
        Ok(Self {
            dir,
            obj,
            encap,
            encap_identity,
            decap,
        })
    }

    /// The program tunnel routes run.
    pub fn encap_prog(&self) -> BpfProg {
        BpfProg {
            fd: self.encap.as_fd().as_raw_fd(),
            tag: self.encap_identity,
        }
    }

    /// Makes the maps say exactly what `peers` says: per inner destination prefix the
    /// outer header (our endpoint, the peer), and the (peer, endpoint) pairs whose packets
    /// are decapsulated.
    pub fn sync(&self, peers: &PeerTable) -> Result<()> {
        let mut want4 = HashMap::new();
        let mut want6 = HashMap::new();
        let mut want_decap = HashSet::new();
        if let Some(local) = peers.local {
            for (net, peer) in &peers.routes {
                let value = route::tunnel_value(local, *peer);
                match net {
                    IpNet::V4(n) => want4.insert(route::prefix4_key(n), value),
                    IpNet::V6(n) => want6.insert(route::prefix6_key(n), value),
                };
                want_decap.insert(route::tunnel_value(*peer, local));
            }
        }
        for (name, want) in [("encap4", &want4), ("encap6", &want6)] {
            let map = self.map(name)?;
            sync_map(&map, want, name)?;
        }
        let decap: HashMap<Vec<u8>, Vec<u8>> =
            want_decap.into_iter().map(|k| (k, vec![1u8])).collect();
        sync_map(&self.map("decap")?, &decap, "decap")?;
        Ok(())
    }

    /// The programs' counters.
    pub fn stats(&self) -> Result<BpfStats> {
        let map = self.map("counters")?;
        let mut sums = [0u64; 5];
        for (i, sum) in sums.iter_mut().enumerate() {
            let key = (i as u32).to_ne_bytes();
            let per_cpu = map
                .lookup_percpu(&key, MapFlags::ANY)
                .map_err(|e| bpf_err(format!("read counters: {e}")))?
                .unwrap_or_default();
            *sum = per_cpu
                .iter()
                .filter_map(|v| v.get(..8)?.try_into().ok())
                .map(u64::from_ne_bytes)
                .sum();
        }
        let [encapsulated, encap_no_peer, encap_failed, decapsulated, decap_failed] = sums;
        Ok(BpfStats {
            encapsulated,
            encap_no_peer,
            encap_failed,
            decapsulated,
            decap_failed,
        })
    }

    /// Detaches the decapsulation and removes every pin (the routes must be gone first:
    /// they hold the encapsulation program).
    pub fn teardown(self) -> Result<()> {
        self.decap.detach(&find_prog(&self.obj, ENCAP_PROG)?)?;
        for name in MAPS.iter().chain([&ENCAP_PIN]) {
            match std::fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(bpf_err(format!("unpin {name}: {e}")))
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
        tracing::info!(dir = %self.dir.display(), "bpf programs and pins removed");
        Ok(())
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| bpf_err(format!("map {name} missing from the object")))
    }
}

fn sync_map(map: &libbpf_rs::Map<'_>, want: &HashMap<Vec<u8>, Vec<u8>>, name: &str) -> Result<()> {
    let have: Vec<Vec<u8>> = map.keys().collect();
    for (key, value) in want {
        let current = map
            .lookup(key, MapFlags::ANY)
            .map_err(|e| bpf_err(format!("{name} lookup: {e}")))?;
        if current.as_deref() != Some(value.as_slice()) {
            map.update(key, value, MapFlags::ANY)
                .map_err(|e| bpf_err(format!("{name} update: {e}")))?;
        }
    }
    for key in have.iter().filter(|k| !want.contains_key(*k)) {
        map.delete(key)
            .map_err(|e| bpf_err(format!("{name} delete: {e}")))?;
    }
    Ok(())
}

fn bpf_err(msg: String) -> Error {
    Error::Bpf(msg)
}

/// The verifier's and libbpf's messages of the load in progress.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

/// libbpf's messages: kept for the error of a failed load, otherwise debug logs (libbpf
/// reports expected misses, such as no pinned link yet, as warnings on stderr).
fn collect_log(_level: libbpf_rs::PrintLevel, msg: String) {
    tracing::debug!(target: "libbpf", "{}", msg.trim_end());
    if COLLECTING.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(mut log) = LIBBPF_LOG.lock() {
            log.push_str(&msg);
        }
    }
}

/// Whether a load is in progress (its messages are kept for its error).
static COLLECTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Routes libbpf's messages through [`collect_log`] from the first use on.
fn libbpf_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Info, collect_log)));
    });
}

/// Opens the object with its maps pinned in `dir` (reused when already there) and loads
/// it with `hop_limit` in the outer headers. A program the verifier rejects fails with
/// the verifier's log.
fn load(dir: &Path, hop_limit: u8) -> Result<Object> {
    load_object(OBJECT, Some(dir), Some(hop_limit))
}

/// The name libbpf gives the object's `.rodata` map ends so (the kernel keeps the first 15
/// bytes of `<object>.rodata`).
const RODATA_SUFFIX: &str = ".rodata";
/// Offset of `outer_hop_limit` in nemo.bpf.c's `.rodata` (its only variable).
const HOP_LIMIT_OFFSET: usize = 0;

/// `dir`: where the maps are pinned (none: unpinned, for tests).
fn load_object(object: &[u8], dir: Option<&Path>, hop_limit: Option<u8>) -> Result<Object> {
    libbpf_logging();
    let mut open = ObjectBuilder::default()
        .open_memory(object)
        .map_err(|e| bpf_err(format!("open the bpf object: {e}")))?;
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        if let (Some(hops), true) = (hop_limit, name.ends_with(RODATA_SUFFIX)) {
            // Read-only data is part of the program once loaded (the verifier folds it).
            let data = map
                .initial_value_mut()
                .and_then(|d| d.get_mut(HOP_LIMIT_OFFSET))
                .ok_or_else(|| bpf_err(format!("{name}: no room for outer_hop_limit")))?;
            *data = hops;
        }
        if let (Some(dir), true) = (dir, MAPS.contains(&name.as_str())) {
            map.set_pin_path(dir.join(&name))
                .map_err(|e| bpf_err(format!("pin path of {name}: {e}")))?;
        }
    }
    // libbpf prints through one global callback: collect while loading (one load at a
    // time in a process, as the owner task of each data plane is the only caller).
    let _guard = LOAD.lock();
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        log.clear();
    }
    COLLECTING.store(true, std::sync::atomic::Ordering::Relaxed);
    let loaded = open.load();
    COLLECTING.store(false, std::sync::atomic::Ordering::Relaxed);
    loaded.map_err(|e| {
        let log = LIBBPF_LOG.lock().map(|l| l.clone()).unwrap_or_default();
        bpf_err(format!("load the bpf programs: {e}\n{}", log.trim_end()))
    })
}

static LOAD: Mutex<()> = Mutex::new(());

fn find_prog<'o>(obj: &'o Object, name: &str) -> Result<libbpf_rs::Program<'o>> {
    obj.progs()
        .find(|p| p.name() == name)
        .ok_or_else(|| bpf_err(format!("program {name} missing from the object")))
}

/// The encapsulation program to route with: the pinned one when it is the same code (its
/// routes stay as they are), else the one just loaded, pinned in its place (the routes
/// then differ by the tag in their name and are replaced by the next apply).
fn adopt_encap(obj: &Object, dir: &Path) -> Result<ProgramHandle> {
    let prog = find_prog(obj, ENCAP_PROG)?;
    let id = libbpf_rs::Program::id_from_fd(prog.as_fd())
        .map_err(|e| bpf_err(format!("program id: {e}")))?;
    let fresh =
        ProgramHandle::from_prog_id(id).map_err(|e| bpf_err(format!("program {id}: {e}")))?;
    let pin = dir.join(ENCAP_PIN);
    if let Ok(pinned) = ProgramHandle::from_pinned_path(&pin) {
        // The tag hashes the code without the data its read-only map holds: a program
        // loaded with another hop limit has the same tag.
        if pinned.tag() == fresh.tag() && rodata(&pinned)? == rodata(&fresh)? {
            tracing::info!(id = pinned.id(), "adopted the pinned encapsulation program");
            return Ok(pinned);
        }
        let _ = std::fs::remove_file(&pin);
    }
    fresh
        .pin(&pin)
        .map_err(|e| bpf_err(format!("pin {}: {e}", pin.display())))?;
    Ok(fresh)
}

/// What routes know an encapsulation program by: its tag mixed with its read-only data
/// (the hop limit), so that a route running the same code with another hop limit is
/// replaced like one running other code.
fn identity(prog: &ProgramHandle) -> Result<u64> {
    let tag = u64::from_be_bytes(prog.tag());
    Ok(tag ^ fnv1a(&rodata(prog)?))
}

/// FNV-1a, 64 bits: stable across builds (a hash of std is not).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The contents of the `.rodata` map of a loaded program (empty when it has none).
fn rodata(prog: &ProgramHandle) -> Result<Vec<u8>> {
    for id in map_ids(prog.as_fd())? {
        let Ok(map) = libbpf_rs::MapHandle::from_map_id(id) else {
            continue;
        };
        if !map.name().to_string_lossy().ends_with(RODATA_SUFFIX) {
            continue;
        }
        let value = map
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| bpf_err(format!("read the program's .rodata: {e}")))?;
        return Ok(value.unwrap_or_default());
    }
    Ok(Vec::new())
}

/// The ids of the maps a loaded program uses (`bpf_prog_info.map_ids`).
fn map_ids(fd: std::os::fd::BorrowedFd<'_>) -> Result<Vec<u32>> {
    use libbpf_rs::libbpf_sys::{bpf_prog_get_info_by_fd, bpf_prog_info};
    let query = |info: &mut bpf_prog_info| {
        let mut len = std::mem::size_of::<bpf_prog_info>() as u32;
        // SAFETY: info points to a bpf_prog_info of len bytes; its map_ids pointer, when
        // set, to nr_map_ids u32s.
        let rc = unsafe { bpf_prog_get_info_by_fd(fd.as_raw_fd(), info, &mut len) };
        if rc < 0 {
            return Err(bpf_err(format!(
                "program info: {}",
                std::io::Error::from_raw_os_error(-rc)
            )));
        }
        Ok(())
    };
    let mut info = bpf_prog_info::default();
    query(&mut info)?;
    let mut ids = vec![0u32; info.nr_map_ids as usize];
    let mut info = bpf_prog_info {
        nr_map_ids: ids.len() as u32,
        map_ids: ids.as_mut_ptr() as u64,
        ..Default::default()
    };
    query(&mut info)?;
    ids.truncate(info.nr_map_ids as usize);
    Ok(ids)
}

/// Makes sure `root` is a bpffs, mounting one there if not. True when pins there outlive
/// this process: the mount was there already, or this process runs in the init mount
/// namespace. (Under `ip netns exec` a fresh sysfs hides the host's bpffs, and a bpffs
/// mounted in that private mount namespace goes with the process.)
fn ensure_bpffs(root: &Path) -> Result<bool> {
    if is_bpffs(root) {
        return Ok(true);
    }
    std::fs::create_dir_all(root).map_err(|e| bpf_err(format!("{}: {e}", root.display())))?;
    nix::mount::mount(
        Some("bpf"),
        root,
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        Some("mode=0700"),
    )
    .map_err(|e| bpf_err(format!("mount bpffs on {}: {e}", root.display())))?;
    let shared = same_mount_namespace_as_init();
    if shared {
        tracing::info!(root = %root.display(), "mounted bpffs");
    } else {
        tracing::warn!(
            root = %root.display(),
            "mounted bpffs in a private mount namespace: the pins go with this process, so \
             a restart cannot adopt them (mount bpffs where nemonetd runs, or set bpf-directory)"
        );
    }
    Ok(shared)
}

fn is_bpffs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC)
}

fn same_mount_namespace_as_init() -> bool {
    match (
        std::fs::read_link("/proc/self/ns/mnt"),
        std::fs::read_link("/proc/1/ns/mnt"),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Removes the pins of data planes whose interface is gone (their network namespace was
/// deleted without a clean stop): their tcx link reports no interface any more. Pins
/// would otherwise hold the programs and maps until the next boot.
fn collect_orphans(shisa: &Path, own: &Path) {
    let Ok(entries) = std::fs::read_dir(shisa) else {
        return;
    };
    for dir in entries.flatten().map(|e| e.path()).filter(|d| d != own) {
        if !attach::link_is_defunct(&dir) {
            continue;
        }
        for name in MAPS.iter().chain([&ENCAP_PIN, &attach::LINK_PIN]) {
            let _ = std::fs::remove_file(dir.join(name));
        }
        if std::fs::remove_dir(&dir).is_ok() {
            tracing::info!(dir = %dir.display(), "removed the pins of a data plane whose interface is gone");
        }
    }
}

/// Removes what the bpf backend of an earlier run left in this namespace (its decapsulation
/// at ingress of `ifindex`, its pins under `root`), for another backend that starts here.
/// Mounts nothing: without a bpffs at `root` there are no pins to remove.
pub fn sweep(root: &Path, ifindex: u32) {
    libbpf_logging();
    let Ok(id) = netns_id() else { return };
    let dir = root.join("shisa").join(id);
    attach::sweep(&dir, ifindex);
    if is_bpffs(root) && dir.is_dir() {
        for name in MAPS.iter().chain([&ENCAP_PIN]) {
            let _ = std::fs::remove_file(dir.join(name));
        }
        if std::fs::remove_dir(&dir).is_ok() {
            tracing::info!(dir = %dir.display(), "removed the bpf backend's pins left by an earlier run");
        }
    }
}

/// The calling thread's network namespace (its nsfs inode), naming its pin directory.
fn netns_id() -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| bpf_err(format!("/proc/thread-self/ns/net: {e}")))?;
    Ok(format!("netns-{}", meta.ino()))
}

fn is_ethernet(ifname: &str) -> bool {
    // ARPHRD_ETHER; veth, bridges and NICs. L3 devices (tun, ppp, wireguard) have none.
    mhsock::link::link_layer(ifname).map_or(true, |l| l.is_ethernet())
}

/// Whether this kernel runs the bpf backend: the programs load (the verifier accepts them
/// and the program types exist) and a route can run the encapsulation program. Loads into
/// no bpffs and attaches nothing.
pub async fn works() -> std::result::Result<(), String> {
    libbpf_logging();
    let obj = {
        let open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(|e| format!("open the bpf object: {e}"))?;
        let _guard = LOAD.lock();
        let loaded = open.load();
        loaded.map_err(|e| format!("the kernel refused the bpf programs: {e}"))?
    };
    decapsulation_works(&obj)?;
    let prog = find_prog(&obj, ENCAP_PROG).map_err(|e| e.to_string())?;
    let id = libbpf_rs::Program::id_from_fd(prog.as_fd()).map_err(|e| e.to_string())?;
    let handle = ProgramHandle::from_prog_id(id).map_err(|e| e.to_string())?;
    let nl = Netlink::connect().map_err(|e| e.to_string())?;
    let lo = Netlink::ifindex("lo").map_err(|e| e.to_string())?;
    let mut result = Ok(());
    for (dst, metric) in [("100::/128", METRIC_V6), ("192.0.2.0/32", METRIC_V4)] {
        // 100::/64 (RFC 6666) and TEST-NET-1: harmless even if a probe route leaked.
        let spec = RouteSpec {
            table: crate::backend::PROBE_TABLE,
            dst: dst.parse().map_err(|e| format!("{e}"))?,
            src: None,
            metric,
            oif: lo,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::BpfEncap(BpfProg {
                fd: handle.as_fd().as_raw_fd(),
                tag: u64::from_be_bytes(handle.tag()),
            }),
        };
        if let Err(e) = nl.replace_route(&spec).await {
            result = Err(format!("the kernel refused an encap bpf route: {e}"));
        }
        let _ = nl.delete_route(route_message(&spec)).await;
    }
    result
}

/// Runs the decapsulation program once on an IPv4-in-IPv6 frame from a registered peer
/// (BPF_PROG_TEST_RUN, nothing attached): it must come out as the bare IPv4 packet. Kernels
/// before 6.3 have no `BPF_F_ADJ_ROOM_DECAP_L3_*` and drop it instead.
fn decapsulation_works(obj: &Object) -> std::result::Result<(), String> {
    let (peer, local) = (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 2),
    );
    let decap = obj
        .maps()
        .find(|m| m.name() == "decap")
        .ok_or("map decap missing from the object")?;
    decap
        .update(&route::tunnel_value(peer, local), &[1], MapFlags::ANY)
        .map_err(|e| format!("decap map: {e}"))?;
    let inner: [u8; 28] = [
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 8, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    frame.extend_from_slice(&[0x60, 0, 0, 0, 0, inner.len() as u8, 4, 64]);
    frame.extend_from_slice(&peer.octets());
    frame.extend_from_slice(&local.octets());
    frame.extend_from_slice(&inner);
    let mut out = [0u8; 128];
    let prog = obj
        .progs_mut()
        .find(|p| p.name() == "nemo_decap_eth")
        .ok_or("program nemo_decap_eth missing from the object")?;
    let input = libbpf_rs::ProgramInput {
        data_in: Some(&frame),
        data_out: Some(&mut out),
        ..Default::default()
    };
    let ran = prog
        .test_run(input)
        .map_err(|e| format!("test run of the decapsulation: {e}"))?;
    let data = ran.data.as_deref().unwrap_or_default();
    if ran.return_value != 0
        || data.get(12..14) != Some(&[0x08, 0x00])
        || data.get(14..) != Some(&inner[..])
    {
        return Err(format!(
            "the kernel cannot decapsulate IPv4-in-IPv6 at tc ingress (bpf_skb_adjust_room without \
             BPF_F_ADJ_ROOM_DECAP_L3_IPV4, Linux 6.3; verdict {})",
            ran.return_value
        ));
    }
    Ok(())
}

impl std::fmt::Debug for BpfPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfPlane").field("dir", &self.dir).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program the verifier refuses (bpf/reject.bpf.c reads the packet unchecked).
    const REJECTED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/reject.bpf.o"));

    #[test]
    fn a_rejected_program_fails_with_the_verifiers_log() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: loading BPF programs needs root");
            return;
        }
        let Err(err) = load_object(REJECTED, None, None) else {
            panic!("the verifier accepted it");
        };
        let msg = err.to_string();
        assert!(msg.contains("load the bpf programs"), "{msg}");
        // The verifier's own words about the unchecked access, and its instruction dump.
        assert!(msg.contains("invalid access to packet"), "{msg}");
        assert!(msg.contains("unchecked_read"), "{msg}");
    }

    #[test]
    fn the_hop_limit_is_in_the_programs_rodata_and_identity() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: loading BPF programs needs root");
            return;
        }
        let load_with = |hops| {
            // Unpinned maps: nothing of the test outlives it.
            let obj = load_object(OBJECT, None, Some(hops)).unwrap();
            let prog = find_prog(&obj, ENCAP_PROG).unwrap();
            let id = libbpf_rs::Program::id_from_fd(prog.as_fd()).unwrap();
            let h = ProgramHandle::from_prog_id(id).unwrap();
            (rodata(&h).unwrap(), identity(&h).unwrap(), h.tag())
        };
        let (data64, id64, tag64) = load_with(64);
        let (data42, id42, tag42) = load_with(42);
        assert_eq!(data64.get(HOP_LIMIT_OFFSET), Some(&64));
        assert_eq!(data42.get(HOP_LIMIT_OFFSET), Some(&42));
        assert_eq!(tag64, tag42, "the kernel's tag ignores the read-only data");
        assert_ne!(id64, id42, "routes must tell the two programs apart");
    }

    #[test]
    fn the_programs_of_the_backend_pass_the_verifier() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: loading BPF programs needs root");
            return;
        }
        let obj = ObjectBuilder::default()
            .open_memory(OBJECT)
            .unwrap()
            .load()
            .unwrap();
        let names: Vec<String> = obj
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["nemo_encap", "nemo_decap_eth", "nemo_decap_l3"]);
    }
}
