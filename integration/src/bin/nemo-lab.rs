//! `nemo-lab`: the paper's experiment (Fig. 6/7) in network namespaces with the real
//! daemons. Builds the topology, registers the MR from an IPv6-only foreign link, checks
//! IPv4 and IPv6 ping, SSH and HTTP between a node behind the MR and a node on the
//! Internet, prints both routing tables, measures a handover, returns home, and removes
//! everything (also on Ctrl-C or failure).

use clap::Parser;
use integration::experiment::{self, INTERRUPTED};
use integration::lab::{Lab, Options};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// The paper's verification experiment (dual-stack NEMO over IPv6-only access), for real.
#[derive(Parser)]
#[command(name = "nemo-lab", version)]
struct Args {
    /// Data-plane backend of nemonetd on both ends: auto (the first of seg6, ip6tnl, bpf, tun
    /// this kernel runs), seg6, ip6tnl or bpf (kernel forwarding) or tun (userspace relay).
    #[arg(long, default_value = "auto", value_parser = ["auto", "seg6", "ip6tnl", "bpf", "tun"])]
    backend: String,
    /// Keep the daemons' logs and configuration (their directory is printed).
    #[arg(long)]
    keep_logs: bool,
    /// The MR's configuration without home-agent-address: it finds its home agent by DHAAD.
    #[arg(long)]
    dhaad: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if nix::unistd::geteuid().as_raw() != 0 {
        eprintln!("nemo-lab: run as root (it creates network namespaces)");
        return ExitCode::from(1);
    }
    if args.keep_logs {
        std::env::set_var("NEMO_LAB_KEEP", "1");
    }
    // A backend this kernel lacks fails here, naming the kernel option it needs.
    match integration::backends::resolve(&args.backend) {
        Ok(b) if args.backend == "auto" => println!("nemo-lab: data-plane auto: {b} runs here"),
        Ok(_) => {}
        Err(e) => {
            eprintln!("nemo-lab: --backend {}: {e:#}", args.backend);
            return ExitCode::from(1);
        }
    }
    // Ctrl-C: stop at the next step; dropping the lab removes namespaces and daemons.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let mut options = Options::new(&args.backend);
    options.dhaad = args.dhaad;
    let mut lab = match Lab::build_with(options) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("nemo-lab: cannot build the topology: {e:#}");
            return ExitCode::from(1);
        }
    };
    let result = experiment::run(&mut lab, &mut std::io::stdout());
    if args.keep_logs {
        println!("logs and configuration kept in {}", lab.dir.display());
    }
    match result {
        Ok(report) if report.failed().is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("nemo-lab: {e:#}");
            for tag in [
                "babymdd-mr",
                "mrd-mr",
                "nemonetd-mr",
                "had-ha",
                "nemonetd-ha",
            ] {
                eprintln!("--- {tag} log (last lines) ---");
                let log = lab.log(tag);
                let lines: Vec<&str> = log.lines().collect();
                for l in &lines[lines.len().saturating_sub(15)..] {
                    eprintln!("{l}");
                }
            }
            ExitCode::from(1)
        }
    }
}
