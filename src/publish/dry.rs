//! The dry run: the real run with every write removed. Each file is looked up as
//! the real run would look it up once the registry refused it as a duplicate, and
//! `if-exists` decides through [`policy::predict`] (the real run's decision, made up
//! front) what the real run would end with: `planned` (new, or a replacement),
//! `identical`, `skipped`, or `failed` for a conflict; a file that is not a valid
//! package is `invalid`. Lookups run `concurrency` at a time and only read.

use futures_util::StreamExt;

use super::failure::{self, CANCELLED_CHECKING, Kind, Subject};
use super::policy::{self, Prediction};
use super::{Publisher, fill_from_package, invalid_entry, new_entry};
use crate::artifact::Artifact;
use crate::report::{Entry, Status};

impl Publisher {
    /// Classifies every file as the real run would end with it; entries in input
    /// order.
    pub(crate) async fn classify_all(&self, artifacts: Vec<Artifact>) -> Vec<Entry> {
        futures_util::stream::iter(artifacts)
            .map(|a| async move { self.classify(&a).await })
            .buffered(self.concurrency.max(1))
            .collect()
            .await
    }

    async fn classify(&self, a: &Artifact) -> Entry {
        let Ok(identity) = &a.identity else {
            return invalid_entry(a);
        };
        let mut entry = new_entry(a);
        entry.attestations = self.attestations.as_ref().map_or(0, |(_, n)| *n);
        let found = if self.cancel.is_cancelled() {
            None
        } else {
            self.within_grace(self.lookup(a)).await
        };
        let found = match found {
            Some(Ok(found)) => found,
            Some(Err(failure)) => {
                entry.status = Status::Failed;
                entry.auth_refused = failure.kind == Kind::Auth;
                entry.error = Some(failure.context("cannot look the package up").message);
                return entry;
            }
            None => {
                entry.status = Status::Failed;
                entry.error = Some(CANCELLED_CHECKING.to_owned());
                return entry;
            }
        };
        match policy::predict(found, self.if_exists, identity.variant.is_some()) {
            Prediction::Replaces(old) => {
                self.ci.line(&format!(
                    "  {}: would replace the existing {} ({})",
                    a.rel,
                    a.describe(),
                    old.id
                ));
            }
            Prediction::Ends(status, pkg) => {
                entry.status = status;
                if let Some(pkg) = &pkg {
                    fill_from_package(&mut entry, pkg);
                }
            }
            Prediction::Refused(refusal) => {
                let subject = Subject {
                    identity: &a.describe(),
                    sha256: a.sha256.as_ref(),
                    file_name: &a.file_name,
                    err: None,
                    settled: std::time::Duration::ZERO,
                };
                let failure = failure::refusal(&subject, refusal);
                if let Some(pkg) = &failure.package {
                    fill_from_package(&mut entry, pkg);
                }
                entry.status = Status::Failed;
                entry.error = Some(failure.message);
            }
        }
        entry
    }
}
