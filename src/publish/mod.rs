//! Publishing: a scheduler keeps `concurrency` uploads in flight and puts the results
//! back in input order for the report. Each file is a `FileRun` (`run.rs`): it
//! retries transient failures, looks the package up before sending again after an
//! ambiguous failure (`reconcile.rs`), and applies `if-exists` through the pure
//! [`policy`]. Slots ([`slots`]) are held only while a request is on the wire and
//! adapt to rate limits. A cancelled run (SIGTERM/SIGINT) starts nothing new, gives
//! in-flight uploads [`CANCEL_GRACE`], then records each file's true state.

mod attempt;
mod dry;
mod failure;
mod file_run;
pub(crate) mod policy;
mod reconcile;
mod run;
pub(crate) mod slots;
mod state;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::api::model::Package;
use crate::api::{Client, Progress, RegistryId};
use crate::artifact::Artifact;
use crate::auth::Auth;
use crate::ci::Ci;
use crate::config::{IfExists, UploadMethod};
use crate::report::text::{bar, duration, file_timing, rate, size};
use crate::report::{Entry, Status};
use slots::Slots;

/// Files at least this large use the presigned flow under `upload-method: auto`.
pub(crate) const PRESIGNED_THRESHOLD: u64 = 100 * 1024 * 1024;
/// Files at least this large are looked up before uploading, so a re-run does not send
/// them again only to be told they exist. Smaller files skip the lookup: the upload is
/// cheaper than a second request against the rate limit.
pub(crate) const PRECHECK_THRESHOLD: u64 = 1024 * 1024;
/// How long in-flight uploads may go on after a cancellation.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// How long a cancelled run spends finding out whether an interrupted upload landed.
pub(crate) const LANDED_CHECK: Duration = Duration::from_secs(2);
/// How often a long upload prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Everything a publish run needs.
pub(crate) struct Publisher {
    pub client: Client,
    pub auth: Arc<Auth>,
    pub ci: Arc<Ci>,
    pub org: String,
    pub registry: String,
    pub if_exists: IfExists,
    pub upload_method: UploadMethod,
    pub stall: Duration,
    /// How long a lagging listing is waited for (`settle-timeout`).
    pub settle: Duration,
    pub concurrency: usize,
    /// The attestation bundle and how many attestations it holds.
    pub attestations: Option<(Arc<str>, usize)>,
    /// Cancelled on SIGTERM/SIGINT.
    pub cancel: CancellationToken,
}

/// A finished file: its report entry and how long it took.
pub(crate) struct Outcome {
    pub entry: Entry,
    pub elapsed: Duration,
}

/// Aborts a background task when dropped, so an early return cannot leave a
/// progress ticker printing.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Bytes and files done across the run, for the terminal progress bar.
#[derive(Default)]
struct Overall {
    total: u64,
    files: usize,
    finished_bytes: AtomicU64,
    files_done: AtomicUsize,
    active: std::sync::Mutex<Vec<Arc<Progress>>>,
}

impl Overall {
    fn track(&self, progress: &Arc<Progress>) {
        self.active.lock().expect("progress lock").push(Arc::clone(progress));
    }

    fn untrack(&self, progress: &Arc<Progress>) {
        self.active
            .lock()
            .expect("progress lock")
            .retain(|p| !Arc::ptr_eq(p, progress));
    }

    fn finish(&self, size: u64) {
        self.finished_bytes.fetch_add(size, Ordering::Relaxed);
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }

    fn done(&self) -> u64 {
        let active: u64 = self
            .active
            .lock()
            .expect("progress lock")
            .iter()
            .map(|p| p.sent())
            .sum();
        self.finished_bytes.load(Ordering::Relaxed) + active
    }
}

impl Publisher {
    /// The registry files are published to, addressed.
    pub(super) fn at(&self) -> RegistryId<'_> {
        RegistryId {
            org: &self.org,
            slug: &self.registry,
        }
    }
}

impl Publisher {
    /// Publishes every artifact; outcomes are in the same order as `artifacts`. Files
    /// start as slots free up, whatever order earlier files finish in; a window of
    /// started files bounds memory on releases of thousands of files.
    pub(crate) async fn publish_all(&self, artifacts: Vec<Artifact>) -> Vec<Outcome> {
        let slots = Slots::new(self.concurrency);
        let overall = Arc::new(Overall {
            total: artifacts.iter().map(|a| a.size).sum(),
            files: artifacts.len(),
            ..Overall::default()
        });
        let _bar = self.ci.is_terminal().then(|| AbortOnDrop(self.progress_bar(&overall)));
        let window = (self.concurrency * 8).max(64);
        let mut outcomes: Vec<Option<Outcome>> = std::iter::repeat_with(|| None).take(artifacts.len()).collect();
        let mut finished = futures_util::stream::iter(artifacts.into_iter().enumerate())
            .map(|(i, artifact)| {
                let (slots, overall) = (&slots, &overall);
                async move { (i, self.publish_one(artifact, slots, overall).await) }
            })
            .buffer_unordered(window);
        while let Some((i, outcome)) = finished.next().await {
            self.log_finished(&outcome);
            outcomes[i] = Some(outcome);
        }
        drop(finished);
        self.ci.status("");
        outcomes
            .into_iter()
            .map(|o| o.expect("every file yields one outcome"))
            .collect()
    }

    /// One line per file as soon as it is done, so a log cut short still shows it.
    fn log_finished(&self, outcome: &Outcome) {
        let e = &outcome.entry;
        let word = match e.status {
            Status::Failed => "FAILED",
            Status::Published => "published",
            Status::Identical => "identical",
            Status::Skipped => "skipped",
            Status::Replaced => "replaced",
            Status::Planned => "planned",
            Status::Invalid => "INVALID",
            Status::Unverified => "UNVERIFIED",
        };
        self.ci.line(&format!(
            "  {word}: {} ({})",
            e.path,
            file_timing(e.status, e.size, outcome.elapsed)
        ));
    }

    /// Redraws one aggregate progress bar in place while uploads run (terminals only).
    fn progress_bar(&self, overall: &Arc<Overall>) -> tokio::task::JoinHandle<()> {
        let ci = Arc::clone(&self.ci);
        let overall = Arc::clone(overall);
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                ci.status(&bar(
                    overall.done(),
                    overall.total,
                    overall.files_done.load(Ordering::Relaxed),
                    overall.files,
                    start.elapsed(),
                ));
            }
        })
    }

    /// A progress line every few seconds for a long upload (CI logs).
    fn progress_ticker(&self, artifact: &Artifact, progress: &Arc<Progress>) -> tokio::task::JoinHandle<()> {
        let ci = Arc::clone(&self.ci);
        let progress = Arc::clone(progress);
        let rel = artifact.rel.clone();
        let total = artifact.size;
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let sent = progress.sent().min(total);
                let elapsed = start.elapsed();
                let left = if sent > 0 && sent < total {
                    let secs = elapsed.as_secs_f64() * (total - sent) as f64 / sent as f64;
                    format!(", about {} left", duration(Duration::from_secs_f64(secs)))
                } else {
                    String::new()
                };
                ci.line(&format!(
                    "  {rel}: {} of {} ({}%), {}{left}",
                    size(sent),
                    size(total),
                    (sent * 100).checked_div(total).unwrap_or(100),
                    rate(sent, elapsed)
                ));
            }
        })
    }
}

/// A report entry for an artifact, before anything happened to it.
#[must_use]
pub(crate) fn new_entry(artifact: &Artifact) -> Entry {
    Entry {
        path: artifact.rel.clone(),
        size: artifact.size,
        sha256: artifact.sha256.as_ref().map(ToString::to_string).unwrap_or_default(),
        name: artifact.identity.as_ref().ok().map(|id| id.name.clone()),
        version: artifact.identity.as_ref().ok().map(|id| id.version.clone()),
        variant: artifact.identity.as_ref().ok().and_then(|id| id.variant.clone()),
        id: None,
        web_url: None,
        status: Status::Planned,
        error: None,
        attestations: 0,
        deleted_id: None,
        auth_refused: false,
        promotions: Vec::new(),
    }
}

/// The report entry of a file that is not a valid package: never sent.
#[must_use]
pub(crate) fn invalid_entry(artifact: &Artifact) -> Entry {
    let mut entry = new_entry(artifact);
    if let Err(invalid) = &artifact.identity {
        entry.status = Status::Invalid;
        entry.error = Some(format!("{invalid}; it was not sent"));
    }
    entry
}

/// Takes name, version, id and link from the registry's answer.
pub(crate) fn fill_from_package(entry: &mut Entry, pkg: &Package) {
    if !pkg.name.is_empty() {
        entry.name = Some(pkg.name.clone());
    }
    if pkg.version.is_some() {
        entry.version.clone_from(&pkg.version);
    }
    if !pkg.id.is_empty() {
        entry.id = Some(pkg.id.clone());
    }
    entry.web_url.clone_from(&pkg.web_url);
}
