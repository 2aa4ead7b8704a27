//! Promotion: copying published packages from one registry into others with the copy
//! endpoint. It is idempotent: a package already in the destination with the same
//! sha256 counts as promoted, a different sha256 is a failure naming both digests, and
//! after an ambiguous failure the destination is checked before copying again. A copy
//! that may have been made (its answer lost, or cut off by a cancellation) and that the
//! destination does not list within `settle-timeout` is `unverified`, never failed.
//! Ecosystems the API cannot copy are refused before anything is uploaded: by the
//! registry's ecosystem when the token may read it, else by the files themselves.
//! `concurrency` copies run at once, through the client's rate-limit gate, with
//! results in input order. A promote-only step finds what to copy with [`sources`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::bail;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::api::model::{Package, is_copyable};
use crate::api::{Client, RegistryId};
use crate::artifact::Artifact;
use crate::auth::Auth;
use crate::ci::Ci;
use crate::config::Opt;
use crate::config::Spelling;
use crate::digest::Sha256;
use crate::exit::{Abort, ExitStatus};
use crate::lookup::{self, Found, Key, Wanted};
use crate::report::{Entry, Promotion, PromotionStatus};
use crate::retry::run::{self, Stopped};
use crate::retry::settle::Settle;

pub(crate) use error::PromoteError;

mod error;
mod run_wide;
pub(crate) mod sources;

use run_wide::skipped;
pub(crate) use run_wide::{held_back, plan_all, skip_all};

/// Copies packages from `source` into each destination.
pub(crate) struct Promoter {
    pub client: Client,
    pub auth: Arc<Auth>,
    pub ci: Arc<Ci>,
    pub org: String,
    pub source: String,
    pub destinations: Vec<String>,
    /// How the user names options, for messages.
    pub spelling: Spelling,
    /// A promote-only step: the source came from `promote-from`, not `registry`.
    pub promote_only: bool,
    /// Copies in flight at once.
    pub concurrency: usize,
    /// How long a destination's lagging listing is waited for (`settle-timeout`).
    pub settle: Duration,
}

/// What one promotion's copies so far tell about the destination.
#[derive(Debug, Default)]
struct Attempts {
    /// A copy request is on the wire.
    on_wire: AtomicBool,
    /// An earlier copy's answer was lost: it may have been made.
    maybe_ours: AtomicBool,
}

impl Attempts {
    fn may_have_landed(&self) -> bool {
        self.on_wire.load(Ordering::SeqCst) || self.maybe_ours.load(Ordering::SeqCst)
    }
}

impl Promoter {
    /// A registry of the organization, addressed.
    fn at<'a>(&'a self, slug: &'a str) -> RegistryId<'a> {
        RegistryId { org: &self.org, slug }
    }
}

impl Promoter {
    /// Checks, before any upload, that every registry involved can take copies. A
    /// token that may not read registries (OIDC tokens cover packages only) skips the
    /// check; the copy's own refusal is then reported.
    pub(crate) async fn preflight(&self) -> Result<(), Abort> {
        for slug in std::iter::once(&self.source).chain(&self.destinations) {
            let token = self
                .auth
                .token(self.at(slug))
                .await
                .map_err(|e| Abort(ExitStatus::AuthRefused, e.into()))?;
            self.check_copyable(slug, &token).await?;
        }
        Ok(())
    }

    /// Refuses a registry whose packages cannot be copied, or that does not exist.
    async fn check_copyable(&self, slug: &str, token: &crate::secret::Secret) -> anyhow::Result<()> {
        match self.client.registry(self.at(slug), token).await {
            Ok(reg) if !reg.ecosystem.is_empty() && !is_copyable(&reg.ecosystem) => bail!(
                "registry {slug:?} is a {} registry, and the Packages API copies only Alpine, Debian, Files, JavaScript, Python, Red Hat and Ruby packages: promotion cannot work. Publish to each registry directly instead (one step per registry), or ask Buildkite support to enable copying",
                reg.ecosystem
            ),
            Ok(_) => {}
            Err(err) if err.is_auth() => {
                self.ci.line(&format!(
                    "  cannot read registry {slug:?} to check that it supports copies ({}); going ahead",
                    err.status().unwrap_or_default()
                ));
            }
            Err(err) if err.status() == Some(404) => {
                let option = match (slug == self.source, self.promote_only) {
                    (false, _) => Opt::PromoteTo,
                    (true, false) => Opt::Registry,
                    (true, true) => Opt::PromoteFrom,
                };
                bail!(
                    "registry {slug:?} was not found in organization {:?}: check {} ({err})",
                    self.org,
                    self.spelling.name(option)
                )
            }
            Err(err) => return Err(err.into()),
        }
        Ok(())
    }

    /// Promotes every entry into every destination, recording results on the entries
    /// in input order. `concurrency` copies are in flight at once, through the
    /// client's rate-limit gate. After a cancellation the copies in flight get the
    /// same grace as uploads (a backoff between attempts ends at once) and the rest
    /// are recorded as not attempted: none starts after the signal.
    pub(crate) async fn promote_all(&self, entries: &mut [Entry], cancel: &CancellationToken) {
        let pairs: Vec<(usize, &str)> = (0..entries.len())
            .flat_map(|i| self.destinations.iter().map(move |d| (i, d.as_str())))
            .collect();
        // Unordered, so a copy waiting out a backoff holds up no other; put back in
        // input order afterwards.
        let mut promotions: Vec<(usize, Promotion)> = {
            let entries = &*entries;
            futures_util::stream::iter(pairs.into_iter().enumerate())
                .map(|(n, (i, dest))| async move { (n, (i, self.promote_or_skip(&entries[i], dest, cancel).await)) })
                .buffer_unordered(self.concurrency.max(1))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_values()
                .collect()
        };
        for (i, promotion) in promotions.drain(..) {
            entries[i].promotions.push(promotion);
        }
    }

    /// One promotion, unless the run was cancelled before it could start.
    async fn promote_or_skip(&self, entry: &Entry, dest: &str, cancel: &CancellationToken) -> Promotion {
        if cancel.is_cancelled() {
            return skipped(entry, dest, NOT_COPIED_CANCELLED);
        }
        let grace = async {
            cancel.cancelled().await;
            tokio::time::sleep(crate::publish::CANCEL_GRACE).await;
        };
        let attempts = Attempts::default();
        tokio::select! {
            promotion = self.promote_one(entry, dest, cancel, &attempts) => promotion,
            () = grace => self.cancelled(entry, dest, &attempts),
        }
    }

    async fn promote_one(
        &self,
        entry: &Entry,
        dest: &str,
        cancel: &CancellationToken,
        attempts: &Attempts,
    ) -> Promotion {
        let (status, pkg) = match self.copy_with_retries(entry, dest, cancel, attempts).await {
            Ok(done) => done,
            Err(PromoteError::Cancelled) => return self.cancelled(entry, dest, attempts),
            Err(err) => return self.failed(entry, dest, &err),
        };
        let mut promotion = Promotion {
            status,
            error: None,
            ..skipped(entry, dest, "")
        };
        if let Some(pkg) = pkg {
            promotion.id = Some(pkg.id.clone());
            promotion.web_url.clone_from(&pkg.web_url);
            if !pkg.name.is_empty() {
                promotion.name = Some(pkg.name.clone());
            }
            if pkg.version.is_some() {
                promotion.version.clone_from(&pkg.version);
            }
        }
        promotion
    }

    /// A promotion a cancellation cut short: unverified when a copy may have been
    /// made, else not attempted.
    fn cancelled(&self, entry: &Entry, dest: &str, attempts: &Attempts) -> Promotion {
        if !attempts.may_have_landed() {
            return skipped(entry, dest, NOT_COPIED_CANCELLED);
        }
        let err = unverified(
            entry,
            dest,
            "the run was cancelled before the copy was confirmed".to_owned(),
        );
        self.failed(entry, dest, &err)
    }

    /// A failed (or unverified) promotion, its message scrubbed of secrets.
    fn failed(&self, entry: &Entry, dest: &str, err: &PromoteError) -> Promotion {
        Promotion {
            status: if matches!(err, PromoteError::Unverified { .. }) {
                PromotionStatus::Unverified
            } else {
                PromotionStatus::Failed
            },
            error: Some(self.ci.scrub(&err.to_string())),
            auth_refused: err.is_auth(),
            ..skipped(entry, dest, "")
        }
    }

    async fn copy_with_retries(
        &self,
        entry: &Entry,
        dest: &str,
        cancel: &CancellationToken,
        attempts: &Attempts,
    ) -> Result<Copied, PromoteError> {
        let Some(id) = entry.id.as_deref() else {
            return Err(PromoteError::NoId);
        };
        // Already there? (A re-run, or an earlier promotion.) A package with the same
        // name and version but other content may be another architecture: the copy
        // itself decides about it.
        if let Destination::Identical(pkg) = self.check_destination(entry, dest).await? {
            return Ok((PromotionStatus::Identical, Some(*pkg)));
        }
        let once = |_| self.copy_once(entry, dest, id, cancel, attempts);
        run::retry(self.client.policy(), cancel, PromoteError::retry_class, once)
            .await
            .map_err(|stopped| match stopped {
                Stopped::GaveUp(err) => err,
                Stopped::Cancelled(_) => PromoteError::Cancelled,
            })
    }

    /// One copy; after a duplicate refusal or an ambiguous failure the destination is
    /// looked at before the copy is sent again.
    async fn copy_once(
        &self,
        entry: &Entry,
        dest: &str,
        id: &str,
        cancel: &CancellationToken,
        attempts: &Attempts,
    ) -> Result<Copied, PromoteError> {
        let token = self
            .auth
            .token(self.at(&self.source))
            .await
            .map_err(PromoteError::Token)?;
        attempts.on_wire.store(true, Ordering::SeqCst);
        let answer = self.client.copy(self.at(&self.source), &token, id, dest).await;
        attempts.on_wire.store(false, Ordering::SeqCst);
        let err = match answer {
            Ok(pkg) => return copied(entry, dest, pkg),
            Err(err) => err,
        };
        if err.is_ambiguous() {
            attempts.maybe_ours.store(true, Ordering::SeqCst);
        }
        if let Some(done) = self.look_after_failure(entry, dest, &err, cancel, attempts).await? {
            return Ok(done);
        }
        if err.status() == Some(404) {
            return Err(PromoteError::Gone {
                err: Box::new(err),
                dest: dest.to_owned(),
                org: self.org.clone(),
                id: id.to_owned(),
                source_registry: self.source.clone(),
            });
        }
        Err(PromoteError::Copy(err))
    }

    /// After a duplicate refusal (the listing waited for) or an ambiguous failure, what
    /// the destination holds settles the promotion; `None`: it does not (copy again, or
    /// fail with the copy's own error).
    async fn look_after_failure(
        &self,
        entry: &Entry,
        dest: &str,
        err: &crate::api::ApiError,
        cancel: &CancellationToken,
        attempts: &Attempts,
    ) -> Result<Option<Copied>, PromoteError> {
        let found = if err.is_already_exists() {
            let (found, waited) = self
                .settle_destination(entry, dest, cancel, attempts.may_have_landed())
                .await?;
            if matches!(found, Destination::Absent) && attempts.may_have_landed() {
                let why = format!(
                    "{dest:?} refuses it as a duplicate, but did not list it within {} s (settle-timeout)",
                    waited.as_secs()
                );
                return Err(unverified(entry, dest, why));
            }
            found
        } else if err.is_ambiguous() {
            self.check_destination(entry, dest).await?
        } else {
            return Ok(None);
        };
        match found {
            Destination::Identical(pkg) => Ok(Some((PromotionStatus::Identical, Some(*pkg)))),
            Destination::Others(digests) if err.is_already_exists() => Err(PromoteError::Different {
                name: entry.name.clone().unwrap_or_default(),
                version: entry.version.clone().unwrap_or_default(),
                dest: dest.to_owned(),
                theirs: digests.join(", "),
                ours: entry.sha256.clone(),
            }),
            _ => Ok(None),
        }
    }

    /// After the destination refused a copy as a duplicate: looks until the copy shows
    /// (an earlier attempt's, whose answer was lost), `settle-timeout` is spent, or the
    /// run is cancelled; what was found, and how long it waited.
    async fn settle_destination(
        &self,
        entry: &Entry,
        dest: &str,
        cancel: &CancellationToken,
        maybe_ours: bool,
    ) -> Result<(Destination, Duration), PromoteError> {
        // Other content is a conflict, unless this run's own copy may still show up
        // beside it; nothing listed yet is worth waiting for.
        let worth_waiting = |found: &Destination| match found {
            Destination::Identical(_) => false,
            Destination::Others(_) => maybe_ours,
            Destination::Absent => true,
        };
        let mut settle = Settle::new(self.settle);
        let mut found = self.check_destination(entry, dest).await?;
        while worth_waiting(&found) {
            let Some(wait) = settle.next_wait() else { break };
            self.ci.line(&format!(
                "  {dest}: the copy was refused as a duplicate and the listing may lag; looking again in {}",
                crate::report::text::duration(wait)
            ));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => break,
            }
            found = self.check_destination(entry, dest).await?;
        }
        Ok((found, settle.waited()))
    }

    /// Looks for the package in the destination by name and version.
    async fn check_destination(&self, entry: &Entry, dest: &str) -> Result<Destination, PromoteError> {
        let (Some(name), Some(version)) = (entry.name.as_deref(), entry.version.as_deref()) else {
            return Ok(Destination::Absent);
        };
        let token = self.auth.token(self.at(dest)).await.map_err(PromoteError::Token)?;
        let ours = Sha256::parse(&entry.sha256);
        let wanted = Wanted {
            key: Key::Recorded { name, version },
            sha256: ours.as_ref(),
        };
        let digest = |p: &Package| p.sha256().unwrap_or("(none reported)").to_owned();
        match lookup::find(&self.client, &token, self.at(dest), wanted).await {
            Ok(Found::Exact(pkg)) => Ok(Destination::Identical(Box::new(pkg))),
            Ok(Found::Other(pkg)) => Ok(Destination::Others(vec![digest(&pkg)])),
            Ok(Found::Many(pkgs)) => Ok(Destination::Others(pkgs.iter().map(digest).collect())),
            Ok(Found::Absent | Found::Unknown) => Ok(Destination::Absent),
            // A token that may copy but not list the destination: let the copy decide.
            Err(err) if err.is_auth() => Ok(Destination::Absent),
            Err(err) if err.status() == Some(404) => Err(PromoteError::NoDestination {
                dest: dest.to_owned(),
                org: self.org.clone(),
                err: Box::new(err),
            }),
            Err(err) => Err(PromoteError::Lookup(err)),
        }
    }
}

/// A finished promotion: its status and the destination's package.
type Copied = (PromotionStatus, Option<Package>);

/// Said of a promotion a cancellation stopped before any copy was sent.
const NOT_COPIED_CANCELLED: &str = "not copied: the run was cancelled";

/// A copy that may have been made could not be confirmed, and why.
fn unverified(entry: &Entry, dest: &str, why: String) -> PromoteError {
    PromoteError::Unverified {
        name: entry.name.clone().unwrap_or_default(),
        version: entry.version.clone().unwrap_or_default(),
        dest: dest.to_owned(),
        why,
    }
}

/// The copy answered: promoted, unless its digest is not the package's.
fn copied(entry: &Entry, dest: &str, pkg: Package) -> Result<Copied, PromoteError> {
    if let Some(remote) = pkg.sha256() {
        if !remote.eq_ignore_ascii_case(&entry.sha256) {
            return Err(PromoteError::Corrupted {
                dest: dest.to_owned(),
                remote: remote.to_owned(),
                local: entry.sha256.clone(),
            });
        }
    }
    Ok((PromotionStatus::Promoted, Some(pkg)))
}

/// Refuses, before anything is uploaded, files bound for `promote-to` whose packages
/// the Packages API cannot copy (Helm charts, Terraform modules), known from the
/// files themselves, so the check holds when the registry cannot be read.
pub(crate) fn refuse_uncopyable_files(artifacts: &[Artifact], destinations: &[String]) -> Result<(), Abort> {
    let uncopyable = artifacts.iter().find_map(|a| {
        let format = a.identity.as_ref().ok()?.format;
        (!format.ecosystem().is_copyable()).then_some((a, format))
    });
    match uncopyable {
        Some((a, format)) => Err(Abort(
            ExitStatus::Failed,
            anyhow::anyhow!(
                "{} is a {}, and the Packages API cannot copy {} packages, so it cannot be promoted to {}: publish to each registry directly instead (one step per registry); nothing was uploaded",
                a.rel,
                format.label(),
                format.ecosystem().label(),
                destinations.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// What a destination registry holds under a package's name and version.
enum Destination {
    /// The same content: already promoted.
    Identical(Box<Package>),
    /// Other content (their sha256s): another architecture, or a conflict.
    Others(Vec<String>),
    Absent,
}
