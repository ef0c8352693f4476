//! What a daemon needs to know of one of its interfaces, asked of the calling thread's
//! network namespace. Not of `/sys/class/net`: sysfs shows the namespace that mounted it,
//! which is not the daemon's under systemd's `NetworkNamespacePath=` or after a setns(2)
//! (`ip netns exec` remounts it; nothing else does).

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::io;
use std::os::fd::AsRawFd;

/// An interface's link layer: its `ARPHRD_*` type and, for Ethernet, its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLayer {
    pub hardware_type: u16,
    /// The first six bytes of the hardware address (the MAC when Ethernet).
    pub address: [u8; 6],
}

impl LinkLayer {
    pub fn is_ethernet(&self) -> bool {
        self.hardware_type == libc::ARPHRD_ETHER
    }

    /// The MAC, when the link is Ethernet.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.is_ethernet().then_some(self.address)
    }
}

/// `SIOCGIFHWADDR` of `ifname`.
pub fn link_layer(ifname: &str) -> io::Result<LinkLayer> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
        return Err(io::Error::other(format!("bad interface name {ifname:?}")));
    }
    let sock = socket(
        AddressFamily::Inet6,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ (checked
    // above), and the kernel writes only into the ifreq it is given.
    let hwaddr = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
            *dst = src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{ifname}: {e}")));
        }
        req.ifr_ifru.ifru_hwaddr
    };
    let mut address = [0u8; 6];
    for (dst, src) in address.iter_mut().zip(hwaddr.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(LinkLayer {
        hardware_type: hwaddr.sa_family,
        address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused() {
        assert!(link_layer("").is_err());
        assert!(link_layer("a-name-longer-than-ifnamsiz").is_err());
    }

    /// The link layer comes from the thread's own namespace, not from the host's sysfs.
    /// Needs root.
    #[test]
    fn link_layer_is_that_of_the_threads_namespace() {
        let ns = integration::Netns::new("mhlink").expect("namespace (root needed)");
        ns.ip(&[
            "link",
            "add",
            "v0",
            "address",
            "02:00:5e:a8:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "v1",
        ])
        .unwrap();
        ns.ip(&["tuntap", "add", "dev", "l3tun", "mode", "tun"])
            .unwrap();
        let path = format!("/run/netns/{}", ns.name());
        let (veth, tun, missing) = std::thread::spawn(move || {
            let f = std::fs::File::open(path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            (link_layer("v0"), link_layer("l3tun"), link_layer("nosuch0"))
        })
        .join()
        .unwrap();
        assert_eq!(veth.unwrap().mac(), Some([0x02, 0, 0x5e, 0xa8, 0, 1]));
        assert_eq!(tun.unwrap().mac(), None, "a TUN device has no link layer");
        assert!(missing.is_err());
    }
}
