//! What one file's publish carries from attempt to attempt, and the transitions that
//! decide on it without I/O: which way the next attempt sends the file, what a failed
//! attempt leads to, what `policy::decide` is told, and which status a landed upload
//! gets. The attempt loop (`run.rs`) does the I/O these decide on.

use std::time::Duration;

use super::PRESIGNED_THRESHOLD;
use super::policy::{Context, LAG_WAITS, Trigger};
use crate::api::model::{Package, UploadForm};
use crate::api::{ApiError, ReadState};
use crate::config::{IfExists, UploadMethod};
use crate::report::Status;

/// The state one file carries from attempt to attempt.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) presigned: bool,
    /// An earlier attempt may have landed (its answer was lost).
    pub(super) maybe_ours: bool,
    pub(super) lag_checks: usize,
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
    /// `auto` for a large file.
    pub(super) fn new(method: UploadMethod, size: u64) -> State {
        State {
            presigned: match method {
                UploadMethod::Direct => false,
                UploadMethod::Presigned => true,
                UploadMethod::Auto => size >= PRESIGNED_THRESHOLD,
            },
            ..State::default()
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

    /// What `policy::decide` is told besides the lookup's result.
    pub(super) fn context(&self, trigger: Trigger, policy: IfExists) -> Context {
        Context {
            trigger,
            policy,
            maybe_ours: self.maybe_ours,
            replaced: self.deleted.is_some(),
            can_look_again: self.lag_checks < LAG_WAITS.len(),
        }
    }

    /// The wait before the next look at a lagging listing (only asked while
    /// [`Context::can_look_again`]).
    pub(super) fn next_lag_wait(&mut self) -> Duration {
        let wait = LAG_WAITS[self.lag_checks];
        self.lag_checks += 1;
        wait
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
        assert!(!State::new(UploadMethod::Auto, big - 1).presigned);
        assert!(State::new(UploadMethod::Auto, big).presigned);
        assert!(!State::new(UploadMethod::Direct, big).presigned);
        assert!(State::new(UploadMethod::Presigned, 1).presigned);
    }

    #[test]
    fn a_replacement_under_auto_is_staged_before_the_delete() {
        let mut st = State::new(UploadMethod::Auto, 1);
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
        let mut st = State::new(UploadMethod::Auto, 1);
        let too_large = status(413, "Payload Too Large");
        assert_eq!(
            st.after_failure(&too_large, UploadMethod::Auto),
            Step::Switched(Switch::ToPresigned)
        );
        assert_eq!(st.route(UploadMethod::Auto), Route::Presigned);
        assert_eq!(st.after_failure(&too_large, UploadMethod::Auto), Step::Retry);
        let mut direct = State::new(UploadMethod::Direct, 1);
        assert_eq!(direct.after_failure(&too_large, UploadMethod::Direct), Step::Retry);
        assert!(!direct.presigned);
    }

    #[test]
    fn storage_refusing_the_slot_asks_for_a_fresh_one_once() {
        let mut st = State::new(UploadMethod::Presigned, 1);
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
        let mut st = State::new(UploadMethod::Direct, 1);
        assert_eq!(st.after_failure(&status(409, ""), UploadMethod::Direct), Step::Conflict);
        assert_eq!(
            st.after_failure(&status(422, "Version has already been taken"), UploadMethod::Direct),
            Step::Conflict
        );
        assert!(!st.maybe_ours);
        assert_eq!(st.after_failure(&reset(), UploadMethod::Direct), Step::CheckThenRetry);
        assert!(st.maybe_ours);
        assert!(st.context(Trigger::Conflict, IfExists::Fail).maybe_ours);
        assert_eq!(st.after_failure(&status(400, "bad"), UploadMethod::Direct), Step::Retry);
    }

    #[test]
    fn the_listing_is_asked_again_only_as_often_as_there_are_waits() {
        let mut st = State::new(UploadMethod::Direct, 1);
        let mut waits = Vec::new();
        while st.context(Trigger::Conflict, IfExists::Skip).can_look_again {
            waits.push(st.next_lag_wait());
        }
        assert_eq!(waits, LAG_WAITS);
    }

    #[test]
    fn a_landed_upload_is_a_replacement_once_the_old_package_is_gone() {
        let mut st = State::new(UploadMethod::Direct, 1);
        assert_eq!(st.written(), Status::Published);
        st.deleting = Some(pkg("old"));
        assert_eq!(st.written(), Status::Published, "a deletion not answered yet");
        st.deletion_done();
        assert_eq!(st.written(), Status::Replaced);
        assert!(st.context(Trigger::Conflict, IfExists::Replace).replaced);
    }
}
