//! What one file's publish carries from attempt to attempt, and the transitions that
//! decide on it without I/O: which way the next attempt sends the file, what a failed
//! attempt leads to, what `policy::decide` is told, and which status a landed upload
//! gets. The attempt loop (`run.rs`) does the I/O these decide on.

use std::time::Duration;

use super::PRESIGNED_THRESHOLD;
use super::policy::{Context, Trigger};
use crate::api::model::{Package, UploadForm};
use crate::api::{ApiError, ReadState};
use crate::config::{IfExists, UploadMethod};
use crate::lookup::Found;
use crate::report::Status;
use crate::retry::settle::Settle;

/// The state one file carries from attempt to attempt.
#[derive(Debug)]
pub(super) struct State {
    pub(super) presigned: bool,
    /// An earlier attempt may have landed (its answer was lost).
    pub(super) maybe_ours: bool,
    /// The waits left for a lagging listing (`settle-timeout`).
    pub(super) settle: Settle,
    /// The request of the current attempt that is on the wire, if any.
    pub(super) leg: Leg,
    /// The package `replace` will delete before the next upload.
    pub(super) replace: Option<Package>,
    /// The package this run deleted for replacement.
    pub(super) deleted: Option<Package>,
    /// A deletion for replacement that was sent but not answered (yet).
    pub(super) deleting: Option<Package>,
    /// What the reader of the latest upload found (its digest survives an upload that
    /// was cut off after the whole file was read).
    pub(super) read: Option<ReadState>,
    /// Presigned flow: the upload slot in use, and the object already in storage.
    pub(super) form: Option<UploadForm>,
    pub(super) staged: Option<String>,
    pub(super) fresh_slot: bool,
}

/// A file that is done.
#[derive(Debug)]
pub(super) struct Done {
    pub(super) status: Status,
    pub(super) package: Option<Package>,
    /// Why an unverified upload could not be confirmed.
    pub(super) note: Option<String>,
}

impl Done {
    pub(super) fn new(status: Status, package: Option<Package>) -> Done {
        Done {
            status,
            package,
            note: None,
        }
    }

    /// An upload that may have landed but could not be confirmed, and why.
    pub(super) fn unverified(note: String) -> Done {
        Done {
            status: Status::Unverified,
            package: None,
            note: Some(note),
        }
    }
}

/// Which request of an attempt is on the wire (it stays set when a cancellation
/// drops the request, which is when it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leg {
    /// No request that carries the file: a token, an upload slot, a deletion.
    Idle,
    /// The file into the presigned flow's storage.
    Storage,
    /// The direct multipart upload.
    Direct,
    /// The presigned flow's finalize.
    Finalize,
}

/// How far an attempt had got when a cancellation cut it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// Nothing of the file was sent (waiting for a slot, a token, an upload slot).
    Before,
    /// Part of the file was sent, not all: the registry cannot have the package.
    Partway { sent: u64 },
    /// The whole file, or the finalize, was on the wire: it may have landed.
    MayHaveLanded,
}

/// What happens after a look at the registry.
#[allow(clippy::large_enum_variant)] // short-lived, returned once per lookup
pub(super) enum Next {
    Done(Done),
    Send,
}

/// How the next attempt sends the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// One multipart request to the registry.
    Direct,
    /// An upload slot, storage, then finalize (resuming at the leg that failed).
    Presigned,
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The registry refused a duplicate: look, and let `if-exists` decide.
    Conflict,
    /// Send again at once, another way.
    Switched(Switch),
    /// The attempt may have landed: look before anything is sent again, then back off.
    CheckThenRetry,
    /// Back off, then try again (if the failure is worth it).
    Retry,
}

/// How the next attempt changes after a failure, without a backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Switch {
    /// A 413 to the direct upload under `upload-method: auto`.
    ToPresigned,
    /// Storage refused the upload slot (it may have expired): ask for a new one, once.
    FreshSlot,
}

impl State {
    /// The state before the first attempt: presigned when the method says so, or under
    /// `auto` for a large file; a lagging listing is waited for up to `settle`.
    pub(super) fn new(method: UploadMethod, size: u64, settle: Duration) -> State {
        State {
            presigned: match method {
                UploadMethod::Direct => false,
                UploadMethod::Presigned => true,
                UploadMethod::Auto => size >= PRESIGNED_THRESHOLD,
            },
            maybe_ours: false,
            settle: Settle::new(settle),
            leg: Leg::Idle,
            replace: None,
            deleted: None,
            deleting: None,
            read: None,
            form: None,
            staged: None,
            fresh_slot: false,
        }
    }

    /// How far an attempt cut off by a cancellation had got, given the bytes of the
    /// file it had handed to the connection.
    pub(super) fn cut(&self, sent: u64, size: u64) -> Cut {
        match self.leg {
            // The finalize publishes a staged file in one small request.
            Leg::Finalize => Cut::MayHaveLanded,
            Leg::Direct if sent >= size => Cut::MayHaveLanded,
            Leg::Direct | Leg::Storage if sent > 0 => Cut::Partway { sent },
            _ => Cut::Before,
        }
    }

    /// How the next attempt sends the file. A replacement is staged in storage before
    /// the old package is deleted, where the upload method allows.
    pub(super) fn route(&self, method: UploadMethod) -> Route {
        if self.presigned || (self.replace.is_some() && method == UploadMethod::Auto) {
            Route::Presigned
        } else {
            Route::Direct
        }
    }

    /// What the failed attempt `err` leads to, recording what it tells about the file.
    pub(super) fn after_failure(&mut self, err: &ApiError, method: UploadMethod) -> Step {
        if err.is_already_exists() {
            return Step::Conflict;
        }
        if err.status() == Some(413) && !self.presigned && method == UploadMethod::Auto {
            self.presigned = true;
            return Step::Switched(Switch::ToPresigned);
        }
        if matches!(err, ApiError::Storage { status: 403, .. }) && !self.fresh_slot {
            self.fresh_slot = true;
            self.form = None;
            return Step::Switched(Switch::FreshSlot);
        }
        if err.is_ambiguous() {
            self.maybe_ours = true;
            return Step::CheckThenRetry;
        }
        Step::Retry
    }

    /// What `policy::decide` is told besides the lookup's result; `has_variant`: the
    /// file is one of several its version may hold.
    pub(super) fn context(&self, trigger: Trigger, policy: IfExists, has_variant: bool) -> Context {
        Context {
            trigger,
            policy,
            maybe_ours: self.maybe_ours,
            replaced: self.deleted.is_some(),
            can_look_again: self.settle.can_wait(),
            has_variant,
            settled_for: self.settle.waited(),
        }
    }

    /// A package the registry lists that this run deleted for replacement is a
    /// listing that lags behind the deletion: the package is gone.
    pub(super) fn without_deleted(&self, found: Found) -> Found {
        match (found, &self.deleted) {
            (Found::Other(pkg), Some(gone)) if pkg.id == gone.id => Found::Absent,
            (found, _) => found,
        }
    }

    /// The deletion sent for replacement was answered.
    pub(super) fn deletion_done(&mut self) {
        self.deleted = self.deleting.take();
    }

    /// The status of an upload the registry accepted.
    pub(super) fn written(&self) -> Status {
        if self.deleted.is_some() {
            Status::Replaced
        } else {
            Status::Published
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLE: Duration = Duration::from_secs(90);

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

    fn storage(code: u16) -> ApiError {
        ApiError::Storage {
            method: "POST",
            url: "http://s3/".into(),
            host: "s3".into(),
            status: code,
            message: String::new(),
        }
    }

    fn reset() -> ApiError {
        ApiError::Transport {
            method: "POST",
            url: "http://x/".into(),
            detail: "connection reset".into(),
            ambiguous: true,
            timed_out: false,
        }
    }

    fn pkg(id: &str) -> Package {
        Package {
            id: id.into(),
            ..Package::default()
        }
    }

    #[test]
    fn the_first_attempt_is_presigned_by_method_or_size() {
        let big = PRESIGNED_THRESHOLD;
        assert!(!State::new(UploadMethod::Auto, big - 1, SETTLE).presigned);
        assert!(State::new(UploadMethod::Auto, big, SETTLE).presigned);
        assert!(!State::new(UploadMethod::Direct, big, SETTLE).presigned);
        assert!(State::new(UploadMethod::Presigned, 1, SETTLE).presigned);
    }

    #[test]
    fn a_replacement_under_auto_is_staged_before_the_delete() {
        let mut st = State::new(UploadMethod::Auto, 1, SETTLE);
        assert_eq!(st.route(UploadMethod::Auto), Route::Direct);
        st.replace = Some(pkg("old"));
        assert_eq!(st.route(UploadMethod::Auto), Route::Presigned);
        assert_eq!(
            st.route(UploadMethod::Direct),
            Route::Direct,
            "direct is what the user asked for"
        );
    }

    #[test]
    fn a_413_switches_to_presigned_once_and_only_under_auto() {
        let mut st = State::new(UploadMethod::Auto, 1, SETTLE);
        let too_large = status(413, "Payload Too Large");
        assert_eq!(
            st.after_failure(&too_large, UploadMethod::Auto),
            Step::Switched(Switch::ToPresigned)
        );
        assert_eq!(st.route(UploadMethod::Auto), Route::Presigned);
        assert_eq!(st.after_failure(&too_large, UploadMethod::Auto), Step::Retry);
        let mut direct = State::new(UploadMethod::Direct, 1, SETTLE);
        assert_eq!(direct.after_failure(&too_large, UploadMethod::Direct), Step::Retry);
        assert!(!direct.presigned);
    }

    #[test]
    fn storage_refusing_the_slot_asks_for_a_fresh_one_once() {
        let mut st = State::new(UploadMethod::Presigned, 1, SETTLE);
        st.form = Some(serde_json::from_str(r#"{"url":"http://s3/"}"#).unwrap());
        assert_eq!(
            st.after_failure(&storage(403), UploadMethod::Presigned),
            Step::Switched(Switch::FreshSlot)
        );
        assert!(st.form.is_none(), "the old slot is dropped");
        assert_eq!(st.after_failure(&storage(403), UploadMethod::Presigned), Step::Retry);
    }

    #[test]
    fn a_duplicate_is_a_conflict_and_a_lost_answer_may_be_ours() {
        let mut st = State::new(UploadMethod::Direct, 1, SETTLE);
        assert_eq!(st.after_failure(&status(409, ""), UploadMethod::Direct), Step::Conflict);
        assert_eq!(
            st.after_failure(&status(422, "Version has already been taken"), UploadMethod::Direct),
            Step::Conflict
        );
        assert!(!st.maybe_ours);
        assert_eq!(st.after_failure(&reset(), UploadMethod::Direct), Step::CheckThenRetry);
        assert!(st.maybe_ours);
        assert!(st.context(Trigger::Conflict, IfExists::Fail, true).maybe_ours);
        assert_eq!(st.after_failure(&status(400, "bad"), UploadMethod::Direct), Step::Retry);
    }

    #[test]
    fn the_listing_is_asked_again_until_settle_timeout_is_spent() {
        let mut st = State::new(UploadMethod::Direct, 1, SETTLE);
        let mut waited = Duration::ZERO;
        while st.context(Trigger::Conflict, IfExists::Skip, true).can_look_again {
            waited += st.settle.next_wait().unwrap();
        }
        assert_eq!(waited, SETTLE);
        let never = State::new(UploadMethod::Direct, 1, Duration::ZERO);
        assert!(!never.context(Trigger::Conflict, IfExists::Skip, true).can_look_again);
    }

    #[test]
    fn a_cancelled_attempt_may_have_landed_only_once_the_whole_request_was_sent() {
        let mut st = State::new(UploadMethod::Direct, 100, SETTLE);
        assert_eq!(st.cut(0, 100), Cut::Before, "waiting for a token or a slot");
        st.leg = Leg::Direct;
        assert_eq!(st.cut(0, 100), Cut::Before);
        assert_eq!(st.cut(40, 100), Cut::Partway { sent: 40 });
        assert_eq!(st.cut(100, 100), Cut::MayHaveLanded);
        st.leg = Leg::Storage;
        assert_eq!(
            st.cut(100, 100),
            Cut::Partway { sent: 100 },
            "storage alone publishes nothing"
        );
        st.leg = Leg::Finalize;
        assert_eq!(st.cut(0, 100), Cut::MayHaveLanded);
        let empty = State {
            leg: Leg::Direct,
            ..State::new(UploadMethod::Direct, 0, SETTLE)
        };
        assert_eq!(empty.cut(0, 0), Cut::MayHaveLanded);
    }

    #[test]
    fn a_package_this_run_deleted_is_not_in_the_registry() {
        let mut st = State::new(UploadMethod::Direct, 1, SETTLE);
        assert_eq!(st.without_deleted(Found::Other(pkg("old"))), Found::Other(pkg("old")));
        st.deleted = Some(pkg("old"));
        assert_eq!(st.without_deleted(Found::Other(pkg("old"))), Found::Absent);
        assert_eq!(
            st.without_deleted(Found::Other(pkg("other"))),
            Found::Other(pkg("other"))
        );
    }

    #[test]
    fn a_landed_upload_is_a_replacement_once_the_old_package_is_gone() {
        let mut st = State::new(UploadMethod::Direct, 1, SETTLE);
        assert_eq!(st.written(), Status::Published);
        st.deleting = Some(pkg("old"));
        assert_eq!(st.written(), Status::Published, "a deletion not answered yet");
        st.deletion_done();
        assert_eq!(st.written(), Status::Replaced);
        assert!(st.context(Trigger::Conflict, IfExists::Replace, true).replaced);
    }
}
