//! Plain-text helpers shared by the log and the CLI tables: human sizes, durations and
//! rates, and the one-line summary of a file's outcome.

use std::time::Duration;

/// Characters that change how text around them is shown while showing nothing
/// themselves: bidirectional embeddings, overrides, isolates and marks, and
/// zero-width characters. A file name holding them could pass for another name
/// (`evil\u{202e}bed.deb` shows as `evilbed.deb` reversed), so renderers show them
/// by their code point instead.
#[must_use]
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
    )
}

/// How an invisible formatting character is shown: `<U+202E>`.
#[must_use]
pub(crate) fn code_point(c: char) -> String {
    format!("<U+{:04X}>", c as u32)
}

/// `1.5 MiB`, `512 B`.
#[must_use]
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1.2 s`, `350 ms`, `2 m 05 s`.
#[must_use]
pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} m {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// `12.3 MiB/s` for `bytes` moved in `d`.
#[must_use]
pub(crate) fn rate(bytes: u64, d: Duration) -> String {
    let secs = d.as_secs_f64().max(0.001);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let per_sec = (bytes as f64 / secs) as u64;
    format!("{}/s", size(per_sec))
}

/// A one-line progress bar for a terminal:
/// `[#########-----------] 45% 450.0 MiB of 1.0 GiB, 3/10 files, 90.0 MiB/s, 6.1 s left`.
#[must_use]
pub(crate) fn bar(done: u64, total: u64, files_done: usize, files: usize, elapsed: Duration) -> String {
    const WIDTH: u64 = 20;
    let done = done.min(total);
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let left = if done > 0 && done < total {
        #[allow(clippy::cast_precision_loss)]
        let secs = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
        format!(", {} left", duration(Duration::from_secs_f64(secs)))
    } else {
        String::new()
    };
    format!(
        "[{}{}] {percent}% {} of {}, {files_done}/{files} files, {}{left}",
        "#".repeat(usize::try_from(filled).unwrap_or(0)),
        "-".repeat(usize::try_from(WIDTH - filled).unwrap_or(0)),
        size(done),
        size(total),
        rate(done, elapsed)
    )
}

/// A file's size and time on its log line: `600 B in 2 ms, 252.0 KiB/s` for a file
/// the registry took, `64.0 MiB, 8.3 s` for any other, whose size was not all sent.
#[must_use]
pub(crate) fn file_timing(status: super::Status, bytes: u64, d: Duration) -> String {
    if matches!(status, super::Status::Published | super::Status::Replaced) {
        format!("{} in {}, {}", size(bytes), duration(d), rate(bytes, d))
    } else {
        format!("{}, {}", size(bytes), duration(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_the_registry_took_has_a_rate() {
        let d = Duration::from_secs(8);
        assert_eq!(
            file_timing(super::super::Status::Published, 8 << 20, d),
            "8.0 MiB in 8.0 s, 1.0 MiB/s"
        );
        assert_eq!(file_timing(super::super::Status::Failed, 8 << 20, d), "8.0 MiB, 8.0 s");
    }

    #[test]
    fn human_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(duration(Duration::from_millis(350)), "350 ms");
        assert_eq!(duration(Duration::from_secs(125)), "2 m 05 s");
        assert_eq!(rate(2048, Duration::from_secs(2)), "1.0 KiB/s");
    }

    #[test]
    fn progress_bar() {
        let b = bar(512, 1024, 1, 4, Duration::from_secs(2));
        assert_eq!(
            b,
            "[##########----------] 50% 512 B of 1.0 KiB, 1/4 files, 256 B/s, 2.0 s left"
        );
        assert!(bar(0, 0, 0, 0, Duration::ZERO).starts_with("[####################] 100%"));
    }
}
