//! A file to publish: where it is, its size and sha256, and its identity (name,
//! version, variant) read from the package itself by [`crate::package`], or why it is
//! not a valid package. The registry's own answer always wins once there is one.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::digest::Sha256;
use crate::package::{self, Expect, Identity, Invalid};

/// A planned upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Artifact {
    /// Path relative to the working directory, as reported.
    pub rel: String,
    /// Absolute path.
    pub path: PathBuf,
    /// Base name sent as the multipart file name: the registry parses it.
    pub file_name: String,
    pub size: u64,
    /// The content's sha256, once something has read the whole file.
    pub sha256: Option<Sha256>,
    /// What the package says it is, or why it is not a valid package (such a file is
    /// never sent).
    pub identity: Result<Identity, Invalid>,
    /// The file's identity when it was planned (device and inode on Unix): a later
    /// open must find the same file, not one swapped in since.
    pub file_id: Option<(u64, u64)>,
}

impl Artifact {
    /// Plans a file: its size, and its sha256 when `hash` is set. Publishing leaves
    /// the hash out here and computes it while the upload streams the file (one read
    /// instead of two); dry runs and promote-only steps hash up front. Blocking: run it
    /// on a blocking thread.
    pub(crate) fn plan(rel: String, path: PathBuf, hash: bool) -> std::io::Result<Artifact> {
        // Opening proves the file is readable before anything is sent.
        let (mut file, meta) = open_checked(&path, None)?;
        let file_id = file_identity(&meta);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = package::read(&mut file, &file_name, Expect::Infer);
        let (size, sha256) = if hash {
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::Start(0))?;
            let (size, sha256) = hash_open_file(file, meta.len())?;
            (size, Some(sha256))
        } else {
            (meta.len(), None)
        };
        Ok(Artifact {
            rel,
            path,
            file_name,
            size,
            sha256,
            identity,
            file_id,
        })
    }

    /// Reads the identity again as a package for a registry of `ecosystem`, when the
    /// file was taken for another kind (a `.tgz` on a Helm registry must be a chart,
    /// anything on a Files registry follows the file-name rule). Blocking.
    pub(crate) fn expect(&mut self, ecosystem: package::Ecosystem) -> std::io::Result<()> {
        if self
            .identity
            .as_ref()
            .is_ok_and(|id| id.format.ecosystem() == ecosystem)
        {
            return Ok(());
        }
        let (mut file, _) = open_checked(&self.path, self.file_id)?;
        self.identity = package::read(&mut file, &self.file_name, Expect::In(ecosystem))
            .map_err(|e| Invalid(format!("{e} (the registry holds {} packages)", ecosystem.label())));
        Ok(())
    }

    /// How messages name the package: its identity, else its file name.
    #[must_use]
    pub(crate) fn describe(&self) -> String {
        self.identity
            .as_ref()
            .map_or_else(|_| self.file_name.clone(), Identity::describe)
    }

    /// The sha256, reading the file if no upload computed it.
    pub(crate) async fn ensure_hash(&mut self) -> std::io::Result<Sha256> {
        if let Some(sha256) = &self.sha256 {
            return Ok(sha256.clone());
        }
        let (size, sha256) = hash_file(&self.path, self.file_id).await?;
        self.size = size;
        self.sha256 = Some(sha256.clone());
        Ok(sha256)
    }
}

/// Reads a planned file through sha256 on a blocking thread, returning its size and
/// hex digest.
pub(crate) async fn hash_file(path: &Path, file_id: Option<(u64, u64)>) -> std::io::Result<(u64, Sha256)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let (file, meta) = open_checked(&path, file_id)?;
        hash_open_file(file, meta.len())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Reads an open file through sha256 in reads of up to 1 MiB; memory does not grow
/// with the file.
fn hash_open_file(mut file: std::fs::File, len: u64) -> std::io::Result<(u64, Sha256)> {
    use std::io::Read;
    let mut hasher = sha2::Sha256::new();
    // Small files get a small buffer: zeroing 1 MiB per file would cost more than
    // hashing thousands of small packages.
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).clamp(8 * 1024, 1024 * 1024)];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, Sha256::finish(hasher)))
}

/// Opens a file for reading and checks it is (still) a regular file, and the one
/// planned when `expected` names it. The open never blocks: a FIFO swapped in after
/// discovery is refused instead of hanging the run.
pub(crate) fn open_checked(
    path: &Path,
    expected: Option<(u64, u64)>,
) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (it changed since it was found)",
        ));
    }
    if expected.is_some() && file_identity(&meta) != expected {
        return Err(std::io::Error::other(
            "it was replaced by another file since it was found",
        ));
    }
    Ok((file, meta))
}

/// A file's identity: device and inode on Unix.
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps, reason = "None on the platforms without inodes")]
fn file_identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}
