//! One file's publish as a [`FileRun`]: it owns the artifact, the [`State`] carried
//! from attempt to attempt, the shared upload slots and the backoff, and runs the
//! attempt loop. Each attempt (`attempt.rs`) takes a slot, sends the file and gives
//! the slot back before any backoff; after a duplicate refusal or an ambiguous failure
//! the registry is looked at (`reconcile.rs`) before anything is sent again. A
//! cancellation stops new attempts, lets one on the wire run for [`CANCEL_GRACE`],
//! then, if the whole upload was sent, checks whether it landed: found, it is
//! published; not found, `unverified`; an upload cut off partway was not published.
//! What a failure says is in `failure.rs`.

use std::time::{Duration, Instant};

use super::failure::{self, CANCELLED_BEFORE, Failure, Kind};
use super::file_run::{FileRun, Stop, hash, keep_digest};
use super::policy::Trigger;
use super::slots::Slots;
use super::state::{Cut, Done, Next, State, Step, Switch};
use super::{CANCEL_GRACE, LANDED_CHECK, Outcome, Overall, Publisher, fill_from_package, new_entry};
use crate::api::ApiError;
use crate::api::model::Package;
use crate::artifact::Artifact;
use crate::auth::AuthError;
use crate::digest::Sha256;
use crate::lookup::Found;
use crate::report::text::duration;
use crate::report::{Entry, Status};
use crate::retry::Class;
use crate::retry::run::{End, Retrier};

impl Publisher {
    /// Publishes one file and returns its report entry.
    pub(super) async fn publish_one(&self, artifact: Artifact, slots: &Slots, overall: &Overall) -> Outcome {
        let started = Instant::now();
        if artifact.identity.is_err() {
            // Not a valid package: never sent, never retried.
            overall.finish(artifact.size);
            return Outcome {
                entry: super::invalid_entry(&artifact),
                elapsed: started.elapsed(),
            };
        }
        let mut run = FileRun {
            p: self,
            slots,
            overall,
            st: State::new(self.upload_method, artifact.size, self.settle),
            a: artifact,
            retrier: Retrier::new(self.client.policy(), &self.cancel),
        };
        let result = run.drive().await;
        overall.finish(run.a.size);
        run.hash_for_report().await;
        Outcome {
            entry: run.entry(result),
            elapsed: started.elapsed(),
        }
    }

    /// Runs `work` to its end, or until [`CANCEL_GRACE`] after a cancellation
    /// (`None`).
    pub(super) async fn within_grace<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
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
    pub(super) async fn sleep(&self, wait: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.cancel.cancelled() => false,
        }
    }
}

impl FileRun<'_> {
    /// The attempt loop.
    async fn drive(&mut self) -> Result<Done, Failure> {
        if self.p.cancel.is_cancelled() {
            return Err(Failure::new(CANCELLED_BEFORE));
        }
        if let Some(done) = self.precheck().await? {
            return Ok(done);
        }
        loop {
            let err = match self.attempt().await {
                Ok(pkg) => return self.landed(pkg).await,
                Err(Stop::Api(err)) => err,
                Err(Stop::Failed(failure)) => return Err(failure),
                Err(Stop::Cancelled) => return self.after_cancel(Cut::Before).await,
                Err(Stop::Interrupted(cut)) => return self.after_cancel(cut).await,
                Err(Stop::Token(err)) => {
                    self.after_token_error(err).await?;
                    continue;
                }
            };
            if let Some(done) = self.after_api_error(&err).await? {
                return Ok(done);
            }
        }
    }

    /// What follows an attempt the API refused or that failed on the way: the next
    /// attempt (`None`), or the file's end.
    async fn after_api_error(&mut self, err: &ApiError) -> Result<Option<Done>, Failure> {
        match self.st.after_failure(err, self.p.upload_method) {
            Step::Conflict => {
                return match self.reconcile(Trigger::Conflict, Some(err)).await? {
                    Next::Done(done) => Ok(Some(done)),
                    Next::Send => Ok(None),
                };
            }
            Step::Switched(switch) => {
                self.say_switch(switch, err);
                return Ok(None);
            }
            Step::CheckThenRetry => {
                let looked = self.reconcile(Trigger::AfterAmbiguous, Some(err)).await;
                if let Next::Done(done) = looked? {
                    return Ok(Some(done));
                }
            }
            Step::Retry => {}
        }
        let what = self.p.ci.scrub(&err.to_string());
        match self.wait(err.retry_class(), &what).await {
            Ok(()) => Ok(None),
            Err(End::GiveUp) => Err(Failure::from_api(err)),
            Err(End::Cancelled) => self.after_cancel(Cut::Before).await.map(Some),
        }
    }

    fn say_switch(&self, switch: Switch, err: &ApiError) {
        let rel = &self.a.rel;
        let ci = &self.p.ci;
        match switch {
            Switch::ToPresigned => ci.line(&format!(
                "  {rel}: too large for a direct upload, switching to the presigned upload"
            )),
            Switch::FreshSlot => ci.line(&format!(
                "  {rel}: {}; asking for a new upload slot",
                ci.scrub(&err.to_string())
            )),
        }
    }

    /// A token that could not be had: the provider failing is retried; refused
    /// credentials are final.
    async fn after_token_error(&mut self, err: AuthError) -> Result<(), Failure> {
        let message = format!("cannot get a token: {err}");
        if !matches!(err, AuthError::Provider(_)) {
            return Err(Failure::auth(message));
        }
        let what = self.p.ci.scrub(&message);
        match self.wait(Class::Transient { server_wait: None }, &what).await {
            Ok(()) => Ok(()),
            Err(End::GiveUp) => Err(Failure::auth(message)),
            Err(End::Cancelled) => Err(Failure::new(CANCELLED_BEFORE)),
        }
    }

    /// Waits out the next backoff delay, unless the retries are used up or the run
    /// is cancelled.
    async fn wait(&mut self, class: Class, what: &str) -> Result<(), End> {
        let (ci, rel) = (&self.p.ci, &self.a.rel);
        let announce = |wait| ci.line(&format!("  {rel}: {what} — retrying in {}", duration(wait)));
        self.retrier.pause(class, announce).await
    }

    /// The registry accepted the file: check its digest against the local file's. An
    /// answer without digests is checked against the registry's own record of the
    /// package it names, so that an id nothing holds is never reported (or promoted).
    async fn landed(&mut self, pkg: Package) -> Result<Done, Failure> {
        let local = hash(&mut self.a).await?;
        let pkg = if pkg.sha256().is_none() && !pkg.id.is_empty() {
            self.recorded(pkg).await?
        } else {
            pkg
        };
        landed(pkg, &local, self.st.written())
    }

    /// The registry's record of the package an answer without digests named; the
    /// answer itself when the record cannot be read now.
    async fn recorded(&self, pkg: Package) -> Result<Package, Failure> {
        let p = self.p;
        let Ok(token) = p.token().await else {
            return Ok(pkg);
        };
        match p.within_grace(p.client.get(p.at(), &token, &pkg.id)).await {
            Some(Ok(record)) if record.sha256().is_some() => Ok(record),
            Some(Err(err)) if err.status() == Some(404) => Err(failure::no_such_package(&pkg.id)),
            _ => Ok(pkg),
        }
    }

    /// A cancelled file's true state: an upload that may have landed (the whole of it
    /// was sent, now or by an earlier attempt whose answer was lost) is looked up,
    /// briefly: found, it is published; not found, unverified. One cut off before or
    /// partway was not published.
    async fn after_cancel(&mut self, cut: Cut) -> Result<Done, Failure> {
        if let Some(read) = &self.st.read {
            keep_digest(&mut self.a, read);
        }
        let landed = cut == Cut::MayHaveLanded || self.st.maybe_ours;
        // Whether the upload landed, and whether a deletion sent for replacement
        // happened, found out together within one short budget. The file is not hashed
        // here: a digest the upload did not finish computing is not waited for.
        let p = self.p;
        let (found, deleted) = tokio::time::timeout(LANDED_CHECK, async {
            tokio::join!(
                async { if landed { p.lookup(&self.a).await.ok() } else { None } },
                p.deletion_happened(self.st.deleting.as_ref()),
            )
        })
        .await
        .unwrap_or((None, false));
        if deleted {
            self.st.deletion_done();
        }
        match after_cancel(landed, found, cut, self.a.size) {
            Cancelled::Landed(pkg) => {
                p.ci.line(&format!("  {}: the interrupted upload had landed", self.a.rel));
                self.landed(pkg).await
            }
            Cancelled::Unverified => Ok(Done::unverified(failure::unverified_cancelled(
                &self.a.describe(),
                LANDED_CHECK,
            ))),
            Cancelled::NotPublished(failure) => Err(failure),
        }
    }

    /// The report carries every file's sha256, even when no upload read the whole
    /// file; the hash holds a slot like any other read of a file.
    async fn hash_for_report(&mut self) {
        let p = self.p;
        if self.a.sha256.is_none() && !p.cancel.is_cancelled() {
            let permit = p.within_grace(self.slots.acquire()).await;
            if permit.is_some() {
                let _ = p.within_grace(self.a.ensure_hash()).await;
            }
        }
    }

    /// The report entry of a finished file.
    fn entry(&self, result: Result<Done, Failure>) -> Entry {
        let (a, p) = (&self.a, self.p);
        let mut entry = new_entry(a);
        entry.deleted_id = self.st.deleted.as_ref().map(|p| p.id.clone());
        match result {
            Ok(done) => {
                entry.status = done.status;
                entry.error = done.note.map(|note| p.ci.scrub(&note));
                if let Some(pkg) = &done.package {
                    fill_from_package(&mut entry, pkg);
                }
                if matches!(done.status, Status::Published | Status::Replaced) {
                    entry.attestations = p.attestations.as_ref().map_or(0, |(_, n)| *n);
                } else if p.attestations.is_some() {
                    p.ci.line(&format!(
                        "  {}: already in the registry; attestations are not re-sent to an existing package",
                        a.rel
                    ));
                }
            }
            Err(mut failure) => {
                if let Some(old) = &self.st.deleted {
                    failure = failure::replaced_but_failed(failure, &a.describe(), &old.id);
                }
                entry.status = Status::Failed;
                entry.auth_refused = failure.kind == Kind::Auth;
                entry.error = Some(p.ci.scrub(&failure.message));
                if let Some(pkg) = &failure.package {
                    fill_from_package(&mut entry, pkg);
                }
            }
        }
        entry
    }
}

/// An upload the registry accepted is done with `status`, unless the registry's
/// digest is not the local file's.
fn landed(pkg: Package, local: &Sha256, status: Status) -> Result<Done, Failure> {
    if let Some(remote) = pkg.sha256().filter(|r| !local.matches(r)) {
        let remote = remote.to_owned();
        return Err(failure::digest_mismatch(&remote, local.as_str(), pkg));
    }
    Ok(Done::new(status, Some(pkg)))
}

/// A cancelled file's end.
#[derive(Debug)]
enum Cancelled {
    /// The upload had landed: this package.
    Landed(Package),
    /// The whole upload was sent but the registry did not show it in time.
    Unverified,
    /// Nothing landed.
    NotPublished(Failure),
}

/// After a cancellation: whether an upload of the file may have landed, what the
/// registry showed for it (`None` when the lookup failed or ran out of time), and how
/// far the cancelled attempt had got.
fn after_cancel(landed: bool, found: Option<Found>, cut: Cut, size: u64) -> Cancelled {
    match (landed, found, cut) {
        (true, Some(Found::Exact(pkg)), _) => Cancelled::Landed(pkg),
        (true, ..) => Cancelled::Unverified,
        (false, _, Cut::Partway { sent }) => Cancelled::NotPublished(failure::cancelled_partway(sent, size)),
        (false, ..) => Cancelled::NotPublished(Failure::new(CANCELLED_BEFORE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::Digests;

    fn pkg(sha256: Option<&str>) -> Package {
        Package {
            id: "p1".into(),
            digests: sha256.map(|s| Digests {
                sha256: Some(s.into()),
                ..Digests::default()
            }),
            ..Package::default()
        }
    }

    #[test]
    fn a_landed_upload_keeps_its_status_when_the_digests_agree() {
        let abc = Sha256::of(b"abc");
        let done = landed(pkg(Some(&abc.as_str().to_ascii_uppercase())), &abc, Status::Replaced).unwrap();
        assert_eq!(done.status, Status::Replaced);
        assert_eq!(done.package.unwrap().id, "p1");
        let unreported = landed(pkg(None), &abc, Status::Published).unwrap();
        assert_eq!(
            unreported.status,
            Status::Published,
            "a registry without digests is trusted"
        );
    }

    #[test]
    fn a_landed_upload_with_another_digest_fails_naming_both() {
        let local = Sha256::of(b"local");
        let failure = landed(pkg(Some("remote")), &local, Status::Published).unwrap_err();
        assert!(failure.message.contains("sha256 remote"), "{}", failure.message);
        assert!(
            failure.message.contains(&format!("sha256 is {local}")),
            "{}",
            failure.message
        );
        assert_eq!(failure.kind, Kind::Other);
        assert_eq!(
            failure.package.unwrap().id,
            "p1",
            "the report links the corrupted package"
        );
    }

    #[test]
    fn a_cancelled_file_that_never_reached_the_wire_was_not_uploaded() {
        let Cancelled::NotPublished(failure) = after_cancel(false, None, Cut::Before, 10) else {
            panic!("a file that never started was not published");
        };
        assert_eq!(failure.message, CANCELLED_BEFORE);
    }

    #[test]
    fn a_cancelled_upload_cut_off_partway_was_not_published() {
        let Cancelled::NotPublished(failure) = after_cancel(false, None, Cut::Partway { sent: 1024 }, 4096) else {
            panic!("a partial upload cannot have landed");
        };
        assert!(
            failure.message.contains("after 1.0 KiB of 4.0 KiB"),
            "{}",
            failure.message
        );
        assert!(failure.message.contains("not published"), "{}", failure.message);
    }

    #[test]
    fn a_cancelled_upload_found_in_the_registry_landed() {
        let found = Some(Found::Exact(pkg(None)));
        assert!(matches!(after_cancel(true, found, Cut::MayHaveLanded, 1), Cancelled::Landed(p) if p.id == "p1"));
    }

    #[test]
    fn a_whole_upload_the_registry_does_not_show_is_unverified_never_not_published() {
        for looked in [None, Some(Found::Absent), Some(Found::Other(pkg(Some("x"))))] {
            for cut in [Cut::MayHaveLanded, Cut::Before] {
                // `Before` here: an earlier attempt's answer was lost.
                assert!(
                    matches!(after_cancel(true, looked.clone(), cut, 1), Cancelled::Unverified),
                    "{looked:?} {cut:?}"
                );
            }
        }
        let note = failure::unverified_cancelled("a 1.0", LANDED_CHECK);
        assert!(
            note.contains("may have landed") && !note.contains("not published"),
            "{note}"
        );
    }
}
