//! The packages a promote-only step copies. With files, each is found in the source
//! registry by name, version and sha256 (the package that file was built as); without,
//! they are taken from the reports earlier publishing steps of the build stored in
//! build meta-data (Buildkite), merged so a package listed twice counts once.

use anyhow::{Context, anyhow};

use futures_util::StreamExt;

use crate::api::Client;
use crate::api::model::Package;
use crate::artifact::Artifact;
use crate::auth::Auth;
use crate::ci::{Ci, Platform, meta_data, outputs};
use crate::config::Config;
use crate::config::Opt;
use crate::digest::Sha256;
use crate::exit::{Abort, ExitStatus};
use crate::lookup::{self, Found, Key, Wanted};
use crate::publish;
use crate::report::{Entry, Status};

/// The packages to promote, in input order: found by the matched files, or, with no
/// files, from the reports in build meta-data.
pub(crate) async fn find(
    ci: &Ci,
    config: &Config,
    client: &Client,
    auth: &Auth,
    artifacts: &[Artifact],
) -> Result<Vec<Entry>, Abort> {
    let (org, source) = (config.organization(), config.source_registry());
    ci.group(&format!("Finding the packages to promote in {org}/{source}"));
    if artifacts.is_empty() {
        let mut entries = from_meta_data(ci, config).await?;
        confirm_unverified(ci, config, client, auth, &mut entries).await?;
        return Ok(entries);
    }
    let token = auth
        .token(config.source_at())
        .await
        .map_err(|e| Abort(ExitStatus::AuthRefused, e.into()))?;
    // `concurrency` lookups at once (through the client's rate-limit gate), entries
    // in input order.
    let token = &token;
    let entries = futures_util::stream::iter(artifacts)
        .map(|artifact| async move {
            let Ok(identity) = &artifact.identity else {
                return publish::invalid_entry(artifact);
            };
            let wanted = Wanted {
                key: Key::Package(identity),
                sha256: artifact.sha256.as_ref(),
            };
            let found = lookup::find(client, token, config.source_at(), wanted)
                .await
                .map(|found| match found {
                    Found::Other(pkg) => Found::Many(vec![pkg]),
                    found => found,
                });
            entry(artifact, source, found)
        })
        .buffered(config.concurrency().max(1))
        .collect()
        .await;
    Ok(entries)
}

/// A file's entry: identical when the registry holds exactly this file, else failed
/// with the reason.
fn entry(artifact: &Artifact, source: &str, found: Result<Found, crate::api::ApiError>) -> Entry {
    let mut entry = publish::new_entry(artifact);
    match found {
        Ok(Found::Exact(pkg)) => {
            publish::fill_from_package(&mut entry, &pkg);
            entry.status = Status::Identical;
        }
        Ok(Found::Many(others)) => {
            entry.status = Status::Failed;
            entry.error = Some(other_content(&others, source, artifact));
        }
        Ok(_) => {
            entry.status = Status::Failed;
            entry.error = Some(format!(
                "no package matching {} (name, version and sha256) in {source:?}",
                artifact.file_name
            ));
        }
        Err(err) => {
            entry.status = Status::Failed;
            entry.auth_refused = err.is_auth();
            entry.error = Some(err.to_string());
        }
    }
    entry
}

fn other_content(others: &[Package], source: &str, artifact: &Artifact) -> String {
    let theirs: Vec<&str> = others.iter().map(|p| p.sha256().unwrap_or("(none)")).collect();
    format!(
        "{} {} in {source:?} has sha256 {}, but the local file's sha256 is {}: it is not the package this file was built as",
        others[0].name,
        others[0].version.as_deref().unwrap_or(""),
        theirs.join(", "),
        artifact.sha256.as_ref().map_or("(not read)", Sha256::as_str)
    )
}

/// Every publishing job's report for the source registry in build meta-data, merged.
async fn from_meta_data(ci: &Ci, config: &Config) -> Result<Vec<Entry>, Abort> {
    let (org, source) = (config.organization(), config.source_registry());
    let key = outputs::meta_data_key(org, source);
    let mut reports = Vec::new();
    if ci.platform == Platform::Buildkite {
        reports = meta_data::read_all(ci.agent(), &key, config.download_build())
            .await
            .context("cannot read the reports in build meta-data")?;
    }
    if reports.is_empty() {
        let sp = config.spelling();
        return Err(Abort::usage(anyhow!(
            "nothing to promote: no files were given to identify the packages, and there is no build meta-data {key:?} (a publish step to {org}/{source} in this build stores it); give {} to identify them, or check {} and {}",
            sp.name(Opt::Artifacts),
            sp.name(Opt::PromoteFrom),
            sp.name(Opt::DownloadBuild)
        )));
    }
    // A package listed twice counts once.
    let mut entries: Vec<Entry> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (_, earlier) in &reports {
        // An upload the publishing step could not confirm is looked up by
        // [`confirm_unverified`], never silently left out.
        for e in earlier.packages.iter().filter(|e| e.status == Status::Unverified) {
            let mut e = e.clone();
            e.promotions.clear();
            entries.push(e);
        }
        for e in earlier.packages.iter().filter(|e| e.status.is_ok()) {
            let Some(id) = e.id.clone() else { continue };
            if ids.insert(id) {
                let mut e = e.clone();
                e.status = Status::Identical;
                e.promotions.clear();
                e.error = None;
                entries.push(e);
            }
        }
    }
    let keys: Vec<&str> = reports.iter().map(|(k, _)| k.as_str()).collect();
    ci.line(&format!(
        "{} package(s) from the reports in build meta-data {}",
        entries.len(),
        keys.join(", ")
    ));
    Ok(entries)
}

/// Looks up, in the source registry, each upload an earlier step reported
/// `unverified` (its answer was lost and the listing lagged): by the name, version and
/// sha256 that step recorded. Found, it is promoted like any other package; not found
/// (yet), it fails, saying what to do.
async fn confirm_unverified(
    ci: &Ci,
    config: &Config,
    client: &Client,
    auth: &Auth,
    entries: &mut Vec<Entry>,
) -> Result<(), Abort> {
    if !entries.iter().any(|e| e.status == Status::Unverified) {
        return Ok(());
    }
    let token = auth
        .token(config.source_at())
        .await
        .map_err(|e| Abort(ExitStatus::AuthRefused, e.into()))?;
    for e in entries.iter_mut().filter(|e| e.status == Status::Unverified) {
        let (Some(name), Some(version)) = (e.name.clone(), e.version.clone()) else {
            e.status = Status::Failed;
            e.error = Some("the publishing step could not confirm this upload (unverified), and recorded no name and version to look it up by".to_owned());
            continue;
        };
        let sha256 = Sha256::parse(&e.sha256);
        let wanted = Wanted {
            key: Key::Recorded {
                name: &name,
                version: &version,
            },
            sha256: sha256.as_ref(),
        };
        match lookup::find(client, &token, config.source_at(), wanted).await {
            Ok(Found::Exact(pkg)) => {
                publish::fill_from_package(e, &pkg);
                e.status = Status::Identical;
                e.error = None;
                ci.line(&format!(
                    "  {}: the publishing step could not confirm it, but {} lists it now",
                    e.path,
                    config.source_at()
                ));
            }
            Ok(_) => {
                e.status = Status::Failed;
                e.error = Some(format!(
                    "the publishing step could not confirm this upload (unverified), and {} does not list {name} {version} with its sha256 yet; re-run this step later, or re-run the publishing step with if-exists: skip-identical",
                    config.source_at()
                ));
            }
            Err(err) => {
                e.status = Status::Failed;
                e.auth_refused = err.is_auth();
                e.error = Some(err.to_string());
            }
        }
    }
    // A package another report already listed counts once.
    let mut ids = std::collections::HashSet::new();
    entries.retain(|e| e.id.as_ref().is_none_or(|id| ids.insert(id.clone())));
    Ok(())
}
