//! Writes a finished run's results where the CI system shows them: the JSON report
//! file; on Buildkite the annotation and the build meta-data a later promote step
//! reads; on GitHub the step summary and the step outputs. The text itself comes from
//! the renderers in `report`.

use std::path::Path;

use anyhow::Context;

use super::{Ci, Platform, Style, buildkite, github, meta_data};
use crate::config::Config;
use crate::exit::ExitStatus;
use crate::report::{Report, markdown};

/// The prefix of the build meta-data keys holding a registry's reports. Each publishing
/// job adds its job id, so parallel jobs to one registry do not overwrite each other;
/// a promote-only step reads every key with this prefix.
#[must_use]
pub(crate) fn meta_data_key(org: &str, registry: &str) -> String {
    format!("package-publisher.{org}.{registry}")
}

/// Writes the report file, annotation or summary, step outputs and meta-data. Each is
/// attempted whatever happened to the others. A failed annotation or summary is a
/// warning; a report file, step outputs or meta-data that could not be written are
/// returned as errors, because later steps depend on them.
pub(crate) async fn write(ci: &Ci, config: &Config, report: &Report) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    if let Some(path) = &config.report_file() {
        match serde_json::to_string_pretty(report)
            .map_err(anyhow::Error::from)
            .and_then(|json| write_file(path, &json))
        {
            Ok(()) => ci.line(&format!("report written to {}", path.display())),
            Err(err) => errors.push(err),
        }
    }
    let result = match ci.platform {
        Platform::Buildkite => write_buildkite(ci, config, report).await,
        Platform::GitHub => write_github(ci, config, report),
        Platform::Local => Ok(()),
    };
    errors.extend(result.err());
    errors
}

/// The annotation's style follows the step's outcome: a step that fails is an error,
/// however much of it succeeded; one that could not confirm an upload (exit 5) a
/// warning.
fn style(report: &Report) -> Style {
    match report.exit_status() {
        ExitStatus::Success if report.dry_run => Style::Info,
        ExitStatus::Success => Style::Success,
        ExitStatus::Unverified => Style::Warning,
        _ => Style::Error,
    }
}

/// The annotation (a failure is only a warning) and the meta-data a promote step reads.
async fn write_buildkite(ci: &Ci, config: &Config, report: &Report) -> anyhow::Result<()> {
    // Meta-data first: a later promote-only step depends on it, and a slow or failed
    // annotation must not cost it.
    let stored = store_meta_data(ci, config, report).await;
    if config.annotate() {
        let style = style(report);
        let body = ci.scrub(&markdown::render(report, buildkite::ANNOTATION_LIMIT - 4096));
        let context = annotation_context(ci, config);
        let priority = if matches!(style, Style::Error | Style::Warning) {
            8
        } else {
            3
        };
        match ci.agent().annotate(&body, style.as_str(), &context, priority).await {
            Ok(None) => {}
            Ok(Some(note)) => ci.line(&note),
            Err(err) => ci.warning(&format!("cannot write the annotation: {err:#}")),
        }
    }
    stored
}

/// The JSON report in build meta-data, for a later promote-only step. Dry runs and
/// promote-only steps (which read reports) store none.
async fn store_meta_data(ci: &Ci, config: &Config, report: &Report) -> anyhow::Result<()> {
    if report.dry_run || report.packages.is_empty() || config.is_promote_only() {
        return Ok(());
    }
    let mut key = meta_data_key(&report.organization, &report.registry);
    if let Some(job) = ci.var("BUILDKITE_JOB_ID") {
        key = format!("{key}.{job}");
    }
    meta_data::store(ci.agent(), &key, report)
        .await
        .with_context(|| format!("cannot store the report in build meta-data {key:?}"))
}

/// The step summary (a failure is only a warning) and the step outputs.
fn write_github(ci: &Ci, config: &Config, report: &Report) -> anyhow::Result<()> {
    if let Some(path) = ci.var("GITHUB_STEP_SUMMARY").filter(|_| config.annotate()) {
        let body = ci.scrub(&markdown::render(report, github::SUMMARY_LIMIT - 4096));
        if let Err(err) = github::append_summary(Path::new(path), &body) {
            ci.warning(&format!("{err:#}"));
        }
    }
    let Some(path) = ci.var("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let t = &report.totals;
    let report_file = config
        .report_file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut outputs = vec![
        ("published-count", report.written().to_string()),
        ("skipped-count", (t.skipped + t.identical).to_string()),
        ("failed-count", t.failed.to_string()),
        ("unverified-count", t.unverified.to_string()),
        ("promoted-count", t.promoted.to_string()),
        ("report-file", report_file),
    ];
    // The small outputs first; `packages` gets what is left of the budget (names,
    // delimiters and line breaks included).
    let used: usize = outputs.iter().map(|(k, v)| utf16_bytes(k) + utf16_bytes(v) + 200).sum();
    let packages = ci.scrub(&packages_output(ci, report, OUTPUTS_BUDGET.saturating_sub(used + 200)));
    outputs.insert(0, ("packages", packages));
    github::write_outputs(Path::new(path), &outputs)
}

/// How much of GitHub's 1 MB per job (counted as UTF-16) this step's outputs may
/// take, leaving room for the outputs of the job's other steps.
pub(crate) const OUTPUTS_BUDGET: usize = 768 * 1024;

/// Bytes a text takes as UTF-16, the way GitHub counts output sizes.
#[must_use]
pub(crate) fn utf16_bytes(text: &str) -> usize {
    text.encode_utf16().count() * 2
}

/// The `packages` output within `budget` UTF-16 bytes: every entry; or, when that
/// does not fit, each entry's identity and status; or, when even that does not fit, an
/// empty list. A warning says which (the report file always has everything).
fn packages_output(ci: &Ci, report: &Report, budget: usize) -> String {
    let full = serde_json::to_string(&report.packages).unwrap_or_else(|_| "[]".to_owned());
    if utf16_bytes(&full) <= budget {
        return full;
    }
    let short: Vec<serde_json::Value> = report
        .packages
        .iter()
        .map(|e| serde_json::json!({"path": e.path, "name": e.name, "version": e.version, "id": e.id, "status": e.status}))
        .collect();
    let short = serde_json::to_string(&short).unwrap_or_else(|_| "[]".to_owned());
    let n = report.packages.len();
    if utf16_bytes(&short) <= budget {
        ci.warning(&format!(
            "the `packages` output holds only path, name, version, id and status for each of the {n} packages: the full list is over GitHub's 1 MB output limit (the report file has everything)"
        ));
        return short;
    }
    ci.warning(&format!(
        "the `packages` output is an empty list: even the short form of the {n} packages is over GitHub's 1 MB output limit; use `report-file` (its path is the `report-file` output)"
    ));
    "[]".to_owned()
}

/// The annotation context: the option, or one derived from the registry and the step
/// (and the parallel job index) so parallel jobs do not overwrite each other.
fn annotation_context(ci: &Ci, config: &Config) -> String {
    if let Some(c) = config.annotation_context() {
        return c.to_owned();
    }
    let mut context = format!(
        "package-publisher-{}-{}",
        config.organization(),
        config.source_registry()
    );
    if let Some(step) = ci.var("BUILDKITE_STEP_KEY").or_else(|| ci.var("BUILDKITE_STEP_ID")) {
        context.push('-');
        context.push_str(step);
    }
    if let Some(n) = ci.var("BUILDKITE_PARALLEL_JOB") {
        context.push('-');
        context.push_str(n);
    }
    fit_context(&context)
}

/// The longest annotation context used. A longer one keeps its start and its end (the
/// parallel job's index) and puts a digest of the whole in between, so two jobs never
/// share a context.
const CONTEXT_LIMIT: usize = 100;

fn fit_context(context: &str) -> String {
    if context.chars().count() <= CONTEXT_LIMIT {
        return context.to_owned();
    }
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(context.as_bytes()));
    let tail: String = {
        let rev: Vec<char> = context.chars().rev().take(20).collect();
        rev.into_iter().rev().collect()
    };
    let head: String = context.chars().take(CONTEXT_LIMIT - 20 - 12 - 2).collect();
    format!("{head}-{}-{tail}", &digest[..12])
}

/// Writes the report file without ever following a symlink out of where it belongs:
/// a relative path's folder must resolve inside the working directory (a symlinked
/// folder planted in the checkout is refused), and the file is written under a fresh
/// name beside it and renamed into place, so a symlink at the path itself is
/// replaced, never written through.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    if path.is_relative() {
        let root = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .context("cannot resolve the working directory")?;
        let real = parent
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", parent.display()))?;
        if !real.starts_with(&root) {
            anyhow::bail!(
                "refusing to write the report to {}: its folder resolves to {}, outside the working directory (a symlink?)",
                path.display(),
                real.display()
            );
        }
    }
    let name = path
        .file_name()
        .with_context(|| format!("the report file {} names no file", path.display()))?;
    let fresh = parent.join(format!(
        ".{}.{}-{:016x}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        github::random_u64()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&fresh)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&fresh, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&fresh);
    }
    written.with_context(|| format!("cannot write the report to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_contexts_stay_unique_and_keep_their_end() {
        let base = format!("package-publisher-acme-debs-{}", "k".repeat(120));
        let a = fit_context(&format!("{base}-0"));
        let b = fit_context(&format!("{base}-1"));
        assert_ne!(a, b);
        assert!(a.chars().count() <= CONTEXT_LIMIT && a.ends_with("-0"), "{a}");
        assert_eq!(fit_context("short-1"), "short-1");
    }

    #[test]
    fn utf16_counts_the_way_github_does() {
        assert_eq!(utf16_bytes("ab"), 4);
        assert_eq!(utf16_bytes("😀"), 4);
        assert_eq!(utf16_bytes("é"), 2);
    }
}
