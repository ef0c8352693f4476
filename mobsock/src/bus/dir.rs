//! The bus directory: member socket names, permissions, scanning.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{chown, geteuid, Gid};

use crate::wire::Sender;

/// Default bus directory.
pub const DEFAULT_BUS_DIR: &str = "/run/shisa";

/// Member names are used in file names: keep them short and harmless.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `<dir>/<name>.<pid>.sock`
pub fn socket_path(dir: &Path, sender: &Sender) -> PathBuf {
    dir.join(format!("{}.{}.sock", sender.name, sender.pid))
}

/// Parses a member socket file name back into its sender.
pub fn parse_socket_name(file_name: &str) -> Option<Sender> {
    let stem = file_name.strip_suffix(".sock")?;
    let (name, pid) = stem.rsplit_once('.')?;
    let pid: u32 = pid.parse().ok()?;
    valid_name(name).then(|| Sender {
        name: name.to_owned(),
        pid,
    })
}

/// Directory mode: owner and (optionally) the bus group only.
pub fn dir_mode(group: Option<Gid>) -> u32 {
    if group.is_some() {
        0o770
    } else {
        0o750
    }
}

/// Socket mode: writable by the owner and (optionally) the bus group only.
pub fn socket_mode(group: Option<Gid>) -> u32 {
    if group.is_some() {
        0o660
    } else {
        0o600
    }
}

/// Creates the bus directory if needed (mode per [`dir_mode`]). When it exists and is
/// ours: with a group, enforces `GROUP 0770`; without one, only takes away access for
/// others, so that a member started without the group option (an operator's `mipsock`)
/// never locks the group out.
pub fn prepare_dir(dir: &Path, group: Option<Gid>) -> io::Result<()> {
    let created = !dir.is_dir();
    if created {
        fs::create_dir_all(dir)?;
    }
    let meta = fs::metadata(dir)?;
    let mode = meta.mode() & 0o7777;
    if meta.uid() != geteuid().as_raw() {
        if mode & 0o002 != 0 {
            tracing::warn!(dir = %dir.display(), "bus directory is world-writable and not ours");
        }
        return Ok(());
    }
    let wanted = match (created, group) {
        (true, _) | (false, Some(_)) => dir_mode(group),
        (false, None) => mode & !0o007,
    };
    if wanted != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(wanted))?;
    }
    if let Some(g) = group {
        chown(dir, None, Some(g)).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Restricts a freshly bound member socket.
pub fn restrict_socket(path: &Path, group: Option<Gid>) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(socket_mode(group)))?;
    if let Some(g) = group {
        chown(path, None, Some(g)).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Every member socket in the directory (stale ones included).
pub fn scan(dir: &Path) -> io::Result<Vec<(Sender, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(sender) = entry.file_name().to_str().and_then(parse_socket_name) {
            found.push((sender, entry.path()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_paths() {
        let s = Sender {
            name: "had".into(),
            pid: 42,
        };
        let p = socket_path(Path::new("/run/shisa"), &s);
        assert_eq!(p, Path::new("/run/shisa/had.42.sock"));
        assert_eq!(parse_socket_name("had.42.sock"), Some(s));
        assert_eq!(parse_socket_name("../x.1.sock"), None);
        assert_eq!(parse_socket_name("had.x.sock"), None);
        assert_eq!(parse_socket_name("had.42"), None);
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(valid_name("mobsock-member_2"));
    }

    #[test]
    fn directory_is_private_and_only_ever_tightened_without_a_group() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bus");
        let mode = |d: &Path| fs::metadata(d).unwrap().mode() & 0o777;
        prepare_dir(&dir, None).unwrap();
        assert_eq!(mode(&dir), 0o750);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        prepare_dir(&dir, None).unwrap();
        assert_eq!(mode(&dir), 0o770, "others lose access, the group keeps it");
        prepare_dir(&dir, Some(nix::unistd::getegid())).unwrap();
        assert_eq!(mode(&dir), 0o770);
    }
}
