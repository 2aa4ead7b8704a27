//! What a package file *is*: the name and version the registry will record for it,
//! and, where an ecosystem keeps several files under one version, the file's variant
//! (a Debian, RPM or Alpine architecture, a wheel's tags, a gem's platform). A
//! registry reads these from the package itself, so this module does too: the
//! Debian control file, the RPM header, Alpine's `.PKGINFO`, a wheel's `METADATA`, an
//! sdist's `PKG-INFO`, npm's `package/package.json`, a gem's metadata, Helm's
//! `Chart.yaml`; Terraform modules and generic files by their documented file-name
//! rules. A file that is not a valid package of its kind is [`Invalid`], with what is
//! wrong, before any byte of it is sent. Reading is bounded (`archive.rs`): only the
//! metadata is decompressed, never more than a cap, and a truncated archive is an
//! error, not a hang. `docs/identity.md` records how each version is written and the
//! sources relied on.

mod archive;
mod debian;
mod javascript;
mod names;
mod python;
mod redhat;
mod ruby;
mod tarball;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

pub(crate) use names::pep503;

/// A kind of package file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Debian,
    RedHat,
    Alpine,
    Wheel,
    Sdist,
    Npm,
    Gem,
    Helm,
    Terraform,
    /// A generic file of a Files registry.
    File,
}

impl Format {
    /// The format in a person's words, for messages.
    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Format::Debian => "Debian package",
            Format::RedHat => "RPM package",
            Format::Alpine => "Alpine package",
            Format::Wheel => "Python wheel",
            Format::Sdist => "Python source distribution",
            Format::Npm => "npm package",
            Format::Gem => "Ruby gem",
            Format::Helm => "Helm chart",
            Format::Terraform => "Terraform module",
            Format::File => "generic file",
        }
    }

    /// The registry ecosystem that holds this format.
    #[must_use]
    pub(crate) fn ecosystem(self) -> Ecosystem {
        match self {
            Format::Debian => Ecosystem::Debian,
            Format::RedHat => Ecosystem::RedHat,
            Format::Alpine => Ecosystem::Alpine,
            Format::Wheel | Format::Sdist => Ecosystem::Python,
            Format::Npm => Ecosystem::JavaScript,
            Format::Gem => Ecosystem::Ruby,
            Format::Helm => Ecosystem::Helm,
            Format::Terraform => Ecosystem::Terraform,
            Format::File => Ecosystem::Files,
        }
    }
}

/// A registry's ecosystem, as far as publishing files is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ecosystem {
    Debian,
    RedHat,
    Alpine,
    Python,
    JavaScript,
    Ruby,
    Helm,
    Terraform,
    Files,
}

impl Ecosystem {
    /// The ecosystem a registry reports (`GET …/registries/{slug}`), when it is one
    /// whose packages are published as files; `None` for any other (or unknown) value.
    #[must_use]
    pub(crate) fn parse(value: &str) -> Option<Ecosystem> {
        Some(match value.to_ascii_lowercase().as_str() {
            "debian" | "deb" => Ecosystem::Debian,
            "redhat" | "red-hat" | "red_hat" | "rpm" => Ecosystem::RedHat,
            "alpine" | "apk" => Ecosystem::Alpine,
            "python" | "pypi" => Ecosystem::Python,
            "javascript" | "npm" | "node" => Ecosystem::JavaScript,
            "ruby" | "rubygems" | "gem" => Ecosystem::Ruby,
            "helm" => Ecosystem::Helm,
            "terraform" => Ecosystem::Terraform,
            "files" | "file" | "generic" => Ecosystem::Files,
            _ => return None,
        })
    }

    /// Whether the Packages API copies packages of this ecosystem between registries
    /// (it does not copy Helm charts or Terraform modules).
    #[must_use]
    pub(crate) fn is_copyable(self) -> bool {
        !matches!(self, Ecosystem::Helm | Ecosystem::Terraform)
    }

    /// The registry's word for it, in messages.
    #[must_use]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::RedHat => "Red Hat",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Python => "Python",
            Ecosystem::JavaScript => "JavaScript (npm)",
            Ecosystem::Ruby => "Ruby",
            Ecosystem::Helm => "Helm",
            Ecosystem::Terraform => "Terraform",
            Ecosystem::Files => "Files",
        }
    }
}

/// A package's identity as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub format: Format,
    /// The name the registry gives it (a Python name as written in `METADATA`; the
    /// index compares it in its PEP 503 form).
    pub name: String,
    /// The version as the package writes it (a Debian or RPM epoch included).
    pub version: String,
    /// Other spellings of the same version a registry may show (without the epoch,
    /// an RPM version without its release, a gem version with its platform).
    pub version_aliases: Vec<String>,
    /// Architecture (Debian, RPM, Alpine), wheel tags, `sdist`, or a gem's platform:
    /// what tells apart several files of one name and version.
    pub variant: Option<String>,
    /// The file name disagrees with the contents: what it says instead.
    pub name_says: Option<String>,
}

impl Identity {
    /// `name version`, with the variant when there is one: how messages name it.
    #[must_use]
    pub(crate) fn describe(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} {} ({v})", self.name, self.version),
            None => format!("{} {}", self.name, self.version),
        }
    }

    /// The names to ask the registry for, most likely first: a Python index stores
    /// the PEP 503 form.
    #[must_use]
    pub(crate) fn query_names(&self) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        if self.format.ecosystem() == Ecosystem::Python {
            names.insert(0, pep503(&self.name));
            names.dedup();
        }
        names
    }

    /// Whether a registry's package name is this package's.
    #[must_use]
    pub(crate) fn same_name(&self, name: &str) -> bool {
        if self.format.ecosystem() == Ecosystem::Python {
            pep503(name) == pep503(&self.name)
        } else {
            name == self.name
        }
    }

    /// Whether a registry's version is this package's, in any of its spellings
    /// (Python versions ignore case).
    #[must_use]
    pub(crate) fn same_version(&self, version: &str) -> bool {
        let python = self.format.ecosystem() == Ecosystem::Python;
        std::iter::once(&self.version).chain(&self.version_aliases).any(|v| {
            if python {
                v.eq_ignore_ascii_case(version)
            } else {
                v == version
            }
        })
    }

    /// Whether a registry's variant can be this file's: unknown on either side
    /// matches.
    #[must_use]
    pub(crate) fn same_variant(&self, variant: Option<&str>) -> bool {
        match (self.variant.as_deref(), variant) {
            (Some(ours), Some(theirs)) => ours.eq_ignore_ascii_case(theirs),
            _ => true,
        }
    }
}

/// A file that is not a valid package of its kind; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub String);

impl Invalid {
    fn new(format: Format, why: impl std::fmt::Display) -> Invalid {
        Invalid(format!("not a valid {}: {why}", format.label()))
    }
}

/// What the file is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The registry's ecosystem is not known: the file's extension and contents say.
    Infer,
    /// A package for a registry of this ecosystem.
    In(Ecosystem),
}

/// Reads the identity of the open package `file` named `file_name`. Blocking: the
/// caller runs it on a blocking thread. The file is left at an unspecified position.
pub(crate) fn read(file: &mut File, file_name: &str, expect: Expect) -> Result<Identity, Invalid> {
    let format = match expect {
        Expect::Infer => infer(file, file_name)?,
        Expect::In(ecosystem) => for_ecosystem(ecosystem, file_name),
    };
    let mut identity = read_as(file, file_name, format)?;
    if identity.name_says.is_none() {
        identity.name_says = names::disagreement(&identity, file_name);
    }
    Ok(identity)
}

/// The format a registry of `ecosystem` takes this file as.
fn for_ecosystem(ecosystem: Ecosystem, file_name: &str) -> Format {
    match ecosystem {
        Ecosystem::Debian => Format::Debian,
        Ecosystem::RedHat => Format::RedHat,
        Ecosystem::Alpine => Format::Alpine,
        Ecosystem::Python if file_name.to_ascii_lowercase().ends_with(".whl") => Format::Wheel,
        Ecosystem::Python => Format::Sdist,
        Ecosystem::JavaScript => Format::Npm,
        Ecosystem::Ruby => Format::Gem,
        Ecosystem::Helm => Format::Helm,
        Ecosystem::Terraform => Format::Terraform,
        Ecosystem::Files => Format::File,
    }
}

fn read_as(file: &mut File, file_name: &str, format: Format) -> Result<Identity, Invalid> {
    rewind(file, format)?;
    match format {
        Format::Debian => debian::read(file),
        Format::RedHat => redhat::read(file),
        Format::Alpine => tarball::alpine(file),
        Format::Wheel => python::wheel(file, file_name),
        Format::Sdist => python::sdist(file, file_name),
        Format::Npm => javascript::read(file),
        Format::Gem => ruby::read(file),
        Format::Helm => tarball::helm(file),
        Format::Terraform => names::terraform(file_name),
        Format::File => names::file(file_name),
    }
}

fn rewind(file: &mut File, format: Format) -> Result<(), Invalid> {
    file.seek(SeekFrom::Start(0))
        .map(|_| ())
        .map_err(|e| Invalid::new(format, format!("cannot read it: {e}")))
}

/// With no ecosystem to go by: the extension, then (for tarballs) what is inside.
#[allow(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "the name is lower-cased first, and .tar.gz is two extensions"
)]
fn infer(file: &mut File, file_name: &str) -> Result<Format, Invalid> {
    let lower = file_name.to_ascii_lowercase();
    let by_extension = [
        (".deb", Format::Debian),
        (".rpm", Format::RedHat),
        (".apk", Format::Alpine),
        (".whl", Format::Wheel),
        (".gem", Format::Gem),
    ];
    if let Some((_, format)) = by_extension.iter().find(|(ext, _)| lower.ends_with(ext)) {
        return Ok(*format);
    }
    if lower.ends_with(".tgz") || lower.ends_with(".tar.gz") {
        rewind(file, Format::File)?;
        if let Some(format) = tarball::sniff(file) {
            return Ok(format);
        }
        if names::terraform(file_name).is_ok() {
            return Ok(Format::Terraform);
        }
    }
    if lower.ends_with(".zip") && python::is_zip_sdist(file) {
        return Ok(Format::Sdist);
    }
    Ok(Format::File)
}

/// Whether the first bytes of `file` are `magic`.
fn starts_with(file: &mut File, magic: &[u8]) -> bool {
    let mut head = vec![0u8; magic.len()];
    file.seek(SeekFrom::Start(0)).is_ok() && file.read_exact(&mut head).is_ok() && head == magic
}
