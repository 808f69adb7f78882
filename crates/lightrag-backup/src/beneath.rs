//! File-system access beneath a root directory that never follows a symbolic link: every
//! path component is opened with `openat(O_NOFOLLOW)`, so a link planted in a graph folder
//! (or swapped in while a backup or restore runs) cannot redirect a read or a write outside.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid};

/// Owner (uid, gid) of a file.
pub(crate) type Owner = (u32, u32);

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Open a directory the operator named (the root itself may be reached through links).
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// How to create missing directories: copy mode and owner from the directory at the same
/// relative path below `like` when there is one, else `mode` and `owner`.
pub(crate) struct DirSpec<'a> {
    pub(crate) like: Option<&'a OwnedFd>,
    pub(crate) mode: u32,
    pub(crate) owner: Option<Owner>,
}

fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            )),
        })
        .collect()
}

fn symlink_err(at: &[&OsStr]) -> io::Error {
    let p: std::path::PathBuf = at.iter().collect();
    io::Error::other(format!(
        "{} is a symbolic link or not a directory; refusing to follow it",
        p.display()
    ))
}

/// Open directory `rel` below `root` without following links; with `create`, missing
/// directories are created.
pub(crate) fn open_dir(
    root: &OwnedFd,
    rel: &Path,
    create: Option<&DirSpec<'_>>,
) -> io::Result<OwnedFd> {
    let comps = components(rel)?;
    let mut cur = rustix::io::dup(root)?;
    for (i, c) in comps.iter().enumerate() {
        let next = match rustix::fs::openat(&cur, *c, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                let Some(spec) = create else {
                    return Err(rustix::io::Errno::NOENT.into());
                };
                let (mode, owner) = spec
                    .like
                    .and_then(|like| {
                        let parent: std::path::PathBuf = comps[..i].iter().collect();
                        let pfd = open_dir(like, &parent, None).ok()?;
                        let st = rustix::fs::statat(&pfd, *c, AtFlags::SYMLINK_NOFOLLOW).ok()?;
                        (rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Directory)
                            .then_some((st.st_mode & 0o777, Some((st.st_uid, st.st_gid))))
                    })
                    .unwrap_or((spec.mode, spec.owner));
                match rustix::fs::mkdirat(&cur, *c, Mode::from_raw_mode(mode)) {
                    Ok(()) => {
                        // mkdir applies the umask: set the mode exactly.
                        let fd = rustix::fs::openat(&cur, *c, DIR_FLAGS, Mode::empty())?;
                        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
                        chown_fd(&fd, owner)?;
                        fd
                    }
                    Err(rustix::io::Errno::EXIST) => {
                        rustix::fs::openat(&cur, *c, DIR_FLAGS, Mode::empty())?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::NOTDIR) => {
                return Err(symlink_err(&comps[..=i]));
            }
            Err(e) => return Err(e.into()),
        };
        cur = next;
    }
    Ok(cur)
}

/// Split `rel` into its parent directory and file name.
pub(crate) fn split(rel: &Path) -> io::Result<(&Path, &OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", rel.display()),
        )),
    }
}

/// Open the regular file `rel` below `root` for reading, following no link (a FIFO does not
/// block: it is opened non-blocking and then rejected as not a regular file).
pub(crate) fn open_file(root: &OwnedFd, rel: &Path) -> io::Result<std::fs::File> {
    let (parent, name) = split(rel)?;
    let dir = open_dir(root, parent, None)?;
    let fd = match rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => {
            return Err(io::Error::other(format!(
                "{} is a symbolic link",
                rel.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(std::fs::File::from(fd))
}

/// `lstat` of `name` in `dir`.
pub(crate) fn lstat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Set the owner of an open file; a refusal (not running as root) is ignored: ownership is
/// kept where the process may set it.
pub(crate) fn chown_fd(fd: impl AsFd, owner: Option<Owner>) -> io::Result<()> {
    let Some((u, g)) = owner else { return Ok(()) };
    match rustix::fs::fchown(fd, Some(Uid::from_raw(u)), Some(Gid::from_raw(g))) {
        Ok(()) | Err(rustix::io::Errno::PERM) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Set the owner of `name` in `dir` without following a link (see [`chown_fd`]).
pub(crate) fn chown_at(dir: &OwnedFd, name: &OsStr, owner: Option<Owner>) -> io::Result<()> {
    let Some((u, g)) = owner else { return Ok(()) };
    match rustix::fs::chownat(
        dir,
        name,
        Some(Uid::from_raw(u)),
        Some(Gid::from_raw(g)),
        AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(()) | Err(rustix::io::Errno::PERM) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A file name as an `OsStr` (for display and path joining).
pub(crate) fn os(name: &std::ffi::CStr) -> &OsStr {
    OsStr::from_bytes(name.to_bytes())
}
