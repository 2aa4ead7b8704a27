//! The emulator's one credentials check: a bearer token is an API token with its
//! scopes, or an OIDC JWT whose audience is the registry and whose lifetime is at most
//! five minutes; the organization and registry must exist. Also GitHub's ID token
//! endpoint, for the action's OIDC flow.

use super::*;

pub(super) fn err(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Checks the bearer token for `scope` on `registry`.
pub(super) fn authorize(
    s: &EmuState,
    headers: &HeaderMap,
    org: &str,
    registry: &str,
    scope: &str,
) -> Result<(), Response> {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "Authentication required. Please supply a valid API Access Token",
        ));
    };
    if token.starts_with("eyJ") {
        let claims = decode_jwt(token).ok_or_else(|| err(StatusCode::UNAUTHORIZED, "Invalid OIDC token"))?;
        let aud = format!("https://packages.buildkite.com/{org}/{registry}");
        if claims.get("aud").and_then(Value::as_str) != Some(aud.as_str()) {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                &format!("OIDC token audience must be {aud}"),
            ));
        }
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if exp <= now || exp.saturating_sub(iat) > 300 {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "OIDC token expired or lives longer than 5 minutes",
            ));
        }
        if !s.cfg().oidc_scopes.iter().any(|x| x == scope) {
            return Err(err(
                StatusCode::FORBIDDEN,
                &format!("The OIDC policy does not grant the {scope} scope"),
            ));
        }
        return Ok(());
    }
    match s.cfg().tokens.get(token) {
        None => Err(err(
            StatusCode::UNAUTHORIZED,
            "Authentication required. Please supply a valid API Access Token",
        )),
        Some(scopes) if !scopes.iter().any(|x| x == scope) => Err(err(
            StatusCode::FORBIDDEN,
            &format!("Your access token doesn't have the {scope} scope"),
        )),
        Some(_) => Ok(()),
    }
}

pub(super) fn decode_jwt(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The one check every registry endpoint makes: the organization and registry exist,
/// and the token holds every scope in `scopes` for this registry.
pub(super) fn guard(
    s: &EmuState,
    headers: &HeaderMap,
    org: &str,
    registry: &str,
    scopes: &[&str],
) -> Result<(), Response> {
    check_org(s, org, registry)?;
    scopes
        .iter()
        .try_for_each(|scope| authorize(s, headers, org, registry, scope))
}

pub(super) fn check_org(s: &EmuState, org: &str, registry: &str) -> Result<(), Response> {
    if org != s.cfg().org {
        return Err(err(StatusCode::NOT_FOUND, "No organization found"));
    }
    if !s.registries.contains_key(registry) {
        return Err(err(StatusCode::NOT_FOUND, "No registry found"));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    pub(super) audience: Option<String>,
}

/// A stand-in for the GitHub runner's ID token endpoint: needs the request token
/// `gh-request-token` as Bearer and answers `{"value": "<jwt>"}` for `audience`.
pub(super) async fn github_token(Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    use base64::Engine;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer gh-request-token") {
        return err(StatusCode::UNAUTHORIZED, "bad request token");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.c2ln",
        enc(&json!({"alg": "RS256", "typ": "JWT"})),
        enc(
            &json!({"iss": "https://token.actions.githubusercontent.com", "aud": q.audience, "iat": now, "exp": now + 300})
        )
    );
    axum::Json(json!({ "value": jwt })).into_response()
}
