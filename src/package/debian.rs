//! Debian packages: an `ar` archive of `debian-binary`, `control.tar[.gz|.xz|.zst]`
//! and the data. The identity is the control file's `Package`, `Version` (with its
//! epoch, as dpkg writes it) and `Architecture`; only the control member is read.

use std::fs::File;

use super::archive::{self, META_MAX};
use super::{Format, Identity, Invalid};

const F: Format = Format::Debian;
/// The largest compressed control member read.
const CONTROL_MAX: u64 = 64 * 1024 * 1024;

pub(super) fn read(file: &mut File) -> Result<Identity, Invalid> {
    let len = file.metadata().map_err(|e| bad_ar(&e))?.len();
    let mut ar = ar::Archive::new(file);
    // Where the next member's header starts: after the magic, then each member's
    // header, data and padding to an even offset.
    let mut offset = 8u64;
    let mut member = |expect: &str, read: bool| -> Result<(String, Vec<u8>), Invalid> {
        let entry = ar
            .next_entry()
            .ok_or_else(|| Invalid::new(F, format!("the archive ends before {expect}")))?
            .map_err(|e| bad_ar(&e))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        let size = entry.header().size();
        offset += 60 + size + (size & 1);
        if offset - (size & 1) > len {
            return Err(Invalid::new(F, format!("it is truncated in {name}")));
        }
        let data = if read {
            archive::read_all(entry, CONTROL_MAX, F, &name)?
        } else {
            Vec::new()
        };
        Ok((name, data))
    };
    let (first, version) = member("debian-binary", true)?;
    if first != "debian-binary" || !version.starts_with(b"2.") {
        return Err(Invalid::new(
            F,
            format!("its first member is {first:?}, not a debian-binary of format 2.x"),
        ));
    }
    let (name, compressed) = member("the control archive", true)?;
    // The data member's declared size must fit in the file: a file cut anywhere is
    // refused, without reading the data.
    let (data, _) = member("the data archive", false)?;
    if !data.starts_with("data.tar") {
        return Err(Invalid::new(F, format!("its third member is {data:?}, not data.tar")));
    }
    let control_tar = decompress(&name, &compressed)?;
    let control = archive::find_in_tar(&control_tar[..], F, "the control file", |p| p == "control")?
        .ok_or_else(|| Invalid::new(F, format!("{name} has no control file")))?;
    identity(&archive::text(control.1, F, "the control file")?)
}

fn bad_ar(err: &std::io::Error) -> Invalid {
    Invalid::new(F, format!("it is not a readable ar archive ({err})"))
}

/// The control member, decompressed (at most [`META_MAX`] times 16: a control
/// archive holds the control file and maintainer scripts).
fn decompress(name: &str, data: &[u8]) -> Result<Vec<u8>, Invalid> {
    let cap = META_MAX * 16;
    match name {
        "control.tar" => Ok(data.to_vec()),
        "control.tar.gz" => archive::read_all(flate2::read::GzDecoder::new(data), cap, F, name),
        "control.tar.zst" => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| Invalid::new(F, format!("{name} cannot be read: {e}")))?;
            archive::read_all(decoder, cap, F, name)
        }
        "control.tar.xz" => {
            let mut out = CappedVec { data: Vec::new(), cap };
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(data), &mut out).map_err(|e| {
                if out.data.len() as u64 >= cap {
                    Invalid::new(F, format!("{name} is larger than {} MiB", cap >> 20))
                } else {
                    Invalid::new(F, format!("{name} cannot be read: {e}"))
                }
            })?;
            Ok(out.data)
        }
        other => Err(Invalid::new(
            F,
            format!("its second member is {other:?}, not control.tar(.gz|.xz|.zst)"),
        )),
    }
}

/// A writer that refuses to grow past `cap`.
struct CappedVec {
    data: Vec<u8>,
    cap: u64,
}

impl std::io::Write for CappedVec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.data.len() + buf.len()) as u64 > self.cap {
            self.data.resize(usize::try_from(self.cap).unwrap_or(usize::MAX), 0);
            return Err(std::io::Error::other("over the size cap"));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn identity(control: &str) -> Result<Identity, Invalid> {
    let fields = archive::colon_fields(control);
    let what = "the control file";
    let name = archive::required(&fields, "Package", F, what)?;
    let version = archive::required(&fields, "Version", F, what)?;
    let arch = archive::required(&fields, "Architecture", F, what)?;
    let valid_name = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !valid_name {
        return Err(Invalid::new(
            F,
            format!("its Package field {name:?} is not a Debian package name (lower-case letters, digits, + - .)"),
        ));
    }
    if version.contains(char::is_whitespace) || !version.chars().any(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            F,
            format!("its Version field {version:?} is not a Debian version"),
        ));
    }
    let version_aliases = version
        .split_once(':')
        .map(|(_, rest)| vec![rest.to_owned()])
        .unwrap_or_default();
    Ok(Identity {
        format: F,
        name,
        version,
        version_aliases,
        variant: Some(arch),
        name_says: None,
    })
}

/// Reads a member's bytes, for tests of hand-made archives.
#[cfg(test)]
pub(super) fn read_bytes(bytes: &[u8]) -> Result<Identity, Invalid> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.deb");
    std::fs::write(&path, bytes).unwrap();
    read(&mut File::open(&path).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_part_of_the_version_and_an_alias_drops_it() {
        let id = identity("Package: hello\nVersion: 1:2.4.1-1\nArchitecture: amd64\n").unwrap();
        assert_eq!((id.name.as_str(), id.version.as_str()), ("hello", "1:2.4.1-1"));
        assert_eq!(id.version_aliases, ["2.4.1-1"]);
        assert_eq!(id.variant.as_deref(), Some("amd64"));
    }

    #[test]
    fn a_control_file_without_a_version_or_with_a_bad_name_is_invalid() {
        let err = identity("Package: hello\nArchitecture: all\n").unwrap_err();
        assert_eq!(
            err.0,
            "not a valid Debian package: the control file has no Version field"
        );
        assert!(identity("Package: Hello World\nVersion: 1\nArchitecture: all\n").is_err());
    }

    #[test]
    fn text_that_is_not_an_ar_archive_is_invalid() {
        let err = read_bytes(b"hello, I am not a package").unwrap_err();
        assert!(
            err.0
                .starts_with("not a valid Debian package: it is not a readable ar archive"),
            "{err}"
        );
        let err = read_bytes(b"!<arch>\n").unwrap_err();
        assert!(err.0.contains("ends before debian-binary"), "{err}");
    }
}
