//! npm packages: a gzipped tarball whose `package/package.json` gives the name (a
//! scoped `@scope/name` included) and the version.

use std::fs::File;
use std::io::BufReader;

use super::archive;
use super::{Format, Identity, Invalid};

const F: Format = Format::Npm;

pub(super) fn read(file: &mut File) -> Result<Identity, Invalid> {
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let (_, data) = archive::find_in_tar(gz, F, "package.json", |p| p == "package/package.json")?.ok_or_else(|| {
        Invalid::new(
            F,
            "it has no package/package.json (is it a gzipped tarball made by npm pack?)",
        )
    })?;
    identity(&data)
}

fn identity(package_json: &[u8]) -> Result<Identity, Invalid> {
    let json: serde_json::Value = serde_json::from_slice(package_json)
        .map_err(|e| Invalid::new(F, format!("package/package.json is not valid JSON ({e})")))?;
    let field = |key: &str| {
        json.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Invalid::new(F, format!("package/package.json has no {key}")))
    };
    let name = field("name")?;
    let scoped_ok = match name.strip_prefix('@') {
        Some(rest) => rest
            .split_once('/')
            .is_some_and(|(s, n)| !s.is_empty() && !n.is_empty()),
        None => !name.contains('/'),
    };
    if !scoped_ok || name.chars().any(char::is_whitespace) {
        return Err(Invalid::new(
            F,
            format!("package/package.json names it {name:?}, which is not an npm package name"),
        ));
    }
    Ok(Identity {
        format: F,
        name,
        version: field("version")?,
        version_aliases: Vec::new(),
        variant: None,
        name_says: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_names_are_kept_whole() {
        let id = identity(br#"{"name": "@acme/widget", "version": "1.2.3"}"#).unwrap();
        assert_eq!((id.name.as_str(), id.version.as_str()), ("@acme/widget", "1.2.3"));
        assert!(identity(br#"{"name": "@acme", "version": "1"}"#).is_err());
        assert!(identity(br#"{"version": "1"}"#).is_err());
    }
}
