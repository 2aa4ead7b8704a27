//! The `if-exists` policy as one pure function: what the registry holds for a file,
//! the configured policy, and whether an earlier attempt of this run may have landed,
//! decide the next step. A package with the file's sha256 after a possibly-landed
//! attempt is this run's own upload, whatever the policy. A registry that says
//! "already exists" but whose listing does not show the package yet (a lagging index)
//! is asked again until `settle-timeout` is spent before anything is concluded, and
//! `replace` lets the listing settle before it deletes anything. When the listing never
//! shows a package this run's own upload may have put there, the file is `unverified`:
//! neither published nor failed.

use std::time::Duration;

use crate::api::model::Package;
use crate::config::IfExists;
use crate::lookup::Found;
use crate::report::Status;

/// Why the registry is being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Before the first upload of a large file: nothing was sent yet.
    Precheck,
    /// An attempt failed in a way that may have published the package.
    AfterAmbiguous,
    /// The registry refused the upload as a duplicate (409, or an "already exists" 422).
    Conflict,
}

/// Everything besides the lookup's result that the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "four independent facts the one pure decision reads; no state machine hides among them"
)]
pub(crate) struct Context {
    pub trigger: Trigger,
    pub policy: IfExists,
    /// An earlier attempt of this run may have landed (its answer was lost).
    pub maybe_ours: bool,
    /// This run already deleted the registry's package for replacement.
    pub replaced: bool,
    /// More lookups may be made to wait for a lagging index (`settle-timeout` is not
    /// spent).
    pub can_look_again: bool,
    /// The file is one of several a version may hold (an architecture, wheel tags, a
    /// platform), so a listed package whose variant the registry does not name may be
    /// another one.
    pub has_variant: bool,
    /// How long this file has waited for a lagging listing so far.
    pub settled_for: Duration,
}

/// How long `replace` lets a listing settle before deleting a package whose variant
/// the registry does not name (it may be another architecture while the file's own
/// earlier build is not listed yet). Short and fixed: it is paid on every such
/// replacement, unlike `settle-timeout`, which only a lost answer costs.
pub(crate) const REPLACE_SETTLE: Duration = Duration::from_secs(8);

/// Why a file is not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `if-exists: fail` and the package is there.
    Exists(Option<Package>),
    /// `skip-identical`: one package with the name and version and other content.
    Different(Package),
    /// `skip-identical`: several such packages, none with this content.
    Several(Vec<Package>),
    /// `replace`: several candidates; deleting one would be a guess.
    WhichToReplace(Vec<Package>),
    /// `replace`: the registry still refuses after the deletion.
    StillThere(Option<Package>),
    /// The registry says the package exists but no lookup finds it.
    NotFound,
    /// The file's identity is unknown, so the duplicate cannot be checked.
    CannotLookUp,
}

/// The next step for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Finished with this status (and the registry's package, when there is one).
    Done(Status, Option<Package>),
    /// Upload (again).
    Send,
    /// Delete this package, then upload.
    Replace(Package),
    /// Wait, then look again (the registry's listing may lag behind its uploads).
    LookAgain,
    /// Not published.
    Fail(Refusal),
}

/// Decides the next step from what the registry holds.
#[must_use]
pub(crate) fn decide(found: Found, c: Context) -> Action {
    let ours = |pkg| {
        Action::Done(
            if c.replaced {
                Status::Replaced
            } else {
                Status::Published
            },
            Some(pkg),
        )
    };
    match (c.trigger, found) {
        (Trigger::AfterAmbiguous, Found::Exact(pkg)) => ours(pkg),
        (Trigger::Conflict, Found::Exact(pkg)) if c.maybe_ours => ours(pkg),
        (Trigger::Precheck | Trigger::Conflict, Found::Exact(pkg)) => match c.policy {
            IfExists::SkipIdentical | IfExists::Replace => Action::Done(Status::Identical, Some(pkg)),
            IfExists::Skip => Action::Done(Status::Skipped, Some(pkg)),
            IfExists::Fail => Action::Fail(Refusal::Exists(Some(pkg))),
        },
        // Nothing with this content: the registry decides on the upload (another
        // architecture under the same name and version is not a conflict).
        (Trigger::Precheck | Trigger::AfterAmbiguous, _) => Action::Send,
        // The registry's "already exists" is all `skip` and `fail` need when the
        // duplicate cannot be this run's own upload: no comparison, and no waiting
        // for a lagging listing to show it.
        (Trigger::Conflict, Found::Unknown | Found::Absent) if c.policy == IfExists::Skip && !c.maybe_ours => {
            Action::Done(Status::Skipped, None)
        }
        (Trigger::Conflict, Found::Unknown | Found::Absent) if c.policy == IfExists::Fail && !c.maybe_ours => {
            Action::Fail(Refusal::Exists(None))
        }
        (Trigger::Conflict, Found::Unknown) => Action::Fail(Refusal::CannotLookUp),
        (Trigger::Conflict, found) if c.can_look_again && (c.maybe_ours || found == Found::Absent) => Action::LookAgain,
        // The registry holds the package, no listing shows it, and this run's own
        // upload may be what it holds: neither published nor failed.
        (Trigger::Conflict, Found::Absent) if c.maybe_ours => Action::Done(Status::Unverified, None),
        (Trigger::Conflict, Found::Absent) => Action::Fail(Refusal::NotFound),
        (Trigger::Conflict, Found::Other(pkg)) => other_content(pkg, c),
        (Trigger::Conflict, Found::Many(pkgs)) => match c.policy {
            IfExists::Skip => Action::Done(Status::Skipped, pkgs.into_iter().next()),
            IfExists::Fail => Action::Fail(Refusal::Exists(pkgs.into_iter().next())),
            IfExists::SkipIdentical => Action::Fail(Refusal::Several(pkgs)),
            IfExists::Replace => Action::Fail(Refusal::WhichToReplace(pkgs)),
        },
    }
}

/// The registry refused the file as a duplicate and lists one package of its name
/// and version with other content.
fn other_content(pkg: Package, c: Context) -> Action {
    match c.policy {
        IfExists::Skip => Action::Done(Status::Skipped, Some(pkg)),
        IfExists::Fail => Action::Fail(Refusal::Exists(Some(pkg))),
        IfExists::SkipIdentical => Action::Fail(Refusal::Different(pkg)),
        IfExists::Replace if c.replaced => Action::Fail(Refusal::StillThere(Some(pkg))),
        // The listing may lag: the one package shown may be another architecture
        // while the file's own earlier version is not listed yet. Let it settle
        // before deleting anything, unless the registry says which variant it is
        // (the lookup keeps only the file's own).
        IfExists::Replace
            if c.can_look_again && c.has_variant && pkg.variant.is_none() && c.settled_for < REPLACE_SETTLE =>
        {
            Action::LookAgain
        }
        IfExists::Replace => Action::Replace(pkg),
    }
}

/// What a dry run predicts the real run ends with for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prediction {
    /// This status (`Planned` for a new package), with the registry's package when
    /// there is one.
    Ends(Status, Option<Package>),
    /// `replace` deletes this package, then publishes the file.
    Replaces(Package),
    /// Not published.
    Refused(Refusal),
}

/// What a dry run predicts for a file, given what the registry holds for it now. The
/// real run sends the file and, when the registry refuses it as a duplicate, looks it
/// up and lets [`decide`] settle it; this is that decision made up front, with
/// nothing of this run in the registry. `has_variant`: the file is one of several
/// a version may hold (an architecture), so a package whose variant the registry
/// does not name may be another one, which the upload would not conflict with.
#[must_use]
pub(crate) fn predict(found: Found, policy: IfExists, has_variant: bool) -> Prediction {
    match &found {
        Found::Absent | Found::Unknown => return Prediction::Ends(Status::Planned, None),
        Found::Other(pkg) if has_variant && pkg.variant.is_none() => return Prediction::Ends(Status::Planned, None),
        _ => {}
    }
    let context = Context {
        trigger: Trigger::Conflict,
        policy,
        maybe_ours: false,
        replaced: false,
        can_look_again: false,
        has_variant,
        settled_for: Duration::ZERO,
    };
    match decide(found, context) {
        Action::Done(status, pkg) => Prediction::Ends(status, pkg),
        Action::Replace(pkg) => Prediction::Replaces(pkg),
        Action::Fail(refusal) => Prediction::Refused(refusal),
        Action::Send | Action::LookAgain => Prediction::Ends(Status::Planned, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: &str) -> Package {
        Package {
            id: id.into(),
            ..Package::default()
        }
    }

    fn ctx(trigger: Trigger, policy: IfExists, maybe_ours: bool) -> Context {
        Context {
            trigger,
            policy,
            maybe_ours,
            replaced: false,
            can_look_again: true,
            has_variant: true,
            settled_for: Duration::ZERO,
        }
    }

    const ALL: [IfExists; 4] = [
        IfExists::SkipIdentical,
        IfExists::Skip,
        IfExists::Fail,
        IfExists::Replace,
    ];

    #[test]
    fn our_own_landed_upload_is_published_under_every_policy() {
        for policy in ALL {
            for trigger in [Trigger::AfterAmbiguous, Trigger::Conflict] {
                assert_eq!(
                    decide(Found::Exact(pkg("a")), ctx(trigger, policy, true)),
                    Action::Done(Status::Published, Some(pkg("a"))),
                    "{policy:?} {trigger:?}"
                );
            }
            let replaced = Context {
                replaced: true,
                ..ctx(Trigger::Conflict, policy, true)
            };
            assert_eq!(
                decide(Found::Exact(pkg("a")), replaced),
                Action::Done(Status::Replaced, Some(pkg("a")))
            );
        }
    }

    #[test]
    fn an_existing_identical_package_follows_the_policy() {
        let table = [
            (IfExists::SkipIdentical, Action::Done(Status::Identical, Some(pkg("a")))),
            (IfExists::Replace, Action::Done(Status::Identical, Some(pkg("a")))),
            (IfExists::Skip, Action::Done(Status::Skipped, Some(pkg("a")))),
            (IfExists::Fail, Action::Fail(Refusal::Exists(Some(pkg("a"))))),
        ];
        for (policy, want) in table {
            for trigger in [Trigger::Precheck, Trigger::Conflict] {
                assert_eq!(
                    decide(Found::Exact(pkg("a")), ctx(trigger, policy, false)),
                    want,
                    "{policy:?}"
                );
            }
        }
    }

    #[test]
    fn without_this_content_in_the_registry_the_file_is_sent() {
        for policy in ALL {
            for found in [
                Found::Absent,
                Found::Unknown,
                Found::Other(pkg("b")),
                Found::Many(vec![]),
            ] {
                for trigger in [Trigger::Precheck, Trigger::AfterAmbiguous] {
                    assert_eq!(decide(found.clone(), ctx(trigger, policy, true)), Action::Send);
                }
            }
        }
    }

    #[test]
    fn a_conflict_not_found_yet_is_looked_up_again_then_refused() {
        for policy in [IfExists::SkipIdentical, IfExists::Replace] {
            assert_eq!(
                decide(Found::Absent, ctx(Trigger::Conflict, policy, false)),
                Action::LookAgain
            );
            let exhausted = Context {
                can_look_again: false,
                ..ctx(Trigger::Conflict, policy, false)
            };
            assert_eq!(decide(Found::Absent, exhausted), Action::Fail(Refusal::NotFound));
        }
        for policy in ALL {
            assert_eq!(
                decide(Found::Other(pkg("b")), ctx(Trigger::Conflict, policy, true)),
                Action::LookAgain,
                "our upload may not be listed yet"
            );
            let exhausted = Context {
                can_look_again: false,
                ..ctx(Trigger::Conflict, policy, true)
            };
            assert_eq!(
                decide(Found::Absent, exhausted),
                Action::Done(Status::Unverified, None),
                "{policy:?}: our own upload may be what the registry holds"
            );
            assert_eq!(
                decide(Found::Unknown, ctx(Trigger::Conflict, policy, true)),
                Action::Fail(Refusal::CannotLookUp)
            );
        }
        // For `skip` and `fail` the registry's "already exists" is the answer: a
        // lagging listing is not waited for, unless the duplicate may be our own.
        for found in [Found::Unknown, Found::Absent] {
            assert_eq!(
                decide(found.clone(), ctx(Trigger::Conflict, IfExists::Skip, false)),
                Action::Done(Status::Skipped, None)
            );
            assert_eq!(
                decide(found, ctx(Trigger::Conflict, IfExists::Fail, false)),
                Action::Fail(Refusal::Exists(None))
            );
        }
    }

    #[test]
    fn a_conflict_with_other_content_follows_the_policy() {
        let c = |policy| ctx(Trigger::Conflict, policy, false);
        let other = || Found::Other(pkg("b"));
        assert_eq!(
            decide(other(), c(IfExists::SkipIdentical)),
            Action::Fail(Refusal::Different(pkg("b")))
        );
        assert_eq!(
            decide(other(), c(IfExists::Skip)),
            Action::Done(Status::Skipped, Some(pkg("b")))
        );
        assert_eq!(
            decide(other(), c(IfExists::Fail)),
            Action::Fail(Refusal::Exists(Some(pkg("b"))))
        );
        assert_eq!(decide(other(), c(IfExists::Replace)), Action::LookAgain, "settle first");
        let one_per_version = Context {
            has_variant: false,
            ..c(IfExists::Replace)
        };
        assert_eq!(
            decide(other(), one_per_version),
            Action::Replace(pkg("b")),
            "a file that is the only one of its version: the package listed is its own"
        );
        let settled = Context {
            can_look_again: false,
            ..c(IfExists::Replace)
        };
        assert_eq!(decide(other(), settled), Action::Replace(pkg("b")));
        let briefly = Context {
            settled_for: REPLACE_SETTLE,
            ..c(IfExists::Replace)
        };
        assert_eq!(
            decide(other(), briefly),
            Action::Replace(pkg("b")),
            "replace waits briefly, not the whole settle-timeout"
        );
        let after_delete = Context {
            replaced: true,
            ..c(IfExists::Replace)
        };
        assert_eq!(
            decide(other(), after_delete),
            Action::Fail(Refusal::StillThere(Some(pkg("b"))))
        );
        let many = || Found::Many(vec![pkg("b"), pkg("c")]);
        assert_eq!(
            decide(many(), c(IfExists::Replace)),
            Action::Fail(Refusal::WhichToReplace(vec![pkg("b"), pkg("c")]))
        );
        assert_eq!(
            decide(many(), c(IfExists::SkipIdentical)),
            Action::Fail(Refusal::Several(vec![pkg("b"), pkg("c")]))
        );
    }

    #[test]
    fn a_dry_run_predicts_what_the_real_run_ends_with() {
        let other = || {
            Found::Other(Package {
                variant: Some("amd64".into()),
                ..pkg("other")
            })
        };
        let exact = || Found::Exact(pkg("same"));
        assert_eq!(
            predict(Found::Absent, IfExists::Fail, true),
            Prediction::Ends(Status::Planned, None)
        );
        assert!(matches!(
            predict(exact(), IfExists::SkipIdentical, true),
            Prediction::Ends(Status::Identical, Some(_))
        ));
        assert!(matches!(
            predict(exact(), IfExists::Skip, true),
            Prediction::Ends(Status::Skipped, Some(_))
        ));
        assert!(matches!(
            predict(exact(), IfExists::Fail, true),
            Prediction::Refused(Refusal::Exists(_))
        ));
        assert!(matches!(
            predict(other(), IfExists::SkipIdentical, true),
            Prediction::Refused(Refusal::Different(_))
        ));
        assert!(matches!(
            predict(other(), IfExists::Skip, true),
            Prediction::Ends(Status::Skipped, Some(_))
        ));
        assert!(matches!(predict(other(), IfExists::Replace, true), Prediction::Replaces(p) if p.id == "other"));
        // A package whose variant is not said may be another architecture of the
        // release: the upload would be accepted.
        assert_eq!(
            predict(Found::Other(pkg("unsaid")), IfExists::SkipIdentical, true),
            Prediction::Ends(Status::Planned, None)
        );
        // One file per version (an npm package): the same name and version conflicts.
        assert!(matches!(
            predict(Found::Other(pkg("npm")), IfExists::SkipIdentical, false),
            Prediction::Refused(Refusal::Different(_))
        ));
    }
}
