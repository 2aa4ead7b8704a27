//! The result model of a run: one entry per file in input order, each with its
//! promotions, plus totals. The core fills it in; the renderers in [`markdown`] and
//! [`text`] turn it into an annotation / job summary and log lines, and serde turns it
//! into the JSON report. Nothing here formats for a particular CI system.

pub(crate) mod markdown;
pub(crate) mod text;

use serde::{Deserialize, Serialize};

use crate::exit::ExitStatus;

/// Version of the JSON report's shape; bumped on incompatible changes.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Newly published.
    Published,
    /// Already in the registry with the same sha256.
    Identical,
    /// Already in the registry (name and version), left alone by `if-exists: skip`.
    Skipped,
    /// The existing package was deleted and this file published (`if-exists: replace`).
    Replaced,
    /// Dry run: would be published.
    Planned,
    /// Not published; see `error`.
    Failed,
    /// Not a valid package for the registry (see `error`): never sent.
    Invalid,
    /// An upload whose answer was lost may have landed: the registry refuses the file
    /// again as a duplicate (or the run was cancelled) but its listing did not show the
    /// package within `settle-timeout`. Neither published nor failed; see `error`.
    Unverified,
}

impl Status {
    /// Whether this outcome counts as done (exit 0).
    #[must_use]
    pub(crate) fn is_ok(self) -> bool {
        !matches!(self, Status::Failed | Status::Invalid | Status::Unverified)
    }
}

/// What happened to one package in one destination registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PromotionStatus {
    /// Copied now.
    Promoted,
    /// Already in the destination with the same sha256.
    Identical,
    /// Dry run: would be copied.
    Planned,
    /// Not attempted (an earlier failure stopped promotion); see `error`.
    Skipped,
    /// The copy failed; see `error`.
    Failed,
    /// A copy whose answer was lost may have landed, but the destination's listing did
    /// not show it within `settle-timeout`; see `error`.
    Unverified,
}

/// One package's promotion into one registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Promotion {
    pub registry: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub id: Option<String>,
    pub web_url: Option<String>,
    pub status: PromotionStatus,
    pub error: Option<String>,
    /// Whether the failure was the credentials being refused (401/403).
    #[serde(skip)]
    pub auth_refused: bool,
}

/// One file's entry in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub name: Option<String>,
    pub version: Option<String>,
    /// What tells this file apart from others of its name and version: an
    /// architecture (Debian, RPM, Alpine), a wheel's tags, `sdist`, a gem's platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub id: Option<String>,
    pub web_url: Option<String>,
    pub status: Status,
    pub error: Option<String>,
    /// Number of attestations sent with the package (0 when none, or not re-sent to an
    /// existing package).
    #[serde(default)]
    pub attestations: usize,
    /// The package this run deleted for `if-exists: replace` (also when the new file
    /// then failed to publish: the registry no longer holds the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_id: Option<String>,
    /// Whether the failure was the registry refusing the credentials (401/403).
    #[serde(skip)]
    pub auth_refused: bool,
    pub promotions: Vec<Promotion>,
}

#[cfg(test)]
impl Entry {
    /// A published entry for `path` (package `n 1`, size 10), for tests to adjust.
    pub(crate) fn sample(path: &str) -> Entry {
        Entry {
            path: path.to_owned(),
            size: 10,
            sha256: "ab".into(),
            name: Some("n".into()),
            version: Some("1".into()),
            variant: None,
            id: None,
            web_url: None,
            status: Status::Published,
            error: None,
            attestations: 0,
            deleted_id: None,
            auth_refused: false,
            promotions: vec![],
        }
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Totals {
    pub files: usize,
    pub published: usize,
    pub identical: usize,
    pub skipped: usize,
    pub replaced: usize,
    pub planned: usize,
    /// Files that failed, the invalid ones included.
    pub failed: usize,
    /// Of those, files that are not valid packages for the registry.
    #[serde(default)]
    pub invalid: usize,
    /// Files whose upload may have landed but could not be confirmed.
    #[serde(default)]
    pub unverified: usize,
    pub promoted: usize,
    pub promotion_failed: usize,
    /// Promotions not attempted (a publish failed, or the run was cancelled).
    #[serde(default)]
    pub promotion_skipped: usize,
    /// Copies that may have landed but could not be confirmed.
    #[serde(default)]
    pub promotion_unverified: usize,
    pub bytes: u64,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub schema_version: u32,
    /// The package-publisher version that wrote the report.
    #[serde(default)]
    pub tool_version: String,
    pub organization: String,
    pub registry: String,
    pub dry_run: bool,
    /// A promote-only step (`promote-from`): `registry` is the source, nothing was
    /// published.
    #[serde(default)]
    pub promote_only: bool,
    pub promote_to: Vec<String>,
    pub totals: Totals,
    pub packages: Vec<Entry>,
    /// A failure not tied to one file (for example promotion refused up front).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    /// An empty report for a registry.
    #[must_use]
    pub(crate) fn new(organization: &str, registry: &str, dry_run: bool, promote_to: &[String]) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            tool_version: crate::VERSION.to_owned(),
            organization: organization.to_owned(),
            registry: registry.to_owned(),
            dry_run,
            promote_only: false,
            promote_to: promote_to.to_vec(),
            totals: Totals::default(),
            packages: Vec::new(),
            error: None,
        }
    }

    /// Recomputes the totals from the entries.
    pub(crate) fn tally(&mut self) {
        let mut t = Totals {
            files: self.packages.len(),
            ..Totals::default()
        };
        for e in &self.packages {
            t.bytes += e.size;
            match e.status {
                Status::Published => t.published += 1,
                Status::Identical => t.identical += 1,
                Status::Skipped => t.skipped += 1,
                Status::Replaced => t.replaced += 1,
                Status::Planned => t.planned += 1,
                Status::Failed => t.failed += 1,
                Status::Invalid => {
                    t.failed += 1;
                    t.invalid += 1;
                }
                Status::Unverified => t.unverified += 1,
            }
            for p in &e.promotions {
                match p.status {
                    PromotionStatus::Promoted | PromotionStatus::Identical => t.promoted += 1,
                    PromotionStatus::Failed => t.promotion_failed += 1,
                    PromotionStatus::Skipped => t.promotion_skipped += 1,
                    PromotionStatus::Unverified => t.promotion_unverified += 1,
                    PromotionStatus::Planned => {}
                }
            }
        }
        self.totals = t;
    }

    /// Whether everything succeeded.
    #[must_use]
    pub(crate) fn is_success(&self) -> bool {
        let t = &self.totals;
        self.error.is_none()
            && t.failed == 0
            && t.promotion_failed == 0
            && t.promotion_skipped == 0
            && !self.unverified()
    }

    /// Whether an upload or a copy may have landed but could not be confirmed.
    #[must_use]
    pub(crate) fn unverified(&self) -> bool {
        self.totals.unverified > 0 || self.totals.promotion_unverified > 0
    }

    /// The exit status: 0 when all is done; 4 when the registry refused the
    /// credentials (for a publish or a promotion) and nothing was published; 1 for
    /// any other failure; 5 when nothing failed but an upload or a copy could not be
    /// confirmed. Promotions skipped only because a package was unverified are not a
    /// failure of their own.
    #[must_use]
    pub(crate) fn exit_status(&self) -> ExitStatus {
        if self.is_success() {
            return ExitStatus::Success;
        }
        let t = &self.totals;
        if self.error.is_none() && t.failed == 0 && t.promotion_failed == 0 && self.unverified() {
            return ExitStatus::Unverified;
        }
        let nothing_written = self.totals.published == 0 && self.totals.replaced == 0;
        let auth = self
            .packages
            .iter()
            .any(|e| e.auth_refused || e.promotions.iter().any(|p| p.auth_refused));
        if auth && nothing_written {
            ExitStatus::AuthRefused
        } else {
            ExitStatus::Failed
        }
    }

    /// The count of packages newly in the registry (published or replaced).
    #[must_use]
    pub(crate) fn written(&self) -> usize {
        self.totals.published + self.totals.replaced
    }
}
