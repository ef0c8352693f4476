//! Where the home address lives (DESIGN.md section 2). At home it is an ordinary address on
//! the home uplink, with the home prefix on-link. Away, the home prefix must not look
//! on-link on any uplink (the home agent would look like a neighbour and be unreachable), so
//! the address moves to `lo` as a /128: still the router's own, never on-link anywhere.

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;
use std::net::{IpAddr, Ipv6Addr};

pub struct HomeAddress {
    handle: Handle,
    hoa: Ipv6Addr,
    prefix_len: u8,
    lo: u32,
}

impl HomeAddress {
    pub fn new(hoa: Ipv6Addr, prefix_len: u8) -> Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection().context("netlink socket")?;
        tokio::spawn(connection);
        let lo = nix::net::if_::if_nametoindex("lo").context("loopback interface")?;
        Ok(Self {
            handle,
            hoa,
            prefix_len,
            lo,
        })
    }

    /// Back on the home link (interface `ifindex`).
    pub async fn at_home(&self, ifindex: u32) -> Result<()> {
        self.remove_except(Some(ifindex)).await?;
        self.add(ifindex, self.prefix_len).await
    }

    /// On a foreign link.
    pub async fn away(&self) -> Result<()> {
        self.remove_except(Some(self.lo)).await?;
        self.add(self.lo, 128).await
    }

    /// Withdraws the home address from every interface but `keep`.
    async fn remove_except(&self, keep: Option<u32>) -> Result<()> {
        let found: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_address_filter(IpAddr::V6(self.hoa))
            .execute()
            .try_collect()
            .await
            .context("list addresses")?;
        for msg in found {
            if Some(msg.header.index) != keep {
                self.handle
                    .address()
                    .del(msg)
                    .execute()
                    .await
                    .with_context(|| format!("remove home address {}", self.hoa))?;
            }
        }
        Ok(())
    }

    async fn add(&self, ifindex: u32, prefix_len: u8) -> Result<()> {
        let mut req = self
            .handle
            .address()
            .add(ifindex, IpAddr::V6(self.hoa), prefix_len)
            .replace();
        let msg = req.message_mut();
        msg.header.family = AddressFamily::Inet6;
        // No DAD: the home agent may still be defending the address for us (proxy-ND), and
        // the home address is ours by configuration. HOMEADDRESS makes source selection
        // prefer it (RFC 6724 rule 4).
        msg.attributes.push(AddressAttribute::Flags(
            AddressFlags::Nodad | AddressFlags::Homeaddress,
        ));
        req.execute()
            .await
            .with_context(|| format!("add home address {}/{prefix_len}", self.hoa))
    }
}
