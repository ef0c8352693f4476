//! Tests per data-plane backend on any kernel: which backends this kernel runs, and a
//! runner that skips a backend the kernel lacks with one visible line instead of passing
//! silently.
//!
//! Every scenario has one `#[test]` per backend ([`backend_tests!`]). A backend this kernel
//! cannot run prints `skipped: kernel lacks <requirement>: <test>` on stderr; one that runs
//! prints nothing extra. Both append their line (`ran: <backend>: <test>` for the ones that
//! run) to the file named by `SHISA_BACKEND_REPORT` when it is set, which `scripts/test-all`
//! sums up per backend. Test names carry their backend (`seg6_...`, `bpf_...`, `tun_...`),
//! which is how the summary tells whose skip a line is.

use crate::Netns;
use anyhow::{Context, Result};
pub use dataplane::Backend;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// The environment variable naming the report file.
pub const REPORT_ENV: &str = "SHISA_BACKEND_REPORT";

/// The name of the bpf backend's encapsulation program, as `ip route` shows it
/// (`encap bpf xmit nemo_encap headroom 40`).
pub const BPF_ENCAP_PROG: &str = "nemo_encap";

static PROBED: Mutex<Option<HashMap<Backend, Option<String>>>> = Mutex::new(None);

/// `None` when this kernel runs `backend`, else why not (naming the kernel option it needs).
/// Probed once per process, in a scratch namespace, so the probe's routes and programs never
/// touch the caller's.
pub fn unavailable(backend: Backend) -> Result<Option<String>> {
    let mut cache = PROBED.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(why) = cache.get(&backend) {
        return Ok(why.clone());
    }
    let ns = Netns::new("bkp")?;
    let why = std::thread::scope(|s| {
        s.spawn(|| -> Result<Option<String>> {
            ns.enter_current_thread()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(backend.unavailable_because()))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the {backend} probe panicked"))?
    })
    .with_context(|| format!("probe the {backend} backend"))?;
    cache.insert(backend, why.clone());
    Ok(why)
}

/// Whether this kernel runs `backend` (a failed probe counts as no).
pub fn available(backend: Backend) -> bool {
    matches!(unavailable(backend), Ok(None))
}

/// The backend `data-plane auto` picks here: the first of [`Backend::ALL`] that runs.
pub fn auto() -> Option<Backend> {
    Backend::ALL.into_iter().find(|&b| available(b))
}

/// Forwarding in the kernel (no userspace relay): routes survive a daemon restart and
/// traffic does not pause.
pub fn in_kernel(backend: Backend) -> bool {
    matches!(backend, Backend::Seg6 | Backend::Ip6tnl | Backend::Bpf)
}

/// The kernel backends this kernel runs, in [`Backend::ALL`] order.
pub fn kernel_backends() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|&b| in_kernel(b) && available(b))
        .collect()
}

/// What a tunnel route shows in `ip route` on `backend` (`encap seg6`, `encap bpf xmit
/// nemo_encap`, `dev nemoN` of an ip6tnl device, `dev nemo0`), as opposed to a native
/// route.
pub fn tunnel_marker(backend: Backend) -> &'static str {
    match backend {
        Backend::Seg6 => "encap seg6",
        Backend::Bpf => "encap bpf xmit nemo_encap",
        Backend::Ip6tnl => "dev nemo",
        Backend::Tun => "dev nemo0",
    }
}

/// Whether an `ip route` line goes into the tunnel of any backend.
pub fn is_tunnel_route(line: &str) -> bool {
    Backend::ALL
        .into_iter()
        .any(|b| line.contains(tunnel_marker(b)))
}

/// Prints `line` on stderr past the test harness's capture (so a skip shows in `cargo
/// test` output) and appends it to the report file.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
    append_to_report(line);
}

/// Appends `line` to the file named by `SHISA_BACKEND_REPORT`, if set.
pub fn append_to_report(line: &str) {
    if let Some(path) = std::env::var_os(REPORT_ENV) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = appended {
            let _ = writeln!(
                std::io::stderr(),
                "cannot append to {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// The skip line for `backend` in `test`.
pub fn skip_line(backend: Backend, test: &str) -> String {
    format!("skipped: kernel lacks {}: {test}", backend.requirement())
}

/// Runs `scenario` on `backend` as the test `test`, or reports the skip when this kernel
/// lacks the backend (and returns Ok).
pub fn run_on(
    backend: Backend,
    test: &str,
    scenario: impl FnOnce(Backend) -> Result<()>,
) -> Result<()> {
    if unavailable(backend)?.is_some() {
        report(&skip_line(backend, test));
        return Ok(());
    }
    append_to_report(&format!("ran: {backend}: {test}"));
    scenario(backend)
}

/// One `#[test]` per backend for a scenario `fn(Backend) -> anyhow::Result<()>`, each
/// skipped with a report line when the kernel lacks its backend:
///
/// ```ignore
/// backend_tests! {
///     registered_traffic: seg6_routes_pings, ip6tnl_routes_pings, bpf_routes_pings, tun_routes_pings;
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:path : $seg6:ident, $ip6tnl:ident, $bpf:ident, $tun:ident;)*) => {
        $(
            $crate::backend_test!($scenario, $seg6, Seg6);
            $crate::backend_test!($scenario, $ip6tnl, Ip6tnl);
            $crate::backend_test!($scenario, $bpf, Bpf);
            $crate::backend_test!($scenario, $tun, Tun);
        )*
    };
}

/// One test of [`backend_tests!`]: `scenario` on the backend `variant` as the test `name`.
#[macro_export]
macro_rules! backend_test {
    ($scenario:path, $name:ident, $variant:ident) => {
        #[test]
        fn $name() -> ::anyhow::Result<()> {
            $crate::backends::run_on(
                $crate::backends::Backend::$variant,
                concat!(module_path!(), "::", stringify!($name)),
                $scenario,
            )
        }
    };
}

/// The backend nemonetd runs on, from its log line `backend X (probed)` or `backend X
/// (forced by data-plane)`; the last one when it was restarted.
pub fn from_log(log: &str) -> Option<Backend> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.split_once("backend ")?;
        let (name, how) = rest.split_once(' ')?;
        (how.starts_with("(probed)") || how.starts_with("(forced by data-plane)"))
            .then(|| name.parse().ok())
            .flatten()
    })
}

/// The backend a `--backend` argument (`auto` or a backend name) runs on here. A named
/// backend this kernel lacks is an error naming the kernel option it needs.
pub fn resolve(name: &str) -> Result<Backend> {
    if name == "auto" {
        return auto().context("no data-plane backend runs on this kernel");
    }
    let backend: Backend = name.parse()?;
    if let Some(why) = unavailable(backend)? {
        anyhow::bail!("the {backend} backend does not run on this kernel: {why}");
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_backend_from_nemonetd_log() {
        let log = "2024 INFO nemonetd: home agent data plane on eth0: backend auto, dynamic\n\
                   2024 INFO nemonetd::plane: backend tun (probed)\n";
        assert_eq!(from_log(log), Some(Backend::Tun));
        let log = format!("{log}2024 INFO nemonetd::plane: backend seg6 (forced by data-plane)\n");
        assert_eq!(from_log(&log), Some(Backend::Seg6));
        assert_eq!(from_log("backend auto, static tunnels"), None);
    }

    #[test]
    fn tunnel_routes_of_every_backend() {
        assert!(is_tunnel_route(
            "default encap bpf xmit nemo_encap headroom 40 dev eth0 proto 168"
        ));
        assert!(is_tunnel_route("10.0.0.0/24 dev nemo0 proto 168"));
        assert!(is_tunnel_route("10.0.0.0/24 dev nemo3 proto 168"));
        assert!(!is_tunnel_route(
            "10.0.0.0/24 via inet6 2001:db8::1 dev eth0"
        ));
    }
}
