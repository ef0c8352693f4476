//! `had`: placeholder until its issue lands; see ../shared/DESIGN.md section 1.
fn main() {
    eprintln!("had: not implemented yet");
    std::process::exit(1);
}
