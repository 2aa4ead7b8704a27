//! Bounded reading of archives and of the metadata text inside them. Every read of a
//! package goes through a cap: one metadata file is at most [`META_MAX`], and at most
//! [`SCAN_MAX`] decompressed bytes are looked through to find it, so a decompression
//! bomb or a metadata file buried behind gigabytes of data is an error, not an
//! exhausted machine. A truncated archive ends in an error from the reader, never in
//! a wait: the input is a regular file.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::{Format, Invalid};

/// The largest metadata file read (a control file, `METADATA`, `package.json`, …).
pub(super) const META_MAX: u64 = 1024 * 1024;
/// The most decompressed bytes looked through to find a metadata file.
pub(super) const SCAN_MAX: u64 = 256 * 1024 * 1024;

/// The marker of a read that went past its cap.
#[derive(Debug)]
struct OverCap;

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the size cap")
    }
}

impl std::error::Error for OverCap {}

/// A reader that fails once more than `left` bytes went through it.
pub(super) struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Capped<R> {
    pub(super) fn new(inner: R, cap: u64) -> Capped<R> {
        Capped { inner, left: cap }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One more byte would go past the cap: look whether there is one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(OverCap)),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether an I/O error is a cap being hit.
pub(super) fn is_over_cap(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(<dyn std::error::Error + std::marker::Send + std::marker::Sync + 'static>::is::<OverCap>)
}

/// Reads all of `r`, at most `cap` bytes; `what` names it in the error.
pub(super) fn read_all(r: impl Read, cap: u64, format: Format, what: &str) -> Result<Vec<u8>, Invalid> {
    let mut out = Vec::new();
    Capped::new(r, cap).read_to_end(&mut out).map_err(|e| {
        if is_over_cap(&e) {
            Invalid::new(
                format,
                format!("{what} is larger than {} MiB (a decompression bomb?)", cap >> 20),
            )
        } else {
            broken(format, what, &e)
        }
    })?;
    Ok(out)
}

/// The error for an archive that cannot be read.
pub(super) fn broken(format: Format, what: &str, err: &io::Error) -> Invalid {
    if is_over_cap(err) {
        return Invalid::new(
            format,
            format!("{what} was not found within the first {} MiB", SCAN_MAX >> 20),
        );
    }
    let why = match err.kind() {
        io::ErrorKind::UnexpectedEof => "it is truncated".to_owned(),
        _ => format!("it is corrupt ({err})"),
    };
    Invalid::new(format, format!("{what} cannot be read: {why}"))
}

/// Looks through the tar stream `r` for the first entry whose path (without a
/// leading `./`) `wanted` accepts, reading at most [`SCAN_MAX`] bytes of the stream;
/// returns its path and contents (at most [`META_MAX`]).
pub(super) fn find_in_tar(
    r: impl Read,
    format: Format,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<(String, Vec<u8>)>, Invalid> {
    let mut archive = tar::Archive::new(Capped::new(r, SCAN_MAX));
    let entries = archive.entries().map_err(|e| broken(format, "the archive", &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| broken(format, "the archive", &e))?;
        let path = entry
            .path()
            .map_err(|e| broken(format, "the archive", &e))?
            .to_string_lossy()
            .into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_owned();
        if entry.header().entry_type().is_file() && wanted(&path) {
            let data = read_all(&mut entry, META_MAX, format, what)?;
            return Ok(Some((path, data)));
        }
    }
    Ok(None)
}

/// Metadata text as UTF-8.
pub(super) fn text(data: Vec<u8>, format: Format, what: &str) -> Result<String, Invalid> {
    String::from_utf8(data).map_err(|_| Invalid::new(format, format!("{what} is not UTF-8 text")))
}

/// The `Key: value` fields of the first paragraph of a Debian control file or an
/// email-style header block (`METADATA`, `PKG-INFO`): keys in lower case,
/// continuation lines joined, the first occurrence of a key kept.
#[must_use]
pub(super) fn colon_fields(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                let value: &mut String = value;
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            last = None;
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        last = (!fields.contains_key(&key)).then(|| key.clone());
        fields.entry(key).or_insert_with(|| value.trim().to_owned());
    }
    fields
}

/// A required field, or an error naming it.
pub(super) fn required(
    fields: &BTreeMap<String, String>,
    key: &str,
    format: Format,
    what: &str,
) -> Result<String, Invalid> {
    fields
        .get(&key.to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| Invalid::new(format, format!("{what} has no {key} field")))
}

/// The first document of a YAML text (`Chart.yaml`, a gem's metadata).
pub(super) fn yaml(text: &str, format: Format, what: &str) -> Result<yaml_rust2::Yaml, Invalid> {
    let mut docs = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| Invalid::new(format, format!("{what} is not valid YAML ({e})")))?;
    if docs.is_empty() {
        return Err(Invalid::new(format, format!("{what} is empty")));
    }
    Ok(docs.swap_remove(0))
}

/// A YAML scalar as text (a version written as a number included); `None` when it is
/// missing, empty or not a scalar.
#[must_use]
pub(super) fn scalar(value: &yaml_rust2::Yaml) -> Option<String> {
    use yaml_rust2::Yaml;
    let text = match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        _ => return None,
    };
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stop_at_the_first_blank_line_and_keep_the_first_value() {
        let f =
            colon_fields("Package: hello\nVersion: 1:2.4-1\nDescription: one\n two\nVersion: 9\n\nPackage: other\n");
        assert_eq!(f["package"], "hello");
        assert_eq!(f["version"], "1:2.4-1");
        assert_eq!(f["description"], "one\ntwo");
    }

    #[test]
    fn a_capped_read_fails_one_byte_past_the_cap() {
        assert_eq!(read_all(&b"abcd"[..], 4, Format::Npm, "x").unwrap(), b"abcd");
        let err = read_all(&b"abcde"[..], 4, Format::Npm, "package.json").unwrap_err();
        assert!(err.0.contains("package.json is larger than 0 MiB"), "{err}");
    }
}
