//! The registry a run publishes to (or promotes from), read once before anything is
//! sent. One cheap request proves the credentials, so a refused token is one error
//! (exit 4) however many files there are; a registry the token cannot see is named
//! with its organization; and the registry's ecosystem says what kind of package
//! every file must be, so a file that is not one is refused before a byte of it is
//! sent. A token that may read packages but not registries (an OIDC policy's usual
//! scopes) is checked with a one-item listing instead, and the files' own contents
//! say what they are.

use tokio_util::sync::CancellationToken;

use crate::api::model::Registry;
use crate::api::{ApiError, Client, RegistryId};
use crate::artifact::Artifact;
use crate::auth::{Auth, AuthError};
use crate::ci::Ci;
use crate::config::Config;
use crate::config::Opt;
use crate::exit::{Abort, ExitStatus};
use crate::package::Ecosystem;
use crate::retry::Class;
use crate::retry::run;

/// What the check learnt of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// The registry was read: its ecosystem, when it is one of files.
    Read(Option<Ecosystem>),
    /// The token may read packages but not the registry's settings.
    PackagesOnly,
}

/// Where the registry came from and how credentials are named, for messages.
pub(crate) struct Target<'a> {
    pub at: RegistryId<'a>,
    /// The option that names the registry, as the user writes it.
    pub option: String,
    /// The variable holding the API token, as configured.
    pub token_var: &'a str,
}

/// Reads the registry, proving the credentials. A refusal, or a registry the token
/// cannot see, ends the run with exit 4 and one message; any other failure (after
/// the client's retries) with exit 1.
pub(crate) async fn check(client: &Client, auth: &Auth, target: &Target<'_>) -> Result<Known, Abort> {
    // A token provider that fails (the agent, the runner's endpoint) is asked again
    // with the run's retries; the future is dropped when the run is cancelled.
    let never = CancellationToken::new();
    let classify = |e: &AuthError| match e {
        AuthError::Provider(_) => Class::Transient { server_wait: None },
        _ => Class::Permanent,
    };
    let token = run::retry(client.policy(), &never, classify, |_| auth.token(target.at))
        .await
        .map_err(|stopped| Abort(ExitStatus::AuthRefused, stopped.into_inner().into()))?;
    let read = client.registry(target.at, &token).await;
    match read {
        Ok(Registry { ecosystem, .. }) => Ok(Known::Read(Ecosystem::parse(&ecosystem))),
        Err(err) if err.status() == Some(403) => {
            // OIDC tokens cover packages, not registry settings: prove that they may
            // read packages instead.
            match client.list(target.at, &token, None, Some(1)).await {
                Ok(_) => Ok(Known::PackagesOnly),
                Err(err) => Err(failure(&err, auth, target)),
            }
        }
        Err(err) => Err(failure(&err, auth, target)),
    }
}

/// The run-ending error for a failed check, saying what the API let us know.
fn failure(err: &ApiError, auth: &Auth, target: &Target<'_>) -> Abort {
    let (org, registry) = (target.at.org, target.at.slug);
    let oidc = auth.is_oidc();
    let credentials = if oidc {
        format!("the OIDC token (audience https://packages.buildkite.com/{org}/{registry})")
    } else {
        format!("the API token in {}", target.token_var)
    };
    let message = match err.status() {
        Some(401) if oidc => format!(
            "{credentials} was refused by {org}/{registry} ({err}); nothing was sent. Check that the registry's OIDC policy matches this pipeline or workflow"
        ),
        Some(401) => format!(
            "{credentials} was refused by {org}/{registry} ({err}); nothing was sent. Check that the token is valid, not expired, and belongs to organization {org:?}"
        ),
        Some(403) if oidc => format!(
            "{credentials} may not read packages in {org}/{registry} ({err}); nothing was sent. The registry's OIDC policy must grant read_packages and write_packages to this pipeline or workflow"
        ),
        Some(403) => format!(
            "{credentials} may not read packages in {org}/{registry} ({err}); nothing was sent. Give the token the read_packages and write_packages scopes and access to organization {org:?}"
        ),
        Some(404) => format!(
            "registry {registry:?} was not found in organization {org:?} ({err}); nothing was sent. Check {} and the organization, and that {credentials} belongs to organization {org:?}",
            target.option
        ),
        _ => {
            return Abort(
                ExitStatus::Failed,
                anyhow::anyhow!("cannot read registry {org}/{registry} before publishing: {err}"),
            );
        }
    };
    Abort(ExitStatus::AuthRefused, anyhow::anyhow!(message))
}

/// Reads every file again as a package of `ecosystem` where it was taken for another
/// kind, in place. Blocking file reads run on a blocking thread.
pub(crate) async fn expect_all(artifacts: Vec<Artifact>, ecosystem: Ecosystem) -> Result<Vec<Artifact>, Abort> {
    tokio::task::spawn_blocking(move || {
        let mut artifacts = artifacts;
        for a in &mut artifacts {
            let rel = a.rel.clone();
            a.expect(ecosystem)
                .map_err(|e| Abort::usage(anyhow::anyhow!("cannot read {rel}: {e}")))?;
        }
        Ok(artifacts)
    })
    .await
    .map_err(|e| Abort(ExitStatus::Failed, e.into()))?
}

/// Reads the registry the files go to (or come from, in a promote-only step) before
/// anything is sent: the credentials are proven once, and every file is checked as
/// a package of the registry's ecosystem.
pub(crate) async fn prepare(
    ci: &Ci,
    config: &Config,
    client: &Client,
    auth: &Auth,
    artifacts: Vec<Artifact>,
) -> Result<Vec<Artifact>, Abort> {
    let option = if config.is_promote_only() {
        Opt::PromoteFrom
    } else {
        Opt::Registry
    };
    let target = Target {
        at: config.source_at(),
        option: config.spelling().name(option),
        token_var: config.api_token_env(),
    };
    let known = check(client, auth, &target).await?;
    let (org, slug) = (target.at.org, target.at.slug);
    match known {
        Known::Read(Some(ecosystem)) => {
            ci.line(&format!("registry {org}/{slug} holds {} packages", ecosystem.label()));
            expect_all(artifacts, ecosystem).await
        }
        Known::Read(None) => Ok(artifacts),
        Known::PackagesOnly => {
            ci.line(&format!(
                "registry {org}/{slug}: this token may read its packages but not its settings, so each file's contents say what kind of package it is"
            ));
            Ok(artifacts)
        }
    }
}

/// At most this many file-name warnings are printed one by one.
const NAME_WARNINGS: usize = 20;

/// A file whose name says another package than its contents gets a warning: the
/// contents win, since the registry reads them.
pub(crate) fn warn_about_names(ci: &Ci, artifacts: &[Artifact]) {
    let mismatched: Vec<_> = artifacts
        .iter()
        .filter_map(|a| Some((a, a.identity.as_ref().ok()?.name_says.as_ref()?)))
        .collect();
    for (a, conventional) in mismatched.iter().take(NAME_WARNINGS) {
        ci.warning(&format!(
            "{}: the file name does not match the package inside, {} (its tool would name it {conventional}); the registry reads the package, so it is published as {}",
            a.rel,
            a.describe(),
            a.describe()
        ));
    }
    if mismatched.len() > NAME_WARNINGS {
        ci.warning(&format!(
            "{} more files are named otherwise than the packages inside them; each is published as its contents say",
            mismatched.len() - NAME_WARNINGS
        ));
    }
}
