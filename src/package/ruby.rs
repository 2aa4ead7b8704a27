//! Ruby gems: a plain tar holding `metadata.gz`, the gzipped YAML specification with
//! the name, the version and the platform (`ruby` for a pure-Ruby gem; anything else
//! is part of the gem's full name, `name-version-platform`).

use std::fs::File;
use std::io::BufReader;

use super::archive::{self, META_MAX};
use super::{Format, Identity, Invalid};

const F: Format = Format::Gem;

pub(super) fn read(file: &mut File) -> Result<Identity, Invalid> {
    let (_, gz) = archive::find_in_tar(BufReader::new(file), F, "metadata.gz", |p| p == "metadata.gz")?
        .ok_or_else(|| Invalid::new(F, "it has no metadata.gz (is it a gem made by gem build?)"))?;
    let yaml = archive::read_all(flate2::read::GzDecoder::new(&gz[..]), META_MAX, F, "metadata.gz")?;
    identity(&archive::text(yaml, F, "the gem metadata")?)
}

fn identity(yaml: &str) -> Result<Identity, Invalid> {
    let doc = archive::yaml(yaml, F, "the gem metadata")?;
    let name = archive::scalar(&doc["name"]).ok_or_else(|| Invalid::new(F, "its metadata has no name"))?;
    // `version: !ruby/object:Gem::Version { version: 1.2.3 }`, or a bare scalar.
    let version = archive::scalar(&doc["version"]["version"])
        .or_else(|| archive::scalar(&doc["version"]))
        .ok_or_else(|| Invalid::new(F, "its metadata has no version"))?;
    let platform = archive::scalar(&doc["platform"]).filter(|p| p != "ruby");
    let version_aliases = platform.iter().map(|p| format!("{version}-{p}")).collect();
    Ok(Identity {
        format: F,
        name,
        version,
        version_aliases,
        variant: platform,
        name_says: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_of_a_native_gem_is_its_variant() {
        let spec = "--- !ruby/object:Gem::Specification\nname: hello\nversion: !ruby/object:Gem::Version\n  version: 1.2.3\nplatform: x86_64-linux\n";
        let id = identity(spec).unwrap();
        assert_eq!((id.name.as_str(), id.version.as_str()), ("hello", "1.2.3"));
        assert_eq!(id.variant.as_deref(), Some("x86_64-linux"));
        assert_eq!(id.version_aliases, ["1.2.3-x86_64-linux"]);
        let plain = identity("name: hello\nversion:\n  version: '2.0'\nplatform: ruby\n").unwrap();
        assert_eq!(plain.variant, None);
        assert_eq!(plain.version, "2.0");
    }
}
