//! One file's publish as a type, and what its parts share: [`FileRun`] owns the
//! artifact, the [`State`] carried from attempt to attempt, the shared upload slots and
//! the backoff. Its methods live by concern: the attempt loop and the file's end in
//! `run.rs`, the send legs of one attempt in `attempt.rs`, the looks at the registry in
//! `reconcile.rs`; each imports the type from here, so none imports another.

use super::failure::Failure;
use super::slots::Slots;
use super::state::{Cut, State};
use super::{Overall, Publisher};
use crate::api::{ApiError, ReadState};
use crate::artifact::Artifact;
use crate::auth::AuthError;
use crate::digest::Sha256;
use crate::retry::run::Retrier;

/// One file's publish, from its first attempt to its report entry.
pub(super) struct FileRun<'p> {
    pub(super) p: &'p Publisher,
    pub(super) slots: &'p Slots,
    pub(super) overall: &'p Overall,
    pub(super) a: Artifact,
    pub(super) st: State,
    pub(super) retrier: Retrier<'p>,
}

/// How one attempt ended, when it did not publish.
pub(super) enum Stop {
    Api(ApiError),
    Token(AuthError),
    /// Over for good (a deletion for replacement failed).
    Failed(Failure),
    /// Cancelled while nothing of this file was on the wire.
    Cancelled,
    /// Cancelled while a request was on the wire, this far.
    Interrupted(Cut),
}

/// Keeps the sha256 an upload computed while streaming the whole file.
pub(super) fn keep_digest(a: &mut Artifact, read: &ReadState) {
    if let Some(sha256) = read.digest() {
        a.sha256 = Some(sha256);
    }
}

/// The file's sha256, read now unless an upload that streamed the whole file already
/// computed it.
pub(super) async fn hash(a: &mut Artifact) -> Result<Sha256, Failure> {
    a.ensure_hash()
        .await
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", a.rel)))
}
