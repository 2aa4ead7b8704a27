//! Publishing: every planned artifact is uploaded with bounded concurrency, retried on
//! transient failures, and reconciled with what the registry already holds according
//! to `if-exists`. A retry never creates a duplicate: after an ambiguous failure (the
//! request may have landed) the package is looked up before anything is sent again.
//! Results come back in input order whatever order uploads finish in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;

use crate::api::model::Package;
use crate::api::{ApiError, Client, Progress};
use crate::artifact::Artifact;
use crate::auth::Auth;
use crate::ci::Ci;
use crate::config::{IfExists, UploadMethod};
use crate::report::text::{bar, duration, rate, size};
use crate::report::{Entry, Status};
use crate::retry::{self, Backoff, Decision};

/// Files at least this large use the presigned flow under `upload-method: auto`.
pub const PRESIGNED_THRESHOLD: u64 = 100 * 1024 * 1024;
/// Files at least this large are looked up before uploading, so a re-run does not send
/// them again only to be told they exist. Smaller files skip the lookup: the upload is
/// cheaper than a second request against the rate limit.
pub const PRECHECK_THRESHOLD: u64 = 1024 * 1024;
/// How often a long upload prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Everything a publish run needs.
pub struct Publisher {
    pub client: Client,
    pub auth: Arc<Auth>,
    pub ci: Arc<Ci>,
    pub org: String,
    pub registry: String,
    pub if_exists: IfExists,
    pub upload_method: UploadMethod,
    pub stall: Duration,
    pub concurrency: usize,
    /// The attestation bundle and how many attestations it holds.
    pub attestations: Option<(Arc<str>, usize)>,
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
    finished_bytes: std::sync::atomic::AtomicU64,
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

/// A finished file: its report entry and how long it took.
pub struct Outcome {
    pub entry: Entry,
    pub elapsed: Duration,
}

/// Uploads in flight, lowered for the rest of the run when the server rate-limits.
struct Throttle {
    permits: Semaphore,
    capacity: AtomicUsize,
    last_shrink: std::sync::Mutex<Option<Instant>>,
}

/// At most one reduction of uploads in flight per this window: a burst of 429s from
/// one rate-limit window lowers concurrency once, not once per request.
const SHRINK_WINDOW: Duration = Duration::from_secs(5);

impl Throttle {
    /// Permanently gives up one slot (never the last one) after a 429, at most once
    /// per [`SHRINK_WINDOW`].
    fn shrink(&self, permit: tokio::sync::SemaphorePermit<'_>) -> bool {
        {
            let mut last = self.last_shrink.lock().expect("throttle lock");
            if last.is_some_and(|at| at.elapsed() < SHRINK_WINDOW) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let cap = self.capacity.load(Ordering::SeqCst);
        if cap > 1
            && self
                .capacity
                .compare_exchange(cap, cap - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            permit.forget();
            return true;
        }
        false
    }
}

impl Publisher {
    /// Publishes every artifact; outcomes are in the same order as `artifacts`.
    pub async fn publish_all(&self, artifacts: Vec<Artifact>) -> Vec<Outcome> {
        let throttle = Throttle {
            permits: Semaphore::new(self.concurrency),
            capacity: AtomicUsize::new(self.concurrency),
            last_shrink: std::sync::Mutex::new(None),
        };
        let overall = Arc::new(Overall {
            total: artifacts.iter().map(|a| a.size).sum(),
            files: artifacts.len(),
            ..Overall::default()
        });
        let _bar = self.ci.is_terminal().then(|| AbortOnDrop(self.progress_bar(&overall)));
        let outcomes = futures_util::stream::iter(artifacts)
            .map(|artifact| self.publish_one(artifact, &throttle, &overall))
            .buffered(self.concurrency)
            .collect()
            .await;
        self.ci.status("");
        outcomes
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

    async fn publish_one(&self, mut artifact: Artifact, throttle: &Throttle, overall: &Overall) -> Outcome {
        let started = Instant::now();
        let result = self.attempts(&mut artifact, throttle, overall).await;
        overall.finish(artifact.size);
        // The report always carries the file's sha256, even when no upload finished.
        let hashed = artifact.ensure_hash().await;
        let mut entry = new_entry(&artifact);
        if let Err(err) = hashed {
            entry.status = Status::Failed;
            entry.error = Some(format!("cannot read {}: {err}", artifact.rel));
            return Outcome {
                entry,
                elapsed: started.elapsed(),
            };
        }
        match result {
            Ok((status, package)) => {
                entry.status = status;
                if let Some(pkg) = package {
                    fill_from_package(&mut entry, &pkg);
                }
                if matches!(status, Status::Published | Status::Replaced) {
                    entry.attestations = self.attestations.as_ref().map_or(0, |(_, n)| *n);
                } else if self.attestations.is_some() {
                    self.ci.line(&format!(
                        "  {}: already in the registry; attestations are not re-sent to an existing package",
                        artifact.rel
                    ));
                }
            }
            Err(failure) => {
                entry.status = Status::Failed;
                entry.auth_refused = failure.auth;
                entry.error = Some(self.ci.scrub(&failure.message));
                if let Some(pkg) = failure.package {
                    fill_from_package(&mut entry, &pkg);
                }
            }
        }
        Outcome {
            entry,
            elapsed: started.elapsed(),
        }
    }

    /// The retry loop of one file.
    async fn attempts(
        &self,
        artifact: &mut Artifact,
        throttle: &Throttle,
        overall: &Overall,
    ) -> Result<(Status, Option<Package>), Failure> {
        let mut backoff = self.client.policy().backoff();
        let mut replaced = false;
        // After an ambiguous failure, an identical package that turns up is this
        // run's own upload that landed late, so it counts as published.
        let mut ambiguous = false;
        let mut presigned = match self.upload_method {
            UploadMethod::Direct => false,
            UploadMethod::Presigned => true,
            UploadMethod::Auto => artifact.size >= PRESIGNED_THRESHOLD,
        };
        if artifact.size >= PRECHECK_THRESHOLD && artifact.predicted.is_some() {
            // Only a package with this very content short-cuts the upload; one with the
            // same name and version but other content may be another architecture, so
            // the registry decides.
            if self.find_existing(artifact).await.is_ok_and(|l| !l.is_empty()) {
                artifact.ensure_hash().await.map_err(|e| Failure {
                    message: format!("cannot read {}: {e}", artifact.rel),
                    auth: false,
                    package: None,
                })?;
                if self.find_existing(artifact).await.is_ok_and(|l| l.exact.is_some()) {
                    let found = ApiError::Status {
                        method: "GET",
                        url: String::new(),
                        status: 409,
                        message: "found in the registry before uploading".into(),
                        retry_after: None,
                        hint: String::new(),
                    };
                    match self.reconcile(artifact, &found, false).await? {
                        Reconciled::Done(status, pkg) => return Ok((status, pkg.map(|p| *p))),
                        Reconciled::SendAgain => replaced = true,
                    }
                }
            }
        }
        loop {
            let permit = throttle.permits.acquire().await.expect("semaphore is never closed");
            let progress = Progress::new(self.stall);
            overall.track(&progress);
            let result = self.send(artifact, presigned, &mut backoff, &progress).await;
            overall.untrack(&progress);
            // The upload hashed what it streamed; read the file only when it did not
            // stream all of it.
            if artifact.sha256.is_empty() {
                if let Some(digest) = progress.digest(artifact.size) {
                    artifact.sha256 = digest;
                } else {
                    artifact.ensure_hash().await.map_err(|e| Failure {
                        message: format!("cannot read {}: {e}", artifact.rel),
                        auth: false,
                        package: None,
                    })?;
                }
            }
            let err = match result {
                Ok(pkg) => {
                    drop(permit);
                    self.verify_digest(artifact, &pkg)?;
                    return Ok((if replaced { Status::Replaced } else { Status::Published }, Some(pkg)));
                }
                Err(err) => err,
            };
            if err.status() == Some(429) {
                if throttle.shrink(permit) {
                    self.ci.line(&format!(
                        "  rate limited: lowering uploads in flight to {}",
                        throttle.capacity.load(Ordering::SeqCst)
                    ));
                }
            } else {
                drop(permit);
            }
            if err.is_already_exists() {
                match self.reconcile(artifact, &err, replaced).await? {
                    Reconciled::Done(Status::Identical, pkg) if ambiguous => {
                        return Ok((
                            if replaced { Status::Replaced } else { Status::Published },
                            pkg.map(|p| *p),
                        ));
                    }
                    Reconciled::Done(status, pkg) => return Ok((status, pkg.map(|p| *p))),
                    Reconciled::SendAgain => {
                        replaced = true;
                        continue;
                    }
                }
            }
            if err.status() == Some(413) && !presigned && self.upload_method == UploadMethod::Auto {
                self.ci.line(&format!(
                    "  {}: too large for a direct upload, switching to the presigned upload",
                    artifact.rel
                ));
                presigned = true;
                continue;
            }
            if err.is_ambiguous() {
                ambiguous = true;
                // The attempt may have landed: look before sending again. Only this
                // file's content counts; anything else under the name and version is
                // left to the registry to refuse on the next attempt.
                match self.find_existing(artifact).await {
                    Ok(Lookup {
                        exact: Some(existing), ..
                    }) => {
                        self.ci.line(&format!(
                            "  {}: the interrupted upload had landed; not sending it again",
                            artifact.rel
                        ));
                        let status = if replaced { Status::Replaced } else { Status::Published };
                        return Ok((status, Some(existing)));
                    }
                    Ok(_) => {}
                    Err(lookup) => {
                        return Err(Failure::from_api(&lookup).context(&format!(
                            "after an interrupted upload ({err}) the registry could not be checked, so the file was not sent again to avoid a duplicate"
                        )));
                    }
                }
            }
            if let Err(err) = self.wait_or_give_up(artifact, err, &mut backoff).await {
                return Err(Failure::from_api(&err));
            }
        }
    }

    /// One attempt over the chosen upload method, with a fresh token each time and a
    /// progress line every few seconds for long uploads.
    async fn send(
        &self,
        artifact: &Artifact,
        presigned: bool,
        backoff: &mut Backoff,
        progress: &Arc<Progress>,
    ) -> Result<Package, ApiError> {
        // On a terminal the aggregate bar shows progress; in CI logs, a line every few
        // seconds per long upload.
        let _ticker = (!self.ci.is_terminal()).then(|| AbortOnDrop(self.progress_ticker(artifact, progress)));
        let bundle = self.attestations.as_ref().map(|(b, _)| &**b);
        if presigned {
            self.send_presigned(artifact, progress, bundle, backoff).await
        } else {
            let token = self.token().await?;
            self.client
                .publish_direct(&self.org, &self.registry, &token, artifact, bundle, progress)
                .await
        }
    }

    /// The presigned flow: ask for a slot, send the file to storage, finalize. The
    /// storage and finalize legs retry on their own (sharing the file's retry budget),
    /// so a failed finalize never uploads the file again.
    async fn send_presigned(
        &self,
        artifact: &Artifact,
        progress: &Arc<Progress>,
        bundle: Option<&str>,
        backoff: &mut Backoff,
    ) -> Result<Package, ApiError> {
        let token = self.token().await?;
        let mut form = self
            .client
            .request_upload_slot(&self.org, &self.registry, &token)
            .await?;
        let mut fresh_slot = false;
        let package_url = loop {
            let err = match self.client.upload_to_storage(&form, artifact, progress).await {
                Ok(url) => break url,
                Err(err) => err,
            };
            // Storage refuses a form whose policy expired (a slow or retried upload):
            // ask once for a new slot before giving up.
            if matches!(err, ApiError::Storage { status: 403, .. }) && !fresh_slot {
                fresh_slot = true;
                self.ci.line(&format!(
                    "  {}: {}; asking for a new upload slot",
                    artifact.rel,
                    self.ci.scrub(&err.to_string())
                ));
                let token = self.token().await?;
                form = self
                    .client
                    .request_upload_slot(&self.org, &self.registry, &token)
                    .await?;
                continue;
            }
            self.wait_or_give_up(artifact, err, backoff).await?;
        };
        loop {
            // A fresh token: the storage leg may have outlived an OIDC token.
            let token = self.token().await?;
            let err = match self
                .client
                .finalize_upload(&self.org, &self.registry, &token, &package_url, bundle)
                .await
            {
                Ok(pkg) => return Ok(pkg),
                Err(err) => err,
            };
            if err.is_already_exists() || !retry::is_transient(&err) {
                return Err(err);
            }
            if err.is_ambiguous() {
                // The storage leg streamed the whole file, so its hash is known here.
                let sha256 = progress
                    .digest(artifact.size)
                    .unwrap_or_else(|| artifact.sha256.clone());
                let token = self.token().await?;
                if let Ok(Lookup {
                    exact: Some(existing), ..
                }) = find_package(&self.client, &token, &self.org, &self.registry, artifact, &sha256).await
                {
                    self.ci
                        .line(&format!("  {}: the interrupted finalize had landed", artifact.rel));
                    return Ok(existing);
                }
            }
            self.wait_or_give_up(artifact, err, backoff).await?;
        }
    }

    /// Sleeps before the next attempt of a leg, or returns the error when the retry
    /// policy says to stop.
    async fn wait_or_give_up(&self, artifact: &Artifact, err: ApiError, backoff: &mut Backoff) -> Result<(), ApiError> {
        match retry::decide(&err, backoff.next_delay()) {
            Decision::Retry(wait) => {
                self.ci.line(&format!(
                    "  {}: {} — retrying in {}",
                    artifact.rel,
                    self.ci.scrub(&err.to_string()),
                    duration(wait)
                ));
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Decision::GiveUp => Err(err),
        }
    }

    async fn token(&self) -> Result<crate::secret::Secret, ApiError> {
        self.auth
            .token(&self.org, &self.registry)
            .await
            .map_err(|e| auth_error(&e))
    }

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

    fn verify_digest(&self, artifact: &Artifact, pkg: &Package) -> Result<(), Failure> {
        match pkg.sha256() {
            Some(remote) if !remote.eq_ignore_ascii_case(&artifact.sha256) => Err(Failure {
                message: format!(
                    "the registry reports sha256 {remote} for the uploaded package, but the local file's sha256 is {}; the upload was corrupted or the file changed while uploading",
                    artifact.sha256
                ),
                auth: false,
                package: Some(Box::new(pkg.clone())),
            }),
            _ => Ok(()),
        }
    }

    /// Applies `if-exists` to a package that is already in the registry. Only a
    /// package with this file's sha256 is "the same"; others under the same name and
    /// version are named with their digests, and `replace` deletes one only when it is
    /// the only candidate.
    async fn reconcile(&self, artifact: &Artifact, err: &ApiError, replaced: bool) -> Result<Reconciled, Failure> {
        let Lookup { exact, others } = self.find_existing(artifact).await.map_err(|e| Failure::from_api(&e))?;
        let identity = match &artifact.predicted {
            Some((n, v)) => format!("{n} {v}"),
            None => artifact.file_name.clone(),
        };
        let fail = |message: String, package: Option<&Package>| Failure {
            message,
            auth: false,
            package: package.cloned().map(Box::new),
        };
        let digests = |pkgs: &[Package]| {
            pkgs.iter()
                .map(|p| p.sha256().unwrap_or("(no sha256)").to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let not_found = || {
            fail(
                format!(
                    "the registry says {identity} already exists ({}), but no package with that name and version could be found",
                    server_says(err)
                ),
                None,
            )
        };
        match self.if_exists {
            IfExists::Fail => Err(fail(
                format!(
                    "{identity} is already in the registry ({}); if-exists: fail",
                    server_says(err)
                ),
                exact.as_ref().or(others.first()),
            )),
            IfExists::Skip => Ok(Reconciled::Done(
                Status::Skipped,
                exact.or_else(|| others.into_iter().next()).map(Box::new),
            )),
            IfExists::SkipIdentical => match (exact, others.as_slice()) {
                (Some(pkg), _) => Ok(Reconciled::Done(Status::Identical, Some(Box::new(pkg)))),
                (None, []) => Err(not_found()),
                (None, [pkg]) => Err(fail(
                    format!(
                        "{identity} is already in the registry with different content (registry sha256 {}, local sha256 {}); bump the version, or use if-exists: replace",
                        pkg.sha256().unwrap_or("(none reported)"),
                        artifact.sha256
                    ),
                    Some(pkg),
                )),
                (None, many) => Err(fail(
                    format!(
                        "{} packages named {identity} are in the registry and none has this file's sha256 {} (theirs: {}); the registry refused it as a duplicate ({})",
                        many.len(),
                        artifact.sha256,
                        digests(many),
                        server_says(err)
                    ),
                    None,
                )),
            },
            IfExists::Replace => {
                if replaced {
                    return Err(fail(
                        format!(
                            "{identity} still exists after it was deleted for replacement ({})",
                            server_says(err)
                        ),
                        exact.as_ref().or(others.first()),
                    ));
                }
                let target = match (exact, others.as_slice()) {
                    (Some(pkg), _) => pkg,
                    (None, []) => return Err(not_found()),
                    (None, [pkg]) => pkg.clone(),
                    (None, many) => {
                        return Err(fail(
                            format!(
                                "{} packages named {identity} are in the registry (sha256 {}); if-exists: replace will not guess which one to delete",
                                many.len(),
                                digests(many)
                            ),
                            None,
                        ));
                    }
                };
                let token = self.token().await.map_err(|e| Failure::from_api(&e))?;
                self.client
                    .delete(&self.org, &self.registry, &token, &target.id)
                    .await
                    .map_err(|e| {
                        Failure::from_api(&e).context("if-exists: replace could not delete the existing package")
                    })?;
                self.ci.line(&format!(
                    "  {}: deleted the existing {identity} ({}) for replacement",
                    artifact.rel, target.id
                ));
                Ok(Reconciled::SendAgain)
            }
        }
    }

    /// Looks the artifact up in the registry by its predicted name and version.
    pub async fn find_existing(&self, artifact: &Artifact) -> Result<Lookup, ApiError> {
        let token = self.token().await?;
        find_package(
            &self.client,
            &token,
            &self.org,
            &self.registry,
            artifact,
            &artifact.sha256,
        )
        .await
    }
}

/// What a registry holds under an artifact's predicted name and version.
#[derive(Debug, Default)]
pub struct Lookup {
    /// The package whose sha256 is the file's.
    pub exact: Option<Package>,
    /// Packages with the same name and version but other content: another
    /// architecture or wheel of the release, or a conflicting build.
    pub others: Vec<Package>,
}

impl Lookup {
    /// Whether nothing is there.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.exact.is_none() && self.others.is_empty()
    }
}

/// Finds `artifact` in a registry: the packages with its predicted name and version
/// (trying the `_`→`-` normalisation Python registries apply), split by whether their
/// sha256 is `sha256`. Without a prediction only an exact sha256 match is found.
/// Packages whose listing lacks digests are fetched one by one.
pub async fn find_package(
    client: &Client,
    token: &crate::secret::Secret,
    org: &str,
    registry: &str,
    artifact: &Artifact,
    sha256: &str,
) -> Result<Lookup, ApiError> {
    let candidates: Vec<Package> = match &artifact.predicted {
        Some((name, version)) => {
            let mut names = vec![name.clone()];
            let normal = name.replace('_', "-");
            if normal != *name {
                names.push(normal);
            }
            let mut found = Vec::new();
            for n in names {
                let items = client.list(org, registry, token, Some(&n), None).await?;
                found.extend(
                    items
                        .into_iter()
                        .filter(|p| p.version.as_deref() == Some(version.as_str())),
                );
                if !found.is_empty() {
                    break;
                }
            }
            found
        }
        None => client.list(org, registry, token, None, None).await?,
    };
    let mut lookup = Lookup::default();
    for mut pkg in candidates {
        if pkg.sha256().is_none() {
            pkg = client.get(org, registry, token, &pkg.id).await?;
        }
        if !sha256.is_empty() && pkg.sha256().is_some_and(|s| s.eq_ignore_ascii_case(sha256)) {
            lookup.exact = Some(pkg);
        } else if artifact.predicted.is_some() {
            lookup.others.push(pkg);
        }
    }
    Ok(lookup)
}

enum Reconciled {
    Done(Status, Option<Box<Package>>),
    SendAgain,
}

/// A file that could not be published.
struct Failure {
    message: String,
    auth: bool,
    package: Option<Box<Package>>,
}

impl Failure {
    fn from_api(err: &ApiError) -> Failure {
        // A token the provider never handed out counts as refused credentials too.
        let no_token = matches!(err, ApiError::Transport { method: "AUTH", .. });
        Failure {
            message: err.to_string(),
            auth: err.is_auth() || no_token,
            package: None,
        }
    }

    fn context(mut self, what: &str) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// An auth failure while getting a token, in the shape of a refused request.
fn auth_error(err: &crate::auth::AuthError) -> ApiError {
    match err {
        // The token provider (the agent, the runner's endpoint) failed: worth another
        // try, and nothing was sent to the registry.
        crate::auth::AuthError::Provider(_) => ApiError::Transport {
            method: "AUTH",
            url: "the OIDC token provider".to_owned(),
            detail: err.to_string(),
            ambiguous: false,
        },
        _ => ApiError::Status {
            method: "AUTH",
            url: String::new(),
            status: 401,
            message: err.to_string(),
            retry_after: None,
            hint: String::new(),
        },
    }
}

fn server_says(err: &ApiError) -> String {
    match err {
        ApiError::Status { status, message, .. } => format!("server answered {status}: {message}"),
        other => other.to_string(),
    }
}

/// A report entry for an artifact, before anything happened to it.
#[must_use]
pub fn new_entry(artifact: &Artifact) -> Entry {
    Entry {
        path: artifact.rel.clone(),
        size: artifact.size,
        sha256: artifact.sha256.clone(),
        name: artifact.predicted.as_ref().map(|(n, _)| n.clone()),
        version: artifact.predicted.as_ref().map(|(_, v)| v.clone()),
        id: None,
        web_url: None,
        status: Status::Planned,
        error: None,
        attestations: 0,
        auth_refused: false,
        promotions: Vec::new(),
    }
}

/// Takes name, version, id and link from the registry's answer.
pub fn fill_from_package(entry: &mut Entry, pkg: &Package) {
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
