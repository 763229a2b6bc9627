//! Reading and writing whole files safely: inputs must be regular files (a FIFO, a device or a
//! directory is refused before it is opened, so `/dev/zero` or a pipe cannot block or exhaust
//! memory) and are read no further than their size; outputs are written to a temporary file in
//! the same directory, synced and renamed over the destination, so a failed or interrupted
//! write never leaves a truncated file where a good one was.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::IoError;

/// What kind of file `meta` describes, for messages (`"a directory"`, `"a FIFO"`, …).
fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Opens `path` for reading after checking (without opening it) that it is a regular file;
/// returns the file and its size.
///
/// # Errors
/// [`IoError::Read`] (missing, unreadable), [`IoError::NotRegular`] (a directory, FIFO,
/// device or socket).
pub fn open_regular(path: &Path) -> Result<(File, u64), IoError> {
    let origin = || path.display().to_string();
    let meta = fs::metadata(path).map_err(|source| IoError::Read {
        origin: origin(),
        source,
    })?;
    if !meta.is_file() {
        return Err(IoError::NotRegular {
            origin: origin(),
            kind: kind_of(&meta),
        });
    }
    let file = File::open(path).map_err(|source| IoError::Read {
        origin: origin(),
        source,
    })?;
    Ok((file, meta.len()))
}

/// Reads `len` bytes from `file` (which is `origin`), failing if it ends earlier.
pub(crate) fn read_exact_len(file: &mut File, len: u64, origin: &str) -> Result<Vec<u8>, IoError> {
    let cap = usize::try_from(len).map_err(|_| IoError::Format {
        origin: origin.to_string(),
        format: "input",
        reason: format!("{len} bytes do not fit in memory on this platform"),
    })?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(cap).map_err(|_| IoError::TooLarge {
        origin: origin.to_string(),
        what: "the file".into(),
        bytes: len,
        limit: "the memory available".into(),
    })?;
    file.take(len)
        .read_to_end(&mut buf)
        .map_err(|source| IoError::Read {
            origin: origin.to_string(),
            source,
        })?;
    if (buf.len() as u64) < len {
        return Err(IoError::Format {
            origin: origin.to_string(),
            format: "input",
            reason: format!(
                "the file shrank while being read ({} of {len} bytes)",
                buf.len()
            ),
        });
    }
    Ok(buf)
}

/// Reads a whole regular file (no more bytes than its size when opened).
///
/// # Errors
/// Those of [`open_regular`]; [`IoError::Read`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, IoError> {
    let (mut file, len) = open_regular(path)?;
    read_exact_len(&mut file, len, &path.display().to_string())
}

/// Largest text input (model spec, tableau file) read: 64 MiB.
#[cfg(feature = "model-files")]
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Reads a whole text file of at most [`MAX_TEXT_BYTES`].
#[cfg(feature = "model-files")]
pub(crate) fn read_text(path: &Path) -> Result<String, IoError> {
    let origin = path.display().to_string();
    let (mut file, len) = open_regular(path)?;
    if len > MAX_TEXT_BYTES {
        return Err(IoError::TooLarge {
            origin,
            what: "the text file".into(),
            bytes: len,
            limit: format!("{MAX_TEXT_BYTES} bytes"),
        });
    }
    String::from_utf8(read_exact_len(&mut file, len, &origin)?).map_err(|e| IoError::Format {
        origin,
        format: "UTF-8 text",
        reason: format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })
}

/// True when `a` and `b` name the same existing file (same device and inode, so hard links,
/// symbolic links and different spellings of one path are recognised).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Fails with [`IoError::OutputIsInput`] when `out` is the same file as one of `inputs`
/// (`(what, path)` pairs, e.g. `("--model", …)`).
///
/// # Errors
/// [`IoError::OutputIsInput`] naming the output and the input.
pub fn check_output_not_input(
    out: &Path,
    out_flag: &str,
    inputs: &[(&str, &Path)],
) -> Result<(), IoError> {
    match inputs.iter().find(|(_, p)| same_file(out, p)) {
        None => Ok(()),
        Some((what, p)) => Err(IoError::OutputIsInput {
            origin: out.display().to_string(),
            flag: out_flag.to_string(),
            input: format!("{what} {}", p.display()),
        }),
    }
}

/// A distinct number per temporary file of this process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The prefix of `path`'s temporary files: `.{name}.tmp-`.
fn tmp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// True when process `pid` is running (Linux: `/proc/<pid>` exists; elsewhere assumed so).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

/// True when `file_name` is a temporary `.{name}.tmp-<pid>[-<n>]` of [`write_atomic`] left by
/// a process that no longer runs.
pub fn is_stale_temporary(file_name: &str) -> bool {
    let Some(rest) = file_name
        .strip_prefix('.')
        .and_then(|r| r.rsplit_once(".tmp-"))
        .map(|(_, rest)| rest)
    else {
        return false;
    };
    match rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => pid != std::process::id() && !process_alive(pid),
        None => false,
    }
}

/// Removes `dir/.{name}.tmp-<pid>-<n>` files left by interrupted saves of processes that no
/// longer run (best effort). Returns how many were removed.
pub fn clean_stale_temporaries(dir: &Path, name: &str) -> usize {
    let prefix = tmp_prefix(name);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let stale = match pid {
            Some(pid) => pid != std::process::id() && !process_alive(pid),
            None => false,
        };
        if stale && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Where a write to `path` really goes: a symbolic link is followed (the link stays, its
/// target is replaced); an existing non-regular file is refused.
fn write_target(path: &Path) -> Result<PathBuf, IoError> {
    let origin = || path.display().to_string();
    match fs::symlink_metadata(path) {
        Err(_) => Ok(path.to_path_buf()),
        Ok(m) if m.file_type().is_symlink() => match fs::metadata(path) {
            Ok(t) if !t.is_file() => Err(IoError::NotRegular {
                origin: origin(),
                kind: kind_of(&t),
            }),
            Ok(_) => fs::canonicalize(path).map_err(|source| IoError::Write {
                origin: origin(),
                source,
            }),
            // A dangling link: write where it points.
            Err(_) => {
                let target = fs::read_link(path).map_err(|source| IoError::Write {
                    origin: origin(),
                    source,
                })?;
                Ok(match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                })
            }
        },
        Ok(m) if !m.is_file() => Err(IoError::NotRegular {
            origin: origin(),
            kind: kind_of(&m),
        }),
        Ok(_) => Ok(path.to_path_buf()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file `.{name}.tmp-<pid>-<n>` in the same
/// directory, `fsync`, rename over `path`, `fsync` of the directory. On failure the temporary
/// file is removed and `path` is unchanged. Stale temporaries of `path` from interrupted
/// earlier saves (of processes no longer running) are removed first. An existing `path` that
/// is not a regular file (a directory, `/dev/null`, a FIFO) is refused.
///
/// # Errors
/// [`IoError::NotRegular`], [`IoError::Write`] naming the file and the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let target = write_target(path)?;
    let werr = |step: &str, source: std::io::Error| IoError::Write {
        origin: format!("{} ({step})", path.display()),
        source,
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return Err(werr(
            "file name",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path has no UTF-8 file name",
            ),
        ));
    };
    clean_stale_temporaries(&dir, name);
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{}{}-{n}", tmp_prefix(name), std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| werr("create a temporary file in the same directory", e))?;
        f.write_all(bytes).map_err(|e| werr("write", e))?;
        f.sync_all().map_err(|e| werr("sync", e))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(|e| werr("rename into place", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable (best effort).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
