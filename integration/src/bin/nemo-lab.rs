//! `nemo-lab`: the paper's experiment (Fig. 6/7) in network namespaces.
//!
//! The daemons it drives are still being built (see the issues); until then it checks what
//! the lab needs from this machine and says honestly what exists.

use integration::Netns;

fn main() -> anyhow::Result<()> {
    println!("nemo-lab: the full experiment is not built yet.");
    println!("Built so far: the mip6 wire library, the config parser, the mobsock bus,");
    println!("and this namespace harness. Checking that this machine can run the lab:");
    let a = Netns::new("lab")?;
    let b = Netns::new("lab")?;
    a.veth("v0", &b, "v1")?;
    a.ip(&["-6", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad"])?;
    b.ip(&["-6", "addr", "add", "2001:db8::2/64", "dev", "v1", "nodad"])?;
    a.run(&["ping", "-6", "-c", "1", "-W", "2", "2001:db8::2"])?;
    println!("  network namespaces, veth pairs and IPv6 between them: ok");
    Ok(())
}
