//! The send legs of one attempt: an upload slot held only while a request is on the
//! wire (shrunk after a 429, grown back on success), then the direct multipart upload
//! or the presigned slot → storage → finalize legs, resuming at the leg that failed. A
//! failed finalize never sends the file again. `replace`'s deletion of the old package
//! happens here, as late as the upload method allows.

use std::sync::Arc;

use tokio::sync::SemaphorePermit;

use super::failure::{self};
use super::file_run::{FileRun, Stop, keep_digest};
use super::state::{Leg, Route};
use super::{AbortOnDrop, Publisher};
use crate::api::model::{Package, UploadForm};
use crate::api::{Progress, ReadState, Upload};
use crate::retry::Class;

impl Publisher {
    fn bundle(&self) -> Option<&str> {
        self.attestations.as_ref().map(|(b, _)| &**b)
    }
}

impl FileRun<'_> {
    /// One attempt: a slot, the request, the slot back (or given up after a 429).
    pub(super) async fn attempt(&mut self) -> Result<Package, Stop> {
        let (p, slots) = (self.p, self.slots);
        let permit = tokio::select! {
            // A slot that frees up as the run is cancelled must not start an upload.
            biased;
            () = p.cancel.cancelled() => return Err(Stop::Cancelled),
            permit = slots.acquire() => permit,
        };
        if p.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        let progress = Progress::new(p.stall);
        self.overall.track(&progress);
        self.st.leg = Leg::Idle;
        let result = {
            // On a terminal the aggregate bar shows progress; in CI logs, a line every
            // few seconds per long upload.
            let _ticker = (!p.ci.is_terminal()).then(|| AbortOnDrop(p.progress_ticker(&self.a, &progress)));
            match p.within_grace(self.send(&progress)).await {
                Some(result) => result,
                None => Err(Stop::Interrupted(self.st.cut(progress.sent(), self.a.size))),
            }
        };
        self.overall.untrack(&progress);
        self.give_back(permit, &result);
        result
    }

    /// Gives the slot back, or keeps it out of use for a while after a 429.
    fn give_back(&self, permit: SemaphorePermit<'_>, result: &Result<Package, Stop>) {
        let ci = &self.p.ci;
        match result {
            Err(Stop::Api(err)) if err.status() == Some(429) => {
                let server_wait = match err.retry_class() {
                    Class::Transient { server_wait } => server_wait,
                    Class::Permanent => None,
                };
                if let Some(cap) = self.slots.rate_limited(permit, server_wait) {
                    ci.line(&format!("  rate limited: lowering uploads in flight to {cap}"));
                }
            }
            Ok(_) => {
                drop(permit);
                if let Some(cap) = self.slots.succeeded() {
                    ci.line(&format!("  rate limit eased: raising uploads in flight to {cap}"));
                }
            }
            Err(_) => drop(permit),
        }
    }

    /// Sends the file by the chosen method.
    async fn send(&mut self, progress: &Arc<Progress>) -> Result<Package, Stop> {
        let p = self.p;
        if self.st.route(p.upload_method) == Route::Presigned {
            return self.send_presigned(progress).await;
        }
        self.delete_replaced().await?;
        let token = p.token().await.map_err(Stop::Token)?;
        let read = self.new_read();
        let result = {
            let upload = Upload {
                artifact: &self.a,
                attestation_bundle: p.bundle(),
                progress,
                read: read.clone(),
            };
            self.st.leg = Leg::Direct;
            p.client.publish_direct(p.at(), &token, &upload).await
        };
        self.st.leg = Leg::Idle;
        keep_digest(&mut self.a, &read);
        result.map_err(Stop::Api)
    }

    /// The presigned flow, resuming where the last attempt stopped: an upload slot,
    /// the file into storage, then finalize. A failed finalize never sends the file
    /// again.
    async fn send_presigned(&mut self, progress: &Arc<Progress>) -> Result<Package, Stop> {
        let package_url = match self.st.staged.clone() {
            Some(url) => url,
            None => self.stage(progress).await?,
        };
        self.delete_replaced().await?;
        let p = self.p;
        let token = p.token().await.map_err(Stop::Token)?;
        self.st.leg = Leg::Finalize;
        let result = p.client.finalize_upload(p.at(), &token, &package_url, p.bundle()).await;
        self.st.leg = Leg::Idle;
        result.map_err(Stop::Api)
    }

    /// The file into storage, through the upload slot in use or a new one; the URL of
    /// the staged object.
    async fn stage(&mut self, progress: &Arc<Progress>) -> Result<String, Stop> {
        let p = self.p;
        let form = match self.st.form.clone() {
            Some(form) => form,
            None => self.upload_slot().await?,
        };
        let read = self.new_read();
        let result = {
            let upload = Upload {
                artifact: &self.a,
                attestation_bundle: None,
                progress,
                read: read.clone(),
            };
            self.st.leg = Leg::Storage;
            p.client.upload_to_storage(&form, &upload).await
        };
        self.st.leg = Leg::Idle;
        keep_digest(&mut self.a, &read);
        let url = result.map_err(Stop::Api)?;
        self.st.staged = Some(url.clone());
        Ok(url)
    }

    async fn upload_slot(&mut self) -> Result<UploadForm, Stop> {
        let p = self.p;
        let token = p.token().await.map_err(Stop::Token)?;
        let form = p.client.request_upload_slot(p.at(), &token).await.map_err(Stop::Api)?;
        self.st.form = Some(form.clone());
        Ok(form)
    }

    /// What this upload's reader will find; it hashes the file while streaming unless
    /// the digest is already known.
    fn new_read(&mut self) -> ReadState {
        let read = ReadState::new(self.a.sha256.is_none());
        self.st.read = Some(read.clone());
        read
    }

    /// Deletes the package `replace` chose, if any; a failure leaves it in place.
    async fn delete_replaced(&mut self) -> Result<(), Stop> {
        let Some(old) = self.st.replace.take() else {
            return Ok(());
        };
        let p = self.p;
        // After a cancellation nothing is deleted: the new file may never be
        // published, and the old package must then still be there.
        if p.cancel.is_cancelled() {
            return Err(Stop::Failed(failure::not_replaced_cancelled(old)));
        }
        let token = p.token().await.map_err(Stop::Token)?;
        self.st.deleting = Some(old.clone());
        match p.client.delete(p.at(), &token, &old.id).await {
            Ok(()) => {}
            // Another run deleted it first (two replacing runs): it is gone, which
            // is what this deletion was for; this run did not delete it.
            Err(err) if err.status() == Some(404) => {
                self.st.deleting = None;
                p.ci.line(&format!(
                    "  {}: the existing {} ({}) was already gone (deleted by another run?)",
                    self.a.rel,
                    self.a.describe(),
                    old.id
                ));
                return Ok(());
            }
            Err(err) => {
                self.st.deleting = None;
                return Err(Stop::Failed(failure::delete_failed(&err, old)));
            }
        }
        p.ci.line(&format!(
            "  {}: deleted the existing {} ({}) for replacement",
            self.a.rel,
            self.a.describe(),
            old.id
        ));
        self.st.deleting = None;
        self.st.deleted = Some(old);
        Ok(())
    }
}
