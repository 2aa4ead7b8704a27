//! The story of one run, in order: parse the command line; for the CI job, load the
//! configuration → fetch artifacts (Buildkite `download`) → discover files → plan them
//! (size, sha256, predicted name and version) → authenticate → check promotion targets
//! → publish → promote → report. Each step is one call into the module that owns it;
//! this file decides only the order and the exit code. The API subcommands for people
//! (`list`, `get`, `copy`, `delete`) live in [`crate::commands`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::Client;
use crate::artifact::Artifact;
use crate::auth::{Auth, AuthError};
use crate::ci::{Ci, Platform, outputs};
use crate::cli::{self, Command};
use crate::commands;
use crate::config::sources::RawMap;
use crate::config::{self, Config, IfNoFilesFound};
use crate::discover::{self, DiscoverError};
use crate::exit::ExitStatus;
use crate::lookup::{self, Found, Wanted};
use crate::promote::{self, Promoter};
use crate::publish::{self, Publisher};
use crate::report::text::{duration, rate, size};
use crate::report::{Entry, PromotionStatus, Report, Status};
use crate::retry::RetryPolicy;

/// Runs the program with its arguments and environment (`not_utf8` names the
/// variables whose values are not UTF-8); returns the exit status.
pub async fn main(args: Vec<OsString>, vars: Vec<(String, String)>, not_utf8: Vec<String>) -> ExitStatus {
    let vars: BTreeMap<String, String> = vars.into_iter().collect();
    if let Some(name) = not_utf8.iter().find(|n| crate::ci::reads_variable(n)) {
        eprintln!(
            "error: the environment variable {name} is set, but its value is not valid UTF-8; set it to plain text (tokens and options are ASCII)"
        );
        return ExitStatus::Usage;
    }
    let parsed = match cli::parse(args) {
        Ok(parsed) => parsed,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            };
        }
    };
    match parsed.command {
        None => run_job(&vars, None, RawMap::new()).await,
        Some(Command::Publish(args)) => run_job(&vars, Some(Platform::Local), args.overrides()).await,
        Some(Command::Promote(args)) => run_job(&vars, Some(Platform::Local), args.overrides()).await,
        Some(command) => commands::run(&vars, command).await,
    }
}

/// A failure that ends the run early, with its exit status.
pub(crate) struct Abort(pub(crate) ExitStatus, pub(crate) anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Abort {
    fn from(err: E) -> Self {
        Abort(ExitStatus::Failed, err.into())
    }
}

fn abort(status: ExitStatus) -> impl FnOnce(anyhow::Error) -> Abort {
    move |err| Abort(status, err)
}

/// The CI job: configuration from the environment (and flags, for `publish` and
/// `promote`), then publish and promote, then report.
async fn run_job(vars: &BTreeMap<String, String>, config_platform: Option<Platform>, overrides: RawMap) -> ExitStatus {
    let platform = Platform::detect(vars);
    let ci = Arc::new(Ci::new(platform, vars.clone()));
    let config = match config::load(vars, config_platform.unwrap_or(platform), overrides) {
        Ok(config) => config,
        Err(err) => {
            ci.error("package-publisher configuration", &err.to_string());
            return ExitStatus::Usage;
        }
    };
    let cancel = {
        let ci = Arc::clone(&ci);
        crate::cancel::on_signals(move |signal| {
            ci.line(&format!(
                "{signal} received: starting nothing new, giving uploads in flight up to {} s, then reporting",
                publish::CANCEL_GRACE.as_secs()
            ));
        })
    };
    ci.set_agent_timeout(config.stall_timeout());
    match job(&ci, &config, &cancel).await {
        Ok(status) => status,
        Err(Abort(status, err)) => {
            let message = format!("{err:#}");
            ci.error("package-publisher", &message);
            ci.close_group();
            // The run stopped before any file was done: the annotation or summary, the
            // step outputs and the report file still say so.
            let mut report = Report::new(
                config.organization(),
                config.source_registry(),
                config.dry_run(),
                config.promote_to(),
            );
            report.error = Some(ci.scrub(&message));
            report.tally();
            for err in outputs::write(&ci, &config, &report).await {
                ci.warning(&format!("{err:#}"));
            }
            status
        }
    }
}

/// Ends the run early when it was cancelled between steps.
fn check_cancelled(cancel: &CancellationToken, before: &str) -> Result<(), Abort> {
    if cancel.is_cancelled() {
        return Err(Abort(
            ExitStatus::Failed,
            anyhow::anyhow!("cancelled before {before}; nothing was published"),
        ));
    }
    Ok(())
}

async fn job(ci: &Arc<Ci>, config: &Config, cancel: &CancellationToken) -> Result<ExitStatus, Abort> {
    let registry = config.source_registry().to_owned();
    let org = config.organization().to_owned();
    ci.setup_group(&format!(
        ":package: package-publisher {} → {org}/{registry}",
        env!("CARGO_PKG_VERSION")
    ));
    ci.line(&format!("configuration from {}", config.source()));
    if config.dry_run() {
        ci.line("dry run: nothing will be uploaded, copied or deleted");
    }
    let root = std::env::current_dir().context("cannot determine the working directory")?;

    // Fetch artifacts from the build (Buildkite `download`).
    download(ci, config).await?;

    // Discover and plan.
    let promote_only = config.promote_from().is_some();
    let found = if config.artifacts().is_empty() {
        discover::Discovery::default()
    } else {
        ci.group("Finding files");
        let found = discover::discover(&root, "artifacts", config.artifacts(), config.if_no_files_found()).map_err(
            |e| match e {
                DiscoverError::NoMatch { .. } => Abort(ExitStatus::NoFiles, e.into()),
                other => Abort(ExitStatus::Usage, other.into()),
            },
        )?;
        for p in &found.patterns {
            ci.line(&format!(
                "{:?} matched {} file(s){}",
                p.pattern,
                p.files.len(),
                skipped_dirs(&p.skipped_dirs)
            ));
        }
        for w in &found.warnings {
            ci.warning(w);
        }
        found
    };
    let bundle = crate::attestation::build(&root, config.attestations(), config.if_no_files_found()).map_err(|e| {
        let status = match e.downcast_ref::<DiscoverError>() {
            Some(DiscoverError::NoMatch { .. }) => ExitStatus::NoFiles,
            _ => ExitStatus::Usage,
        };
        Abort(status, e)
    })?;
    if let Some(b) = &bundle {
        ci.line(&format!(
            "attestations: {} file(s) attached to every package: {}",
            b.files.len(),
            b.files.join(", ")
        ));
    }
    let artifacts = plan(&found, config.dry_run() || promote_only)
        .await
        .map_err(abort(ExitStatus::Usage))?;

    let mut report = Report::new(&org, &registry, config.dry_run(), config.promote_to());
    let client = Client::new(
        config.api_url(),
        RetryPolicy {
            retries: config.retries(),
        },
        config.stall_timeout(),
    )
    .context("cannot build the HTTP client")?;
    check_cancelled(cancel, "anything was sent")?;

    if config.dry_run() && !promote_only {
        report.packages = artifacts.iter().map(publish::new_entry).collect();
        for e in &mut report.packages {
            e.attestations = bundle.as_ref().map_or(0, |b| b.files.len());
        }
        for dest in config.promote_to() {
            for e in &mut report.packages {
                e.promotions.push(planned_promotion(e, dest));
            }
        }
        return Ok(finish(ci, config, report, &[]).await);
    }

    // Authenticate.
    let auth = Auth::new(Arc::clone(ci), client.clone(), config.api_token_env(), config.oidc())
        .await
        .map_err(|e| {
            let status = match e {
                AuthError::NoCredentials(_) => ExitStatus::Usage,
                _ => ExitStatus::AuthRefused,
            };
            Abort(status, e.into())
        })?;
    let auth = Arc::new(auth);
    if auth.is_oidc() {
        ci.line("authenticating with OIDC tokens, one per registry");
    }

    let promoter = (!config.promote_to().is_empty()).then(|| Promoter {
        client: client.clone(),
        auth: Arc::clone(&auth),
        ci: Arc::clone(ci),
        org: org.clone(),
        source: registry.clone(),
        destinations: config.promote_to().to_vec(),
    });
    if let Some(p) = &promoter {
        ci.group("Checking promotion targets");
        p.preflight().await.map_err(|e| {
            let status = if e.downcast_ref::<AuthError>().is_some() {
                ExitStatus::AuthRefused
            } else {
                ExitStatus::Failed
            };
            Abort(status, e)
        })?;
    }

    check_cancelled(cancel, "the first upload")?;
    let mut timings = Vec::new();
    if promote_only {
        report.packages = promote_sources(ci, config, &client, &auth, &artifacts).await?;
    } else {
        ci.group(&format!("Publishing {} file(s) to {org}/{registry}", artifacts.len()));
        let publisher = Publisher {
            client: client.clone(),
            auth: Arc::clone(&auth),
            ci: Arc::clone(ci),
            org: org.clone(),
            registry: registry.clone(),
            if_exists: config.if_exists(),
            upload_method: config.upload_method(),
            stall: config.stall_timeout(),
            concurrency: config.concurrency(),
            attestations: bundle.as_ref().map(|b| (Arc::from(b.text.as_str()), b.files.len())),
            cancel: cancel.clone(),
        };
        for outcome in publisher.publish_all(artifacts).await {
            timings.push(outcome.elapsed);
            report.packages.push(outcome.entry);
        }
    }

    if let Some(p) = &promoter {
        let failed = report.packages.iter().filter(|e| !e.status.is_ok()).count();
        if cancel.is_cancelled() {
            let reason = "not promoted: the run was cancelled".to_owned();
            ci.line(&reason);
            promote::skip_all(&mut report.packages, config.promote_to(), &reason);
        } else if failed > 0 {
            let reason = format!("not promoted: {failed} package(s) failed to publish, so nothing was promoted");
            ci.line(&reason);
            promote::skip_all(&mut report.packages, config.promote_to(), &reason);
        } else if config.dry_run() {
            for dest in config.promote_to() {
                for e in &mut report.packages {
                    e.promotions.push(planned_promotion(e, dest));
                }
            }
        } else {
            ci.group(&format!("Promoting to {}", config.promote_to().join(", ")));
            p.promote_all(&mut report.packages, cancel).await;
        }
    }
    Ok(finish(ci, config, report, &timings).await)
}

/// Fetches the `download` queries' artifacts (Buildkite). A query that matches no
/// artifact follows `if-no-files-found`, like a pattern that matches no file.
async fn download(ci: &Ci, config: &Config) -> Result<(), Abort> {
    for query in config.download() {
        ci.line(&format!("downloading artifacts matching {query:?}"));
        let found = ci
            .agent()
            .artifact_download(query, ".", config.download_build())
            .await
            .with_context(|| format!("download {query:?} failed"))?;
        if found {
            continue;
        }
        let message = format!("download query {query:?} matched no artifacts in the build");
        match config.if_no_files_found() {
            IfNoFilesFound::Error => {
                return Err(Abort(
                    ExitStatus::NoFiles,
                    anyhow::anyhow!("{message} (if-no-files-found: error; set it to `warn` or `ignore` to allow this)"),
                ));
            }
            IfNoFilesFound::Warn => ci.warning(&message),
            IfNoFilesFound::Ignore => ci.line(&message),
        }
    }
    Ok(())
}

fn skipped_dirs(dirs: &[String]) -> String {
    if dirs.is_empty() {
        String::new()
    } else {
        format!(
            ", skipped {} director{}",
            dirs.len(),
            if dirs.len() == 1 { "y" } else { "ies" }
        )
    }
}

fn planned_promotion(e: &Entry, dest: &str) -> crate::report::Promotion {
    crate::report::Promotion {
        registry: dest.to_owned(),
        name: e.name.clone(),
        version: e.version.clone(),
        id: None,
        web_url: None,
        status: PromotionStatus::Planned,
        error: None,
    }
}

/// Plans every file, in input order. With `hash`, files are hashed here; publishing
/// hashes them while uploading instead. The work is split into one batch per core,
/// each run on a blocking thread, so thousands of small files cost a few thread
/// hand-offs rather than one each.
async fn plan(found: &discover::Discovery, hash: bool) -> anyhow::Result<Vec<Artifact>> {
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let per_batch = found.files.len().div_ceil(workers).max(1);
    let batches: Vec<_> = found
        .files
        .chunks(per_batch)
        .map(|batch| {
            let batch = batch.to_vec();
            tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|f| {
                        let rel = f.rel.clone();
                        Artifact::plan(f.rel, f.path, hash).with_context(|| format!("cannot read {rel}"))
                    })
                    .collect::<anyhow::Result<Vec<Artifact>>>()
            })
        })
        .collect();
    let mut artifacts = Vec::with_capacity(found.files.len());
    for batch in batches {
        artifacts.extend(batch.await??);
    }
    Ok(artifacts)
}

/// A promote-only step: the packages to promote, found in the source registry by the
/// matched files (name, version and sha256), or taken from the report an earlier step
/// stored in build meta-data.
async fn promote_sources(
    ci: &Arc<Ci>,
    config: &Config,
    client: &Client,
    auth: &Auth,
    artifacts: &[Artifact],
) -> Result<Vec<Entry>, Abort> {
    let org = config.organization();
    let source = config.source_registry();
    ci.group(&format!("Finding the packages to promote in {org}/{source}"));
    if artifacts.is_empty() {
        let key = outputs::meta_data_key(org, source);
        let build = config.download_build();
        let mut reports = Vec::new();
        if ci.platform == Platform::Buildkite {
            reports = crate::ci::meta_data::read_all(ci.agent(), &key, build)
                .await
                .context("cannot read the reports in build meta-data")?;
        }
        if reports.is_empty() {
            return Err(Abort(
                ExitStatus::Usage,
                anyhow::anyhow!(
                    "nothing to promote: no `artifacts` were given and there is no build meta-data {key:?} (a publish step to {org}/{source} in this build stores it); give `artifacts` to identify the packages, or check `promote-from` and `download-build`"
                ),
            ));
        }
        // Every publishing job's report, merged; a package listed twice counts once.
        let mut entries: Vec<Entry> = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for (_, earlier) in &reports {
            for e in earlier.packages.iter().filter(|e| e.status.is_ok()) {
                let Some(id) = e.id.clone() else { continue };
                if ids.insert(id) {
                    let mut e = e.clone();
                    e.status = Status::Identical;
                    e.promotions.clear();
                    e.error = None;
                    entries.push(e);
                }
            }
        }
        let keys: Vec<&str> = reports.iter().map(|(k, _)| k.as_str()).collect();
        ci.line(&format!(
            "{} package(s) from the reports in build meta-data {}",
            entries.len(),
            keys.join(", ")
        ));
        return Ok(entries);
    }
    let token = auth
        .token(org, source)
        .await
        .map_err(|e| Abort(ExitStatus::AuthRefused, e.into()))?;
    let mut entries = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let mut entry = publish::new_entry(artifact);
        let wanted = Wanted {
            file_name: &artifact.file_name,
            identity: artifact.predicted.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
            sha256: &artifact.sha256,
        };
        let found = lookup::find(client, &token, org, source, wanted)
            .await
            .map(|found| match found {
                Found::Other(pkg) => Found::Many(vec![pkg]),
                found => found,
            });
        match found {
            Ok(Found::Exact(pkg)) => {
                publish::fill_from_package(&mut entry, &pkg);
                entry.status = Status::Identical;
            }
            Ok(Found::Many(others)) => {
                let theirs: Vec<&str> = others.iter().map(|p| p.sha256().unwrap_or("(none)")).collect();
                entry.status = Status::Failed;
                entry.error = Some(format!(
                    "{} {} in {source:?} has sha256 {}, but the local file's sha256 is {}: it is not the package this file was built as",
                    others[0].name,
                    others[0].version.as_deref().unwrap_or(""),
                    theirs.join(", "),
                    artifact.sha256
                ));
            }
            Ok(_) => {
                entry.status = Status::Failed;
                entry.error = Some(format!(
                    "no package matching {} (name, version and sha256) in {source:?}",
                    artifact.file_name
                ));
            }
            Err(err) => {
                entry.status = Status::Failed;
                entry.auth_refused = err.is_auth();
                entry.error = Some(err.to_string());
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Logs the per-file results in input order, then writes the annotation or summary,
/// outputs, meta-data and the report file. Returns the exit status.
async fn finish(ci: &Arc<Ci>, config: &Config, mut report: Report, timings: &[std::time::Duration]) -> ExitStatus {
    report.tally();
    let t = &report.totals;
    ci.result_group(&format!(
        "package-publisher: {} published, {} identical, {} skipped, {} failed{}",
        report.written(),
        t.identical,
        t.skipped,
        t.failed,
        if report.promote_to.is_empty() {
            String::new()
        } else {
            format!(", {} promoted", t.promoted)
        }
    ));
    for (i, e) in report.packages.iter().enumerate() {
        let timing = timings
            .get(i)
            .map_or_else(String::new, |d| format!(" in {}, {}", duration(*d), rate(e.size, *d)));
        let what = match (&e.name, &e.version) {
            (Some(n), Some(v)) => format!(" → {n} {v}"),
            _ => String::new(),
        };
        let text = format!(
            "{:<10} {} ({}{timing}){what}",
            status_word(e.status),
            e.path,
            size(e.size)
        );
        match e.web_url.as_deref() {
            Some(url) => ci.line_with_link(&text, url, "view package"),
            None => ci.line(&text),
        }
        if let Some(err) = &e.error {
            ci.line(&format!("           {err}"));
        }
        for p in &e.promotions {
            let word = match p.status {
                PromotionStatus::Promoted => "promoted",
                PromotionStatus::Identical => "already in",
                PromotionStatus::Planned => "would copy to",
                PromotionStatus::Skipped => "not copied to",
                PromotionStatus::Failed => "FAILED copy to",
            };
            let text = format!(
                "           {word} {}{}",
                p.registry,
                p.error.as_deref().map_or_else(String::new, |e| format!(": {e}"))
            );
            match p.web_url.as_deref() {
                Some(url) => ci.line_with_link(&text, url, "view"),
                None => ci.line(&text),
            }
        }
    }
    for e in report.packages.iter().filter(|e| e.status == Status::Failed) {
        ci.error(
            &format!("Failed to publish {}", e.path),
            e.error.as_deref().unwrap_or("failed"),
        );
    }
    for e in &report.packages {
        for p in e.promotions.iter().filter(|p| p.status == PromotionStatus::Failed) {
            ci.error(
                &format!("Failed to promote {} to {}", e.path, p.registry),
                p.error.as_deref().unwrap_or("failed"),
            );
        }
    }
    ci.close_group();

    let mut status = report.exit_status();
    for err in outputs::write(ci, config, &report).await {
        ci.error("package-publisher outputs", &format!("{err:#}"));
        status = status.max(ExitStatus::Failed);
    }
    status
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Published => "published",
        Status::Identical => "identical",
        Status::Skipped => "skipped",
        Status::Replaced => "replaced",
        Status::Planned => "planned",
        Status::Failed => "FAILED",
    }
}
