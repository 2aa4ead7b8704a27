//! RPM packages: a 96-byte lead, a signature header, then the main header whose
//! tags hold the identity: `NAME`, `EPOCH`, `VERSION`, `RELEASE`, `ARCH` (a source
//! package's lead says so, and its architecture is `src`). Only the headers' index
//! and the few values needed are read; the payload is never touched.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{Format, Identity, Invalid};

const F: Format = Format::RedHat;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// Bounds on a header: real ones hold a few thousand entries and a few MiB of data.
const MAX_ENTRIES: u32 = 1 << 20;
const MAX_STORE: u32 = 1 << 30;
const MAX_STRING: usize = 4096;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
/// The signature header's size of header plus payload (32 and 64 bit).
const SIG_SIZE: u32 = 1000;
const SIG_LONGSIZE: u32 = 270;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;

/// One index entry of a header.
struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
}

/// A header: its index, and where its data store starts in the file.
struct Header {
    entries: Vec<Entry>,
    store: u64,
    store_len: u32,
}

pub(super) fn read(file: &mut File) -> Result<Identity, Invalid> {
    let mut lead = [0u8; 96];
    file.read_exact(&mut lead).map_err(|e| io(&e, "the lead"))?;
    if lead[..4] != LEAD_MAGIC {
        return Err(Invalid::new(F, "it does not start with the RPM lead"));
    }
    let source = u16::from_be_bytes([lead[6], lead[7]]) == 1;
    let signature = header(file, 96, "the signature header")?;
    // The main header starts after the signature's store, aligned to 8 bytes.
    let end = signature.store + u64::from(signature.store_len);
    let main_at = end.div_ceil(8) * 8;
    let main = header(file, main_at, "the header")?;
    check_size(file, &signature, main_at)?;
    let name = string(file, &main, TAG_NAME)?.ok_or_else(|| missing("NAME"))?;
    let version = string(file, &main, TAG_VERSION)?.ok_or_else(|| missing("VERSION"))?;
    let release = string(file, &main, TAG_RELEASE)?.ok_or_else(|| missing("RELEASE"))?;
    let arch = if source {
        "src".to_owned()
    } else {
        string(file, &main, TAG_ARCH)?.ok_or_else(|| missing("ARCH"))?
    };
    let epoch = int32(file, &main, TAG_EPOCH)?;
    Ok(identity(name, epoch, &version, &release, arch))
}

fn identity(name: String, epoch: Option<u32>, version: &str, release: &str, arch: String) -> Identity {
    let evr = format!("{version}-{release}");
    let (version, version_aliases) = match epoch {
        Some(e) => (format!("{e}:{evr}"), vec![evr, version.to_owned()]),
        None => (evr, vec![version.to_owned()]),
    };
    Identity {
        format: F,
        name,
        version,
        version_aliases,
        variant: Some(arch),
        name_says: None,
    }
}

fn missing(tag: &str) -> Invalid {
    Invalid::new(F, format!("its header has no {tag} tag"))
}

fn io(err: &std::io::Error, what: &str) -> Invalid {
    if err.kind() == std::io::ErrorKind::UnexpectedEof {
        Invalid::new(F, format!("it is truncated in {what}"))
    } else {
        Invalid::new(F, format!("{what} cannot be read ({err})"))
    }
}

/// Reads the header at `at`: its magic, its index, where its store is.
fn header(file: &mut File, at: u64, what: &str) -> Result<Header, Invalid> {
    let mut intro = [0u8; 16];
    file.seek(SeekFrom::Start(at)).map_err(|e| io(&e, what))?;
    file.read_exact(&mut intro).map_err(|e| io(&e, what))?;
    if intro[..3] != HEADER_MAGIC {
        return Err(Invalid::new(F, format!("{what} has no header magic")));
    }
    let count = u32::from_be_bytes(intro[8..12].try_into().expect("4 bytes"));
    let store_len = u32::from_be_bytes(intro[12..16].try_into().expect("4 bytes"));
    if count > MAX_ENTRIES || store_len > MAX_STORE {
        return Err(Invalid::new(
            F,
            format!("{what} claims {count} entries and {store_len} bytes, more than any real package"),
        ));
    }
    let mut index = vec![0u8; count as usize * 16];
    file.read_exact(&mut index).map_err(|e| io(&e, what))?;
    let entries = index
        .chunks_exact(16)
        .map(|e| Entry {
            tag: u32::from_be_bytes(e[0..4].try_into().expect("4 bytes")),
            kind: u32::from_be_bytes(e[4..8].try_into().expect("4 bytes")),
            offset: u32::from_be_bytes(e[8..12].try_into().expect("4 bytes")),
        })
        .collect();
    let store = at + 16 + u64::from(count) * 16;
    // The whole store must be there: a truncated header is not a package.
    let len = file.metadata().map_err(|e| io(&e, what))?.len();
    if store + u64::from(store_len) > len {
        return Err(Invalid::new(F, format!("it is truncated in {what}")));
    }
    Ok(Header {
        entries,
        store,
        store_len,
    })
}

/// The signature's size tag (header and payload together) against the file's length:
/// a file cut anywhere, even in the payload, is refused.
fn check_size(file: &mut File, signature: &Header, main_at: u64) -> Result<(), Invalid> {
    let declared = match int32(file, signature, SIG_SIZE)? {
        Some(size) => Some(u64::from(size)),
        None => int64(file, signature, SIG_LONGSIZE)?,
    };
    let len = file.metadata().map_err(|e| io(&e, "the file"))?.len();
    match declared {
        Some(size) if main_at + size > len => Err(Invalid::new(
            F,
            format!(
                "it is truncated: its signature says {} bytes, the file has {len}",
                main_at + size
            ),
        )),
        _ => Ok(()),
    }
}

fn find(header: &Header, tag: u32, kind: u32) -> Result<Option<u32>, Invalid> {
    let Some(entry) = header.entries.iter().find(|e| e.tag == tag) else {
        return Ok(None);
    };
    if entry.kind != kind || entry.offset >= header.store_len {
        return Err(Invalid::new(F, format!("its header tag {tag} is malformed")));
    }
    Ok(Some(entry.offset))
}

/// A NUL-terminated string value.
fn string(file: &mut File, header: &Header, tag: u32) -> Result<Option<String>, Invalid> {
    let Some(offset) = find(header, tag, TYPE_STRING)? else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(header.store + u64::from(offset)))
        .map_err(|e| io(&e, "the header"))?;
    let room = (header.store_len - offset) as usize;
    let mut buf = vec![0u8; room.min(MAX_STRING)];
    file.read_exact(&mut buf).map_err(|e| io(&e, "the header"))?;
    let end = buf
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Invalid::new(F, format!("its header tag {tag} is not a terminated string")))?;
    let value = String::from_utf8(buf[..end].to_vec())
        .map_err(|_| Invalid::new(F, format!("its header tag {tag} is not UTF-8")))?;
    Ok((!value.is_empty()).then_some(value))
}

fn int32(file: &mut File, header: &Header, tag: u32) -> Result<Option<u32>, Invalid> {
    let Some(offset) = find(header, tag, TYPE_INT32)? else {
        return Ok(None);
    };
    if header.store_len - offset < 4 {
        return Err(Invalid::new(F, format!("its header tag {tag} is malformed")));
    }
    let mut buf = [0u8; 4];
    file.seek(SeekFrom::Start(header.store + u64::from(offset)))
        .map_err(|e| io(&e, "the header"))?;
    file.read_exact(&mut buf).map_err(|e| io(&e, "the header"))?;
    Ok(Some(u32::from_be_bytes(buf)))
}

fn int64(file: &mut File, header: &Header, tag: u32) -> Result<Option<u64>, Invalid> {
    let Some(offset) = find(header, tag, TYPE_INT64)? else {
        return Ok(None);
    };
    if header.store_len - offset < 8 {
        return Err(Invalid::new(F, format!("its header tag {tag} is malformed")));
    }
    let mut buf = [0u8; 8];
    file.seek(SeekFrom::Start(header.store + u64::from(offset)))
        .map_err(|e| io(&e, "the header"))?;
    file.read_exact(&mut buf).map_err(|e| io(&e, "the header"))?;
    Ok(Some(u64::from_be_bytes(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_written_before_version_and_release() {
        let id = identity("hello".into(), Some(2), "1.0", "3.el9", "x86_64".into());
        assert_eq!(id.version, "2:1.0-3.el9");
        assert_eq!(id.version_aliases, ["1.0-3.el9", "1.0"]);
        let id = identity("hello".into(), None, "1.0", "3", "noarch".into());
        assert_eq!(id.version, "1.0-3");
    }
}
