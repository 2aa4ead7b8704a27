//! The story of one run, as a list of step calls. [`main`] parses the command line and
//! hands the API subcommands to [`crate::commands`]; the CI job (also run by `publish`
//! and `promote`) loads its configuration, then `job` goes: announce → fetch
//! artifacts (Buildkite `download`) → find files → attestations → plan them (size,
//! sha256, identity read from each package) → authenticate → check the registry
//! (credentials, ecosystem) → check promotion targets → publish (a dry run classifies
//! each file instead; a promote-only step finds its packages) → promote → report. Each
//! step is a short function here calling the module that owns the work; this file
//! decides only the order and the exit code.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::Client;
use crate::artifact::Artifact;
use crate::attestation::{AttestationError, Bundle};
use crate::auth::{Auth, AuthError};
use crate::ci::Ci;
use crate::cli::{self, Command};
use crate::commands;
use crate::config::{self, CommandLine, Config, ConfigError, IfNoFilesFound, Mode, Opt, Platform};
use crate::discover::{self, DiscoverError};
use crate::exit::{Abort, ExitStatus, abort};
use crate::promote::{self, Promoter};
use crate::publish::{self, Publisher};
use crate::registry;
use crate::report::{Entry, Report};
use crate::retry::RetryPolicy;
use crate::summary;

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
        None => run_job(&vars, None).await,
        Some(Command::Publish(args)) => run_job(&vars, Some(args.command_line())).await,
        Some(Command::Promote(args)) => run_job(&vars, Some(args.command_line())).await,
        Some(Command::List(args)) => commands::finish(commands::list(&vars, args).await),
        Some(Command::Get(args)) => commands::finish(commands::get(&vars, args).await),
        Some(Command::Copy(args)) => commands::finish(commands::copy(&vars, args).await),
        Some(Command::Delete(args)) => commands::finish(commands::delete(&vars, args).await),
    }
}

/// The CI job: configuration from the environment (and flags, for `publish` and
/// `promote`), then publish and promote, then report.
async fn run_job(vars: &BTreeMap<String, String>, command_line: Option<CommandLine>) -> ExitStatus {
    let platform = Platform::detect(vars);
    let ci = Arc::new(Ci::new(platform, vars.clone()));
    let bare = command_line.is_none();
    let config_platform = if bare { platform } else { Platform::Local };
    let config = match config::load(vars, config_platform, command_line) {
        Ok(config) => config,
        Err(err) => return config_error(&ci, &err, bare),
    };
    let cancel = {
        let ci = Arc::clone(&ci);
        crate::cancel::on_signals(move |signal| {
            ci.line(&format!(
                "{signal} received: starting nothing new, giving uploads in flight up to {} s, then reporting",
                publish::CANCEL_GRACE.as_secs()
            ));
            // The agent kills the job about 10 s after its signal: each agent call
            // from now on (meta-data, annotation) must fit in what is left.
            ci.set_agent_timeout(AGENT_TIMEOUT_AFTER_CANCEL);
        })
    };
    ci.set_agent_timeout(config.stall_timeout());
    match job(&ci, &config, &cancel).await {
        Ok(status) => status,
        Err(failure) => summary::aborted(&ci, &config, failure).await,
    }
}

/// The time limit of each `buildkite-agent` call after a cancellation.
const AGENT_TIMEOUT_AFTER_CANCEL: Duration = Duration::from_secs(2);

/// Reports a configuration error (exit 2). Someone who typed the bare command on a
/// machine that is no CI gets pointed at the subcommands.
fn config_error(ci: &Ci, err: &ConfigError, bare: bool) -> ExitStatus {
    ci.error("package-publisher configuration", &err.to_string());
    if bare && ci.platform == Platform::Local && matches!(err, ConfigError::Missing { .. }) {
        ci.line(
            "tip: without a subcommand, package-publisher runs the CI job configured by \
             PACKAGE_PUBLISHER_* variables; from a terminal use a subcommand, such as \
             `package-publisher publish --registry ORG/REGISTRY 'dist/*.deb'`, \
             and see `package-publisher --help` for all of them",
        );
    }
    ExitStatus::Usage
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

/// Runs a step that changes nothing in a registry; a cancellation ends it at once
/// (subprocesses it started are killed when it is dropped).
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    step: &str,
    work: impl std::future::Future<Output = Result<T, Abort>>,
) -> Result<T, Abort> {
    tokio::select! {
        result = work => result,
        () = cancel.cancelled() => Err(Abort(
            ExitStatus::Failed,
            anyhow::anyhow!("cancelled during {step}; nothing was published"),
        )),
    }
}

/// The steps of the job, in order.
async fn job(ci: &Arc<Ci>, config: &Config, cancel: &CancellationToken) -> Result<ExitStatus, Abort> {
    announce(ci, config);
    let root = std::env::current_dir().context("cannot determine the working directory")?;
    unless_cancelled(cancel, "the download", download(ci, config)).await?;
    let found = find_files(ci, config, &root)?;
    let bundle = attestations(ci, config, &root)?;
    let promote_only = config.is_promote_only();
    let planning = async {
        plan(&found, config.dry_run() || promote_only)
            .await
            .map_err(abort(ExitStatus::Usage))
    };
    let artifacts = unless_cancelled(cancel, "planning", planning).await?;
    let client = client(config)?;
    client.cancel_with(cancel.clone());
    check_cancelled(cancel, "anything was sent")?;
    let auth = unless_cancelled(cancel, "authentication", authenticate(ci, config, &client)).await?;
    let checking = registry::prepare(ci, config, &client, &auth, artifacts);
    let artifacts = unless_cancelled(cancel, "the registry check", checking).await?;
    registry::warn_about_names(ci, &artifacts);
    let promoter = unless_cancelled(
        cancel,
        "the promotion check",
        check_promotion(ci, config, &client, &auth, &artifacts),
    )
    .await?;
    check_cancelled(cancel, "the first upload")?;
    let mut report = new_report(config);
    let mut timings = Vec::new();
    match config.mode() {
        Mode::PromoteOnly { .. } => {
            let sources = promote::sources::find(ci, config, &client, &auth, &artifacts);
            report.packages = unless_cancelled(cancel, "the search for the packages to promote", sources).await?;
        }
        Mode::Publish { .. } => {
            let publisher = publisher(ci, config, &client, &auth, bundle.as_ref(), cancel);
            (report.packages, timings) = publish(ci, config, &publisher, artifacts).await;
        }
    }
    if let Some(p) = &promoter {
        promote(ci, config, p, &mut report.packages, cancel).await;
    }
    Ok(summary::finish(ci, config, report, &timings).await)
}

fn new_report(config: &Config) -> Report {
    let mut report = Report::new(
        config.organization(),
        config.source_registry(),
        config.dry_run(),
        config.promote_to(),
    );
    report.promote_only = config.is_promote_only();
    report
}

/// The setup group: version, target, where the configuration came from.
fn announce(ci: &Ci, config: &Config) {
    ci.setup_group(&format!(
        ":package: package-publisher {} → {}/{}",
        crate::VERSION,
        config.organization(),
        config.source_registry()
    ));
    ci.line(&format!("configuration from {}", config.source()));
    if config.dry_run() {
        ci.line("dry run: nothing will be uploaded, copied or deleted");
    }
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
                let sp = config.spelling();
                return Err(Abort(
                    ExitStatus::NoFiles,
                    anyhow::anyhow!(
                        "{message} ({} is `error`: set {} or {} to allow this)",
                        sp.name(Opt::IfNoFilesFound),
                        sp.setting(Opt::IfNoFilesFound, "warn"),
                        sp.setting(Opt::IfNoFilesFound, "ignore")
                    ),
                ));
            }
            IfNoFilesFound::Warn => ci.warning(&message),
            IfNoFilesFound::Ignore => ci.line(&message),
        }
    }
    Ok(())
}

/// Expands `artifacts`, logging what each pattern matched.
fn find_files(ci: &Ci, config: &Config, root: &Path) -> Result<discover::Discovery, Abort> {
    if config.artifacts().is_empty() {
        return Ok(discover::Discovery::default());
    }
    ci.group("Finding files");
    let found = discover::discover(root, Opt::Artifacts, config.artifacts(), config.if_no_files_found())
        .map_err(|e| discovery_failure(config, e))?;
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
    Ok(found)
}

/// Builds the attestation bundle sent with every package.
fn attestations(ci: &Ci, config: &Config, root: &Path) -> Result<Option<Bundle>, Abort> {
    let bundle =
        crate::attestation::build(root, config.attestations(), config.if_no_files_found()).map_err(|e| match e {
            AttestationError::Discover(e) => discovery_failure(config, e),
            AttestationError::File(e) => Abort::usage(e),
        })?;
    if let Some(b) = &bundle {
        ci.line(&format!(
            "attestations: {} file(s) attached to every package: {}",
            b.files.len(),
            b.files.join(", ")
        ));
    }
    Ok(bundle)
}

/// A pattern that matched nothing exits 3, naming the options as the user wrote them;
/// any other discovery failure is a usage error.
fn discovery_failure(config: &Config, err: DiscoverError) -> Abort {
    let DiscoverError::NoMatch {
        option,
        pattern,
        detail,
    } = &err
    else {
        return Abort::usage(err);
    };
    let sp = config.spelling();
    Abort(
        ExitStatus::NoFiles,
        anyhow::anyhow!(
            "{option} pattern {pattern:?} matched no files{detail} (from {}; {} is `error`: set {} or {} to allow this)",
            sp.name(*option),
            sp.name(Opt::IfNoFilesFound),
            sp.setting(Opt::IfNoFilesFound, "warn"),
            sp.setting(Opt::IfNoFilesFound, "ignore")
        ),
    )
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

/// The API client, with the run's retries and time limit.
fn client(config: &Config) -> Result<Client, Abort> {
    let policy = RetryPolicy {
        retries: config.retries(),
    };
    // Only the environment's certificate files and proxies can make this fail, so
    // it is a configuration error.
    let client = Client::new(config.api_url(), policy, config.stall_timeout(), config.network())
        .map_err(|e| Abort::usage(e.context("cannot build the HTTP client")))?;
    Ok(client)
}

/// Chooses the credentials: no credentials at all is a usage error (exit 2); a
/// provider that refuses is exit 4.
async fn authenticate(ci: &Arc<Ci>, config: &Config, client: &Client) -> Result<Arc<Auth>, Abort> {
    let auth = Auth::new(
        Arc::clone(ci),
        client.clone(),
        config.api_token_env(),
        config.oidc(),
        config.spelling(),
    )
    .await
    .map_err(|e| {
        let status = match e {
            AuthError::NoCredentials(_) => ExitStatus::Usage,
            _ => ExitStatus::AuthRefused,
        };
        Abort(status, e.into())
    })?;
    if auth.is_oidc() {
        ci.line("authenticating with OIDC tokens, one per registry");
    }
    Ok(Arc::new(auth))
}

/// With `promote-to`, the promoter, after checking every registry involved can take
/// copies (before anything is uploaded).
async fn check_promotion(
    ci: &Arc<Ci>,
    config: &Config,
    client: &Client,
    auth: &Arc<Auth>,
    artifacts: &[Artifact],
) -> Result<Option<Promoter>, Abort> {
    if config.promote_to().is_empty() {
        return Ok(None);
    }
    promote::refuse_uncopyable_files(artifacts, config.promote_to())?;
    let promoter = Promoter {
        client: client.clone(),
        auth: Arc::clone(auth),
        ci: Arc::clone(ci),
        org: config.organization().to_owned(),
        source: config.source_registry().to_owned(),
        destinations: config.promote_to().to_vec(),
        spelling: config.spelling(),
        promote_only: config.is_promote_only(),
        concurrency: config.concurrency(),
        settle: config.settle_timeout(),
    };
    ci.group("Checking promotion targets");
    promoter.preflight().await?;
    Ok(Some(promoter))
}

/// The publisher of the run's files.
fn publisher(
    ci: &Arc<Ci>,
    config: &Config,
    client: &Client,
    auth: &Arc<Auth>,
    bundle: Option<&Bundle>,
    cancel: &CancellationToken,
) -> Publisher {
    Publisher {
        client: client.clone(),
        auth: Arc::clone(auth),
        ci: Arc::clone(ci),
        org: config.organization().to_owned(),
        registry: config.source_registry().to_owned(),
        if_exists: config.if_exists(),
        upload_method: config.upload_method(),
        stall: config.stall_timeout(),
        settle: config.settle_timeout(),
        concurrency: config.concurrency(),
        attestations: bundle.map(|b| (Arc::from(b.text.as_str()), b.files.len())),
        cancel: cancel.clone(),
    }
}

/// Publishes every file (a dry run looks each one up and says what the real run
/// would do); the entries in input order and each file's time.
async fn publish(
    ci: &Ci,
    config: &Config,
    publisher: &Publisher,
    artifacts: Vec<Artifact>,
) -> (Vec<Entry>, Vec<Duration>) {
    let (org, registry) = (config.organization(), config.source_registry());
    if config.dry_run() {
        ci.group(&format!(
            "Checking {} file(s) against {org}/{registry}",
            artifacts.len()
        ));
        return (publisher.classify_all(artifacts).await, Vec::new());
    }
    ci.group(&format!("Publishing {} file(s) to {org}/{registry}", artifacts.len()));
    let mut entries = Vec::new();
    let mut timings = Vec::new();
    for outcome in publisher.publish_all(artifacts).await {
        timings.push(outcome.elapsed);
        entries.push(outcome.entry);
    }
    (entries, timings)
}

/// Promotes only when every publish succeeded and the run was not cancelled;
/// otherwise every promotion is recorded as skipped, with the reason.
async fn promote(ci: &Ci, config: &Config, promoter: &Promoter, entries: &mut [Entry], cancel: &CancellationToken) {
    if let Some(reason) = promote::held_back(entries, cancel.is_cancelled()) {
        ci.line(&reason);
        promote::skip_all(entries, config.promote_to(), &reason);
    } else if config.dry_run() {
        promote::plan_all(entries, config.promote_to());
    } else {
        ci.group(&format!("Promoting to {}", config.promote_to().join(", ")));
        promoter.promote_all(entries, cancel).await;
    }
}
