//! An unprivileged user cannot send on the bus: the directory and socket modes stop it,
//! and if they were loosened by mistake, the credential check still drops its messages.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// A throw-away system user, removed on drop.
struct TempUser(String);

impl TempUser {
    fn create() -> TempUser {
        let name = format!("mobsock{}", std::process::id());
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name} failed");
        TempUser(name)
    }

    /// Runs `mipsock` as this user.
    fn mipsock(&self, binary: &Path, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", &self.0, "--"])
            .arg(binary)
            .args(args)
            .output()
            .expect("run runuser")
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A copy of `mipsock` the user can execute wherever the build directory lives.
fn user_binary(dir: &Path) -> PathBuf {
    let copy = dir.join("mipsock");
    std::fs::copy(MIPSOCK, &copy).expect("copy mipsock");
    chmod(&copy, 0o755);
    copy
}

#[test]
fn an_unprivileged_user_cannot_send() {
    let (tmp, bus) = bus_dir();
    let user = TempUser::create();
    let binary = user_binary(tmp.path());
    let mut member = Proc::member(&bus, "had", &[]);
    let bus_arg = bus.to_str().expect("utf-8 path");
    let send = ["--bus-dir", bus_arg, "send", "bc-flush"];

    // 1. As installed: the directory is 0750 root, so the user cannot even join.
    let mode = std::fs::metadata(&bus).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750);
    let out = user.mipsock(&binary, &send);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "unprivileged send succeeded: {stderr}"
    );
    assert!(
        stderr.contains("permission denied"),
        "unclear error: {stderr}"
    );
    assert!(
        stderr.contains("root or the bus group"),
        "unclear error: {stderr}"
    );

    // 2. Defence in depth: even with the directory and the socket opened up by mistake,
    //    the member drops what the user sends (its credentials say who it is).
    chmod(&bus, 0o777);
    let sock = bus.join(format!("had.{}.sock", member.pid()));
    chmod(&sock, 0o666);
    let out = user.mipsock(&binary, &send);
    assert!(
        out.status.success(),
        "with open modes the datagram should reach the kernel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    member.wait(
        |p| {
            p.err_lines()
                .iter()
                .any(|l| l.contains("unauthorised user"))
        },
        Duration::from_secs(5),
        "the credential check to log the drop",
    );
    // A root sender still gets through, so the silence above is not a dead member.
    let ok = Command::new(MIPSOCK)
        .args(["--bus-dir", bus_arg, "send", "bul-flush"])
        .output()
        .expect("run mipsock");
    assert!(ok.status.success());
    member.wait_line(|l| l.ends_with(" BUL_FLUSH"), Duration::from_secs(5));
    member.stop();
    let lines = member.lines();
    assert!(
        !lines.iter().any(|l| l.ends_with(" BC_FLUSH")),
        "user's message delivered: {lines:?}"
    );
    let user_joins = lines
        .iter()
        .filter(|l| l.starts_with("JOIN mipsock"))
        .count();
    assert_eq!(user_joins, 1, "only root's mipsock may join: {lines:?}");
}
