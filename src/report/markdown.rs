//! Renders a [`Report`] as GitHub-flavoured Markdown: the Buildkite annotation and the
//! GitHub job summary are the same text, made to be read at a glance. Its first line
//! is one sentence with the outcome (what was published or promoted, what failed, or
//! why nothing was promoted, said once); then the counts; then a compact table (file,
//! package linked to the registry, a short status, and each promotion's short status);
//! then every error once, with the files it concerns, folded into a `<details>` block
//! when there are many. A promote-only step speaks of promoting, never of publishing.
//! Everything that came from a file name or the server is escaped so it renders inert
//! (no Markdown, HTML or links of its own). When the full text would exceed the
//! platform's 1 MiB limit, [`render`] drops the table, then shortens the error lists.

use std::fmt::Write;

use super::text::{code_point, is_invisible_format, size};
use super::{Entry, PromotionStatus, Report, Status};

/// More distinct errors than this are folded into a `<details>` block.
const OPEN_ERRORS: usize = 3;
/// Files listed under one error in the short form.
const SHORT_FILES: usize = 20;

/// Renders the report within `limit` bytes: the full text if it fits, else without
/// the table, else the outcome and counts alone.
#[must_use]
pub(crate) fn render(report: &Report, limit: usize) -> String {
    let full = format!("{}{}{}", heading(report), table(report), errors(report, usize::MAX));
    if full.len() <= limit {
        return full;
    }
    let short = format!(
        "{}\nThe table is too large for this summary; every file is in the JSON report (`report-file`, or the build meta-data on Buildkite).\n{}",
        heading(report),
        errors(report, SHORT_FILES)
    );
    if short.len() <= limit {
        return short;
    }
    heading(report)
}

/// The outcome sentence and the counts.
fn heading(report: &Report) -> String {
    let mut out = format!("#### {}\n\n", outcome(report));
    let _ = writeln!(out, "{}", counts(report));
    if let Some(error) = &report.error {
        let _ = writeln!(out, "\n**Error:** {}", escape(error));
    }
    out
}

/// `` `org/slug` ``, escaped.
fn target(report: &Report, registry: &str) -> String {
    format!("`{}/{}`", escape(&report.organization), escape(registry))
}

fn destinations(report: &Report) -> String {
    let all: Vec<String> = report.promote_to.iter().map(|d| target(report, d)).collect();
    all.join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One sentence that says how the step ended.
fn outcome(report: &Report) -> String {
    if report.promote_only {
        promote_outcome(report)
    } else {
        publish_outcome(report)
    }
}

fn promote_outcome(report: &Report) -> String {
    let t = &report.totals;
    let (from, to) = (target(report, &report.registry), destinations(report));
    let attempted = t.promoted + t.promotion_failed;
    if report.error.is_some() && attempted == 0 {
        return format!("❌ Nothing was promoted from {from} to {to}");
    }
    if report.dry_run {
        let planned = planned_promotions(report);
        return format!(
            "📝 Dry run: {} from {from} to {to} would be made",
            plural(planned, "promotion", "promotions")
        );
    }
    let not_done = t.promotion_failed + t.promotion_skipped;
    if not_done > 0 || t.failed > 0 {
        let total = t.promoted + not_done;
        let mut sentence = format!(
            "❌ {not_done} of {} from {from} to {to} did not succeed",
            plural(total, "promotion", "promotions")
        );
        if t.failed > 0 {
            let _ = write!(
                sentence,
                "; {} not found in {from}",
                plural(t.failed, "file was", "files were")
            );
        }
        return sentence;
    }
    if t.promotion_unverified > 0 {
        return format!(
            "⚠️ Promoted {} from {from} to {to}; {} could not be confirmed",
            plural(t.promoted, "package", "packages"),
            plural(t.promotion_unverified, "copy", "copies")
        );
    }
    format!(
        "✅ Promoted {} from {from} to {to}",
        plural(t.promoted, "package", "packages")
    )
}

fn publish_outcome(report: &Report) -> String {
    let t = &report.totals;
    let to = target(report, &report.registry);
    if report.dry_run {
        return dry_run_outcome(report, &to);
    }
    if report.error.is_some() && t.files == 0 {
        return format!("❌ Nothing was published to {to}");
    }
    let promoted = if report.promote_to.is_empty() {
        ""
    } else {
        "; nothing was promoted"
    };
    if t.failed > 0 {
        return format!(
            "❌ {} of {} to {to} failed{promoted}",
            t.failed,
            plural(t.files, "file", "files")
        );
    }
    if t.unverified > 0 {
        return format!(
            "⚠️ {} to {to} may have landed but could not be confirmed{promoted}",
            plural(t.unverified, "upload", "uploads")
        );
    }
    let mut sentence = format!("Published {} to {to}", plural(report.written(), "package", "packages"));
    let already = t.identical + t.skipped;
    if already > 0 {
        let _ = write!(sentence, " ({already} already there)");
    }
    if report.promote_to.is_empty() {
        return format!("✅ {sentence}");
    }
    promoted_outcome(report, &sentence)
}

/// A dry run's sentence: what the real run would do.
fn dry_run_outcome(report: &Report, to: &str) -> String {
    let t = &report.totals;
    let verdict = if t.failed > 0 { "❌ Dry run" } else { "📝 Dry run" };
    let parts: Vec<String> = [
        (t.planned, "would be published"),
        (t.identical, "already there"),
        (t.skipped, "would be skipped"),
        (t.failed, "would fail"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, label)| format!("{n} {label}"))
    .collect();
    let said = if parts.is_empty() {
        "no files".to_owned()
    } else {
        parts.join(", ")
    };
    format!("{verdict} for {to}: {said}")
}

/// The sentence of a run that published everything and then promoted.
fn promoted_outcome(report: &Report, published: &str) -> String {
    let t = &report.totals;
    if t.promotion_failed + t.promotion_skipped > 0 {
        return format!(
            "❌ {published}, but {} to {} did not succeed",
            plural(t.promotion_failed + t.promotion_skipped, "promotion", "promotions"),
            destinations(report)
        );
    }
    if t.promotion_unverified > 0 {
        return format!(
            "⚠️ {published}, but {} to {} could not be confirmed",
            plural(t.promotion_unverified, "copy", "copies"),
            destinations(report)
        );
    }
    format!("✅ {published} and promoted them to {}", destinations(report))
}

fn planned_promotions(report: &Report) -> usize {
    report
        .packages
        .iter()
        .flat_map(|e| &e.promotions)
        .filter(|p| p.status == PromotionStatus::Planned)
        .count()
}

/// `**3** published · **1** failed · 5 files, 12 KiB`.
fn counts(report: &Report) -> String {
    let t = &report.totals;
    let mut rows: Vec<(usize, &str)> = Vec::new();
    if !report.promote_only {
        rows.extend([
            (t.published, "published"),
            (t.replaced, "replaced"),
            (t.identical, "identical"),
            (t.skipped, "skipped"),
            (t.planned, "planned"),
        ]);
    }
    rows.extend([
        (t.failed - t.invalid, "failed"),
        (t.invalid, "invalid"),
        (t.unverified, "unverified"),
        (t.promoted, "promoted"),
    ]);
    let promotions = [
        (t.promotion_failed, "failed"),
        (t.promotion_skipped, "skipped"),
        (t.promotion_unverified, "unverified"),
        (
            if report.promote_only && report.dry_run {
                planned_promotions(report)
            } else {
                0
            },
            "planned",
        ),
    ];
    let promotion_rows: Vec<(usize, String)> = promotions
        .into_iter()
        .map(|(n, what)| (n, format!("{} {what}", if n == 1 { "promotion" } else { "promotions" })))
        .collect();
    let mut parts: Vec<String> = rows
        .into_iter()
        .map(|(n, label)| (n, label.to_owned()))
        .chain(promotion_rows)
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("**{n}** {label}"))
        .collect();
    if parts.is_empty() {
        parts.push("no packages".to_owned());
    }
    format!(
        "{} ({}, {})",
        parts.join(" · "),
        plural(t.files, "file", "files"),
        size(t.bytes)
    )
}

/// The distinct errors in order of first appearance, each with its files. A
/// promotion skipped for a reason the outcome already gives is not repeated.
fn error_groups(report: &Report) -> Vec<(String, Vec<&str>)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for e in &report.packages {
        let mut messages: Vec<String> = Vec::new();
        if let Some(err) = &e.error {
            messages.push(err.clone());
        }
        for p in &e.promotions {
            if let (Some(err), PromotionStatus::Failed | PromotionStatus::Unverified) = (&p.error, p.status) {
                messages.push(format!("promotion to {}: {err}", p.registry));
            }
        }
        for message in messages {
            match groups.iter_mut().find(|(m, _)| *m == message) {
                Some((_, files)) => files.push(&e.path),
                None => groups.push((message, vec![&e.path])),
            }
        }
    }
    groups
}

/// Every error once, with its files (at most `max_files` listed), numbered as the
/// table refers to them; folded when there are many.
fn errors(report: &Report, max_files: usize) -> String {
    let groups = error_groups(report);
    if groups.is_empty() {
        return String::new();
    }
    let mut body = String::new();
    for (n, (message, files)) in groups.iter().enumerate() {
        let shown: Vec<String> = files
            .iter()
            .take(max_files)
            .map(|f| format!("`{}`", escape(f)))
            .collect();
        let more = files.len().saturating_sub(max_files);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(body, "{}. {} ({}{tail})", n + 1, escape(message), shown.join(", "));
    }
    let title = plural(groups.len(), "error", "errors");
    if groups.len() > OPEN_ERRORS {
        format!("\n<details><summary>{title}</summary>\n\n{body}\n</details>\n")
    } else {
        format!("\n**{}**\n\n{body}", capitalized(&title))
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// The compact table.
fn table(report: &Report) -> String {
    let groups = error_groups(report);
    let number = |message: &str| groups.iter().position(|(m, _)| m == message).map(|i| i + 1);
    let promotions = report.packages.iter().any(|e| !e.promotions.is_empty());
    let mut out = String::from("\n| File | Package | Status |");
    if promotions {
        out.push_str(" Promotions |");
    }
    out.push_str("\n|---|---|---|");
    if promotions {
        out.push_str("---|");
    }
    out.push('\n');
    for e in &report.packages {
        let status = match e.error.as_deref().and_then(number) {
            Some(n) => format!("{} ({n})", status_label(e.status)),
            None => status_label(e.status).to_owned(),
        };
        let _ = write!(out, "| {} | {} | {status} |", code(&e.path), package_cell(e));
        if promotions {
            let cells: Vec<String> = e
                .promotions
                .iter()
                .map(|p| {
                    let mark = promotion_label(p.status);
                    let dest = p
                        .web_url
                        .as_deref()
                        .map_or_else(|| escape(&p.registry), |u| link(&p.registry, u));
                    let note = p
                        .error
                        .as_ref()
                        .filter(|_| matches!(p.status, PromotionStatus::Failed | PromotionStatus::Unverified))
                        .and_then(|err| number(&format!("promotion to {}: {err}", p.registry)))
                        .map_or_else(String::new, |n| format!(" ({n})"));
                    format!("{dest} {mark}{note}")
                })
                .collect();
            let _ = write!(
                out,
                " {} |",
                if cells.is_empty() {
                    "—".to_owned()
                } else {
                    cells.join("<br>")
                }
            );
        }
        out.push('\n');
    }
    out
}

/// `name version`, linked to the package when the registry gave a link.
fn package_cell(e: &Entry) -> String {
    let Some(name) = &e.name else {
        return "—".to_owned();
    };
    let text = match &e.version {
        Some(v) => format!("{name} {v}"),
        None => name.clone(),
    };
    match e.web_url.as_deref() {
        Some(url) => link(&text, url),
        None => escape(&text),
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Published => "✅ published",
        Status::Identical => "✅ already there",
        Status::Skipped => "⏭️ skipped",
        Status::Replaced => "♻️ replaced",
        Status::Planned => "📝 planned",
        Status::Failed => "❌ failed",
        Status::Invalid => "❌ invalid",
        Status::Unverified => "⚠️ unverified",
    }
}

fn promotion_label(status: PromotionStatus) -> &'static str {
    match status {
        PromotionStatus::Promoted => "✅",
        PromotionStatus::Identical => "✅ already there",
        PromotionStatus::Planned => "📝 planned",
        PromotionStatus::Skipped => "⏭️ skipped",
        PromotionStatus::Failed => "❌ failed",
        PromotionStatus::Unverified => "⚠️ unverified",
    }
}

/// Escapes text for a Markdown table cell: HTML is entity-encoded, Markdown
/// punctuation backslash-escaped, `|` escaped, and line breaks flattened, so nothing
/// from a file name or a server can format, link or break the table.
#[must_use]
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' | '|' | '{' | '}' | '+' | '-' | '.'
            | ':' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c if is_invisible_format(c) => out.push_str(&escape(&code_point(c))),
            c => out.push(c),
        }
    }
    out
}

/// A file path in a cell, escaped the same way (code spans cannot hold escapes).
fn code(text: &str) -> String {
    escape(text)
}

/// A Markdown link to an http(s) URL; anything else is shown as escaped text.
fn link(text: &str, url: &str) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return escape(url);
    }
    let safe: String = url
        .chars()
        .map(|c| match c {
            '(' => "%28".to_owned(),
            ')' => "%29".to_owned(),
            ' ' => "%20".to_owned(),
            '<' => "%3C".to_owned(),
            '>' => "%3E".to_owned(),
            '|' => "%7C".to_owned(),
            '"' => "%22".to_owned(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect();
    format!("[{}]({safe})", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Entry;
    use crate::report::Promotion;

    fn entry(path: &str) -> Entry {
        Entry {
            web_url: Some("https://buildkite.com/x (y)".into()),
            ..Entry::sample(path)
        }
    }

    #[test]
    fn an_unverified_upload_is_said_first_and_is_not_a_failure() {
        let mut r = Report::new("acme", "debs", false, &["prod".to_owned()]);
        r.packages.push(entry("a.deb"));
        let mut unverified = entry("b.deb");
        unverified.status = Status::Unverified;
        unverified.error = Some("its listing did not show it".into());
        r.packages.push(unverified);
        r.tally();
        assert_eq!(r.exit_status(), crate::exit::ExitStatus::Unverified);
        let md = render(&r, 1 << 20);
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "#### ⚠️ 1 upload to `acme/debs` may have landed but could not be confirmed; nothing was promoted"
        );
        assert!(md.contains("**1** unverified"), "{md}");
        assert!(md.contains("⚠️ unverified (1)"), "{md}");
        assert!(!md.contains("failed"), "{md}");

        // A failure beside it decides the outcome and the exit status.
        let mut failed = entry("c.deb");
        failed.status = Status::Failed;
        r.packages.push(failed);
        r.tally();
        assert_eq!(r.exit_status(), crate::exit::ExitStatus::Failed);
    }

    #[test]
    fn hostile_file_names_render_inert() {
        let mut r = Report::new("acme", "debs", false, &[]);
        r.packages
            .push(entry("dist/<img src=x onerror=alert(1)>|[click](http://evil)*.deb"));
        r.tally();
        let md = render(&r, 1 << 20);
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("[click](http"), "{md}");
        assert!(md.contains("&lt;img"), "{md}");
        assert!(md.contains("\\|"), "{md}");
        assert!(md.contains("(https://buildkite.com/x%20%28y%29)"), "{md}");
    }

    #[test]
    fn bidirectional_and_zero_width_characters_cannot_disguise_a_name() {
        let cell = escape("evil\u{202e}bed.deb\u{200b}");
        assert!(!cell.contains('\u{202e}') && !cell.contains('\u{200b}'), "{cell}");
        assert!(cell.contains("U\\+202E") && cell.contains("U\\+200B"), "{cell}");
    }

    fn promotion(registry: &str, status: PromotionStatus, error: Option<&str>) -> Promotion {
        Promotion {
            registry: registry.into(),
            name: Some("n".into()),
            version: Some("1".into()),
            id: None,
            web_url: None,
            status,
            error: error.map(Into::into),
            auth_refused: false,
        }
    }

    /// Five files to `acme/debs` promoted to `prod`: one published, four refused with
    /// the same message, so nothing was promoted.
    fn mixed_run() -> Report {
        let mut r = Report::new("acme", "debs", false, &["prod".to_owned()]);
        for i in 0..5 {
            let mut e = entry(&format!("dist/p{i}_1.0_amd64.deb"));
            e.name = Some(format!("p{i}"));
            e.version = Some("1.0".into());
            if i > 0 {
                e.status = Status::Failed;
                e.web_url = None;
                e.error = Some("POST https://api.buildkite.com/v2/packages/organizations/acme/registries/debs/packages answered 503: Service Unavailable".into());
            }
            e.promotions.push(promotion(
                "prod",
                PromotionStatus::Skipped,
                Some("not promoted: 4 package(s) failed to publish, so nothing was promoted"),
            ));
            r.packages.push(e);
        }
        r.tally();
        r
    }

    #[test]
    fn a_mixed_run_says_its_outcome_first_and_each_error_once() {
        let md = render(&mixed_run(), 1 << 20);
        let expected = "#### ❌ 4 of 5 files to `acme/debs` failed; nothing was promoted\n\n\
**1** published · **4** failed · **5** promotions skipped (5 files, 50 B)\n\n\
| File | Package | Status | Promotions |\n\
|---|---|---|---|\n\
| dist/p0\\_1\\.0\\_amd64\\.deb | [p0 1\\.0](https://buildkite.com/x%20%28y%29) | ✅ published | prod ⏭️ skipped |\n\
| dist/p1\\_1\\.0\\_amd64\\.deb | p1 1\\.0 | ❌ failed (1) | prod ⏭️ skipped |\n\
| dist/p2\\_1\\.0\\_amd64\\.deb | p2 1\\.0 | ❌ failed (1) | prod ⏭️ skipped |\n\
| dist/p3\\_1\\.0\\_amd64\\.deb | p3 1\\.0 | ❌ failed (1) | prod ⏭️ skipped |\n\
| dist/p4\\_1\\.0\\_amd64\\.deb | p4 1\\.0 | ❌ failed (1) | prod ⏭️ skipped |\n\
\n\
**1 error**\n\n\
1. POST https\\://api\\.buildkite\\.com/v2/packages/organizations/acme/registries/debs/packages answered 503\\: Service Unavailable (`dist/p1\\_1\\.0\\_amd64\\.deb`, `dist/p2\\_1\\.0\\_amd64\\.deb`, `dist/p3\\_1\\.0\\_amd64\\.deb`, `dist/p4\\_1\\.0\\_amd64\\.deb`)\n";
        assert_eq!(md, expected, "\n{md}");
        assert_eq!(md.matches("Service Unavailable").count(), 1, "the message is said once");
    }

    #[test]
    fn a_promote_only_step_speaks_of_promoting() {
        let mut r = Report::new("acme", "stage", false, &["prod".to_owned()]);
        r.promote_only = true;
        let mut e = entry("dist/a_1.0_amd64.deb");
        e.status = Status::Identical;
        e.promotions.push(promotion(
            "prod",
            PromotionStatus::Failed,
            Some("copy refused: 409 different content"),
        ));
        r.packages.push(e);
        r.tally();
        let md = render(&r, 1 << 20);
        let expected = "#### ❌ 1 of 1 promotion from `acme/stage` to `acme/prod` did not succeed\n\n\
**1** promotion failed (1 file, 10 B)\n\n\
| File | Package | Status | Promotions |\n\
|---|---|---|---|\n\
| dist/a\\_1\\.0\\_amd64\\.deb | [n 1](https://buildkite.com/x%20%28y%29) | ✅ already there | prod ❌ failed (1) |\n\
\n\
**1 error**\n\n\
1. promotion to prod\\: copy refused\\: 409 different content (`dist/a\\_1\\.0\\_amd64\\.deb`)\n";
        assert_eq!(md, expected, "\n{md}");
        assert!(!md.contains("Published") && !md.contains("published"), "{md}");
    }

    #[test]
    fn a_dry_run_and_a_success_say_so_in_their_first_line() {
        let mut r = Report::new("acme", "debs", true, &[]);
        let mut planned = entry("dist/new_1.0_amd64.deb");
        planned.status = Status::Planned;
        let mut same = entry("dist/same_1.0_amd64.deb");
        same.status = Status::Identical;
        r.packages.extend([planned, same]);
        r.tally();
        let md = render(&r, 1 << 20);
        assert!(
            md.starts_with("#### 📝 Dry run for `acme/debs`: 1 would be published, 1 already there\n"),
            "{md}"
        );
        let mut ok = mixed_run();
        for e in &mut ok.packages {
            e.status = Status::Published;
            e.error = None;
            e.promotions = vec![promotion("prod", PromotionStatus::Promoted, None)];
        }
        ok.tally();
        let md = render(&ok, 1 << 20);
        assert!(
            md.starts_with("#### ✅ Published 5 packages to `acme/debs` and promoted them to `acme/prod`\n"),
            "{md}"
        );
        assert!(!md.contains("error"), "{md}");
    }

    #[test]
    fn a_cancelled_run_keeps_each_files_true_state() {
        let mut r = Report::new("acme", "debs", false, &[]);
        let landed = entry("dist/a_1.0_amd64.deb");
        let mut stopped = entry("dist/b_1.0_amd64.deb");
        stopped.status = Status::Failed;
        stopped.web_url = None;
        stopped.error = Some("cancelled before it was uploaded".into());
        r.packages.extend([landed, stopped]);
        r.tally();
        let md = render(&r, 1 << 20);
        let expected = "#### ❌ 1 of 2 files to `acme/debs` failed\n\n\
**1** published · **1** failed (2 files, 20 B)\n\n\
| File | Package | Status |\n\
|---|---|---|\n\
| dist/a\\_1\\.0\\_amd64\\.deb | [n 1](https://buildkite.com/x%20%28y%29) | ✅ published |\n\
| dist/b\\_1\\.0\\_amd64\\.deb | n 1 | ❌ failed (1) |\n\
\n\
**1 error**\n\n\
1. cancelled before it was uploaded (`dist/b\\_1\\.0\\_amd64\\.deb`)\n";
        assert_eq!(md, expected, "\n{md}");
    }

    #[test]
    fn many_distinct_errors_fold_into_details() {
        let mut r = Report::new("acme", "debs", false, &[]);
        for i in 0..5 {
            let mut e = entry(&format!("dist/p{i}.deb"));
            e.status = Status::Failed;
            e.error = Some(format!("error number {i}"));
            r.packages.push(e);
        }
        r.tally();
        let md = render(&r, 1 << 20);
        assert!(md.contains("<details><summary>5 errors</summary>"), "{md}");
        assert!(md.contains("| ❌ failed (5) |"), "{md}");
    }

    #[test]
    fn oversized_report_falls_back_to_the_short_form() {
        let mut r = Report::new("acme", "debs", false, &[]);
        for i in 0..2000 {
            let mut e = entry(&format!("dist/pkg-{i}.deb"));
            if i == 7 {
                e.status = Status::Failed;
                e.error = Some("boom".into());
            }
            r.packages.push(e);
        }
        r.tally();
        let md = render(&r, 20_000);
        assert!(md.len() <= 20_000);
        assert!(md.contains("too large"), "{md}");
        assert!(md.contains("pkg\\-7"), "{md}");
        assert!(!md.contains("pkg\\-8"), "{md}");
        assert!(md.starts_with("#### ❌ 1 of 2000 files"), "{md}");
    }
}
