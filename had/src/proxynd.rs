//! Proxy Neighbor Discovery for the home addresses of mobile routers that are away
//! (RFC 6275 10.4.1): the HA answers Neighbor Solicitations for them on the home link, so
//! packets for a home address reach the HA, which tunnels them to the care-of address.

use anyhow::{Context, Result};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;
use std::net::{IpAddr, Ipv6Addr};

pub struct ProxyNd {
    handle: Handle,
    ifindex: u32,
    ifname: String,
}

impl ProxyNd {
    /// Opens a netlink connection and enables `proxy_ndp` on the home interface.
    pub fn new(ifname: &str) -> Result<Self> {
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .with_context(|| format!("home interface {ifname}"))?;
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{ifname}/proxy_ndp"), "1")
            .with_context(|| format!("enable proxy_ndp on {ifname}"))?;
        let (connection, handle, _) = rtnetlink::new_connection().context("netlink socket")?;
        tokio::spawn(connection);
        Ok(Self {
            handle,
            ifindex,
            ifname: ifname.to_string(),
        })
    }

    pub async fn add(&self, hoa: Ipv6Addr) -> Result<()> {
        self.handle
            .neighbours()
            .add(self.ifindex, IpAddr::V6(hoa))
            .flags(NeighbourFlags::Proxy)
            .replace()
            .execute()
            .await
            .with_context(|| format!("proxy-ND entry for {hoa} on {}", self.ifname))
    }

    pub async fn remove(&self, hoa: Ipv6Addr) -> Result<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.ifindex = self.ifindex;
        msg.header.flags = NeighbourFlags::Proxy;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                hoa,
            )));
        match self.handle.neighbours().del(msg).execute().await {
            Ok(()) => Ok(()),
            // Already gone (e.g. removed by hand): what we wanted.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enoent() => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove proxy-ND entry for {hoa}")),
        }
    }
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}
