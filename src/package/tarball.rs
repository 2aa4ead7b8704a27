//! Gzipped tarballs: Alpine packages (concatenated gzip members; `.PKGINFO` in the
//! control segment), Helm charts (`<chart>/Chart.yaml`), and telling apart the
//! tarballs a registry of unknown ecosystem may be handed (npm, Helm, Python sdist).

use std::fs::File;
use std::io::BufReader;

use super::archive::{self, colon_fields};
use super::{Format, Identity, Invalid};

/// Whether `path` is `<one directory>/<file>`.
pub(super) fn top_level(path: &str, file: &str) -> bool {
    path.split_once('/')
        .is_some_and(|(dir, rest)| !dir.is_empty() && rest == file)
}

pub(super) fn alpine(file: &mut File) -> Result<Identity, Invalid> {
    let f = Format::Alpine;
    if super::starts_with(file, b"ADB") {
        return Err(Invalid::new(
            f,
            "it is an Alpine v3 (ADB) package; publish the v2 .apk format",
        ));
    }
    if !super::starts_with(file, &[0x1f, 0x8b]) {
        return Err(Invalid::new(f, "it is not gzip-compressed"));
    }
    super::rewind(file, f)?;
    // The signature, control and data segments are gzip members of one stream and
    // tar segments without end markers, so one tar reader walks through them.
    let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
    let (_, data) = archive::find_in_tar(gz, f, ".PKGINFO", |p| p == ".PKGINFO")?
        .ok_or_else(|| Invalid::new(f, "it has no .PKGINFO"))?;
    let text = archive::text(data, f, ".PKGINFO")?;
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Invalid::new(f, format!(".PKGINFO has no {key}")))
    };
    Ok(Identity {
        format: f,
        name: value("pkgname")?,
        version: value("pkgver")?,
        version_aliases: Vec::new(),
        variant: Some(value("arch")?),
        name_says: None,
    })
}

pub(super) fn helm(file: &mut File) -> Result<Identity, Invalid> {
    let f = Format::Helm;
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let (_, data) = archive::find_in_tar(gz, f, "Chart.yaml", |p| top_level(p, "Chart.yaml"))?
        .ok_or_else(|| Invalid::new(f, "it has no <chart>/Chart.yaml"))?;
    let doc = archive::yaml(&archive::text(data, f, "Chart.yaml")?, f, "Chart.yaml")?;
    let field =
        |key: &str| archive::scalar(&doc[key]).ok_or_else(|| Invalid::new(f, format!("Chart.yaml has no {key}")));
    Ok(Identity {
        format: f,
        name: field("name")?,
        version: field("version")?,
        version_aliases: Vec::new(),
        variant: None,
        name_says: None,
    })
}

/// What a gzipped tarball holds, by the metadata file it carries: npm's
/// `package/package.json`, a chart's `Chart.yaml`, an sdist's `PKG-INFO`.
pub(super) fn sniff(file: &mut File) -> Option<Format> {
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let found = archive::find_in_tar(gz, Format::File, "metadata", |p| {
        p == "package/package.json" || top_level(p, "Chart.yaml") || top_level(p, "PKG-INFO")
    })
    .ok()??;
    Some(if found.0 == "package/package.json" {
        Format::Npm
    } else if found.0.ends_with("Chart.yaml") {
        Format::Helm
    } else {
        // An sdist's PKG-INFO names the project; anything else is a plain file.
        let text = String::from_utf8(found.1).ok()?;
        colon_fields(&text).get("metadata-version")?;
        Format::Sdist
    })
}
