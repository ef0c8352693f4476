//! An unprivileged user cannot send on the bus: the directory and socket modes stop it,
//! and if they were loosened by mistake, the credential check still drops its messages.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use common::*;

/// Runs useradd & co. one at a time, retrying while another process holds the
/// account database lock.
fn account_tool(cmd: &mut Command) -> bool {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..20 {
        match cmd.status() {
            Ok(s) if s.success() => return true,
            // Exit status 10 (useradd/groupadd, userdel) means the database was locked.
            Ok(s) if s.code() == Some(10) || s.code() == Some(1) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => return false,
        }
    }
    false
}

/// A throw-away system group, removed on drop.
struct TempGroup(String);

impl TempGroup {
    fn create(tag: &str) -> TempGroup {
        let name = format!("mobsock{tag}{}", std::process::id());
        let ok = account_tool(Command::new("groupadd").args(["--system", &name]));
        assert!(ok, "groupadd {name} failed");
        TempGroup(name)
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        account_tool(Command::new("groupdel").arg(&self.0));
    }
}

/// A throw-away system user, removed on drop.
struct TempUser(String);

impl TempUser {
    fn create(tag: &str, groups: &[&str]) -> TempUser {
        let name = format!("mobsock{tag}{}", std::process::id());
        let mut cmd = Command::new("useradd");
        cmd.args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ]);
        if !groups.is_empty() {
            cmd.arg("--groups").arg(groups.join(","));
        }
        let ok = account_tool(cmd.arg(&name));
        assert!(ok, "useradd {name} failed");
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
        account_tool(Command::new("userdel").arg(&self.0));
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
    let user = TempUser::create("u", &[]);
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

/// With a configured bus group, its members may write: the directory and sockets admit
/// the group and the credential check accepts supplementary group membership.
#[test]
fn a_member_of_the_bus_group_can_send() {
    let (tmp, bus) = bus_dir();
    let group = TempGroup::create("grp");
    let user = TempUser::create("g", &[&group.0]);
    let binary = user_binary(tmp.path());
    let mut member = Proc::member(&bus, "had", &["--group", &group.0]);
    let meta = std::fs::metadata(&bus).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o770);
    let bus_arg = bus.to_str().expect("utf-8 path");
    let out = user.mipsock(
        &binary,
        &[
            "--bus-dir",
            bus_arg,
            "--group",
            &group.0,
            "send",
            "bc-flush",
        ],
    );
    assert!(
        out.status.success(),
        "group member could not send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    member.wait_line(|l| l.ends_with(" BC_FLUSH"), Duration::from_secs(5));
    member.stop();
    // The user goes before its group.
    drop(user);
}
