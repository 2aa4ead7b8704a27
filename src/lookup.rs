//! Finding a file's package in a registry, used alike by publishing, promotion and
//! promote-only steps. A lookup asks for a name (never the whole registry): a file's
//! by its [`Identity`] (read from the package; a Python name in its PEP 503 form
//! first, as indexes store it; a version in any of its spellings; candidates of
//! another variant left out), or a package's by the name and version its registry
//! recorded. Listings carry no digests, so the few candidates' digests are fetched
//! one by one.

use crate::api::model::{Digests, Package};
use crate::api::{ApiError, Client, RegistryId};
use crate::digest::Sha256;
use crate::package::Identity;
use crate::secret::Secret;

/// At most this many same-name-and-version candidates without digests in the listing
/// are fetched one by one for them (candidates that carry digests are all kept).
pub(crate) const MAX_CANDIDATES: usize = 1000;

/// What a lookup is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// A file, by what the package says it is.
    Package(&'a Identity),
    /// A package, by the name and version a registry recorded for it.
    Recorded { name: &'a str, version: &'a str },
}

impl Key<'_> {
    fn query_names(self) -> Vec<String> {
        match self {
            Key::Package(id) => id.query_names(),
            Key::Recorded { name, .. } => vec![name.to_owned()],
        }
    }

    fn matches(self, pkg: &Package) -> bool {
        let Some(version) = pkg.version.as_deref() else {
            return false;
        };
        match self {
            Key::Package(id) => {
                id.same_name(&pkg.name) && id.same_version(version) && id.same_variant(pkg.variant.as_deref())
            }
            Key::Recorded { name, version: v } => pkg.name == name && version == v,
        }
    }
}

/// What a registry holds for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
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
    pub(crate) fn against(self, sha256: &Sha256) -> Found {
        let candidates = match self {
            Found::Other(pkg) => vec![pkg],
            Found::Many(pkgs) => pkgs,
            found => return found,
        };
        classify(candidates, Some(sha256))
    }
}

fn classify(mut candidates: Vec<Package>, sha256: Option<&Sha256>) -> Found {
    if let Some(at) = candidates
        .iter()
        .position(|p| sha256.is_some_and(|ours| p.sha256().is_some_and(|theirs| ours.matches(theirs))))
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
pub(crate) struct Wanted<'a> {
    pub key: Key<'a>,
    /// The file's sha256, when known.
    pub sha256: Option<&'a Sha256>,
}

/// Looks `wanted` up in `registry`.
pub(crate) async fn find(
    client: &Client,
    token: &Secret,
    at: RegistryId<'_>,
    wanted: Wanted<'_>,
) -> Result<Found, ApiError> {
    let mut candidates = Vec::new();
    for query in wanted.key.query_names() {
        let listed = client.list(at, token, Some(&query), None).await?;
        candidates.extend(listed.into_iter().filter(|p| wanted.key.matches(p)));
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
            if let Some(sha256) = client.sha256_of(at, token, &pkg.id).await? {
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
    use crate::package::Format;

    fn pkg(name: &str, version: &str, variant: Option<&str>) -> Package {
        Package {
            name: name.into(),
            version: Some(version.into()),
            variant: variant.map(Into::into),
            ..Package::default()
        }
    }

    fn identity(format: Format, name: &str, version: &str, aliases: &[&str], variant: Option<&str>) -> Identity {
        Identity {
            format,
            name: name.into(),
            version: version.into(),
            version_aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            variant: variant.map(Into::into),
            name_says: None,
        }
    }

    #[test]
    fn python_names_are_asked_for_in_their_normal_form_and_compared_by_it() {
        let id = identity(Format::Wheel, "My_Pkg", "1.0rc1", &[], Some("py3-none-any"));
        let key = Key::Package(&id);
        assert_eq!(key.query_names(), ["my-pkg", "My_Pkg"]);
        assert!(key.matches(&pkg("my-pkg", "1.0RC1", None)));
        assert!(!key.matches(&pkg("my-pkg", "1.0rc1", Some("cp311-cp311-linux_x86_64"))));
    }

    #[test]
    fn a_version_matches_in_any_spelling_and_other_architectures_are_left_out() {
        let id = identity(Format::Debian, "hello", "1:2.4.1-1", &["2.4.1-1"], Some("amd64"));
        let key = Key::Package(&id);
        assert_eq!(key.query_names(), ["hello"]);
        assert!(key.matches(&pkg("hello", "1:2.4.1-1", Some("amd64"))));
        assert!(key.matches(&pkg("hello", "2.4.1-1", None)));
        assert!(!key.matches(&pkg("hello", "2.4.1-1", Some("arm64"))));
        assert!(!key.matches(&pkg("Hello", "2.4.1-1", None)), "Debian names are exact");
        let recorded = Key::Recorded {
            name: "hello",
            version: "2.4.1-1",
        };
        assert!(recorded.matches(&pkg("hello", "2.4.1-1", Some("arm64"))));
        assert!(!recorded.matches(&pkg("hello", "1:2.4.1-1", None)));
    }

    #[test]
    fn candidates_found_before_hashing_are_judged_by_the_digest_later() {
        let (a, b, c) = (Sha256::of(b"a"), Sha256::of(b"b"), Sha256::of(b"c"));
        let pkg = |id: &str, sha: &str| Package {
            id: id.into(),
            digests: Some(crate::api::model::Digests {
                sha256: Some(sha.into()),
                sha512: None,
            }),
            ..Package::default()
        };
        let (pa, pb) = (pkg("a", a.as_str()), pkg("b", &b.as_str().to_ascii_uppercase()));
        let found = Found::Many(vec![pa.clone(), pb.clone()]);
        assert_eq!(found.clone().against(&b), Found::Exact(pb.clone()), "any case");
        assert_eq!(found.against(&c), Found::Many(vec![pa.clone(), pb]));
        assert_eq!(Found::Other(pa.clone()).against(&c), Found::Other(pa));
        assert_eq!(Found::Absent.against(&a), Found::Absent);
        assert_eq!(
            classify(vec![pkg("x", "")], None),
            Found::Other(pkg("x", "")),
            "no digest, no match"
        );
    }
}
