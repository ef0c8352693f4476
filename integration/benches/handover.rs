//! Handover benchmark (issue 7): 20 moves of the MR between two IPv6-only foreign links in
//! the lab, with a 10 ms ping flow in each family from node A to node B. Prints the median
//! and worst handover, split into (a) attachment to the new link -> usable CoA (babymdd's
//! announcement) and (b) usable CoA -> first reply through the new path, and the packets
//! lost. Figures only; not a test. `--backend seg6|bpf|tun` measures that data plane (default
//! auto: the first this kernel runs).
//!
//! With a 10 ms flow the first reply after the path is back comes 0-10 ms later (5 ms on
//! average, more for the later of two flows): (b) includes that sampling delay.

use integration::experiment::{measure_handover, Handover};
use integration::lab::{Lab, FOREIGN1, FOREIGN2, WAIT};
use std::time::Duration;

const MOVES: usize = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    let median = v[v.len() / 2];
    let worst = v[v.len() - 1];
    println!("  {name:<40} median {median:>7.1}   worst {worst:>7.1}");
}

fn main() -> anyhow::Result<()> {
    let backend = std::env::args()
        .skip_while(|a| a != "--backend")
        .nth(1)
        .unwrap_or_else(|| "auto".into());
    let mut lab = Lab::build(&backend)?;
    lab.start_daemons()?;
    lab.move_mr(FOREIGN1.0)?;
    lab.mr_bus.wait_for("BUL_ADD", WAIT, |_| true)?;
    std::thread::sleep(Duration::from_secs(1));
    let mut runs: Vec<Handover> = Vec::new();
    for i in 0..MOVES {
        let to = if i % 2 == 0 { FOREIGN2 } else { FOREIGN1 };
        let h = measure_handover(&mut lab, to, Duration::from_millis(1100))?;
        println!(
            "move {:>2} to {:<22} (a) {:>6.1} ms  (b) {:>6.1} ms  total {:>6.1} ms  lost {}",
            i + 1,
            to.1,
            ms(h.to_coa),
            ms(h.to_traffic),
            ms(h.total()),
            h.lost
        );
        runs.push(h);
    }
    let backend = lab.running.map_or(backend, |b| b.to_string());
    println!("handover over {MOVES} moves ({backend} backend; ms; clock from the attachment to the new link):");
    stats(
        "(a) attachment -> usable CoA",
        runs.iter().map(|h| ms(h.to_coa)).collect(),
    );
    let per_flow = |f: &dyn Fn(&Handover, Duration) -> f64| -> Vec<f64> {
        runs.iter()
            .flat_map(|h| h.to_traffic_each.map(|b| f(h, b)))
            .collect()
    };
    stats(
        "(b) usable CoA -> first reply, per flow",
        per_flow(&|_, b| ms(b)),
    );
    stats(
        "(b) usable CoA -> both flows replied",
        runs.iter().map(|h| ms(h.to_traffic)).collect(),
    );
    stats("(a)+(b) per flow", per_flow(&|h, b| ms(h.to_coa + b)));
    stats(
        "(a)+(b) both flows",
        runs.iter().map(|h| ms(h.total())).collect(),
    );
    stats(
        "echo requests lost (IPv4 + IPv6)",
        runs.iter().map(|h| f64::from(h.lost)).collect(),
    );
    Ok(())
}
