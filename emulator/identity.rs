//! How the emulated registry decides what an uploaded file is, from its bytes, with
//! code of its own (it shares nothing with the client): the registry's ecosystem
//! says which kind of package it must be; the package's metadata says its name,
//! version and variant (architecture, wheel tags, `sdist`, gem platform). A file that
//! is not a valid package of that kind is refused (422), as the registry does.
//! Python names are stored in their PEP 503 form.
//!
//! Versions are recorded as the package writes them: a Debian epoch in the version
//! (`1:2.4.1-1`, as apt shows it), an RPM as `epoch:version-release` (the epoch only
//! when the header has one), a gem's version without its platform.

use std::io::Read;
use std::path::Path;

/// What the registry records for a package file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub version: String,
    pub variant: Option<String>,
}

const LIMIT: u64 = 8 << 20;
const HEAD: u64 = 64 << 20;

type R = Result<Ident, String>;

/// Reads the identity of the file at `path`, uploaded as `file_name`, for a registry
/// of `ecosystem`.
pub fn identify(path: &Path, file_name: &str, ecosystem: &str) -> R {
    let open = || std::fs::File::open(path).map_err(|e| format!("Unreadable upload: {e}"));
    let total = open()?.metadata().map_err(|e| e.to_string())?.len() as usize;
    // Debian and RPM metadata sits at the front: the head is enough, with the length.
    let head = || -> Result<Vec<u8>, String> {
        let mut head = Vec::new();
        open()?.take(HEAD).read_to_end(&mut head).map_err(|e| e.to_string())?;
        Ok(head)
    };
    match ecosystem {
        "debian" => deb(&head()?, total),
        "redhat" | "red-hat" => rpm(&head()?, total),
        "alpine" => apk(open()?),
        "python"
            if Path::new(file_name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("whl")) =>
        {
            wheel(path, file_name)
        }
        "python" => sdist(open()?),
        "javascript" | "npm" => npm(open()?),
        "ruby" => gem(open()?),
        "helm" => chart(open()?),
        "terraform" => terraform(file_name),
        _ => generic(file_name),
    }
}

fn invalid(kind: &str, why: &str) -> String {
    format!("Invalid {kind} package: {why}")
}

/// The members of a Unix `ar` archive, by hand.
/// `data` is the file's head, `total` its whole length: a member that runs past the
/// head is kept cut short, one that runs past the file means it is truncated.
fn ar_members(data: &[u8], total: usize) -> Option<Vec<(String, &[u8])>> {
    let mut rest = data.strip_prefix(b"!<arch>\n")?;
    let mut offset = 8;
    let mut out = Vec::new();
    while rest.len() >= 60 {
        let (head, body) = rest.split_at(60);
        let name = std::str::from_utf8(&head[..16])
            .ok()?
            .trim_end()
            .trim_end_matches('/')
            .to_owned();
        let size: usize = std::str::from_utf8(&head[48..58]).ok()?.trim().parse().ok()?;
        offset += 60 + size;
        if offset > total {
            return None;
        }
        out.push((name, &body[..size.min(body.len())]));
        offset += size & 1;
        rest = &body[(size + (size & 1)).min(body.len())..];
    }
    Some(out)
}

fn untar_find(reader: impl Read, want: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(reader.take(LIMIT * 32));
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.to_string_lossy().trim_start_matches("./").to_owned();
        if want(&path) {
            let mut out = Vec::new();
            entry.by_ref().take(LIMIT).read_to_end(&mut out).ok()?;
            return Some(out);
        }
    }
    None
}

/// `Key: value` lines up to the first blank line.
fn header_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(key).then(|| v.trim().to_owned())
        })
        .filter(|v| !v.is_empty())
}

fn deb(data: &[u8], total: usize) -> R {
    let bad = |why: &str| invalid("Debian", why);
    let members = ar_members(data, total).ok_or_else(|| bad("not an ar archive, or truncated"))?;
    if members.first().map(|m| m.0.as_str()) != Some("debian-binary") {
        return Err(bad("missing debian-binary"));
    }
    let (name, control) = members.get(1).ok_or_else(|| bad("missing control archive"))?;
    if !members.get(2).is_some_and(|m| m.0.starts_with("data.tar")) {
        return Err(bad("missing data archive"));
    }
    let tar: Vec<u8> = match name.as_str() {
        "control.tar.gz" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(*control)
                .take(LIMIT)
                .read_to_end(&mut out)
                .map_err(|_| bad("corrupt control.tar.gz"))?;
            out
        }
        "control.tar.xz" => {
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(*control), &mut out)
                .map_err(|_| bad("corrupt control.tar.xz"))?;
            out
        }
        "control.tar.zst" => {
            let mut out = Vec::new();
            ruzstd::decoding::StreamingDecoder::new(*control)
                .map_err(|_| bad("corrupt control.tar.zst"))?
                .take(LIMIT)
                .read_to_end(&mut out)
                .map_err(|_| bad("corrupt control.tar.zst"))?;
            out
        }
        "control.tar" => control.to_vec(),
        _ => return Err(bad("unknown control archive")),
    };
    let control = untar_find(&tar[..], |p| p == "control").ok_or_else(|| bad("no control file"))?;
    let text = String::from_utf8_lossy(&control);
    Ok(Ident {
        name: header_value(&text, "Package").ok_or_else(|| bad("no Package"))?,
        version: header_value(&text, "Version").ok_or_else(|| bad("no Version"))?,
        variant: Some(header_value(&text, "Architecture").ok_or_else(|| bad("no Architecture"))?),
    })
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn rpm(data: &[u8], total: usize) -> R {
    let bad = |why: &str| invalid("RPM", why);
    if data.get(..4) != Some(&[0xed, 0xab, 0xee, 0xdb][..]) {
        return Err(bad("no lead"));
    }
    let source = data.get(6..8) == Some(&[0, 1][..]);
    // (index entries, store) of the header at `at`, and where it ends.
    let header = |at: usize| -> Option<(usize, usize, usize, usize)> {
        if data.get(at..at + 3)? != [0x8e, 0xad, 0xe8] {
            return None;
        }
        let n = be32(data, at + 8)? as usize;
        let len = be32(data, at + 12)? as usize;
        let store = at + 16 + n * 16;
        (store + len <= data.len()).then_some((at + 16, n, store, store + len))
    };
    let (sig_index, sig_n, sig_store, sig_end) = header(96).ok_or_else(|| bad("bad signature header"))?;
    let main = sig_end.div_ceil(8) * 8;
    let (index, n, store, _) = header(main).ok_or_else(|| bad("bad or truncated header"))?;
    let tag_at = |index: usize, n: usize, tag: u32| {
        (0..n).find_map(|i| {
            (be32(data, index + i * 16)? == tag)
                .then(|| be32(data, index + i * 16 + 8))
                .flatten()
        })
    };
    if let Some(off) = tag_at(sig_index, sig_n, 1000) {
        let size = be32(data, sig_store + off as usize).unwrap_or(0) as usize;
        if main + size > total {
            return Err(bad("truncated payload"));
        }
    }
    let string = |tag: u32| -> Option<String> {
        let off = store + tag_at(index, n, tag)? as usize;
        let end = off + data.get(off..)?.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&data[off..end]).into_owned())
    };
    let name = string(1000).ok_or_else(|| bad("no NAME"))?;
    let vr = format!(
        "{}-{}",
        string(1001).ok_or_else(|| bad("no VERSION"))?,
        string(1002).ok_or_else(|| bad("no RELEASE"))?
    );
    let version = match tag_at(index, n, 1003).and_then(|off| be32(data, store + off as usize)) {
        Some(epoch) => format!("{epoch}:{vr}"),
        None => vr,
    };
    let arch = if source {
        "src".to_owned()
    } else {
        string(1022).ok_or_else(|| bad("no ARCH"))?
    };
    Ok(Ident {
        name,
        version,
        variant: Some(arch),
    })
}

fn apk(data: std::fs::File) -> R {
    let data = std::io::BufReader::new(data);
    let bad = |why: &str| invalid("Alpine", why);
    let info =
        untar_find(flate2::read::MultiGzDecoder::new(data), |p| p == ".PKGINFO").ok_or_else(|| bad("no .PKGINFO"))?;
    let text = String::from_utf8_lossy(&info);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(" = ")
                    .filter(|(key, _)| *key == k)
                    .map(|(_, v)| v.trim().to_owned())
            })
            .ok_or_else(|| bad(&format!("no {k}")))
    };
    Ok(Ident {
        name: get("pkgname")?,
        version: get("pkgver")?,
        variant: Some(get("arch")?),
    })
}

/// PEP 503, the emulator's own way: lower case, separator runs to one `-`.
pub fn normalize(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut out = String::new();
    for part in lower.split(['-', '_', '.']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    out
}

fn wheel(path: &Path, file_name: &str) -> R {
    let bad = |why: &str| invalid("Python", why);
    let parts: Vec<&str> = file_name.trim_end_matches(".whl").split('-').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return Err(bad("wheel file name does not follow the wheel naming rule"));
    }
    let file = std::fs::File::open(path).map_err(|e| bad(&e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|_| bad("not a zip archive"))?;
    let meta = (0..zip.len())
        .find(|&i| {
            zip.by_index_raw(i)
                .is_ok_and(|f| f.name().ends_with(".dist-info/METADATA") && f.name().matches('/').count() == 1)
        })
        .ok_or_else(|| bad("no METADATA"))?;
    let mut text = String::new();
    zip.by_index(meta)
        .map_err(|_| bad("unreadable METADATA"))?
        .take(LIMIT)
        .read_to_string(&mut text)
        .map_err(|_| bad("unreadable METADATA"))?;
    let tags = parts[parts.len() - 3..].join("-");
    Ok(Ident {
        name: normalize(&header_value(&text, "Name").ok_or_else(|| bad("no Name"))?),
        version: header_value(&text, "Version").ok_or_else(|| bad("no Version"))?,
        variant: Some(tags),
    })
}

fn depth_two(path: &str, file: &str) -> bool {
    let mut parts = path.split('/');
    parts.next().is_some_and(|d| !d.is_empty()) && parts.next() == Some(file) && parts.next().is_none()
}

fn sdist(data: std::fs::File) -> R {
    let data = std::io::BufReader::new(data);
    let bad = |why: &str| invalid("Python", why);
    let info = untar_find(flate2::read::GzDecoder::new(data), |p| depth_two(p, "PKG-INFO"))
        .ok_or_else(|| bad("no PKG-INFO"))?;
    let text = String::from_utf8_lossy(&info);
    Ok(Ident {
        name: normalize(&header_value(&text, "Name").ok_or_else(|| bad("no Name"))?),
        version: header_value(&text, "Version").ok_or_else(|| bad("no Version"))?,
        variant: Some("sdist".to_owned()),
    })
}

fn npm(data: std::fs::File) -> R {
    let data = std::io::BufReader::new(data);
    let bad = |why: &str| invalid("npm", why);
    let json = untar_find(flate2::read::GzDecoder::new(data), |p| p == "package/package.json")
        .ok_or_else(|| bad("no package.json"))?;
    let v: serde_json::Value = serde_json::from_slice(&json).map_err(|_| bad("package.json is not JSON"))?;
    let s = |k: &str| {
        v[k].as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(&format!("no {k}")))
    };
    Ok(Ident {
        name: s("name")?,
        version: s("version")?,
        variant: None,
    })
}

/// A top-level `key: value` of a simple YAML text, quotes removed.
fn yaml_top(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?.trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty() && !v.starts_with('!')).then(|| v.to_owned())
    })
}

fn gem(data: std::fs::File) -> R {
    let data = std::io::BufReader::new(data);
    let bad = |why: &str| invalid("Ruby", why);
    let gz = untar_find(data, |p| p == "metadata.gz").ok_or_else(|| bad("no metadata.gz"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .take(LIMIT)
        .read_to_string(&mut text)
        .map_err(|_| bad("bad metadata.gz"))?;
    let name = yaml_top(&text, "name").ok_or_else(|| bad("no name"))?;
    // `version: !ruby/object:Gem::Version` then an indented `version: X`.
    let after = text
        .split_once("\nversion:")
        .map(|(_, r)| r)
        .ok_or_else(|| bad("no version"))?;
    let version = after
        .lines()
        .skip(1)
        .find_map(|l| l.trim_start().strip_prefix("version:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        .ok_or_else(|| bad("no version"))?;
    let platform = yaml_top(&text, "platform").filter(|p| p != "ruby");
    Ok(Ident {
        name,
        version,
        variant: platform,
    })
}

fn chart(data: std::fs::File) -> R {
    let data = std::io::BufReader::new(data);
    let bad = |why: &str| invalid("Helm", why);
    let yaml = untar_find(flate2::read::GzDecoder::new(data), |p| depth_two(p, "Chart.yaml"))
        .ok_or_else(|| bad("no Chart.yaml"))?;
    let text = String::from_utf8_lossy(&yaml);
    Ok(Ident {
        name: yaml_top(&text, "name").ok_or_else(|| bad("no name"))?,
        version: yaml_top(&text, "version").ok_or_else(|| bad("no version"))?,
        variant: None,
    })
}

fn terraform(file_name: &str) -> R {
    let rule = || "Invalid filename format. Expected: terraform-{provider}-{module}-{major.minor.patch}.tgz".to_owned();
    let stem = file_name
        .strip_prefix("terraform-")
        .and_then(|s| s.strip_suffix(".tgz"))
        .ok_or_else(rule)?;
    let (rest, version) = stem.rsplit_once('-').ok_or_else(rule)?;
    let numbers: Vec<&str> = version.split('.').collect();
    if numbers.len() != 3
        || numbers
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(rule());
    }
    match rest.split_once('-') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(Ident {
            name: format!("terraform-{rest}"),
            version: version.to_owned(),
            variant: None,
        }),
        _ => Err(rule()),
    }
}

/// Files: `{BASENAME}-{SEMVER}.{EXT}`, the version starting at the first `-` that
/// is followed by `N.N.N`.
fn generic(file_name: &str) -> R {
    let rule = || "Invalid filename format. Expected: {BASENAME}-{SEMVER}.{EXT}".to_owned();
    for (at, _) in file_name.match_indices('-') {
        let (name, rest) = (&file_name[..at], &file_name[at + 1..]);
        let mut dots = rest.splitn(4, '.');
        let (Some(a), Some(b), Some(c)) = (dots.next(), dots.next(), dots.next()) else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|x| x.is_ascii_digit());
        // The patch number may carry a -prerelease or +build, up to the extension.
        let patch_digits: String = c.chars().take_while(char::is_ascii_digit).collect();
        if name.is_empty() || !digits(a) || !digits(b) || patch_digits.is_empty() {
            continue;
        }
        let ext_at = rest
            .rfind('.')
            .filter(|&i| i > a.len() + b.len() + 1 + patch_digits.len());
        let version_end = match [".tar.gz", ".tar.xz", ".tar.bz2"].iter().find(|e| rest.ends_with(*e)) {
            Some(e) => rest.len() - e.len(),
            None => match ext_at {
                Some(i) => i,
                None => continue,
            },
        };
        return Ok(Ident {
            name: name.to_owned(),
            version: rest[..version_end].to_owned(),
            variant: None,
        });
    }
    Err(rule())
}

/// The identity of a file in a registry whose identity is the file name (Terraform,
/// Files); `None` for an ecosystem that reads the package's bytes.
pub fn by_name(file_name: &str, ecosystem: &str) -> Option<R> {
    match ecosystem {
        "terraform" => Some(terraform(file_name)),
        "files" | "file" | "generic" => Some(generic(file_name)),
        _ => None,
    }
}

/// A file name for logs when the identity is not read (sink mode).
pub fn unread(file_name: &str) -> Ident {
    Ident {
        name: file_name.to_owned(),
        version: "0".to_owned(),
        variant: None,
    }
}
