//! Credentials for the Packages API. An API token from the variable named by
//! `api-token-env` wins; otherwise, with `oidc` on `auto` or `true`, an OIDC token is
//! minted per registry audience (`https://packages.buildkite.com/{org}/{registry}`) by
//! the Buildkite agent or the GitHub runner. OIDC tokens live at most 300 s, so a
//! cached one is replaced well before it expires. Every token is handed to the CI
//! adapter to be masked or redacted before it could be printed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::Mutex;

use crate::api::Client;
use crate::ci::{Ci, Platform};
use crate::config::{OidcMode, Opt, RegistryId, Spelling};
use crate::secret::Secret;

/// Lifetime asked for (and assumed when a token does not say) for OIDC tokens.
pub(crate) const OIDC_LIFETIME: Duration = Duration::from_secs(300);
/// A cached OIDC token is replaced once it has less than this left, so the request
/// that uses it cannot outlive it.
pub(crate) const OIDC_MARGIN: Duration = Duration::from_secs(60);

/// Why no credentials could be had.
#[derive(Debug, Error)]
pub(crate) enum AuthError {
    /// No token and OIDC is off or unavailable.
    #[error("{0}")]
    NoCredentials(String),
    /// GitHub's token request variables are missing: the permission is not granted.
    #[error(
        "no API token in {token_var}, and GitHub did not offer an OIDC token: the job needs \
         `permissions: id-token: write` (pull requests from forks never get one); or set the \
         `api-token` input"
    )]
    MissingIdTokenPermission { token_var: String },
    /// The token provider failed.
    #[error("{0:#}")]
    Provider(anyhow::Error),
}

/// The audience of a registry's OIDC tokens.
#[must_use]
pub(crate) fn audience(registry: RegistryId<'_>) -> String {
    format!("https://packages.buildkite.com/{}/{}", registry.org, registry.slug)
}

/// How long a JWT has left, from its `exp` claim (the payload is read, not verified:
/// the registry verifies it).
fn remaining_lifetime(token: &Secret) -> Option<Duration> {
    use base64::Engine;
    let payload = token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(exp.saturating_sub(now)))
}

enum Kind {
    Static(Secret),
    BuildkiteOidc,
    GitHubOidc { url: String, request_token: Secret },
}

/// One audience's cached token and until when it is fresh.
type Slot = Arc<Mutex<Option<(Secret, Instant)>>>;

/// Hands out a token per registry. Each audience has its own lock, so concurrent
/// uploads share one token request, and a slow provider for one registry does not
/// hold up another; every provider call has a time limit.
pub(crate) struct Auth {
    kind: Kind,
    ci: Arc<Ci>,
    client: Client,
    cache: std::sync::Mutex<HashMap<String, Slot>>,
}

impl Auth {
    /// Chooses the credential source. Fails before any network call when there is none,
    /// naming the options to change in the user's `spelling`.
    pub(crate) async fn new(
        ci: Arc<Ci>,
        client: Client,
        token_var: &str,
        oidc: OidcMode,
        spelling: Spelling,
    ) -> Result<Auth, AuthError> {
        let token = ci.var(token_var).map(Secret::new).filter(|t| !t.is_empty());
        let kind = match (token, oidc) {
            (Some(token), OidcMode::Auto | OidcMode::Off) => {
                ci.protect(&token).await;
                Kind::Static(token)
            }
            (_, OidcMode::Off) => {
                return Err(AuthError::NoCredentials(format!(
                    "no API token: set {token_var} (or name another variable with {}), or allow OIDC with {}",
                    spelling.name(Opt::ApiTokenEnv),
                    spelling.setting(Opt::Oidc, "auto")
                )));
            }
            (_, mode) => oidc_kind(&ci, token_var, mode, spelling).await?,
        };
        Ok(Auth {
            kind,
            ci,
            client,
            cache: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Whether tokens are minted per registry (OIDC).
    #[must_use]
    pub(crate) fn is_oidc(&self) -> bool {
        !matches!(self.kind, Kind::Static(_))
    }

    /// A token valid for `registry`, fresh enough for the request about to be made.
    pub(crate) async fn token(&self, registry: RegistryId<'_>) -> Result<Secret, AuthError> {
        let audience = match &self.kind {
            Kind::Static(token) => return Ok(token.clone()),
            _ => audience(registry),
        };
        let slot = Arc::clone(
            self.cache
                .lock()
                .expect("token cache lock")
                .entry(audience.clone())
                .or_default(),
        );
        let mut cached = slot.lock().await;
        if let Some((token, fresh_until)) = cached.as_ref() {
            if Instant::now() < *fresh_until {
                return Ok(token.clone());
            }
        }
        let token = match &self.kind {
            Kind::BuildkiteOidc => self
                .ci
                .agent()
                .oidc_token(&audience)
                .await
                .map_err(AuthError::Provider)?,
            Kind::GitHubOidc { url, request_token } => self
                .client
                .github_id_token(url, request_token, &audience)
                .await
                .map_err(|e| {
                    AuthError::Provider(anyhow::anyhow!("cannot get a GitHub OIDC token for {audience}: {e}"))
                })?,
            Kind::Static(_) => unreachable!("static tokens return early"),
        };
        self.ci.protect(&token).await;
        let left = remaining_lifetime(&token).unwrap_or(OIDC_LIFETIME);
        *cached = Some((token.clone(), Instant::now() + left.saturating_sub(OIDC_MARGIN)));
        Ok(token)
    }
}

/// Where OIDC tokens come from on this CI, or why there are none.
async fn oidc_kind(ci: &Ci, token_var: &str, mode: OidcMode, spelling: Spelling) -> Result<Kind, AuthError> {
    match ci.platform {
        Platform::Buildkite => Ok(Kind::BuildkiteOidc),
        Platform::GitHub => match (
            ci.var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            ci.var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(url), Some(request_token)) => {
                let request_token = Secret::new(request_token);
                ci.protect(&request_token).await;
                Ok(Kind::GitHubOidc {
                    url: url.to_owned(),
                    request_token,
                })
            }
            _ => Err(AuthError::MissingIdTokenPermission {
                token_var: token_var.to_owned(),
            }),
        },
        Platform::Local => {
            let why = if mode == OidcMode::Required {
                format!(
                    "{} needs Buildkite or GitHub Actions; ",
                    spelling.setting(Opt::Oidc, "true")
                )
            } else {
                String::new()
            };
            Err(AuthError::NoCredentials(format!(
                "no API token: {why}set {token_var} to an API token with the read_packages and write_packages scopes"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn jwt(exp_in: i64) -> Secret {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let enc = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        Secret::new(format!(
            "{}.{}.sig",
            enc("{}".into()),
            enc(format!("{{\"exp\":{}}}", now + exp_in))
        ))
    }

    #[test]
    fn lifetime_comes_from_the_exp_claim() {
        let left = remaining_lifetime(&jwt(200)).unwrap();
        assert!(
            left <= Duration::from_secs(200) && left >= Duration::from_secs(198),
            "{left:?}"
        );
        assert_eq!(remaining_lifetime(&jwt(-5)), Some(Duration::ZERO));
        assert_eq!(remaining_lifetime(&Secret::new("bkua_not_a_jwt")), None);
    }
}
