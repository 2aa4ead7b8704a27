//! What happens to a whole run's promotions at once: held back (a cancellation, a
//! failed or unconfirmed publish, each with its reason), planned (a dry run), or
//! skipped, each recorded on every entry for every destination.

use crate::report::{Entry, Promotion, PromotionStatus, Status};

/// Why nothing may be promoted after these publishes, if so: the run was cancelled, a
/// package failed, or an upload could not be confirmed (it has no id to copy).
#[must_use]
pub(crate) fn held_back(entries: &[Entry], cancelled: bool) -> Option<String> {
    let unverified = entries.iter().filter(|e| e.status == Status::Unverified).count();
    let failed = entries.iter().filter(|e| !e.status.is_ok()).count() - unverified;
    if cancelled {
        Some("not promoted: the run was cancelled".to_owned())
    } else if failed > 0 {
        Some(format!(
            "not promoted: {failed} package(s) failed to publish, so nothing was promoted"
        ))
    } else if unverified > 0 {
        Some(format!(
            "not promoted: {unverified} upload(s) could not be confirmed in the registry, so nothing was promoted"
        ))
    } else {
        None
    }
}

/// Marks every entry's promotions as skipped, with the reason.
pub(crate) fn skip_all(entries: &mut [Entry], destinations: &[String], reason: &str) {
    for entry in entries {
        for dest in destinations {
            let promotion = skipped(entry, dest, reason);
            entry.promotions.push(promotion);
        }
    }
}

/// Adds a planned promotion into every destination to every entry (a dry run).
pub(crate) fn plan_all(entries: &mut [Entry], destinations: &[String]) {
    for dest in destinations {
        for entry in entries.iter_mut() {
            let promotion = Promotion {
                registry: dest.clone(),
                name: entry.name.clone(),
                version: entry.version.clone(),
                id: None,
                web_url: None,
                status: PromotionStatus::Planned,
                error: None,
                auth_refused: false,
            };
            entry.promotions.push(promotion);
        }
    }
}

/// A promotion not attempted, and why.
pub(super) fn skipped(entry: &Entry, dest: &str, reason: &str) -> Promotion {
    Promotion {
        registry: dest.to_owned(),
        name: entry.name.clone(),
        version: entry.version.clone(),
        id: None,
        web_url: None,
        status: PromotionStatus::Skipped,
        error: Some(reason.to_owned()),
        auth_refused: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: Status) -> Entry {
        Entry {
            id: Some("p1".into()),
            status,
            ..Entry::sample("a.deb")
        }
    }

    #[test]
    fn promotion_waits_for_every_publish_and_says_why_not() {
        let done = [entry(Status::Published), entry(Status::Identical)];
        assert_eq!(held_back(&done, false), None);
        assert!(held_back(&done, true).unwrap().contains("cancelled"));
        let unverified = [entry(Status::Published), entry(Status::Unverified)];
        assert!(
            held_back(&unverified, false)
                .unwrap()
                .contains("1 upload(s) could not be confirmed")
        );
        let failed = [entry(Status::Failed), entry(Status::Unverified), entry(Status::Invalid)];
        assert!(
            held_back(&failed, false).unwrap().contains("2 package(s) failed"),
            "a failure is named first, and unverified files are not counted as failed"
        );
    }
}
