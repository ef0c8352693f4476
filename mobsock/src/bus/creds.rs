//! Receiving with kernel-verified sender credentials (SCM_CREDENTIALS), and who may write.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, UnixCredentials,
};
use nix::unistd::{getgrouplist, Gid, Uid, User};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// Asks the kernel to attach the sender's pid/uid/gid to every datagram we receive.
pub fn enable_passcred(sock: &UnixDatagram) -> io::Result<()> {
    setsockopt(sock, sockopt::PassCred, &true).map_err(io::Error::from)
}

/// One received datagram.
pub struct Received {
    pub len: usize,
    pub truncated: bool,
    pub creds: Option<UnixCredentials>,
}

/// Receives one datagram into `buf` together with the sender's credentials.
pub async fn recv_with_creds(sock: &UnixDatagram, buf: &mut [u8]) -> io::Result<Received> {
    sock.async_io(Interest::READABLE, || {
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let mut creds = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmCredentials(uc) = c {
                creds = Some(uc);
            }
        }
        Ok(Received {
            len: msg.bytes,
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
            creds,
        })
    })
    .await
}

/// Who may write on the bus: root, our own user, and members of the bus group.
#[derive(Debug)]
pub struct AccessPolicy {
    own_uid: u32,
    group: Option<Gid>,
    group_members: HashMap<u32, bool>,
}

impl AccessPolicy {
    pub fn new(own_uid: Uid, group: Option<Gid>) -> Self {
        AccessPolicy {
            own_uid: own_uid.as_raw(),
            group,
            group_members: HashMap::new(),
        }
    }

    pub fn allows(&mut self, uid: u32, gid: u32) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some(group) = self.group else {
            return false;
        };
        if gid == group.as_raw() {
            return true;
        }
        *self
            .group_members
            .entry(uid)
            .or_insert_with(|| user_in_group(uid, group))
    }
}

/// Whether `uid` has `group` among its supplementary groups (per the user database).
fn user_in_group(uid: u32, group: Gid) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    let Ok(name) = CString::new(user.name) else {
        return false;
    };
    getgrouplist(&name, user.gid)
        .map(|groups| groups.contains(&group))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_self_allowed_others_not() {
        let mut p = AccessPolicy::new(Uid::from_raw(1000), None);
        assert!(p.allows(0, 0));
        assert!(p.allows(1000, 1000));
        assert!(!p.allows(1001, 1001));
        let mut g = AccessPolicy::new(Uid::from_raw(0), Some(Gid::from_raw(4242)));
        assert!(g.allows(1001, 4242));
        assert!(!g.allows(1001, 1001));
    }
}
