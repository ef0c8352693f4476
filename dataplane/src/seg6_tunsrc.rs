//! The namespace's seg6 tunnel source (`ip sr tunsrc`), over generic netlink (family
//! "SEG6"). The kernel this runs on ignores a per-route `tunsrc`, and without one the
//! outer source comes from source address selection, which can pick another address of
//! the uplink (a temporary address, an old CoA) that the peer does not accept.

use crate::error::{Error, Result};
use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const SEG6_CMD_SET_TUNSRC: u8 = 3;
const SEG6_CMD_GET_TUNSRC: u8 = 4;
const SEG6_ATTR_DST: u16 = 1;
const NLMSG_HDR: usize = 16;
const GENL_HDR: usize = 4;

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Genetlink(format!("{what}: {e}"))
}

/// A blocking generic netlink socket (in the caller's network namespace).
struct Genl {
    fd: OwnedFd,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Genl {
    fn open() -> Result<Self> {
        // SAFETY: socket(2); owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(err("socket", io::Error::last_os_error()));
        }
        // SAFETY: fd is fresh.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
        })
    }

    /// Sends one request and returns the payloads (after the genl header) of the replies
    /// up to the ACK or the single answer.
    fn request(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        attrs: &[(u16, &[u8])],
    ) -> Result<Vec<u8>> {
        self.seq += 1;
        let mut body = vec![cmd, 1, 0, 0];
        for (kind, value) in attrs {
            let len = 4 + value.len();
            body.extend_from_slice(&(len as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(align4(body.len()), 0);
        }
        let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
        msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&family.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        // SAFETY: sockaddr_nl zeroed is the kernel as destination.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: buffers valid for the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(err("send", io::Error::last_os_error()));
        }
        let mut buf = vec![0u8; 8192];
        // SAFETY: reading into a buffer of the stated length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(err("recv", io::Error::last_os_error()));
        }
        let reply = buf.get(..n as usize).ok_or_else(|| err("recv", "short"))?;
        let kind = reply
            .get(4..6)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .ok_or_else(|| err("reply", "short"))?;
        if kind == NLMSG_ERROR {
            let code = reply
                .get(NLMSG_HDR..NLMSG_HDR + 4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| err("reply", "short error"))?;
            if code != 0 {
                return Err(err("kernel", io::Error::from_raw_os_error(-code)));
            }
            return Ok(Vec::new());
        }
        Ok(reply
            .get(NLMSG_HDR + GENL_HDR..)
            .unwrap_or_default()
            .to_vec())
    }
}

/// The value of attribute `kind` in a genl attribute list.
fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let k = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if k == kind {
            return Some(&attrs[4..len]);
        }
        attrs = attrs.get(align4(len)..)?;
    }
    None
}

fn seg6_family(g: &mut Genl) -> Result<u16> {
    let reply = g.request(
        GENL_ID_CTRL,
        0,
        CTRL_CMD_GETFAMILY,
        &[(CTRL_ATTR_FAMILY_NAME, b"SEG6\0")],
    )?;
    attribute(&reply, CTRL_ATTR_FAMILY_ID)
        .and_then(|v| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
        .ok_or_else(|| err("SEG6 family", "not found"))
}

pub fn get() -> Result<Ipv6Addr> {
    let mut g = Genl::open()?;
    let family = seg6_family(&mut g)?;
    let reply = g.request(family, 0, SEG6_CMD_GET_TUNSRC, &[])?;
    let octets: [u8; 16] = attribute(&reply, SEG6_ATTR_DST)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| err("tunsrc", "no address in reply"))?;
    Ok(Ipv6Addr::from(octets))
}

/// Sets the tunnel source (`::` = chosen per packet by source address selection).
pub fn set(addr: Ipv6Addr) -> Result<()> {
    let mut g = Genl::open()?;
    let family = seg6_family(&mut g)?;
    g.request(
        family,
        NLM_F_ACK,
        SEG6_CMD_SET_TUNSRC,
        &[(SEG6_ATTR_DST, &addr.octets())],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found_and_garbage_is_not() {
        let mut attrs = vec![6, 0, 2, 0, b'a', b'b', 0, 0];
        attrs.extend_from_slice(&[6, 0, 1, 0, 0x17, 0]);
        assert_eq!(attribute(&attrs, 1), Some(&[0x17, 0][..]));
        assert_eq!(attribute(&attrs, 2), Some(&b"ab"[..]));
        assert_eq!(attribute(&attrs, 3), None);
        assert_eq!(attribute(&[200, 0, 1, 0], 1), None);
        assert_eq!(attribute(&[1, 0, 1, 0], 1), None);
    }
}
