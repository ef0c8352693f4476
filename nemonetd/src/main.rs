//! `nemonetd`: placeholder until its issue lands; see ../shared/DESIGN.md section 1.
fn main() {
    eprintln!("nemonetd: not implemented yet");
    std::process::exit(1);
}
