//! Files that hold secrets (the database and its `-wal`/`-shm`, the log, the vault key) are
//! private to their user. Creating them 0600 is not enough: a file that already exists keeps
//! its mode (a restore from backup, a copy with a loose umask, an older version), so every
//! open also tightens. The vault key is trusted only as a regular file of our own: a symlink
//! or a file another user owns could be a key someone planted to read what we encrypt.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Tightens an open file to 0600 when group or others have any access; through the handle
/// (fchmod), so a path swapped in the meantime cannot redirect the change. Returns the mode
/// it had when it was tightened.
/// Anything but a regular file (a log pointed at `/dev/null`) is left alone.
pub fn tighten(file: &File) -> io::Result<Option<u32>> {
    let meta = file.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.file_type().is_file() || mode & 0o077 == 0 {
        return Ok(None);
    }
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(Some(mode))
}

/// Tightens the file at `path` if it exists (the database's side files, before SQLite opens
/// them).
pub fn tighten_path(path: &Path) -> io::Result<Option<u32>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => tighten(&file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a file that should hold a secret of ours is not trusted.
/// Like [`tighten_path`] without opening the file, for files SQLite holds locks on (see
/// `Store::open_with_vault`). A symbolic link is left alone, as `tighten_path` leaves it.
pub fn tighten_path_unopened(path: &Path) -> io::Result<Option<u32>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.file_type().is_file() || mode & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, Permissions::from_mode(0o600))?;
    Ok(Some(mode))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untrusted {
    Symlink,
    NotRegular,
    Foreign { owner: u32, me: u32 },
}

impl Untrusted {
    /// What is wrong and what to do, after the file's name.
    pub fn advice(&self) -> String {
        match self {
            Untrusted::Symlink => "is a symbolic link; switchboard reads the key only from a regular file in the data directory: replace the link with the file it points to (mode 0600), or set SWITCHBOARD_KEY".into(),
            Untrusted::NotRegular => "is not a regular file; move it away and restore the key file from backup (or, if the key is lost, remove it and re-authorize every connection)".into(),
            Untrusted::Foreign { owner, me } => format!(
                "is owned by user id {owner}, not by the user running switchboard ({me}); another user could have planted it or can read it: if it is your key, `chown` it to yourself and `chmod 600` it; otherwise remove it and re-authorize every connection"
            ),
        }
    }
}

pub enum OpenError {
    Io(io::Error),
    Untrusted(Untrusted),
}

/// Opens `path` for reading if it is a regular file owned by the effective user, not through
/// a symlink. The lstat gives the clear message; `O_NOFOLLOW` and the fstat after opening
/// close the gap between looking and opening; `O_NONBLOCK` keeps a FIFO from hanging the open.
pub fn open_owned(path: &Path) -> Result<File, OpenError> {
    let link = std::fs::symlink_metadata(path).map_err(OpenError::Io)?;
    if link.file_type().is_symlink() {
        return Err(OpenError::Untrusted(Untrusted::Symlink));
    }
    if !link.file_type().is_file() {
        return Err(OpenError::Untrusted(Untrusted::NotRegular));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => OpenError::Untrusted(Untrusted::Symlink),
            _ => OpenError::Io(e),
        })?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::Untrusted(Untrusted::NotRegular));
    }
    let me = euid();
    if meta.uid() != me {
        return Err(OpenError::Untrusted(Untrusted::Foreign {
            owner: meta.uid(),
            me,
        }));
    }
    Ok(file)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}
