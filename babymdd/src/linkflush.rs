//! Forgets what Router Advertisements taught an uplink the MR just left. Linux keeps an
//! RA-learned default route across a carrier loss; after an L2 move it still points at the
//! old link's router, whose neighbour entry may still look reachable, so the first packets
//! on the new link (the Binding Update) would go to a router that is not there. The new
//! link's Router Advertisement installs its own routes.

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol};
use rtnetlink::{Handle, RouteMessageBuilder};
use std::net::Ipv6Addr;

pub struct LinkFlush {
    handle: Handle,
}

impl LinkFlush {
    pub fn new() -> Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection().context("netlink socket")?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// Deletes the RA-learned IPv6 routes (protocol `ra`) through interface `ifindex`;
    /// returns how many.
    pub async fn forget_routers(&self, ifindex: u32) -> Result<usize> {
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .context("list IPv6 routes")?;
        let mut removed = 0;
        for r in routes {
            let through = r
                .attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == ifindex));
            if r.header.protocol == RouteProtocol::Ra && through {
                self.handle
                    .route()
                    .del(r)
                    .execute()
                    .await
                    .context("delete RA route")?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
