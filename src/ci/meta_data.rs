//! The JSON report in Buildkite build meta-data, where a later promote-only step finds
//! the packages without uploading them again. A meta-data value holds at most 100 KB,
//! so a report of any size is stored across numbered part keys (`KEY.part.N`) and the
//! key itself then holds a small manifest (part count, length, sha256), written last
//! so that a reader never finds a manifest whose parts are missing. Reading joins the
//! parts and checks the digest.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::buildkite::{Agent, META_DATA_LIMIT};
use crate::report::Report;

/// The largest part written, leaving room below the agent's limit.
const PART_BYTES: usize = 90 * 1024;
/// The most parts a report is read back from (about 90 MB).
const MAX_PARTS: usize = 1000;

/// What the key holds when the report is stored in parts.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    package_publisher_parts: usize,
    bytes: usize,
    sha256: String,
}

fn part_key(key: &str, n: usize) -> String {
    format!("{key}.part.{n}")
}

/// Whether a meta-data key is one part of a stored report.
fn is_part(key: &str) -> bool {
    key.rsplit_once(".part.")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Stores `report` under `key`: whole when it fits one value, else in parts. The
/// stored copy leaves out links, errors and promotions when that makes it fit one value.
pub(crate) async fn store(agent: Agent, key: &str, report: &Report) -> anyhow::Result<()> {
    let mut value = serde_json::to_string(report)?;
    if value.len() > META_DATA_LIMIT {
        let mut trimmed = report.clone();
        for e in &mut trimmed.packages {
            e.web_url = None;
            e.error = None;
            e.promotions.clear();
        }
        value = serde_json::to_string(&trimmed)?;
    }
    if value.len() <= META_DATA_LIMIT {
        return Ok(agent.meta_data_set(key, &value).await?);
    }
    let parts = split(&value, PART_BYTES);
    for (n, part) in parts.iter().enumerate() {
        agent
            .meta_data_set(&part_key(key, n), part)
            .await
            .with_context(|| format!("part {n} of {}", parts.len()))?;
    }
    let manifest = Manifest {
        package_publisher_parts: parts.len(),
        bytes: value.len(),
        sha256: format!("{:x}", Sha256::digest(value.as_bytes())),
    };
    Ok(agent.meta_data_set(key, &serde_json::to_string(&manifest)?).await?)
}

/// Splits `text` into pieces of at most `max` bytes, at character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Every report stored under `key` or `key.*` (one per publishing job) in `build`'s
/// meta-data, each read back whole; with the keys they came from.
pub(crate) async fn read_all(agent: Agent, key: &str, build: Option<&str>) -> anyhow::Result<Vec<(String, Report)>> {
    let prefix = format!("{key}.");
    let keys: Vec<String> = agent
        .meta_data_keys(build)
        .await?
        .into_iter()
        .filter(|k| (k == key || k.starts_with(&prefix)) && !is_part(k))
        .collect();
    let mut reports = Vec::with_capacity(keys.len());
    for k in keys {
        let value = agent.meta_data_get(&k, build).await?.unwrap_or_default();
        let value = match serde_json::from_str::<Manifest>(&value) {
            Ok(manifest) => join(agent, &k, build, &manifest).await?,
            Err(_) => value,
        };
        let report: Report = serde_json::from_str(&value)
            .with_context(|| format!("build meta-data {k:?} is not a package-publisher report"))?;
        reports.push((k, report));
    }
    Ok(reports)
}

/// Reads a report's parts and checks them against its manifest.
async fn join(agent: Agent, key: &str, build: Option<&str>, manifest: &Manifest) -> anyhow::Result<String> {
    if manifest.package_publisher_parts > MAX_PARTS {
        bail!(
            "build meta-data {key:?} says the report has {} parts; at most {MAX_PARTS} are read",
            manifest.package_publisher_parts
        );
    }
    let mut value = String::with_capacity(manifest.bytes.min(MAX_PARTS * PART_BYTES));
    for n in 0..manifest.package_publisher_parts {
        let part = agent
            .meta_data_get(&part_key(key, n), build)
            .await?
            .with_context(|| format!("build meta-data {:?} is missing", part_key(key, n)))?;
        value.push_str(&part);
    }
    let digest = format!("{:x}", Sha256::digest(value.as_bytes()));
    if value.len() != manifest.bytes || digest != manifest.sha256 {
        bail!(
            "the report in build meta-data {key:?} does not match its manifest ({} bytes, sha256 {digest}; expected {} bytes, sha256 {})",
            value.len(),
            manifest.bytes,
            manifest.sha256
        );
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_character_boundaries_and_rejoins() {
        let text = "aé€😀".repeat(1000);
        let parts = split(&text, 7);
        assert!(parts.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn part_keys_are_told_apart_from_report_keys() {
        assert!(is_part("package-publisher.acme.debs.job-1.part.12"));
        assert!(!is_part("package-publisher.acme.debs.job-1"));
        assert!(!is_part("package-publisher.acme.debs.part.x"));
    }
}
