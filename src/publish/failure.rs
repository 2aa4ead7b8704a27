//! How one file's publish says it failed: the [`Failure`] it ends with (its message
//! and whether the credentials were refused, which decides the exit status) and the
//! wording of every refusal by `if-exists`, of a corrupted upload and of a cancelled
//! upload; and why an upload that may have landed could not be confirmed. Nothing here
//! does I/O, so the messages are tested directly.

use std::time::Duration;

use super::policy::Refusal;
use crate::api::ApiError;
use crate::api::model::Package;
use crate::digest::Sha256;

/// What kind of failure a file ended with; it decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The registry or the token provider refused the credentials.
    Auth,
    Other,
}

/// A file that could not be published.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) kind: Kind,
    pub(super) package: Option<Box<Package>>,
}

/// Said of a file that a cancellation stopped before any of it was sent.
pub(super) const CANCELLED_BEFORE: &str = "cancelled before it was uploaded";
/// Said of a file whose registry check a cancellation cut short.
pub(super) const CANCELLED_CHECKING: &str = "cancelled while the registry was being checked";
/// Said of a file whose wait for a lagging listing a cancellation cut short.
pub(super) const CANCELLED_LISTING: &str = "cancelled while waiting for the registry's listing";

impl Failure {
    pub(super) fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            kind: Kind::Other,
            package: None,
        }
    }

    /// A refusal of the credentials.
    pub(super) fn auth(message: impl Into<String>) -> Failure {
        Failure {
            kind: Kind::Auth,
            ..Failure::new(message)
        }
    }

    pub(super) fn from_api(err: &ApiError) -> Failure {
        Failure {
            kind: if err.is_auth() { Kind::Auth } else { Kind::Other },
            ..Failure::new(err.to_string())
        }
    }

    pub(super) fn with_package(mut self, package: Option<Package>) -> Failure {
        self.package = package.map(Box::new);
        self
    }

    /// Puts `what` in front of the message.
    pub(super) fn context(mut self, what: &str) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// Said of an upload cut off partway by a cancellation.
pub(super) fn cancelled_partway(sent: u64, size: u64) -> Failure {
    Failure::new(format!(
        "cancelled while uploading, after {} of {}: the registry cannot have it, so it was not published",
        crate::report::text::size(sent),
        crate::report::text::size(size)
    ))
}

/// How a re-run settles an unverified upload.
const SETTLE_BY_RERUN: &str =
    "re-run with if-exists: skip-identical (it is then found identical), or check the registry";

/// An upload whose answer was lost, refused again as a duplicate, that the
/// registry's listing did not show within `settle-timeout`.
pub(super) fn unverified_lagging(identity: &str, settled: Duration, err: Option<&ApiError>) -> String {
    let says = err.map_or_else(String::new, |e| format!(" ({})", server_says(e)));
    format!(
        "an upload of this file whose answer was lost may have landed: the registry refuses it again as a duplicate{says}, but its listing did not show {identity} within {} s (settle-timeout); {SETTLE_BY_RERUN}",
        settled.as_secs()
    )
}

/// A cancellation came after the whole upload was sent (by this attempt, or by an
/// earlier one whose answer was lost), and the registry did not show the package.
pub(super) fn unverified_cancelled(identity: &str, check: Duration) -> String {
    format!(
        "cancelled before the registry confirmed an upload of this file that was sent whole, and the registry did not list {identity} within {} s: it may have landed; {SETTLE_BY_RERUN}",
        check.as_secs()
    )
}

/// A cancellation came while waiting for a lagging listing after a lost answer.
pub(super) fn unverified_listing_cancelled(identity: &str) -> String {
    format!(
        "cancelled while waiting for the registry to list {identity} after an upload whose answer was lost: it may have landed; {SETTLE_BY_RERUN}"
    )
}

/// The registry's digest of the uploaded package is not the local file's.
pub(super) fn digest_mismatch(remote: &str, local: &str, pkg: Package) -> Failure {
    Failure::new(format!(
        "the registry reports sha256 {remote} for the uploaded package, but the local file's sha256 is {local}; the upload was corrupted or the file changed while uploading"
    ))
    .with_package(Some(pkg))
}

/// The registry answered an upload with a package id it does not hold.
pub(super) fn no_such_package(id: &str) -> Failure {
    Failure::new(format!(
        "the registry answered the upload with package {id} but holds no such package, and the answer carried no digest to check; the file was not confirmed as published"
    ))
}

/// The registry could not be checked (`failure`) after an upload whose answer was
/// lost (`err`, when it is this attempt's).
pub(super) fn unverified_unchecked(err: Option<&ApiError>, failure: &Failure) -> String {
    let lost = err.map_or_else(String::new, |e| format!(" ({e})"));
    format!(
        "an upload of this file whose answer was lost{lost} may have landed, and the registry could not be checked ({}), so the file was not sent again to avoid a duplicate; {SETTLE_BY_RERUN}",
        failure.message
    )
}

/// A deletion for `replace` failed; the old package is still there.
pub(super) fn delete_failed(err: &ApiError, old: Package) -> Failure {
    Failure::from_api(err)
        .context("if-exists: replace could not delete the existing package, so it was left in place")
        .with_package(Some(old))
}

/// A cancellation came before `replace` deleted anything: the old package stays.
pub(super) fn not_replaced_cancelled(old: Package) -> Failure {
    Failure::new(
        "cancelled before the existing package was deleted for replacement: it was left in place, and the new file was not published",
    )
    .with_package(Some(old))
}

/// The old package was deleted for `replace` but the new file then failed.
pub(super) fn replaced_but_failed(failure: Failure, identity: &str, old_id: &str) -> Failure {
    failure.context(&format!(
        "deleted the existing {identity} ({old_id}) for replacement, but the new file was not published"
    ))
}

/// What one refusal is about: the package as messages name it, the file's digest and
/// name, and the registry's answer that led to it (none before uploading).
pub(super) struct Subject<'a> {
    pub(super) identity: &'a str,
    pub(super) sha256: Option<&'a Sha256>,
    pub(super) file_name: &'a str,
    pub(super) err: Option<&'a ApiError>,
    /// How long a lagging listing was waited for.
    pub(super) settled: Duration,
}

/// The message of a refusal by `if-exists`.
pub(super) fn refusal(s: &Subject<'_>, refusal: Refusal) -> Failure {
    let (id, sha) = (s.identity, s.sha256.map_or("(not read)", Sha256::as_str));
    let says = s.err.map_or_else(|| "found before uploading".to_owned(), server_says);
    match refusal {
        Refusal::Exists(pkg) => {
            Failure::new(format!("{id} is already in the registry ({says}); if-exists: fail")).with_package(pkg)
        }
        Refusal::Different(pkg) => Failure::new(format!(
            "{id} is already in the registry with different content (registry sha256 {}, local sha256 {sha}); bump the version, or use if-exists: replace",
            pkg.sha256().unwrap_or("(none reported)"),
        ))
        .with_package(Some(pkg)),
        Refusal::Several(pkgs) => Failure::new(format!(
            "{} packages named {id} are in the registry and none has this file's sha256 {sha} (theirs: {}); the registry refused it as a duplicate ({says})",
            pkgs.len(),
            digests(&pkgs)
        )),
        Refusal::WhichToReplace(pkgs) => Failure::new(format!(
            "{} packages named {id} are in the registry (sha256 {}); if-exists: replace will not guess which one to delete",
            pkgs.len(),
            digests(&pkgs)
        )),
        Refusal::StillThere(pkg) => {
            Failure::new(format!("{id} still exists after it was deleted for replacement ({says})")).with_package(pkg)
        }
        Refusal::NotFound => Failure::new(format!(
            "the registry says {id} already exists ({says}), but no package with that name and version was listed within {} s (settle-timeout)",
            s.settled.as_secs()
        )),
        Refusal::CannotLookUp => Failure::new(format!(
            "the registry says {} already exists ({says}), but its package name and version could not be read, so the existing package cannot be found to compare with",
            s.file_name
        )),
    }
}

fn digests(pkgs: &[Package]) -> String {
    pkgs.iter()
        .map(|p| p.sha256().unwrap_or("(no sha256)").to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn server_says(err: &ApiError) -> String {
    match err {
        ApiError::Status { status, message, .. } => format!("server answered {status}: {message}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::Digests;

    fn pkg(sha256: &str) -> Package {
        Package {
            id: format!("id-{sha256}"),
            digests: Some(Digests {
                sha256: Some(sha256.into()),
                ..Digests::default()
            }),
            ..Package::default()
        }
    }

    fn status(code: u16, message: &str) -> ApiError {
        ApiError::Status {
            method: "POST",
            url: "http://x/".into(),
            status: code,
            message: message.into(),
            retry_after: None,
            hint: String::new(),
        }
    }

    fn conflict() -> ApiError {
        status(409, "Package already exists")
    }

    fn says(refusal: Refusal, err: Option<&ApiError>) -> Failure {
        let subject = Subject {
            identity: "foo 1.0",
            sha256: None,
            file_name: "foo_1.0_amd64.deb",
            err,
            settled: Duration::from_secs(90),
        };
        super::refusal(&subject, refusal)
    }

    #[test]
    fn refusals_name_the_package_the_answer_and_the_fix() {
        let err = conflict();
        let exists = says(Refusal::Exists(Some(pkg("r"))), Some(&err));
        assert_eq!(
            exists.message,
            "foo 1.0 is already in the registry (server answered 409: Package already exists); if-exists: fail"
        );
        assert_eq!(exists.package.unwrap().id, "id-r");
        let before = says(Refusal::Exists(None), None);
        assert!(
            before.message.contains("(found before uploading)"),
            "{}",
            before.message
        );
        let different = says(Refusal::Different(pkg("r")), None).message;
        assert!(
            different.contains("registry sha256 r, local sha256 (not read)"),
            "{different}"
        );
        assert!(different.contains("if-exists: replace"), "{different}");
    }

    #[test]
    fn refusals_about_several_packages_list_their_digests() {
        let several = says(Refusal::Several(vec![pkg("a"), pkg("b")]), Some(&conflict())).message;
        assert!(several.starts_with("2 packages named foo 1.0"), "{several}");
        assert!(several.contains("(theirs: a, b)"), "{several}");
        let which = says(Refusal::WhichToReplace(vec![pkg("a"), pkg("b")]), None).message;
        assert!(
            which.contains("(sha256 a, b)") && which.contains("will not guess"),
            "{which}"
        );
    }

    #[test]
    fn refusals_without_a_package_to_compare_say_why() {
        let not_found = says(Refusal::NotFound, Some(&conflict())).message;
        assert!(not_found.contains("within 90 s (settle-timeout)"), "{not_found}");
        let unknown = says(Refusal::CannotLookUp, Some(&conflict())).message;
        assert!(
            unknown.starts_with("the registry says foo_1.0_amd64.deb already exists"),
            "{unknown}"
        );
    }

    #[test]
    fn failures_keep_their_kind_through_context() {
        let refused = status(403, "Forbidden");
        let failure = Failure::from_api(&refused).context("after an upload");
        assert_eq!(failure.kind, Kind::Auth);
        assert!(
            failure
                .message
                .starts_with("after an upload: POST http://x/ answered 403")
        );
        let note = unverified_unchecked(Some(&conflict()), &Failure::new(CANCELLED_CHECKING));
        assert!(
            note.starts_with("an upload of this file whose answer was lost (POST http://x/ answered 409"),
            "{note}"
        );
        assert!(
            note.contains(CANCELLED_CHECKING) && note.contains("may have landed"),
            "{note}"
        );
        let replaced = replaced_but_failed(Failure::new("boom"), "foo 1.0", "old-id");
        assert_eq!(
            replaced.message,
            "deleted the existing foo 1.0 (old-id) for replacement, but the new file was not published: boom"
        );
        let deletion = delete_failed(&conflict(), pkg("old"));
        assert!(deletion.message.starts_with("if-exists: replace could not delete"));
        assert_eq!(deletion.package.unwrap().id, "id-old");
    }
}
