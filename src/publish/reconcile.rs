//! Looking at the registry for one file and settling what it holds with `if-exists`
//! ([`policy::decide`]): before the first upload of a large file, after a duplicate
//! refusal, and after an attempt whose answer was lost. A lagging listing is asked
//! again until `settle-timeout` is spent; a package this run's own upload may have put
//! there that never shows is `unverified`. Lookups and hashing hold an upload slot like
//! any other request or read; the waits between them hold none.

use super::failure::{self, CANCELLED_BEFORE, CANCELLED_CHECKING, CANCELLED_LISTING, Failure, Subject};
use super::file_run::{FileRun, hash};
use super::policy::{self, Action, Context, Refusal, Trigger};
use super::state::{Done, Next};
use super::{PRECHECK_THRESHOLD, Publisher};
use crate::api::ApiError;
use crate::api::model::Package;
use crate::artifact::Artifact;
use crate::auth::AuthError;
use crate::lookup::{self, Found, Key, Wanted};
use crate::report::Status;
use crate::report::text::duration;

impl FileRun<'_> {
    /// Large files are looked up by name and version first, so a re-run does not send
    /// them again. The file is hashed only when the registry has candidates to compare
    /// with (on a first publish the upload hashes it while streaming). A lookup that
    /// fails here is no reason to stop: the upload decides.
    pub(super) async fn precheck(&mut self) -> Result<Option<Done>, Failure> {
        if self.a.size < PRECHECK_THRESHOLD || self.a.identity.is_err() {
            return Ok(None);
        }
        let Some(found) = self.precheck_lookup().await? else {
            return Ok(None);
        };
        match policy::decide(found, self.context(Trigger::Precheck)) {
            Action::Done(status, package) => Ok(Some(Done::new(status, package))),
            Action::Fail(refusal) => Err(self.refusal(refusal, None)),
            Action::Send | Action::Replace(_) | Action::LookAgain => Ok(None),
        }
    }

    /// The precheck's lookup, holding a slot: candidates judged against the file's
    /// sha256, or `None` when there is nothing to compare with.
    async fn precheck_lookup(&mut self) -> Result<Option<Found>, Failure> {
        let p = self.p;
        let _permit = tokio::select! {
            permit = self.slots.acquire() => permit,
            () = p.cancel.cancelled() => return Err(Failure::new(CANCELLED_BEFORE)),
        };
        match p.within_grace(p.lookup(&self.a)).await {
            Some(Ok(found @ (Found::Other(_) | Found::Many(_)))) => {
                let sha256 = p
                    .within_grace(hash(&mut self.a))
                    .await
                    .unwrap_or_else(|| Err(Failure::new(CANCELLED_BEFORE)))?;
                Ok(Some(found.against(&sha256)))
            }
            Some(_) => Ok(None),
            None => Err(Failure::new(CANCELLED_BEFORE)),
        }
    }

    /// Looks at the registry and applies `if-exists` until there is a next step.
    pub(super) async fn reconcile(&mut self, trigger: Trigger, err: Option<&ApiError>) -> Result<Next, Failure> {
        loop {
            let found = match self.look().await {
                Ok(found) => self.st.without_deleted(found),
                // An upload of this run may have landed: that it cannot be checked
                // does not make it a failure.
                Err(failure) if self.st.maybe_ours => {
                    let note = failure::unverified_unchecked(err, &failure);
                    return Ok(Next::Done(Done::unverified(note)));
                }
                Err(failure) => return Err(failure),
            };
            match policy::decide(found, self.context(trigger)) {
                Action::Done(Status::Unverified, _) => {
                    let note = failure::unverified_lagging(&self.a.describe(), self.st.settle.waited(), err);
                    return Ok(Next::Done(Done::unverified(note)));
                }
                Action::Done(status, package) => {
                    if matches!(status, Status::Published | Status::Replaced) {
                        self.p.ci.line(&format!(
                            "  {}: the interrupted upload had landed; not sending it again",
                            self.a.rel
                        ));
                    }
                    return Ok(Next::Done(Done::new(status, package)));
                }
                Action::Send => return Ok(Next::Send),
                Action::Replace(old) => {
                    self.st.replace = Some(old);
                    return Ok(Next::Send);
                }
                Action::Fail(refusal) => return Err(self.refusal(refusal, err)),
                Action::LookAgain => {
                    if !self.look_again().await {
                        return self.cancelled_while_settling();
                    }
                }
            }
        }
    }

    /// The file hashed and looked up, holding a slot, within the cancellation grace.
    async fn look(&mut self) -> Result<Found, Failure> {
        let (p, slots, a) = (self.p, self.slots, &mut self.a);
        p.within_grace(async move {
            let _permit = slots.acquire().await;
            hash(a).await?;
            p.lookup(a).await
        })
        .await
        .unwrap_or_else(|| Err(Failure::new(CANCELLED_CHECKING)))
    }

    /// A cancellation during the wait for a lagging listing: an upload of this run
    /// that may have landed is unverified; otherwise nothing was published.
    fn cancelled_while_settling(&self) -> Result<Next, Failure> {
        if self.st.maybe_ours {
            let note = failure::unverified_listing_cancelled(&self.a.describe());
            Ok(Next::Done(Done::unverified(note)))
        } else {
            Err(Failure::new(CANCELLED_LISTING))
        }
    }

    /// Waits for a listing that may lag behind the registry's uploads (only asked
    /// while `settle-timeout` is not spent); `false` when cancelled first.
    async fn look_again(&mut self) -> bool {
        let Some(wait) = self.st.settle.next_wait() else {
            return true;
        };
        self.p.ci.line(&format!(
            "  {}: the registry refused it as a duplicate and its listing may lag behind its uploads; looking again in {} ({} of {} s of settle-timeout)",
            self.a.rel,
            duration(wait),
            self.st.settle.waited().as_secs(),
            self.st.settle.limit().as_secs()
        ));
        self.p.sleep(wait).await
    }

    fn context(&self, trigger: Trigger) -> Context {
        let has_variant = self.a.identity.as_ref().is_ok_and(|id| id.variant.is_some());
        self.st.context(trigger, self.p.if_exists, has_variant)
    }

    fn refusal(&self, refusal: Refusal, err: Option<&ApiError>) -> Failure {
        let subject = Subject {
            identity: &self.a.describe(),
            sha256: self.a.sha256.as_ref(),
            file_name: &self.a.file_name,
            err,
            settled: self.st.settle.waited(),
        };
        failure::refusal(&subject, refusal)
    }
}

impl Publisher {
    /// What the registry holds for the file. A token that cannot be had is an
    /// authentication failure, not an API one.
    pub(super) async fn lookup(&self, a: &Artifact) -> Result<Found, Failure> {
        let token = self
            .token()
            .await
            .map_err(|e| Failure::auth(format!("cannot get a token to look the package up: {e}")))?;
        let Ok(identity) = &a.identity else {
            return Ok(Found::Unknown);
        };
        let wanted = Wanted {
            key: Key::Package(identity),
            sha256: a.sha256.as_ref(),
        };
        lookup::find(&self.client, &token, self.at(), wanted)
            .await
            .map_err(|e| Failure::from_api(&e))
    }

    /// Whether a deletion that was sent but not answered took effect (the package is
    /// gone).
    pub(super) async fn deletion_happened(&self, old: Option<&Package>) -> bool {
        let Some(old) = old else { return false };
        let Ok(token) = self.token().await else {
            return false;
        };
        matches!(
            self.client.get(self.at(), &token, &old.id).await,
            Err(err) if err.status() == Some(404)
        )
    }

    pub(super) async fn token(&self) -> Result<crate::secret::Secret, AuthError> {
        self.auth.token(self.at()).await
    }
}
