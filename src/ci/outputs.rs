//! Writes a finished run's results where the CI system shows them: the JSON report
//! file; on Buildkite the annotation and the build meta-data a later promote step
//! reads; on GitHub the step summary and the step outputs. The text itself comes from
//! the renderers in `report`.

use std::path::Path;

use anyhow::Context;

use super::{Ci, Platform, Style, buildkite, github};
use crate::config::Config;
use crate::report::{Report, markdown};

/// The build meta-data key holding a registry's report.
#[must_use]
pub fn meta_data_key(org: &str, registry: &str) -> String {
    format!("package-publisher.{org}.{registry}")
}

/// The annotation or summary, step outputs, meta-data and report file.
pub async fn write(ci: &Ci, config: &Config, report: &Report) -> anyhow::Result<()> {
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
