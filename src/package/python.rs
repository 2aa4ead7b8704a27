//! Python distributions. A wheel's name, version and tags come from its file name
//! (the wheel file-name spec: `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`)
//! and are checked against the `METADATA` in its `.dist-info`, which wins; an sdist's
//! from its `PKG-INFO` (`{name}-{version}/PKG-INFO`). Names are compared in their
//! PEP 503 form, as the index stores them.

use std::fs::File;
use std::io::{BufReader, Read};

use super::archive::{self, META_MAX};
use super::names::pep503;
use super::tarball::top_level;
use super::{Format, Identity, Invalid};

/// At most this many entries in a wheel's central directory.
const MAX_ENTRIES: usize = 1_000_000;

/// A wheel file name's parts.
struct WheelName<'a> {
    name: &'a str,
    version: &'a str,
    tags: String,
}

fn wheel_name(file_name: &str) -> Option<WheelName<'_>> {
    let stem = file_name.get(..file_name.len().checked_sub(4)?)?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(parts.len() == 5 || parts.len() == 6) || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let n = parts.len();
    Some(WheelName {
        name: parts[0],
        version: parts[1],
        tags: parts[n - 3..].join("-"),
    })
}

pub(super) fn wheel(file: &mut File, file_name: &str) -> Result<Identity, Invalid> {
    let f = Format::Wheel;
    let parsed = wheel_name(file_name).ok_or_else(|| {
        Invalid::new(
            f,
            format!("{file_name:?} does not follow the wheel file-name rule {{name}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl"),
        )
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Invalid::new(f, format!("it is not a readable zip archive ({e})")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(Invalid::new(
            f,
            format!("it has {} entries, more than any real wheel", zip.len()),
        ));
    }
    let wanted = format!("{}-{}.dist-info/METADATA", parsed.name, parsed.version);
    let path = if zip.index_for_name(&wanted).is_some() {
        wanted
    } else {
        zip.file_names()
            .find(|n| {
                n.split_once('/')
                    .is_some_and(|(d, rest)| d.ends_with(".dist-info") && rest == "METADATA")
            })
            .map(str::to_owned)
            .ok_or_else(|| Invalid::new(f, "it has no .dist-info/METADATA"))?
    };
    let metadata = zip_entry(&mut zip, &path, f)?;
    let (name, version) = name_and_version(&metadata, f, "METADATA")?;
    let agrees =
        pep503(&name) == pep503(parsed.name) && version.eq_ignore_ascii_case(&parsed.version.replace('_', "-"));
    Ok(Identity {
        format: f,
        name,
        version,
        version_aliases: Vec::new(),
        variant: Some(parsed.tags),
        name_says: (!agrees).then(|| format!("{} {}", parsed.name, parsed.version)),
    })
}

fn zip_entry<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>, path: &str, f: Format) -> Result<String, Invalid> {
    let entry = zip
        .by_name(path)
        .map_err(|e| Invalid::new(f, format!("{path} cannot be read ({e})")))?;
    let data = archive::read_all(entry, META_MAX, f, path)?;
    archive::text(data, f, path)
}

fn name_and_version(text: &str, f: Format, what: &str) -> Result<(String, String), Invalid> {
    let fields = archive::colon_fields(text);
    Ok((
        archive::required(&fields, "Name", f, what)?,
        archive::required(&fields, "Version", f, what)?,
    ))
}

pub(super) fn sdist(file: &mut File, file_name: &str) -> Result<Identity, Invalid> {
    let f = Format::Sdist;
    let text = if file_name.to_ascii_lowercase().ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|e| Invalid::new(f, format!("it is not a readable zip archive ({e})")))?;
        let path = zip
            .file_names()
            .find(|n| top_level(n, "PKG-INFO"))
            .map(str::to_owned)
            .ok_or_else(|| Invalid::new(f, "it has no <name>-<version>/PKG-INFO"))?;
        zip_entry(&mut zip, &path, f)?
    } else {
        let gz = flate2::read::GzDecoder::new(BufReader::new(file));
        let (_, data) = archive::find_in_tar(gz, f, "PKG-INFO", |p| top_level(p, "PKG-INFO"))?
            .ok_or_else(|| Invalid::new(f, "it has no <name>-<version>/PKG-INFO (is it a gzipped tar?)"))?;
        archive::text(data, f, "PKG-INFO")?
    };
    let (name, version) = name_and_version(&text, f, "PKG-INFO")?;
    Ok(Identity {
        format: f,
        name,
        version,
        version_aliases: Vec::new(),
        variant: Some("sdist".to_owned()),
        name_says: None,
    })
}

/// Whether a `.zip` is a legacy zip sdist (it carries `<dir>/PKG-INFO`).
pub(super) fn is_zip_sdist(file: &mut File) -> bool {
    if super::rewind(file, Format::Sdist).is_err() {
        return false;
    }
    zip::ZipArchive::new(BufReader::new(file)).is_ok_and(|z| z.file_names().any(|n| top_level(n, "PKG-INFO")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_follow_the_spec() {
        let w = wheel_name("My_Pkg-1.0-py3-none-any.whl").unwrap();
        assert_eq!((w.name, w.version, w.tags.as_str()), ("My_Pkg", "1.0", "py3-none-any"));
        let w = wheel_name("pkg-2.0-1b-cp311-cp311-manylinux_2_17_x86_64.whl").unwrap();
        assert_eq!(w.tags, "cp311-cp311-manylinux_2_17_x86_64");
        assert!(wheel_name("pkg-1.0.whl").is_none());
        assert!(wheel_name("a-b-c-d-e-f-g.whl").is_none());
    }
}
