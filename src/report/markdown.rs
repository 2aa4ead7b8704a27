//! Renders a [`Report`] as GitHub-flavoured Markdown: the Buildkite annotation and the
//! GitHub job summary are the same text. Everything that came from a file name or the
//! server is escaped so it renders inert (no Markdown, HTML or links of its own). When
//! the full table would exceed the platform's 1 MiB limit, [`render`] falls back to a
//! short form with the totals and the failures only.

use std::fmt::Write;

use super::text::{code_point, is_invisible_format, size};
use super::{Entry, PromotionStatus, Report, Status};

/// Renders the report within `limit` bytes: the full table if it fits, else the short
/// form, else a bare summary line.
#[must_use]
pub fn render(report: &Report, limit: usize) -> String {
    let full = full(report);
    if full.len() <= limit {
        return full;
    }
    let short = short(report);
    if short.len() <= limit {
        return short;
    }
    headline(report)
}

fn headline(report: &Report) -> String {
    let t = &report.totals;
    let target = format!("{}/{}", escape(&report.organization), escape(&report.registry));
    let verb = if report.dry_run { "Dry run for" } else { "Published to" };
    let mut out = format!("#### {verb} `{target}`\n\n");
    let mut parts = Vec::new();
    for (n, label) in [
        (t.published, "published"),
        (t.replaced, "replaced"),
        (t.identical, "identical"),
        (t.skipped, "skipped"),
        (t.planned, "planned"),
        (t.failed, "failed"),
        (t.promoted, "promoted"),
        (t.promotion_failed, "promotions failed"),
    ] {
        if n > 0 {
            parts.push(format!("**{n}** {label}"));
        }
    }
    if parts.is_empty() {
        parts.push("no packages".to_owned());
    }
    let _ = writeln!(out, "{} ({} files, {})", parts.join(" · "), t.files, size(t.bytes));
    if let Some(error) = &report.error {
        let _ = writeln!(out, "\n**Error:** {}", escape(error));
    }
    out
}

fn full(report: &Report) -> String {
    let mut out = headline(report);
    let promotions = report.packages.iter().any(|e| !e.promotions.is_empty());
    let attestations = report.packages.iter().any(|e| e.attestations > 0);
    out.push_str("\n| File | Name | Version | Size | Status | Package |");
    if attestations {
        out.push_str(" Attestations |");
    }
    if promotions {
        out.push_str(" Promotions |");
    }
    out.push_str("\n|---|---|---|---|---|---|");
    if attestations {
        out.push_str("---|");
    }
    if promotions {
        out.push_str("---|");
    }
    out.push('\n');
    for e in &report.packages {
        row(&mut out, e, attestations, promotions);
    }
    out
}

fn row(out: &mut String, e: &Entry, attestations: bool, promotions: bool) {
    let _ = write!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        code(&e.path),
        e.name.as_deref().map_or_else(|| "—".to_owned(), escape),
        e.version.as_deref().map_or_else(|| "—".to_owned(), escape),
        size(e.size),
        status_cell(e),
        e.web_url.as_deref().map_or_else(|| "—".to_owned(), |u| link("view", u)),
    );
    if attestations {
        let _ = write!(out, " {} |", e.attestations);
    }
    if promotions {
        let cells: Vec<String> = e
            .promotions
            .iter()
            .map(|p| {
                let mark = match p.status {
                    PromotionStatus::Promoted => "✅ promoted",
                    PromotionStatus::Identical => "✅ already there",
                    PromotionStatus::Planned => "📝 planned",
                    PromotionStatus::Skipped => "⏭️ skipped",
                    PromotionStatus::Failed => "❌ failed",
                };
                let target = p
                    .web_url
                    .as_deref()
                    .map_or_else(|| escape(&p.registry), |u| link(&p.registry, u));
                match &p.error {
                    Some(err) => format!("{target}: {mark} ({})", escape(err)),
                    None => format!("{target}: {mark}"),
                }
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

fn status_cell(e: &Entry) -> String {
    let label = match e.status {
        Status::Published => "✅ published",
        Status::Identical => "✅ identical",
        Status::Skipped => "⏭️ skipped",
        Status::Replaced => "♻️ replaced",
        Status::Planned => "📝 planned",
        Status::Failed => "❌ failed",
        Status::Invalid => "❌ invalid",
    };
    match &e.error {
        Some(err) => format!("{label}: {}", escape(err)),
        None => label.to_owned(),
    }
}

fn short(report: &Report) -> String {
    let mut out = headline(report);
    out.push_str("\nThe full table is too large for this summary; see the JSON report (`report-file`, or the build meta-data on Buildkite).\n");
    let failed: Vec<&Entry> = report.packages.iter().filter(|e| e.status == Status::Failed).collect();
    if !failed.is_empty() {
        out.push_str("\n| File | Error |\n|---|---|\n");
        for e in failed.iter().take(50) {
            let _ = writeln!(
                out,
                "| {} | {} |",
                code(&e.path),
                escape(e.error.as_deref().unwrap_or(""))
            );
        }
        if failed.len() > 50 {
            let _ = writeln!(out, "\n…and {} more failures.", failed.len() - 50);
        }
    }
    out
}

/// Escapes text for a Markdown table cell: HTML is entity-encoded, Markdown
/// punctuation backslash-escaped, `|` escaped, and line breaks flattened, so nothing
/// from a file name or a server can format, link or break the table.
#[must_use]
pub fn escape(text: &str) -> String {
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

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            size: 10,
            sha256: "ab".into(),
            name: Some("n".into()),
            version: Some("1".into()),
            variant: None,
            id: None,
            web_url: Some("https://buildkite.com/x (y)".into()),
            status: Status::Published,
            error: None,
            attestations: 0,
            deleted_id: None,
            auth_refused: false,
            promotions: vec![],
        }
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
    }
}
