//! Builds the bpf backend's programs (bpf/nemo.bpf.c) into an object the crate embeds, and
//! bpf/reject.bpf.c, a program the verifier refuses, for a test. Needs clang with the BPF
//! target and libbpf's headers (Debian: clang, libbpf-dev; scripts/install-deps installs
//! both).

use std::path::PathBuf;
use std::process::Command;

const SOURCES: [(&str, &str); 2] = [
    ("bpf/nemo.bpf.c", "nemo.bpf.o"),
    ("bpf/reject.bpf.c", "reject.bpf.o"),
];

fn main() {
    println!("cargo:rerun-if-env-changed=CLANG");
    for (source, object) in SOURCES {
        println!("cargo:rerun-if-changed={source}");
        build(source, object);
    }
}

fn build(source: &str, object: &str) {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join(object);
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let mut cmd = Command::new(&clang);
    cmd.args([
        "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", "-c", source, "-o",
    ])
    .arg(&out);
    // <asm/types.h> lives under the multiarch include directory on Debian.
    if let Some(dir) = multiarch_include() {
        cmd.arg("-I").arg(dir);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {clang} to build {source}: {e} (install clang and libbpf-dev)")
    });
    assert!(status.success(), "{clang} failed to build {source}");
}

fn multiarch_include() -> Option<PathBuf> {
    let out = Command::new("cc").arg("-print-multiarch").output().ok()?;
    let triple = String::from_utf8(out.stdout).ok()?;
    let dir = PathBuf::from("/usr/include").join(triple.trim());
    (!triple.trim().is_empty() && dir.is_dir()).then_some(dir)
}
