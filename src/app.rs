//! The story of one run, in order: parse the command line; for the CI job, load the
//! configuration → fetch artifacts (Buildkite `download`) → discover files → plan them
//! (size, sha256, predicted name and version) → authenticate → check promotion targets
//! → publish → promote → report. Each step is one call into the module that owns it;
//! this file decides only the order and the exit code. The API subcommands for people
//! (`list`, `get`, `copy`, `delete`) are at the end.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::api::Client;
use crate::artifact::Artifact;
use crate::auth::{Auth, AuthError};
use crate::ci::{Ci, Platform, Style, buildkite, github};
use crate::cli::{self, Command};
use crate::config::sources::{RawMap, RawValue};
use crate::config::{self, Config};
use crate::discover::{self, DiscoverError};
use crate::exit::ExitStatus;
use crate::promote::{self, Promoter};
use crate::publish::{self, Publisher};
use crate::report::text::{duration, rate, size};
use crate::report::{Entry, PromotionStatus, Report, Status, markdown};
use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// Runs the program with its arguments and environment; returns the exit status.
pub async fn main(args: Vec<OsString>, vars: Vec<(String, String)>) -> ExitStatus {
    let vars: BTreeMap<String, String> = vars.into_iter().collect();
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
        Some(command) => run_api_command(&vars, command).await,
    }
}

/// A failure that ends the run early, with its exit status.
struct Abort(ExitStatus, anyhow::Error);

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
    match job(&ci, &config).await {
        Ok(status) => status,
        Err(Abort(status, err)) => {
            ci.error("package-publisher", &format!("{err:#}"));
            ci.close_group();
            status
        }
    }
}

async fn job(ci: &Arc<Ci>, config: &Config) -> Result<ExitStatus, Abort> {
    let registry = config.source_registry().to_owned();
    let org = config.organization.clone();
    ci.setup_group(&format!(
        ":package: package-publisher {} → {org}/{registry}",
        env!("CARGO_PKG_VERSION")
    ));
    ci.line(&format!("configuration from {}", config.source));
    if config.dry_run {
        ci.line("dry run: nothing will be uploaded, copied or deleted");
    }
    let root = std::env::current_dir().context("cannot determine the working directory")?;

    // Fetch artifacts from the build (Buildkite `download`).
    for query in &config.download {
        ci.line(&format!("downloading artifacts matching {query:?}"));
        buildkite::artifact_download(query, ".", config.download_build.as_deref())
            .await
            .with_context(|| format!("download {query:?} failed"))?;
    }

    // Discover and plan.
    let promote_only = config.promote_from.is_some();
    let found = if config.artifacts.is_empty() {
        discover::Discovery::default()
    } else {
        ci.group("Finding files");
        let found = discover::discover(&root, "artifacts", &config.artifacts, config.if_no_files_found).map_err(
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
    let bundle = crate::attestation::build(&root, &config.attestations, config.if_no_files_found).map_err(|e| {
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
    let artifacts = plan(&found, config.dry_run || promote_only)
        .await
        .map_err(abort(ExitStatus::Usage))?;

    let mut report = Report::new(&org, &registry, config.dry_run, &config.promote_to);
    let client = Client::new(
        &config.api_url,
        RetryPolicy {
            retries: config.retries,
        },
    )
    .context("cannot build the HTTP client")?;

    if config.dry_run && !promote_only {
        report.packages = artifacts.iter().map(publish::new_entry).collect();
        for e in &mut report.packages {
            e.attestations = bundle.as_ref().map_or(0, |b| b.files.len());
        }
        for dest in &config.promote_to {
            for e in &mut report.packages {
                e.promotions.push(planned_promotion(e, dest));
            }
        }
        return Ok(finish(ci, config, report, &[]).await);
    }

    // Authenticate.
    let auth = Auth::new(Arc::clone(ci), client.clone(), &config.api_token_env, config.oidc)
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

    let promoter = (!config.promote_to.is_empty()).then(|| Promoter {
        client: client.clone(),
        auth: Arc::clone(&auth),
        ci: Arc::clone(ci),
        org: org.clone(),
        source: registry.clone(),
        destinations: config.promote_to.clone(),
    });
    if let Some(p) = &promoter {
        ci.group("Checking promotion targets");
        p.preflight().await?;
    }

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
            if_exists: config.if_exists,
            upload_method: config.upload_method,
            stall: config.stall_timeout,
            concurrency: config.concurrency,
            attestations: bundle.as_ref().map(|b| (Arc::from(b.text.as_str()), b.files.len())),
        };
        for outcome in publisher.publish_all(artifacts).await {
            timings.push(outcome.elapsed);
            report.packages.push(outcome.entry);
        }
    }

    if let Some(p) = &promoter {
        let failed = report.packages.iter().filter(|e| !e.status.is_ok()).count();
        if failed > 0 {
            let reason = format!("not promoted: {failed} package(s) failed to publish, so nothing was promoted");
            ci.line(&reason);
            promote::skip_all(&mut report.packages, &config.promote_to, &reason);
        } else if config.dry_run {
            for dest in &config.promote_to {
                for e in &mut report.packages {
                    e.promotions.push(planned_promotion(e, dest));
                }
            }
        } else {
            ci.group(&format!("Promoting to {}", config.promote_to.join(", ")));
            p.promote_all(&mut report.packages).await;
        }
    }
    Ok(finish(ci, config, report, &timings).await)
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
    let org = &config.organization;
    let source = config.source_registry();
    ci.group(&format!("Finding the packages to promote in {org}/{source}"));
    if artifacts.is_empty() {
        let key = meta_data_key(org, source);
        let stored = if ci.platform == Platform::Buildkite {
            buildkite::meta_data_get(&key, config.download_build.as_deref()).await?
        } else {
            None
        };
        let Some(stored) = stored else {
            return Err(Abort(
                ExitStatus::Usage,
                anyhow::anyhow!(
                    "nothing to promote: no `artifacts` were given and there is no build meta-data {key:?} (a publish step to {org}/{source} in this build stores it); give `artifacts` to identify the packages, or check `promote-from` and `download-build`"
                ),
            ));
        };
        let earlier: Report = serde_json::from_str(&stored)
            .with_context(|| format!("build meta-data {key:?} is not a package-publisher report"))?;
        let mut entries: Vec<Entry> = earlier
            .packages
            .into_iter()
            .filter(|e| e.status.is_ok() && e.id.is_some())
            .collect();
        for e in &mut entries {
            e.status = Status::Identical;
            e.promotions.clear();
            e.error = None;
        }
        ci.line(&format!(
            "{} package(s) from the report in build meta-data {key:?}",
            entries.len()
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
        match publish::find_package(client, &token, org, source, artifact).await {
            Ok(Some(pkg)) if pkg.sha256() == Some(artifact.sha256.as_str()) => {
                publish::fill_from_package(&mut entry, &pkg);
                entry.status = Status::Identical;
            }
            Ok(Some(pkg)) => {
                publish::fill_from_package(&mut entry, &pkg);
                entry.status = Status::Failed;
                entry.error = Some(format!(
                    "{} {} in {source:?} has sha256 {}, but the local file's sha256 is {}: it is not the package this file was built as",
                    pkg.name,
                    pkg.version.as_deref().unwrap_or(""),
                    pkg.sha256().unwrap_or("(none)"),
                    artifact.sha256
                ));
            }
            Ok(None) => {
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

/// The build meta-data key holding a registry's report.
#[must_use]
pub fn meta_data_key(org: &str, registry: &str) -> String {
    format!("package-publisher.{org}.{registry}")
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
        let link = e
            .web_url
            .as_deref()
            .map_or_else(String::new, |u| format!(" {}", ci.link(u, "view package")));
        ci.line(&format!(
            "{:<10} {} ({}{timing}){what}{link}",
            status_word(e.status),
            e.path,
            size(e.size)
        ));
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
            let link = p
                .web_url
                .as_deref()
                .map_or_else(String::new, |u| format!(" {}", ci.link(u, "view")));
            ci.line(&format!(
                "           {word} {}{link}{}",
                p.registry,
                p.error.as_deref().map_or_else(String::new, |e| format!(": {e}"))
            ));
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

    let status = report.exit_status();
    if let Err(err) = write_outputs(ci, config, &report).await {
        ci.warning(&format!("{err:#}"));
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

/// The annotation or summary, step outputs, meta-data and report file.
async fn write_outputs(ci: &Ci, config: &Config, report: &Report) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    if let Some(path) = &config.report_file {
        write_file(path, &json)?;
        ci.line(&format!("report written to {}", path.display()));
    }
    let style = if report.dry_run && report.is_success() {
        Style::Info
    } else if report.is_success() {
        Style::Success
    } else if report.written() + report.totals.identical + report.totals.skipped > 0 {
        Style::Warning
    } else {
        Style::Error
    };
    match ci.platform {
        Platform::Buildkite => {
            if config.annotate {
                let body = ci.scrub(&markdown::render(report, buildkite::ANNOTATION_LIMIT - 4096));
                let context = annotation_context(ci, config);
                let priority = if style == Style::Error || style == Style::Warning {
                    8
                } else {
                    3
                };
                buildkite::annotate(&body, style.as_str(), &context, priority)
                    .await
                    .context("cannot write the annotation")?;
            }
            if !report.dry_run && !report.packages.is_empty() {
                let mut stored = report.clone();
                let mut value = serde_json::to_string(&stored)?;
                if value.len() > buildkite::META_DATA_LIMIT {
                    for e in &mut stored.packages {
                        e.web_url = None;
                        e.error = None;
                        e.promotions.clear();
                    }
                    value = serde_json::to_string(&stored)?;
                }
                buildkite::meta_data_set(&meta_data_key(&report.organization, &report.registry), &value)
                    .await
                    .context("cannot store the report in build meta-data")?;
            }
        }
        Platform::GitHub => {
            if config.annotate {
                if let Some(path) = ci.var("GITHUB_STEP_SUMMARY") {
                    let body = ci.scrub(&markdown::render(report, github::SUMMARY_LIMIT - 4096));
                    github::append_summary(Path::new(path), &body)?;
                }
            }
            if let Some(path) = ci.var("GITHUB_OUTPUT") {
                let t = &report.totals;
                let outputs = [
                    ("packages", ci.scrub(&serde_json::to_string(&report.packages)?)),
                    ("published-count", report.written().to_string()),
                    ("skipped-count", (t.skipped + t.identical).to_string()),
                    ("failed-count", t.failed.to_string()),
                    ("promoted-count", t.promoted.to_string()),
                    (
                        "report-file",
                        config
                            .report_file
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                ];
                github::write_outputs(Path::new(path), &outputs)?;
            }
        }
        Platform::Local => {}
    }
    Ok(())
}

/// The annotation context: the option, or one derived from the registry and the step
/// (and the parallel job index) so parallel jobs do not overwrite each other.
fn annotation_context(ci: &Ci, config: &Config) -> String {
    if let Some(c) = &config.annotation_context {
        return c.clone();
    }
    let mut context = format!("package-publisher-{}-{}", config.organization, config.source_registry());
    if let Some(step) = ci.var("BUILDKITE_STEP_KEY").or_else(|| ci.var("BUILDKITE_STEP_ID")) {
        context.push('-');
        context.push_str(step);
    }
    if let Some(n) = ci.var("BUILDKITE_PARALLEL_JOB") {
        context.push('-');
        context.push_str(n);
    }
    context.chars().take(100).collect()
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write the report to {}", path.display()))
}

/// `list`, `get`, `copy`, `delete`.
async fn run_api_command(vars: &BTreeMap<String, String>, command: Command) -> ExitStatus {
    match api_command(vars, command).await {
        Ok(status) => status,
        Err(Abort(status, err)) => {
            eprintln!("error: {err:#}");
            status
        }
    }
}

struct Session {
    client: Client,
    token: Secret,
    org: String,
}

fn session(vars: &BTreeMap<String, String>, target: &cli::Target) -> Result<Session, Abort> {
    let mut raw = RawMap::new();
    let api_url = target
        .api_url
        .clone()
        .or_else(|| vars.get("PACKAGE_PUBLISHER_API_URL").cloned());
    if let Some(url) = api_url {
        raw.insert("api-url", RawValue::scalar(url, "--api-url"));
    }
    let org = target
        .org
        .clone()
        .or_else(|| vars.get("BUILDKITE_ORGANIZATION_SLUG").cloned())
        .filter(|o| !o.is_empty());
    let Some(org) = org else {
        return Err(Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("option --org is required (or set BUILDKITE_ORGANIZATION_SLUG)"),
        ));
    };
    raw.insert("organization", RawValue::scalar(org, "--org"));
    raw.insert("registry", RawValue::scalar("unused", "--registry"));
    raw.insert("artifacts", RawValue::scalar("unused", "--registry"));
    let config =
        config::load(&BTreeMap::new(), Platform::Local, raw).map_err(|e| Abort(ExitStatus::Usage, e.into()))?;
    let token = vars.get("BUILDKITE_API_TOKEN").map(Secret::new).filter(|t| !t.is_empty()).ok_or_else(|| {
        Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("no API token: set BUILDKITE_API_TOKEN (a token is never taken as a flag, so it stays out of shell history)"),
        )
    })?;
    let client = Client::new(&config.api_url, RetryPolicy { retries: 3 })?;
    Ok(Session {
        client,
        token,
        org: config.organization,
    })
}

fn check_slug(flag: &str, value: &str) -> Result<(), Abort> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("--{flag} {value:?} is not a registry slug (lower-case letters, digits, `-` and `_`)"),
        ))
    }
}

fn api_status(err: &crate::api::ApiError) -> ExitStatus {
    if err.is_auth() {
        ExitStatus::AuthRefused
    } else {
        ExitStatus::Failed
    }
}

async fn api_command(vars: &BTreeMap<String, String>, command: Command) -> Result<ExitStatus, Abort> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::List(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            let packages = s
                .client
                .list(&s.org, &args.registry, &s.token, args.name.as_deref(), args.limit)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&packages)?)?;
            } else {
                let rows: Vec<[String; 5]> = packages
                    .iter()
                    .map(|p| {
                        [
                            p.name.clone(),
                            p.version.clone().unwrap_or_default(),
                            p.created_at.clone().unwrap_or_default(),
                            p.id.clone(),
                            p.web_url.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                write!(out, "{}", table(&["NAME", "VERSION", "CREATED", "ID", "URL"], &rows))?;
                writeln!(out, "{} package(s) in {}/{}", packages.len(), s.org, args.registry)?;
            }
        }
        Command::Get(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            let p = s
                .client
                .get(&s.org, &args.registry, &s.token, &args.id)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            print_package(&mut out, &p, args.json)?;
        }
        Command::Copy(args) => {
            check_slug("registry", &args.registry)?;
            check_slug("to", &args.to)?;
            if args.registry == args.to {
                return Err(Abort(
                    ExitStatus::Usage,
                    anyhow::anyhow!("--to {:?} is the source registry; copy into a different one", args.to),
                ));
            }
            let s = session(vars, &args.target)?;
            let p = s
                .client
                .copy(&s.org, &args.registry, &s.token, &args.id, &args.to)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            print_package(&mut out, &p, args.json)?;
        }
        Command::Delete(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            if !args.yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Abort(
                        ExitStatus::Usage,
                        anyhow::anyhow!(
                            "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
                        ),
                    ));
                }
                let p = s
                    .client
                    .get(&s.org, &args.registry, &s.token, &args.id)
                    .await
                    .map_err(|e| Abort(api_status(&e), e.into()))?;
                write!(
                    out,
                    "Delete {} {} ({}) from {}/{}? [y/N] ",
                    p.name,
                    p.version.as_deref().unwrap_or(""),
                    p.id,
                    s.org,
                    args.registry
                )?;
                out.flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
                    writeln!(out, "not deleted")?;
                    return Ok(ExitStatus::Failed);
                }
            }
            s.client
                .delete(&s.org, &args.registry, &s.token, &args.id)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            if args.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"deleted": args.id, "registry": args.registry, "organization": s.org})
                )?;
            } else {
                writeln!(out, "deleted {} from {}/{}", args.id, s.org, args.registry)?;
            }
        }
        Command::Publish(_) | Command::Promote(_) => unreachable!("handled by run_job"),
    }
    Ok(ExitStatus::Success)
}

fn print_package(out: &mut impl Write, p: &crate::api::model::Package, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(p)?)?;
        return Ok(());
    }
    let rows = [
        ["name".to_owned(), p.name.clone()],
        ["version".to_owned(), p.version.clone().unwrap_or_default()],
        ["id".to_owned(), p.id.clone()],
        ["sha256".to_owned(), p.sha256().unwrap_or_default().to_owned()],
        ["created".to_owned(), p.created_at.clone().unwrap_or_default()],
        [
            "registry".to_owned(),
            p.registry.as_ref().map(|r| r.slug.clone()).unwrap_or_default(),
        ],
        ["url".to_owned(), p.web_url.clone().unwrap_or_default()],
    ];
    for [k, v] in rows.iter().filter(|[_, v]| !v.is_empty()) {
        writeln!(out, "{k:<9} {v}")?;
    }
    Ok(())
}

/// An aligned text table.
fn table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
