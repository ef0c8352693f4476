//! The decapsulation program at ingress of the uplink: a tcx link (Linux 6.6+), pinned so
//! that it outlives nemonetd, or a clsact filter where the kernel has no tcx or the pins
//! would not outlive the process (a clsact filter stays with the interface by itself).

use super::bpf_err;
use crate::error::Result;
use libbpf_rs::{Link, Program, TcHook, TcHookBuilder, TC_INGRESS};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const LINK_PIN: &str = "decap_link";
/// Handle and priority of our clsact filter: fixed, so a restart replaces it in place.
const TC_HANDLE: u32 = 0xa8;
const TC_PRIORITY: u32 = 0xa8;

pub enum DecapAttachment {
    Tcx {
        pin: PathBuf,
    },
    /// The filter on this interface (a `TcHook` is not `Send`: made again to detach).
    Clsact {
        ifindex: u32,
    },
}

impl DecapAttachment {
    pub fn kind(&self) -> &'static str {
        match self {
            DecapAttachment::Tcx { .. } => "tcx",
            DecapAttachment::Clsact { .. } => "clsact",
        }
    }

    /// Attaches `prog` at ingress of `ifindex`, replacing (atomically) what an earlier run
    /// left there.
    pub fn attach(prog: &Program<'_>, ifindex: u32, dir: &Path, persistent: bool) -> Result<Self> {
        let pin = dir.join(LINK_PIN);
        if persistent {
            match attach_tcx(prog, ifindex, &pin) {
                Ok(()) => {
                    // One attachment at a time: a clsact filter of an earlier run on a
                    // kernel or setup without tcx would decapsulate first.
                    let _ = clsact_hook(prog, ifindex).detach();
                    return Ok(DecapAttachment::Tcx { pin });
                }
                Err(e) => tracing::info!(error = %e, "no tcx attachment; using a clsact filter"),
            }
        }
        // A tcx link of an earlier run would stay in front of the filter.
        if let Ok(link) = Link::open(&pin) {
            let _ = link.detach();
            let _ = std::fs::remove_file(&pin);
        }
        let mut hook = clsact_hook(prog, ifindex);
        // EEXIST: the clsact qdisc is there already (ours from an earlier run, or another).
        let _ = hook.create();
        hook.attach()
            .map_err(|e| bpf_err(format!("tc ingress filter on interface {ifindex}: {e}")))?;
        Ok(DecapAttachment::Clsact { ifindex })
    }

    /// Detaches; `prog` is any program of ours (a filter is identified by its place).
    pub fn detach(self, prog: &Program<'_>) -> Result<()> {
        match self {
            DecapAttachment::Tcx { pin } => {
                if let Ok(link) = Link::open(&pin) {
                    link.detach()
                        .map_err(|e| bpf_err(format!("detach the tcx link: {e}")))?;
                }
                match std::fs::remove_file(&pin) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(bpf_err(format!("unpin {}: {e}", pin.display())))
                    }
                    _ => Ok(()),
                }
            }
            DecapAttachment::Clsact { ifindex } => clsact_hook(prog, ifindex)
                .detach()
                .map_err(|e| bpf_err(format!("remove the tc ingress filter: {e}"))),
        }
    }
}

fn clsact_hook(prog: &Program<'_>, ifindex: u32) -> TcHook {
    clsact_hook_with(prog.as_fd(), ifindex)
}

/// A hook at our filter's place; `fd` matters only to attach.
fn clsact_hook_with(fd: std::os::fd::BorrowedFd<'_>, ifindex: u32) -> TcHook {
    let mut builder = TcHookBuilder::new(fd);
    builder
        .ifindex(ifindex as i32)
        .replace(true)
        .handle(TC_HANDLE)
        .priority(TC_PRIORITY);
    builder.hook(TC_INGRESS)
}

/// The pinned link of an earlier run moves to `prog` when it is on the same interface;
/// otherwise (none, or the uplink changed) a new link is made and pinned.
fn attach_tcx(prog: &Program<'_>, ifindex: u32, pin: &Path) -> Result<()> {
    if let Ok(mut link) = Link::open(pin) {
        let same_interface = matches!(
            link.info().map(|i| i.info),
            Ok(libbpf_rs::query::LinkTypeInfo::Tcx(t)) if t.ifindex == ifindex
        );
        if same_interface {
            return link
                .update_prog(prog)
                .map_err(|e| bpf_err(format!("move the tcx link to the new program: {e}")));
        }
        let _ = link.detach();
        let _ = std::fs::remove_file(pin);
    }
    // SAFETY: plain syscall wrappers; the fd they return is owned from here on.
    let fd = unsafe {
        libbpf_rs::libbpf_sys::bpf_link_create(
            prog.as_fd().as_raw_fd(),
            ifindex as i32,
            libbpf_rs::libbpf_sys::BPF_TCX_INGRESS,
            std::ptr::null(),
        )
    };
    if fd < 0 {
        return Err(bpf_err(format!(
            "tcx link: {}",
            std::io::Error::from_raw_os_error(-fd)
        )));
    }
    // SAFETY: `fd` was just returned by the kernel and is not owned elsewhere.
    let link = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = CString::new(pin.as_os_str().as_bytes())
        .map_err(|_| bpf_err(format!("pin path {}", pin.display())))?;
    // SAFETY: `link` is a valid fd, `path` a NUL-terminated string.
    let ret = unsafe { libbpf_rs::libbpf_sys::bpf_obj_pin(link.as_raw_fd(), path.as_ptr()) };
    if ret < 0 {
        return Err(bpf_err(format!(
            "pin the tcx link at {}: {}",
            pin.display(),
            std::io::Error::from_raw_os_error(-ret)
        )));
    }
    Ok(())
}

/// Removes a decapsulation an earlier run on the bpf backend left at ingress of `ifindex`
/// (its pinned tcx link in `dir`, or our clsact filter): another backend owns the
/// namespace now, and the program would take the tunnel packets before it.
pub fn sweep(dir: &Path, ifindex: u32) {
    let pin = dir.join(LINK_PIN);
    if let Ok(link) = Link::open(&pin) {
        let _ = link.detach();
        tracing::info!("removed the bpf backend's tcx link left by an earlier run");
    }
    let _ = std::fs::remove_file(&pin);
    if let Ok(null) = std::fs::File::open("/dev/null") {
        if clsact_hook_with(null.as_fd(), ifindex).detach().is_ok() {
            tracing::info!("removed the bpf backend's tc filter left by an earlier run");
        }
    }
}

/// Whether the tcx link pinned in `dir` lost its interface (deleted with its namespace).
pub fn link_is_defunct(dir: &Path) -> bool {
    Link::open(dir.join(LINK_PIN)).is_ok_and(|link| {
        matches!(
            link.info().map(|i| i.info),
            Ok(libbpf_rs::query::LinkTypeInfo::Tcx(t)) if t.ifindex == 0
        )
    })
}

/// The names of the programs at ingress of `ifindex` that this backend attaches: tcx
/// programs, and the program of our clsact filter.
pub fn ingress_programs(ifindex: u32) -> Vec<String> {
    let mut ids = [0u32; 16];
    let mut opts = libbpf_rs::libbpf_sys::bpf_prog_query_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_prog_query_opts>() as _,
        prog_ids: ids.as_mut_ptr(),
        ..Default::default()
    };
    opts.__bindgen_anon_1.count = ids.len() as u32;
    // SAFETY: `opts` is a valid bpf_prog_query_opts whose prog_ids points to `count` u32s.
    let ret = unsafe {
        libbpf_rs::libbpf_sys::bpf_prog_query_opts(
            ifindex as i32,
            libbpf_rs::libbpf_sys::BPF_TCX_INGRESS,
            &mut opts,
        )
    };
    // SAFETY: the kernel wrote the count of ids it returned (<= the buffer's).
    let count = if ret == 0 {
        unsafe { opts.__bindgen_anon_1.count }.min(ids.len() as u32) as usize
    } else {
        0
    };
    let mut progs: Vec<u32> = ids[..count].to_vec();
    if let Ok(null) = std::fs::File::open("/dev/null") {
        if let Ok(id) = clsact_hook_with(null.as_fd(), ifindex).query() {
            progs.push(id);
        }
    }
    progs
        .into_iter()
        .filter_map(|id| libbpf_rs::ProgramHandle::from_prog_id(id).ok())
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect()
}
