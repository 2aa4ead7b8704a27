//! Finding a file's package in a registry, used alike by publishing, promotion and
//! promote-only steps. The registry names a package from its file name, and some
//! ecosystems normalise that name: Python indexes store names the PEP 503 way
//! (lower-case, runs of `-`, `_` and `.` become one `-`), so `My_Pkg-1.0-py3-none-any.whl`
//! is `my-pkg` there. Each ecosystem's name rule lives here, in one place. A lookup
//! always asks for a name (never the whole registry), compares names and versions by
//! the rule, and fetches the digests of the few candidates the listing returns
//! without them.

use crate::api::model::{Digests, Package};
use crate::api::{ApiError, Client};
use crate::secret::Secret;

/// At most this many same-name-and-version candidates without digests in the listing
/// are fetched one by one for them (candidates that carry digests are all kept).
pub const MAX_CANDIDATES: usize = 1000;

/// How an ecosystem compares package names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Python wheels: the index stores the PEP 503 normal form.
    Python,
    /// Source archives (`.tar.gz`, `.zip`): a Python sdist in a Python registry, a
    /// plain file elsewhere, so both spellings are tried.
    MaybePython,
    /// Everything else: names are compared as they are.
    Exact,
}

impl NameRule {
    /// The rule for a package file, by its extension.
    #[must_use]
    pub fn for_file(file_name: &str) -> NameRule {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".whl") {
            NameRule::Python
        } else if [".tar.gz", ".zip", ".tar.bz2", ".tar.xz"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            NameRule::MaybePython
        } else {
            NameRule::Exact
        }
    }

    /// The names to ask the registry for, most likely first.
    #[must_use]
    pub fn query_names(self, name: &str) -> Vec<String> {
        let normal = pep503(name);
        let mut names = match self {
            NameRule::Python => vec![normal, name.to_owned()],
            NameRule::MaybePython => vec![name.to_owned(), normal],
            NameRule::Exact => vec![name.to_owned()],
        };
        names.dedup();
        names
    }

    /// Whether a registry's `name` is the package called `wanted`.
    #[must_use]
    pub fn same_name(self, name: &str, wanted: &str) -> bool {
        match self {
            NameRule::Exact => name == wanted,
            NameRule::Python | NameRule::MaybePython => name == wanted || pep503(name) == pep503(wanted),
        }
    }

    /// Whether a registry's `version` is `wanted` (Python versions ignore case).
    #[must_use]
    pub fn same_version(self, version: &str, wanted: &str) -> bool {
        match self {
            NameRule::Exact => version == wanted,
            NameRule::Python | NameRule::MaybePython => version.eq_ignore_ascii_case(wanted),
        }
    }
}

/// The PEP 503 normal form of a Python project name.
#[must_use]
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// What a registry holds for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A package with the file's sha256.
    Exact(Package),
    /// One package with the same name and version but other content: another
    /// architecture or wheel of the release, or a conflicting build.
    Other(Package),
    /// Several such packages, none with the file's content.
    Many(Vec<Package>),
    /// Nothing under that name and version.
    Absent,
    /// The file name follows no known convention, so it cannot be looked up.
    Unknown,
}

impl Found {
    /// The same candidates judged against `sha256` (for a lookup made before the
    /// file's digest was known): the one with this content becomes `Exact`.
    #[must_use]
    pub fn against(self, sha256: &str) -> Found {
        let candidates = match self {
            Found::Other(pkg) => vec![pkg],
            Found::Many(pkgs) => pkgs,
            found => return found,
        };
        classify(candidates, sha256)
    }
}

fn classify(mut candidates: Vec<Package>, sha256: &str) -> Found {
    if let Some(at) = candidates
        .iter()
        .position(|p| !sha256.is_empty() && p.sha256().is_some_and(|s| s.eq_ignore_ascii_case(sha256)))
    {
        return Found::Exact(candidates.swap_remove(at));
    }
    match candidates.len() {
        0 => Found::Absent,
        1 => Found::Other(candidates.remove(0)),
        _ => Found::Many(candidates),
    }
}

/// The package a lookup is for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The file's base name (it decides the name rule).
    pub file_name: &'a str,
    /// Name and version, predicted from the file name or taken from the registry.
    pub identity: Option<(&'a str, &'a str)>,
    /// The file's sha256 (lower-case hex).
    pub sha256: &'a str,
}

/// Looks `wanted` up in `registry`.
pub async fn find(
    client: &Client,
    token: &Secret,
    org: &str,
    registry: &str,
    wanted: Wanted<'_>,
) -> Result<Found, ApiError> {
    let Some((name, version)) = wanted.identity else {
        return Ok(Found::Unknown);
    };
    let rule = NameRule::for_file(wanted.file_name);
    let mut candidates = Vec::new();
    for query in rule.query_names(name) {
        let listed = client.list(org, registry, token, Some(&query), None).await?;
        candidates.extend(listed.into_iter().filter(|p| {
            rule.same_name(&p.name, name) && p.version.as_deref().is_some_and(|v| rule.same_version(v, version))
        }));
        if !candidates.is_empty() {
            break;
        }
    }
    let mut fetched = Vec::with_capacity(candidates.len());
    let mut gets = 0;
    for mut pkg in candidates {
        if pkg.sha256().is_none() {
            gets += 1;
            if gets > MAX_CANDIDATES {
                continue;
            }
            if let Some(sha256) = client.sha256_of(org, registry, token, &pkg.id).await? {
                pkg.digests = Some(Digests {
                    sha256: Some(sha256),
                    sha512: None,
                });
            }
        }
        fetched.push(pkg);
    }
    Ok(classify(fetched, wanted.sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_normalises_case_and_separator_runs() {
        assert_eq!(pep503("Django"), "django");
        assert_eq!(pep503("My_Pkg"), "my-pkg");
        assert_eq!(pep503("a.-_b__c"), "a-b-c");
        assert_eq!(pep503("zope.interface"), "zope-interface");
    }

    #[test]
    fn wheels_ask_for_the_normal_form_first_and_compare_by_it() {
        let rule = NameRule::for_file("My_Pkg-1.0-py3-none-any.whl");
        assert_eq!(rule, NameRule::Python);
        assert_eq!(rule.query_names("My_Pkg"), ["my-pkg", "My_Pkg"]);
        assert_eq!(rule.query_names("django"), ["django"]);
        assert!(rule.same_name("my-pkg", "My_Pkg"));
        assert!(rule.same_version("1.0RC1", "1.0rc1"));
    }

    #[test]
    fn candidates_found_before_hashing_are_judged_by_the_digest_later() {
        let pkg = |id: &str, sha: &str| Package {
            id: id.into(),
            digests: Some(crate::api::model::Digests {
                sha256: Some(sha.into()),
                sha512: None,
            }),
            ..Package::default()
        };
        let found = Found::Many(vec![pkg("a", "aa"), pkg("b", "bb")]);
        assert_eq!(found.clone().against("BB"), Found::Exact(pkg("b", "bb")));
        assert_eq!(found.against("cc"), Found::Many(vec![pkg("a", "aa"), pkg("b", "bb")]));
        assert_eq!(Found::Other(pkg("a", "aa")).against(""), Found::Other(pkg("a", "aa")));
        assert_eq!(Found::Absent.against("aa"), Found::Absent);
    }

    #[test]
    fn other_formats_compare_names_as_they_are() {
        let rule = NameRule::for_file("My_Pkg_1.0_amd64.deb");
        assert_eq!(rule, NameRule::Exact);
        assert_eq!(rule.query_names("My_Pkg"), ["My_Pkg"]);
        assert!(!rule.same_name("my-pkg", "My_Pkg"));
        assert_eq!(
            NameRule::for_file("Tool_X-1.0.tar.gz").query_names("Tool_X"),
            ["Tool_X", "tool-x"]
        );
    }
}
