//! Writes a finished run's results where the CI system shows them: the JSON report
//! file; on Buildkite the annotation and the build meta-data a later promote step
//! reads; on GitHub the step summary and the step outputs. The text itself comes from
//! the renderers in `report`.

use std::path::Path;

use anyhow::Context;

use super::{Ci, Platform, Style, buildkite, github};
use crate::config::Config;
use crate::report::{Report, markdown};

/// The prefix of the build meta-data keys holding a registry's reports. Each publishing
/// job adds its job id, so parallel jobs to one registry do not overwrite each other;
/// a promote-only step reads every key with this prefix.
#[must_use]
pub fn meta_data_key(org: &str, registry: &str) -> String {
    format!("package-publisher.{org}.{registry}")
}

/// Writes the report file, annotation or summary, step outputs and meta-data. Each is
/// attempted whatever happened to the others. A failed annotation or summary is a
/// warning; a report file, step outputs or meta-data that could not be written are
/// returned as errors, because later steps depend on them.
pub async fn write(ci: &Ci, config: &Config, report: &Report) -> Vec<anyhow::Error> {
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
            if config.annotate() {
                let body = ci.scrub(&markdown::render(report, buildkite::ANNOTATION_LIMIT - 4096));
                let context = annotation_context(ci, config);
                let priority = if style == Style::Error || style == Style::Warning {
                    8
                } else {
                    3
                };
                if let Err(err) = ci.agent().annotate(&body, style.as_str(), &context, priority).await {
                    ci.warning(&format!("cannot write the annotation: {err:#}"));
                }
            }
            // Promote-only steps read reports; they do not write one of their own.
            if !report.dry_run && !report.packages.is_empty() && config.promote_from().is_none() {
                let mut key = meta_data_key(&report.organization, &report.registry);
                if let Some(job) = ci.var("BUILDKITE_JOB_ID") {
                    key = format!("{key}.{job}");
                }
                if let Err(err) = store_meta_data(ci.agent(), &key, report).await {
                    errors.push(err.context(format!("cannot store the report in build meta-data {key:?}")));
                }
            }
        }
        Platform::GitHub => {
            if config.annotate() {
                if let Some(path) = ci.var("GITHUB_STEP_SUMMARY") {
                    let body = ci.scrub(&markdown::render(report, github::SUMMARY_LIMIT - 4096));
                    if let Err(err) = github::append_summary(Path::new(path), &body) {
                        ci.warning(&format!("{err:#}"));
                    }
                }
            }
            if let Some(path) = ci.var("GITHUB_OUTPUT") {
                let t = &report.totals;
                let packages = packages_output(ci, report);
                let outputs = [
                    ("packages", ci.scrub(&packages)),
                    ("published-count", report.written().to_string()),
                    ("skipped-count", (t.skipped + t.identical).to_string()),
                    ("failed-count", t.failed.to_string()),
                    ("promoted-count", t.promoted.to_string()),
                    (
                        "report-file",
                        config
                            .report_file()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                ];
                if let Err(err) = github::write_outputs(Path::new(path), &outputs) {
                    errors.push(err);
                }
            }
        }
        Platform::Local => {}
    }
    errors
}

/// The `packages` output: every entry, or, when that would not fit GitHub's 1 MB
/// limit on a job's outputs, only each entry's identity and status (the report file
/// keeps everything).
fn packages_output(ci: &Ci, report: &Report) -> String {
    const LIMIT: usize = 900 * 1024;
    let full = serde_json::to_string(&report.packages).unwrap_or_else(|_| "[]".to_owned());
    if full.len() <= LIMIT {
        return full;
    }
    let short: Vec<serde_json::Value> = report
        .packages
        .iter()
        .map(|e| serde_json::json!({"path": e.path, "name": e.name, "version": e.version, "id": e.id, "status": e.status}))
        .collect();
    let short = serde_json::to_string(&short).unwrap_or_else(|_| "[]".to_owned());
    ci.warning(&format!(
        "the `packages` output holds only path, name, version, id and status for each of the {} packages: the full list is over GitHub's output limit (see report-file)",
        report.packages.len()
    ));
    if short.len() <= LIMIT { short } else { "[]".to_owned() }
}

/// Stores the report as meta-data, dropping links, errors and promotions when the
/// whole report would pass the 100 KB value limit.
async fn store_meta_data(agent: buildkite::Agent, key: &str, report: &Report) -> anyhow::Result<()> {
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
    agent.meta_data_set(key, &value).await
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
    context.chars().take(100).collect()
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write the report to {}", path.display()))
}
