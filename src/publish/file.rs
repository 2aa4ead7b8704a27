//! One file's attempt state machine. Each attempt takes an upload slot, sends the file
//! (direct, or the presigned slot → storage → finalize legs, resuming at the leg that
//! failed), and gives the slot back before any backoff. After an ambiguous failure the
//! registry is looked up before anything is sent again; a duplicate refusal is settled
//! by [`policy::decide`]. `replace` deletes the old package only once the new file is
//! staged in storage where the upload method allows, and a deletion that happened is
//! always reported. A cancellation stops new attempts, lets one on the wire run for
//! [`CANCEL_GRACE`], then checks whether it landed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::{self, Action, Context, LAG_WAITS, Refusal, Trigger};
use super::slots::Slots;
use super::{
    AbortOnDrop, CANCEL_GRACE, LANDED_CHECK, Outcome, Overall, PRECHECK_THRESHOLD, PRESIGNED_THRESHOLD, Publisher,
    fill_from_package, new_entry,
};
use crate::api::model::{Package, UploadForm};
use crate::api::{ApiError, Progress, ReadState, Upload};
use crate::artifact::Artifact;
use crate::auth::AuthError;
use crate::config::UploadMethod;
use crate::lookup::{self, Found, Wanted};
use crate::report::text::duration;
use crate::report::{Entry, Status};
use crate::retry::{self, Backoff, Class, Decision};

/// What kind of failure a file ended with; it decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The registry or the token provider refused the credentials.
    Auth,
    Other,
}

/// A file that could not be published.
struct Failure {
    message: String,
    kind: Kind,
    package: Option<Box<Package>>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            kind: Kind::Other,
            package: None,
        }
    }

    fn from_api(err: &ApiError) -> Failure {
        Failure {
            kind: if err.is_auth() { Kind::Auth } else { Kind::Other },
            ..Failure::new(err.to_string())
        }
    }

    fn with_package(mut self, package: Option<Package>) -> Failure {
        self.package = package.map(Box::new);
        self
    }

    fn context(mut self, what: &str) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// How one attempt ended, when it did not publish.
enum Stop {
    Api(ApiError),
    Token(AuthError),
    /// Over for good (a deletion for replacement failed).
    Failed(Failure),
    /// Cancelled while nothing of this file was on the wire.
    Cancelled,
    /// Cancelled while a request was on the wire: it may have landed.
    Interrupted,
}

/// A file that is done.
struct Done {
    status: Status,
    package: Option<Package>,
}

/// What happens after a look at the registry.
#[allow(clippy::large_enum_variant)] // short-lived, returned once per lookup
enum Next {
    Done(Done),
    Send,
}

/// How a wait before the next attempt ended, when it did not end in a retry.
enum WaitEnd {
    GiveUp,
    Cancelled,
}

/// The state one file carries from attempt to attempt.
struct State {
    backoff: Backoff,
    presigned: bool,
    /// An earlier attempt may have landed (its answer was lost).
    maybe_ours: bool,
    lag_checks: usize,
    /// The package `replace` will delete before the next upload.
    replace: Option<Package>,
    /// The package this run deleted for replacement.
    deleted: Option<Package>,
    /// A deletion for replacement that was sent but not answered (yet).
    deleting: Option<Package>,
    /// What the reader of the latest upload found (its digest survives an upload that
    /// was cut off after the whole file was read).
    read: Option<ReadState>,
    /// Presigned flow: the upload slot in use, and the object already in storage.
    form: Option<UploadForm>,
    staged: Option<String>,
    fresh_slot: bool,
}

impl Publisher {
    /// Publishes one file and returns its report entry.
    pub(super) async fn publish_one(&self, mut artifact: Artifact, slots: &Slots, overall: &Overall) -> Outcome {
        let started = Instant::now();
        let mut st = State {
            backoff: self.client.policy().backoff(),
            presigned: match self.upload_method {
                UploadMethod::Direct => false,
                UploadMethod::Presigned => true,
                UploadMethod::Auto => artifact.size >= PRESIGNED_THRESHOLD,
            },
            maybe_ours: false,
            lag_checks: 0,
            replace: None,
            deleted: None,
            deleting: None,
            read: None,
            form: None,
            staged: None,
            fresh_slot: false,
        };
        let result = self.drive(&mut artifact, &mut st, slots, overall).await;
        overall.finish(artifact.size);
        if artifact.sha256.is_empty() && !self.cancel.is_cancelled() {
            // The report carries every file's sha256, even when no upload read the
            // whole file; the hash holds a slot like any other read of a file.
            let permit = self.within_grace(slots.acquire()).await;
            if permit.is_some() {
                let _ = self.within_grace(artifact.ensure_hash()).await;
            }
        }
        let entry = self.entry(&mut artifact, &st, result);
        Outcome {
            entry,
            elapsed: started.elapsed(),
        }
    }

    /// The attempt loop.
    async fn drive(&self, a: &mut Artifact, st: &mut State, slots: &Slots, overall: &Overall) -> Result<Done, Failure> {
        if self.cancel.is_cancelled() {
            return Err(Failure::new("cancelled before it was uploaded"));
        }
        if let Some(done) = self.precheck(a, st, slots).await? {
            return Ok(done);
        }
        loop {
            let err = match self.attempt(a, st, slots, overall).await {
                Ok(pkg) => return self.landed(a, st, pkg).await,
                Err(Stop::Api(err)) => err,
                Err(Stop::Failed(failure)) => return Err(failure),
                Err(Stop::Cancelled) => return self.after_cancel(a, st, false).await,
                Err(Stop::Interrupted) => return self.after_cancel(a, st, true).await,
                Err(Stop::Token(err)) => {
                    self.after_token_error(a, st, err).await?;
                    continue;
                }
            };
            if err.is_already_exists() {
                match self.reconcile(a, st, slots, Trigger::Conflict, Some(&err)).await? {
                    Next::Done(done) => return Ok(done),
                    Next::Send => continue,
                }
            }
            if self.switch_leg(a, st, &err) {
                continue;
            }
            if err.is_ambiguous() {
                st.maybe_ours = true;
                let looked = self.reconcile(a, st, slots, Trigger::AfterAmbiguous, Some(&err)).await;
                match looked.map_err(|f| {
                    f.context(&format!(
                        "after an interrupted upload ({err}) the registry could not be checked, so the file was not sent again to avoid a duplicate"
                    ))
                })? {
                    Next::Done(done) => return Ok(done),
                    Next::Send => {}
                }
            }
            let what = self.ci.scrub(&err.to_string());
            match self.wait(a, st, err.retry_class(), &what).await {
                Ok(()) => {}
                Err(WaitEnd::GiveUp) => return Err(Failure::from_api(&err)),
                Err(WaitEnd::Cancelled) => return self.after_cancel(a, st, false).await,
            }
        }
    }

    /// Changes how the next attempt sends the file, without a backoff: presigned after
    /// a 413, or a fresh upload slot once after storage refused an expired one.
    fn switch_leg(&self, a: &Artifact, st: &mut State, err: &ApiError) -> bool {
        if err.status() == Some(413) && !st.presigned && self.upload_method == UploadMethod::Auto {
            self.ci.line(&format!(
                "  {}: too large for a direct upload, switching to the presigned upload",
                a.rel
            ));
            st.presigned = true;
            return true;
        }
        if matches!(err, ApiError::Storage { status: 403, .. }) && !st.fresh_slot {
            self.ci.line(&format!(
                "  {}: {}; asking for a new upload slot",
                a.rel,
                self.ci.scrub(&err.to_string())
            ));
            st.fresh_slot = true;
            st.form = None;
            return true;
        }
        false
    }

    /// A token that could not be had: the provider failing is retried; refused
    /// credentials are final.
    async fn after_token_error(&self, a: &mut Artifact, st: &mut State, err: AuthError) -> Result<(), Failure> {
        let message = format!("cannot get a token: {err}");
        if !matches!(err, AuthError::Provider(_)) {
            return Err(Failure {
                kind: Kind::Auth,
                ..Failure::new(message)
            });
        }
        let class = Class::Transient { server_wait: None };
        match self.wait(a, st, class, &self.ci.scrub(&message)).await {
            Ok(()) => Ok(()),
            Err(WaitEnd::GiveUp) => Err(Failure {
                kind: Kind::Auth,
                ..Failure::new(message)
            }),
            Err(WaitEnd::Cancelled) => Err(Failure::new("cancelled before it was uploaded")),
        }
    }

    /// Large files are looked up by name and version first, so a re-run does not send
    /// them again. The file is hashed only when the registry has candidates to compare
    /// with (on a first publish the upload hashes it while streaming). A lookup that
    /// fails here is no reason to stop: the upload decides. The lookup and the hashing
    /// hold a slot, so a release of many large files does no more at once than it
    /// uploads.
    async fn precheck(&self, a: &mut Artifact, st: &State, slots: &Slots) -> Result<Option<Done>, Failure> {
        if a.size < PRECHECK_THRESHOLD || a.predicted.is_none() {
            return Ok(None);
        }
        let found = {
            let _permit = tokio::select! {
                permit = slots.acquire() => permit,
                () = self.cancel.cancelled() => return Err(Failure::new("cancelled before it was uploaded")),
            };
            let found = self.within_grace(self.lookup(a)).await;
            match found {
                Some(Ok(found @ (Found::Other(_) | Found::Many(_)))) => {
                    self.within_grace(self.hash(a))
                        .await
                        .unwrap_or_else(|| Err(Failure::new("cancelled before it was uploaded")))?;
                    found.against(&a.sha256)
                }
                Some(_) => return Ok(None),
                None => return Err(Failure::new("cancelled before it was uploaded")),
            }
        };
        match policy::decide(found, self.context(st, Trigger::Precheck)) {
            Action::Done(status, package) => Ok(Some(Done { status, package })),
            Action::Fail(refusal) => Err(self.refusal(a, refusal, None)),
            Action::Send | Action::Replace(_) | Action::LookAgain => Ok(None),
        }
    }

    fn context(&self, st: &State, trigger: Trigger) -> Context {
        Context {
            trigger,
            policy: self.if_exists,
            maybe_ours: st.maybe_ours,
            replaced: st.deleted.is_some(),
            can_look_again: st.lag_checks < LAG_WAITS.len(),
        }
    }

    /// Looks at the registry and applies `if-exists` until there is a next step.
    async fn reconcile(
        &self,
        a: &mut Artifact,
        st: &mut State,
        slots: &Slots,
        trigger: Trigger,
        err: Option<&ApiError>,
    ) -> Result<Next, Failure> {
        let cancelled = || Failure::new("cancelled while the registry was being checked");
        loop {
            // Hashing and the lookup hold a slot, like any other request or read.
            let found = self
                .within_grace(async {
                    let _permit = slots.acquire().await;
                    self.hash(a).await?;
                    self.lookup(a).await
                })
                .await
                .unwrap_or_else(|| Err(cancelled()))?;
            match policy::decide(found, self.context(st, trigger)) {
                Action::Done(status, package) => {
                    if matches!(status, Status::Published | Status::Replaced) {
                        self.ci.line(&format!(
                            "  {}: the interrupted upload had landed; not sending it again",
                            a.rel
                        ));
                    }
                    return Ok(Next::Done(Done { status, package }));
                }
                Action::Send => return Ok(Next::Send),
                Action::Replace(old) => {
                    st.replace = Some(old);
                    return Ok(Next::Send);
                }
                Action::Fail(refusal) => return Err(self.refusal(a, refusal, err)),
                Action::LookAgain => {
                    let wait = LAG_WAITS[st.lag_checks];
                    st.lag_checks += 1;
                    self.ci.line(&format!(
                        "  {}: the registry refused it as a duplicate and its listing may lag behind its uploads; looking again in {}",
                        a.rel,
                        duration(wait)
                    ));
                    if !self.sleep(wait).await {
                        return Err(Failure::new("cancelled while waiting for the registry's listing"));
                    }
                }
            }
        }
    }

    /// What the registry holds for the file. A token that cannot be had is an
    /// authentication failure, not an API one.
    async fn lookup(&self, a: &Artifact) -> Result<Found, Failure> {
        let token = self.token().await.map_err(|e| Failure {
            kind: Kind::Auth,
            ..Failure::new(format!("cannot get a token to look the package up: {e}"))
        })?;
        let wanted = Wanted {
            file_name: &a.file_name,
            identity: a.predicted.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
            sha256: &a.sha256,
        };
        lookup::find(&self.client, &token, &self.org, &self.registry, wanted)
            .await
            .map_err(|e| Failure::from_api(&e))
    }

    /// Makes sure the file's sha256 is known (an upload that streamed the whole file
    /// already computed it).
    async fn hash(&self, a: &mut Artifact) -> Result<(), Failure> {
        a.ensure_hash()
            .await
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", a.rel)))
    }

    /// One attempt: a slot, the request, the slot back (or given up after a 429).
    async fn attempt(
        &self,
        a: &mut Artifact,
        st: &mut State,
        slots: &Slots,
        overall: &Overall,
    ) -> Result<Package, Stop> {
        let permit = tokio::select! {
            permit = slots.acquire() => permit,
            () = self.cancel.cancelled() => return Err(Stop::Cancelled),
        };
        let progress = Progress::new(self.stall);
        overall.track(&progress);
        let result = {
            // On a terminal the aggregate bar shows progress; in CI logs, a line every
            // few seconds per long upload.
            let _ticker = (!self.ci.is_terminal()).then(|| AbortOnDrop(self.progress_ticker(a, &progress)));
            self.within_grace(self.send(a, st, &progress))
                .await
                .unwrap_or(Err(Stop::Interrupted))
        };
        overall.untrack(&progress);
        match &result {
            Err(Stop::Api(err)) if err.status() == Some(429) => {
                let server_wait = match err.retry_class() {
                    Class::Transient { server_wait } => server_wait,
                    Class::Permanent => None,
                };
                if let Some(cap) = slots.rate_limited(permit, server_wait) {
                    self.ci
                        .line(&format!("  rate limited: lowering uploads in flight to {cap}"));
                }
            }
            Ok(_) => {
                drop(permit);
                if let Some(cap) = slots.succeeded() {
                    self.ci
                        .line(&format!("  rate limit eased: raising uploads in flight to {cap}"));
                }
            }
            Err(_) => drop(permit),
        }
        result
    }

    fn bundle(&self) -> Option<&str> {
        self.attestations.as_ref().map(|(b, _)| &**b)
    }

    /// Sends the file by the chosen method.
    async fn send(&self, a: &mut Artifact, st: &mut State, progress: &Arc<Progress>) -> Result<Package, Stop> {
        // A replacement is staged in storage before the old package is deleted, where
        // the upload method allows.
        if st.presigned || (st.replace.is_some() && self.upload_method == UploadMethod::Auto) {
            return self.send_presigned(a, st, progress).await;
        }
        self.delete_replaced(a, st).await?;
        let token = self.token().await.map_err(Stop::Token)?;
        let read = ReadState::new(a.sha256.is_empty());
        st.read = Some(read.clone());
        let result = {
            let upload = Upload {
                artifact: a,
                attestation_bundle: self.bundle(),
                progress,
                read: read.clone(),
            };
            self.client
                .publish_direct(&self.org, &self.registry, &token, &upload)
                .await
        };
        keep_digest(a, &read);
        result.map_err(Stop::Api)
    }

    /// The presigned flow, resuming where the last attempt stopped: an upload slot,
    /// the file into storage, then finalize. A failed finalize never sends the file
    /// again.
    async fn send_presigned(
        &self,
        a: &mut Artifact,
        st: &mut State,
        progress: &Arc<Progress>,
    ) -> Result<Package, Stop> {
        let package_url = match st.staged.clone() {
            Some(url) => url,
            None => {
                let form = match st.form.clone() {
                    Some(form) => form,
                    None => {
                        let token = self.token().await.map_err(Stop::Token)?;
                        let form = self
                            .client
                            .request_upload_slot(&self.org, &self.registry, &token)
                            .await
                            .map_err(Stop::Api)?;
                        st.form = Some(form.clone());
                        form
                    }
                };
                let read = ReadState::new(a.sha256.is_empty());
                st.read = Some(read.clone());
                let result = {
                    let upload = Upload {
                        artifact: a,
                        attestation_bundle: None,
                        progress,
                        read: read.clone(),
                    };
                    self.client.upload_to_storage(&form, &upload).await
                };
                keep_digest(a, &read);
                let url = result.map_err(Stop::Api)?;
                st.staged = Some(url.clone());
                url
            }
        };
        self.delete_replaced(a, st).await?;
        let token = self.token().await.map_err(Stop::Token)?;
        self.client
            .finalize_upload(&self.org, &self.registry, &token, &package_url, self.bundle())
            .await
            .map_err(Stop::Api)
    }

    /// Deletes the package `replace` chose, if any; a failure leaves it in place.
    async fn delete_replaced(&self, a: &Artifact, st: &mut State) -> Result<(), Stop> {
        let Some(old) = st.replace.take() else {
            return Ok(());
        };
        let token = self.token().await.map_err(Stop::Token)?;
        st.deleting = Some(old.clone());
        if let Err(err) = self.client.delete(&self.org, &self.registry, &token, &old.id).await {
            st.deleting = None;
            let failure = Failure::from_api(&err)
                .context("if-exists: replace could not delete the existing package, so it was left in place")
                .with_package(Some(old));
            return Err(Stop::Failed(failure));
        }
        self.ci.line(&format!(
            "  {}: deleted the existing {} ({}) for replacement",
            a.rel,
            identity(a),
            old.id
        ));
        st.deleting = None;
        st.deleted = Some(old);
        Ok(())
    }

    /// The registry accepted the file: check its digest against the local file's.
    async fn landed(&self, a: &mut Artifact, st: &State, pkg: Package) -> Result<Done, Failure> {
        self.hash(a).await?;
        if let Some(remote) = pkg.sha256().filter(|r| !r.eq_ignore_ascii_case(&a.sha256)) {
            return Err(Failure::new(format!(
                "the registry reports sha256 {remote} for the uploaded package, but the local file's sha256 is {}; the upload was corrupted or the file changed while uploading",
                a.sha256
            ))
            .with_package(Some(pkg)));
        }
        let status = if st.deleted.is_some() {
            Status::Replaced
        } else {
            Status::Published
        };
        Ok(Done {
            status,
            package: Some(pkg),
        })
    }

    /// A cancelled file's true state: an upload that may have landed is looked up
    /// (briefly) before it is reported as not published.
    async fn after_cancel(&self, a: &mut Artifact, st: &mut State, interrupted: bool) -> Result<Done, Failure> {
        if let Some(read) = &st.read {
            keep_digest(a, read);
        }
        let landed = interrupted || st.maybe_ours;
        // Whether the upload landed, and whether a deletion sent for replacement
        // happened, found out together within one short budget. The file is not hashed
        // here: a digest the upload did not finish computing is not waited for.
        let (found, deleted) = tokio::time::timeout(LANDED_CHECK, async {
            tokio::join!(
                async { if landed { self.lookup(a).await.ok() } else { None } },
                self.deletion_happened(st.deleting.as_ref()),
            )
        })
        .await
        .unwrap_or((None, false));
        if deleted {
            st.deleted = st.deleting.take();
        }
        match found {
            _ if !landed => Err(Failure::new("cancelled before it was uploaded")),
            Some(Found::Exact(pkg)) => {
                self.ci.line(&format!("  {}: the interrupted upload had landed", a.rel));
                self.landed(a, st, pkg).await
            }
            Some(Found::Other(_) | Found::Many(_)) if a.sha256.is_empty() => Err(Failure::new(
                "cancelled while uploading; a package with this name and version is in the registry, but the file was not read to its end, so it could not be compared: check the registry",
            )),
            _ => Err(Failure::new(format!(
                "cancelled while uploading; the registry did not show the package within {} s, so it was probably not published (check the registry before re-running with if-exists: fail)",
                LANDED_CHECK.as_secs()
            ))),
        }
    }

    /// Whether a deletion that was sent but not answered took effect (the package is
    /// gone).
    async fn deletion_happened(&self, old: Option<&Package>) -> bool {
        let Some(old) = old else { return false };
        let Ok(token) = self.token().await else {
            return false;
        };
        matches!(
            self.client.get(&self.org, &self.registry, &token, &old.id).await,
            Err(err) if err.status() == Some(404)
        )
    }

    /// Waits out the next backoff delay, unless the retries are used up or the run
    /// is cancelled.
    async fn wait(&self, a: &Artifact, st: &mut State, class: Class, what: &str) -> Result<(), WaitEnd> {
        match retry::decide(class, st.backoff.next_delay()) {
            Decision::GiveUp => Err(WaitEnd::GiveUp),
            Decision::Retry(wait) => {
                self.ci
                    .line(&format!("  {}: {what} — retrying in {}", a.rel, duration(wait)));
                if self.sleep(wait).await {
                    Ok(())
                } else {
                    Err(WaitEnd::Cancelled)
                }
            }
        }
    }

    /// Runs `work` to its end, or until [`CANCEL_GRACE`] after a cancellation
    /// (`None`).
    async fn within_grace<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let grace = async {
            self.cancel.cancelled().await;
            tokio::time::sleep(CANCEL_GRACE).await;
        };
        tokio::select! {
            result = work => Some(result),
            () = grace => None,
        }
    }

    /// Sleeps unless cancelled first; returns whether the whole time passed.
    async fn sleep(&self, wait: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.cancel.cancelled() => false,
        }
    }

    async fn token(&self) -> Result<crate::secret::Secret, AuthError> {
        self.auth.token(&self.org, &self.registry).await
    }

    /// The report entry of a finished file.
    fn entry(&self, a: &mut Artifact, st: &State, result: Result<Done, Failure>) -> Entry {
        let mut entry = new_entry(a);
        entry.deleted_id = st.deleted.as_ref().map(|p| p.id.clone());
        match result {
            Ok(done) => {
                entry.status = done.status;
                if let Some(pkg) = &done.package {
                    fill_from_package(&mut entry, pkg);
                }
                if matches!(done.status, Status::Published | Status::Replaced) {
                    entry.attestations = self.attestations.as_ref().map_or(0, |(_, n)| *n);
                } else if self.attestations.is_some() {
                    self.ci.line(&format!(
                        "  {}: already in the registry; attestations are not re-sent to an existing package",
                        a.rel
                    ));
                }
            }
            Err(mut failure) => {
                if let Some(old) = &st.deleted {
                    failure = failure.context(&format!(
                        "deleted the existing {} ({}) for replacement, but the new file was not published",
                        identity(a),
                        old.id
                    ));
                }
                entry.status = Status::Failed;
                entry.auth_refused = failure.kind == Kind::Auth;
                entry.error = Some(self.ci.scrub(&failure.message));
                if let Some(pkg) = &failure.package {
                    fill_from_package(&mut entry, pkg);
                }
            }
        }
        entry
    }

    /// The message of a refusal by `if-exists`.
    fn refusal(&self, a: &Artifact, refusal: Refusal, err: Option<&ApiError>) -> Failure {
        let id = identity(a);
        let says = err.map_or_else(|| "found before uploading".to_owned(), server_says);
        let digests = |pkgs: &[Package]| {
            pkgs.iter()
                .map(|p| p.sha256().unwrap_or("(no sha256)").to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match refusal {
            Refusal::Exists(pkg) => {
                Failure::new(format!("{id} is already in the registry ({says}); if-exists: fail")).with_package(pkg)
            }
            Refusal::Different(pkg) => Failure::new(format!(
                "{id} is already in the registry with different content (registry sha256 {}, local sha256 {}); bump the version, or use if-exists: replace",
                pkg.sha256().unwrap_or("(none reported)"),
                a.sha256
            ))
            .with_package(Some(pkg)),
            Refusal::Several(pkgs) => Failure::new(format!(
                "{} packages named {id} are in the registry and none has this file's sha256 {} (theirs: {}); the registry refused it as a duplicate ({says})",
                pkgs.len(),
                a.sha256,
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
                "the registry says {id} already exists ({says}), but no package with that name and version could be found (looked {} times)",
                LAG_WAITS.len() + 1
            )),
            Refusal::CannotLookUp => Failure::new(format!(
                "the registry says {} already exists ({says}), but its file name follows no known package naming convention, so the existing package cannot be found to compare with",
                a.file_name
            )),
        }
    }
}

/// Keeps the sha256 an upload computed while streaming the whole file.
fn keep_digest(a: &mut Artifact, read: &ReadState) {
    if let Some(sha256) = read.digest() {
        a.sha256 = sha256;
    }
}

fn identity(a: &Artifact) -> String {
    match &a.predicted {
        Some((n, v)) => format!("{n} {v}"),
        None => a.file_name.clone(),
    }
}

fn server_says(err: &ApiError) -> String {
    match err {
        ApiError::Status { status, message, .. } => format!("server answered {status}: {message}"),
        other => other.to_string(),
    }
}
