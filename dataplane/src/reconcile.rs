//! Desired state against kernel state: what to keep, replace, add and delete.
//!
//! Order matters for a make-before-break change: routes are replaced (atomically per key)
//! and added first, rules added next, and only then is anything stale deleted.

use crate::desired::{RouteKey, RouteSpec, RuleSpec, LOCAL_TABLE};
use crate::error::Result;
use crate::netlink::{describe_route, parse_rule, Netlink};
use crate::ROUTE_PROTOCOL;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use std::collections::HashSet;

/// `RTPROT_KERNEL`: the protocol of the kernel's own `pref 0 lookup local` rule.
const RTPROT_KERNEL: u8 = 2;

/// What one reconciliation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub routes_kept: usize,
    pub routes_replaced: usize,
    pub routes_deleted: usize,
    pub rules_added: usize,
    pub rules_deleted: usize,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        self.routes_replaced + self.routes_deleted + self.rules_added + self.rules_deleted > 0
    }
}

/// Route changes, computed without I/O.
#[derive(Debug, Default)]
pub struct RoutePlan {
    pub kept: usize,
    pub replace: Vec<RouteSpec>,
    pub delete: Vec<RouteMessage>,
}

pub fn plan_routes(
    installed: Vec<(RouteMessage, Option<RouteSpec>)>,
    desired: &[RouteSpec],
) -> RoutePlan {
    let present: HashSet<&RouteSpec> = installed.iter().filter_map(|(_, s)| s.as_ref()).collect();
    let wanted_keys: HashSet<RouteKey> = desired.iter().map(RouteSpec::key).collect();
    let mut plan = RoutePlan::default();
    for spec in desired {
        if present.contains(spec) {
            plan.kept += 1;
        } else {
            plan.replace.push(spec.clone());
        }
    }
    // A route whose key is still wanted is overwritten by the replace, never deleted:
    // deleting it afterwards would remove the replacement.
    plan.delete = installed
        .into_iter()
        .filter(|(_, spec)| {
            !spec
                .as_ref()
                .is_some_and(|s| wanted_keys.contains(&s.key()))
        })
        .map(|(msg, _)| msg)
        .collect();
    plan
}

fn is_plain_local(spec: &RuleSpec) -> bool {
    spec.table == LOCAL_TABLE && spec.ipproto.is_none() && spec.dst.is_none()
}

/// Makes the kernel's routes and IPv6 rules with our protocol exactly `routes`/`rules`.
pub async fn apply(nl: &Netlink, routes: &[RouteSpec], rules: &[RuleSpec]) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    let plan = plan_routes(nl.our_routes().await?, routes);
    report.routes_kept = plan.kept;
    for spec in &plan.replace {
        nl.replace_route(spec).await?;
        tracing::debug!(route = %describe_route(spec), "installed");
        report.routes_replaced += 1;
    }

    let installed = nl.rules6().await?;
    let parsed: Vec<(RuleMessage, Option<(RuleSpec, u8)>)> = installed
        .into_iter()
        .map(|m| {
            let p = parse_rule(&m);
            (m, p)
        })
        .collect();
    let ours: Vec<(&RuleMessage, RuleSpec)> = parsed
        .iter()
        .filter_map(|(m, p)| match p {
            Some((spec, proto)) if *proto == ROUTE_PROTOCOL => Some((m, *spec)),
            _ => None,
        })
        .collect();
    let ours_specs: HashSet<RuleSpec> = ours.iter().map(|(_, s)| *s).collect();
    for spec in rules.iter().filter(|s| !ours_specs.contains(s)) {
        nl.add_rule(spec, ROUTE_PROTOCOL).await?;
        tracing::debug!(rule = ?spec, "added");
        report.rules_added += 1;
    }
    let want_moved_local = rules.iter().any(|s| is_plain_local(s) && s.pref > 0);
    if want_moved_local {
        // Our `lookup local` is in place: the kernel's pref 0 one must go, or it would
        // deliver encapsulated packets before the decapsulation rules see them.
        for (msg, p) in &parsed {
            if let Some((spec, proto)) = p {
                if *proto != ROUTE_PROTOCOL
                    && is_plain_local(spec)
                    && spec.pref < crate::DECAP_RULE_PREF
                {
                    nl.delete_rule((*msg).clone()).await?;
                    tracing::info!(
                        pref = spec.pref,
                        "moved the IPv6 `lookup local` rule to pref {}",
                        crate::LOCAL_RULE_PREF
                    );
                }
            }
        }
    }
    let wanted: HashSet<&RuleSpec> = rules.iter().collect();
    for (msg, spec) in &ours {
        if wanted.contains(spec) {
            continue;
        }
        if is_plain_local(spec) {
            restore_kernel_local_rule(nl, &parsed).await?;
        }
        nl.delete_rule((*msg).clone()).await?;
        report.rules_deleted += 1;
    }

    for msg in plan.delete {
        nl.delete_route(msg).await?;
        report.routes_deleted += 1;
    }
    Ok(report)
}

/// Puts back `pref 0 lookup local` (as the kernel had it) unless a non-ours `lookup
/// local` rule still exists.
async fn restore_kernel_local_rule(
    nl: &Netlink,
    rules: &[(RuleMessage, Option<(RuleSpec, u8)>)],
) -> Result<()> {
    let foreign_local = rules.iter().any(
        |(_, p)| matches!(p, Some((s, proto)) if *proto != ROUTE_PROTOCOL && is_plain_local(s)),
    );
    if !foreign_local {
        let spec = RuleSpec {
            pref: 0,
            ..RuleSpec::moved_local()
        };
        nl.add_rule(&spec, RTPROT_KERNEL).await?;
        tracing::info!("restored the IPv6 `lookup local` rule at pref 0");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{RouteAction, MAIN_TABLE};
    use crate::netlink::route_message;

    fn spec(dst: &str, peer: &str) -> RouteSpec {
        RouteSpec {
            table: MAIN_TABLE,
            dst: dst.parse().unwrap(),
            src: None,
            metric: 0,
            oif: 2,
            prefsrc: None,
            mtu: Some(1460),
            mtu_lock: false,
            action: RouteAction::Seg6Encap {
                peer: peer.parse().unwrap(),
            },
        }
    }

    fn installed(specs: &[RouteSpec]) -> Vec<(RouteMessage, Option<RouteSpec>)> {
        specs
            .iter()
            .map(|s| (route_message(s), Some(s.clone())))
            .collect()
    }

    #[test]
    fn identical_routes_are_kept_changed_replaced_stale_deleted() {
        let a = spec("10.0.0.0/24", "2001:db8::1");
        let b_old = spec("10.0.1.0/24", "2001:db8::1");
        let b_new = spec("10.0.1.0/24", "2001:db8::2");
        let stale = spec("10.0.2.0/24", "2001:db8::1");
        let plan = plan_routes(installed(&[a.clone(), b_old, stale]), &[a, b_new.clone()]);
        assert_eq!(plan.kept, 1);
        assert_eq!(plan.replace, vec![b_new]);
        assert_eq!(plan.delete.len(), 1, "only the stale key is deleted");
    }

    #[test]
    fn unparsable_routes_of_ours_are_stale() {
        let msg = route_message(&spec("10.0.0.0/24", "2001:db8::1"));
        let plan = plan_routes(vec![(msg, None)], &[]);
        assert_eq!(plan.delete.len(), 1);
    }
}
