//! `babymdd`: placeholder until its issue lands; see ../shared/DESIGN.md section 1.
fn main() {
    eprintln!("babymdd: not implemented yet");
    std::process::exit(1);
}
