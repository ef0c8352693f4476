//! Where the home address lives (DESIGN.md section 2). At home it is an ordinary address on
//! the home uplink, with the home prefix on-link. Away, the home prefix must not look
//! on-link on any uplink (the home agent would look like a neighbour and be unreachable), so
//! the address moves to `lo` as a /128: still the router's own, never on-link anywhere.

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use ipnet::Ipv6Net;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;
use rtnetlink::RouteMessageBuilder;
use std::net::{IpAddr, Ipv6Addr};

/// RT_TABLE_MAIN.
const MAIN_TABLE: u8 = 254;

/// Where the home address was put last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Home(u32),
    Away,
}

pub struct HomeAddress {
    placed: Option<Placement>,
    handle: Handle,
    hoa: Ipv6Addr,
    prefix_len: u8,
    home_prefix: Ipv6Net,
    lo: u32,
}

impl HomeAddress {
    pub fn new(hoa: Ipv6Addr, prefix_len: u8) -> Result<Self> {
        let home_prefix = Ipv6Net::new(hoa, prefix_len)
            .context("home prefix length")?
            .trunc();
        let (connection, handle, _) = rtnetlink::new_connection().context("netlink socket")?;
        tokio::spawn(connection);
        let lo = nix::net::if_::if_nametoindex("lo").context("loopback interface")?;
        Ok(Self {
            placed: None,
            handle,
            hoa,
            prefix_len,
            home_prefix,
            lo,
        })
    }

    /// The home link's interface, while the home address is there.
    pub fn home_ifindex(&self) -> Option<u32> {
        match self.placed {
            Some(Placement::Home(i)) => Some(i),
            _ => None,
        }
    }

    /// Back on the home link (interface `ifindex`).
    pub async fn at_home(&mut self, ifindex: u32) -> Result<()> {
        self.remove_except(Some(ifindex)).await?;
        self.add(ifindex, self.prefix_len).await?;
        self.placed = Some(Placement::Home(ifindex));
        Ok(())
    }

    /// On a foreign link. Also forgets what the home link taught the uplinks (SLAAC addresses
    /// in the home prefix, the on-link home prefix route from its Router Advertisements):
    /// Linux keeps both across a carrier loss, and either would make the home agent look
    /// like a neighbour on the foreign link.
    pub async fn away(&mut self) -> Result<()> {
        // Foreign to foreign: nothing to move, and no netlink round trips before the BU.
        if self.placed == Some(Placement::Away) {
            return Ok(());
        }
        self.remove_except(Some(self.lo)).await?;
        self.forget_home_link().await?;
        self.add(self.lo, 128).await?;
        self.placed = Some(Placement::Away);
        Ok(())
    }

    async fn forget_home_link(&self) -> Result<()> {
        let addrs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .context("list addresses")?;
        for msg in addrs {
            let in_home = msg.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Address(IpAddr::V6(ip)) if self.home_prefix.contains(ip))
            });
            if in_home && msg.header.index != self.lo {
                tracing::info!(
                    "removing home-link address from interface {}",
                    msg.header.index
                );
                self.handle
                    .address()
                    .del(msg)
                    .execute()
                    .await
                    .context("remove home-link address")?;
            }
        }
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .context("list IPv6 routes")?;
        for r in routes {
            let to_home = r.header.table == MAIN_TABLE
                && r.header.destination_prefix_length == self.home_prefix.prefix_len()
                && r.attributes.iter().any(|a| {
                    matches!(a, RouteAttribute::Destination(RouteAddress::Inet6(d)) if *d == self.home_prefix.network())
                });
            if to_home {
                tracing::info!(
                    "removing the on-link route to the home prefix {}",
                    self.home_prefix
                );
                self.handle
                    .route()
                    .del(r)
                    .execute()
                    .await
                    .context("remove home prefix route")?;
            }
        }
        Ok(())
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
        // Already there (a restarted mrd): left alone. Replacing it would make the kernel
        // drop every local route to it, also the one the seg6 data plane keeps in the main
        // table for its decapsulation.
        let present: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .set_address_filter(IpAddr::V6(self.hoa))
            .execute()
            .try_collect()
            .await
            .context("list addresses")?;
        if present
            .iter()
            .any(|m| m.header.index == ifindex && m.header.prefix_len == prefix_len)
        {
            return Ok(());
        }
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
