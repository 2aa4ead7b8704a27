//! The end of a run in the log and the outputs: the totals line (with the planned count
//! in a dry run), one line per file in input order with its promotions, and for each
//! failure the CI's error line (an annotation on GitHub, an error line on Buildkite; a
//! terminal already has it on the file's own line, so it is said once); then the
//! report file, annotation or summary, meta-data and step outputs. A run that stopped
//! early ([`aborted`]) still writes its outputs, saying why.

use std::time::Duration;

use crate::ci::{Ci, Platform, outputs};
use crate::config::Config;
use crate::exit::{Abort, ExitStatus};
use crate::report::text::{file_timing, size};
use crate::report::{Entry, PromotionStatus, Report, Status};

/// Logs the per-file results in input order, then writes the annotation or summary,
/// outputs, meta-data and the report file. Returns the exit status.
pub(crate) async fn finish(ci: &Ci, config: &Config, mut report: Report, timings: &[Duration]) -> ExitStatus {
    report.tally();
    ci.result_group(&totals(&report));
    for (i, e) in report.packages.iter().enumerate() {
        log_entry(ci, e, timings.get(i));
    }
    if ci.platform != Platform::Local {
        flag_failures(ci, &report);
    }
    ci.close_group();

    let mut status = report.exit_status();
    for err in outputs::write(ci, config, &report).await {
        ci.error("package-publisher outputs", &format!("{err:#}"));
        status = status.max(ExitStatus::Failed);
    }
    status
}

/// A run that stopped before any file was done: the error, and the annotation or
/// summary, the step outputs and the report file still say so.
pub(crate) async fn aborted(ci: &Ci, config: &Config, Abort(status, err): Abort) -> ExitStatus {
    let message = format!("{err:#}");
    ci.error("package-publisher", &message);
    ci.close_group();
    let mut report = Report::new(
        config.organization(),
        config.source_registry(),
        config.dry_run(),
        config.promote_to(),
    );
    report.promote_only = config.is_promote_only();
    report.error = Some(ci.scrub(&message));
    report.tally();
    for err in outputs::write(ci, config, &report).await {
        ci.warning(&format!("{err:#}"));
    }
    status
}

/// `package-publisher: 2 published, 0 identical, 0 skipped, 0 failed, 2 promoted`; in
/// a dry run the planned counts lead; a promote-only step counts promotions only.
fn totals(report: &Report) -> String {
    let t = &report.totals;
    let planned = report
        .packages
        .iter()
        .flat_map(|e| &e.promotions)
        .filter(|p| p.status == PromotionStatus::Planned)
        .count();
    if report.promote_only {
        let title = if report.dry_run {
            "package-publisher (promote-only, dry run)"
        } else {
            "package-publisher (promote-only)"
        };
        let first = if report.dry_run {
            format!("{planned} promotion(s) planned")
        } else {
            format!("{} promoted", t.promoted)
        };
        let unverified = if t.promotion_unverified > 0 {
            format!(", {} unverified", t.promotion_unverified)
        } else {
            String::new()
        };
        return format!(
            "{title}: {first}, {} failed, {} skipped{unverified}, {} not found in {}",
            t.promotion_failed, t.promotion_skipped, t.failed, report.registry
        );
    }
    let (title, first) = if report.dry_run {
        ("package-publisher (dry run)", format!("{} planned", t.planned))
    } else {
        ("package-publisher", format!("{} published", report.written()))
    };
    let mut line = format!(
        "{title}: {first}, {} identical, {} skipped, {} failed",
        t.identical, t.skipped, t.failed
    );
    if t.unverified > 0 {
        line.push_str(&format!(", {} unverified", t.unverified));
    }
    if !report.promote_to.is_empty() {
        if report.dry_run {
            line.push_str(&format!(", {planned} promotion(s) planned"));
        } else {
            line.push_str(&format!(", {} promoted", t.promoted));
            if t.promotion_skipped > 0 {
                line.push_str(&format!(", {} promotion(s) skipped", t.promotion_skipped));
            }
            if t.promotion_unverified > 0 {
                line.push_str(&format!(", {} promotion(s) unverified", t.promotion_unverified));
            }
        }
    }
    line
}

/// One file's line, its error, and a line per promotion.
fn log_entry(ci: &Ci, e: &Entry, timing: Option<&Duration>) {
    let timing = timing.map_or_else(|| size(e.size), |d| file_timing(e.status, e.size, *d));
    let what = match (&e.name, &e.version) {
        (Some(n), Some(v)) => format!(" → {n} {v}"),
        _ => String::new(),
    };
    let text = format!("{:<10} {} ({timing}){what}", status_word(e.status), e.path);
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
            PromotionStatus::Unverified => "UNVERIFIED copy to",
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

/// The CI's error line for every failed publish and promotion, and a warning for
/// every one that could not be confirmed.
fn flag_failures(ci: &Ci, report: &Report) {
    for e in report.packages.iter().filter(|e| e.status == Status::Unverified) {
        ci.warning(&format!(
            "Could not confirm {}: {}",
            e.path,
            e.error.as_deref().unwrap_or("unverified")
        ));
    }
    for e in &report.packages {
        for p in e.promotions.iter().filter(|p| p.status == PromotionStatus::Unverified) {
            ci.warning(&format!(
                "Could not confirm the copy of {} to {}: {}",
                e.path,
                p.registry,
                p.error.as_deref().unwrap_or("unverified")
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
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Published => "published",
        Status::Identical => "identical",
        Status::Skipped => "skipped",
        Status::Replaced => "replaced",
        Status::Planned => "planned",
        Status::Failed => "FAILED",
        Status::Invalid => "INVALID",
        Status::Unverified => "UNVERIFIED",
    }
}
