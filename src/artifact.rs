//! A file to publish: where it is, its size and sha256, and the name and version the
//! registry is expected to give it. The registry derives name and version from the file
//! name, so [`predict`] follows the conventions of each package format; the registry's
//! own answer always wins once there is one.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A planned upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the working directory, as reported.
    pub rel: String,
    /// Absolute path.
    pub path: PathBuf,
    /// Base name sent as the multipart file name: the registry parses it.
    pub file_name: String,
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// Predicted package name and version, if the file name follows a known convention.
    pub predicted: Option<(String, String)>,
    /// The file's identity when it was planned (device and inode on Unix): a later
    /// open must find the same file, not one swapped in since.
    pub file_id: Option<(u64, u64)>,
}

impl Artifact {
    /// Plans a file: its size, and its sha256 when `hash` is set. Publishing leaves
    /// the hash out here and computes it while the upload streams the file (one read
    /// instead of two); dry runs and promote-only steps hash up front. Blocking: run it
    /// on a blocking thread.
    pub fn plan(rel: String, path: PathBuf, hash: bool) -> std::io::Result<Artifact> {
        // Opening proves the file is readable before anything is sent.
        let (file, meta) = open_checked(&path, None)?;
        let file_id = identity(&meta);
        let (size, sha256) = if hash {
            hash_open_file(file, meta.len())?
        } else {
            (meta.len(), String::new())
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let predicted = predict(&file_name);
        Ok(Artifact {
            rel,
            path,
            file_name,
            size,
            sha256,
            predicted,
            file_id,
        })
    }

    /// Makes sure the sha256 is known, reading the file if no upload computed it.
    pub async fn ensure_hash(&mut self) -> std::io::Result<()> {
        if self.sha256.is_empty() {
            let (size, sha256) = hash_file(&self.path, self.file_id).await?;
            self.size = size;
            self.sha256 = sha256;
        }
        Ok(())
    }
}

/// Reads a planned file through sha256 on a blocking thread, returning its size and
/// hex digest.
pub async fn hash_file(path: &Path, file_id: Option<(u64, u64)>) -> std::io::Result<(u64, String)> {
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
fn hash_open_file(mut file: std::fs::File, len: u64) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut hasher = Sha256::new();
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
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// Opens a file for reading and checks it is (still) a regular file, and the one
/// planned when `expected` names it. The open never blocks: a FIFO swapped in after
/// discovery is refused instead of hanging the run.
pub fn open_checked(path: &Path, expected: Option<(u64, u64)>) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
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
    if expected.is_some() && identity(&meta) != expected {
        return Err(std::io::Error::other(
            "it was replaced by another file since it was found",
        ));
    }
    Ok((file, meta))
}

/// A file's identity: device and inode on Unix.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Predicts `(name, version)` from a package file name, following each format's
/// naming convention:
///
/// - Debian `name_version_arch.deb`
/// - Red Hat `name-version-release.arch.rpm`
/// - Alpine `name-version-rN.apk`
/// - Python wheels `name-version-….whl` and sdists `name-version.tar.gz`
/// - Ruby `name-version.gem`, Helm/npm/Terraform/Files `name-version.ext`
#[must_use]
pub fn predict(file_name: &str) -> Option<(String, String)> {
    let lower = file_name.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix(".deb").map(|_| &file_name[..file_name.len() - 4]) {
        let mut parts = stem.split('_');
        let name = parts.next()?;
        let version = parts.next()?;
        return nonempty(name, version);
    }
    if lower.ends_with(".rpm") {
        let stem = &file_name[..file_name.len() - 4];
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _arch)| s);
        let (rest, release) = stem.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        return nonempty(name, &format!("{version}-{release}"));
    }
    if lower.ends_with(".apk") {
        let stem = &file_name[..file_name.len() - 4];
        let (rest, release) = stem.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        return nonempty(name, &format!("{version}-{release}"));
    }
    if lower.ends_with(".whl") {
        let mut parts = file_name.split('-');
        return nonempty(parts.next()?, parts.next()?);
    }
    let stem = [
        ".tar.gz", ".tgz", ".gem", ".zip", ".tar.xz", ".tar.bz2", ".nupkg", ".jar",
    ]
    .iter()
    .find_map(|ext| lower.strip_suffix(ext).map(|s| &file_name[..s.len()]))
    .or_else(|| file_name.rsplit_once('.').map(|(s, _)| s))
    .unwrap_or(file_name);
    // The version starts at the first `-` followed by a digit: `my-tool-1.2.3`.
    let at = stem
        .char_indices()
        .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)?;
    nonempty(&stem[..at], &stem[at + 1..])
}

fn nonempty(name: &str, version: &str) -> Option<(String, String)> {
    (!name.is_empty() && !version.is_empty()).then(|| (name.to_owned(), version.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::predict;

    fn p(f: &str) -> (String, String) {
        predict(f).unwrap_or_else(|| panic!("no prediction for {f}"))
    }

    #[test]
    fn predicts_each_format() {
        assert_eq!(p("hello_1.2.3-1_amd64.deb"), ("hello".into(), "1.2.3-1".into()));
        assert_eq!(
            p("hello-1.2.3-1.el9.x86_64.rpm"),
            ("hello".into(), "1.2.3-1.el9".into())
        );
        assert_eq!(p("hello-world-1.2.3-r0.apk"), ("hello-world".into(), "1.2.3-r0".into()));
        assert_eq!(p("my_pkg-0.4.0-py3-none-any.whl"), ("my_pkg".into(), "0.4.0".into()));
        assert_eq!(p("my-pkg-0.4.0.tar.gz"), ("my-pkg".into(), "0.4.0".into()));
        assert_eq!(p("mychart-1.0.0.tgz"), ("mychart".into(), "1.0.0".into()));
        assert_eq!(p("tool-2.0.0.bin"), ("tool".into(), "2.0.0".into()));
        assert!(predict("README").is_none());
    }
}
