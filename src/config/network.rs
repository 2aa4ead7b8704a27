//! How a run reaches the network, read from the injected environment like every other
//! setting (never from the process): certificates to trust besides the system store
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`), the proxies (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`, each in either case, the lower-case spelling first as curl reads them),
//! and the CI job the `User-Agent` names for the registry's audit log. The HTTP client
//! is built from this alone, so a test states its whole network in the variables it
//! passes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use super::error::ConfigError;
use super::platform::Platform;

/// The network settings of a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Network {
    /// `SSL_CERT_FILE`: a PEM file of CA certificates trusted besides the system store.
    pub cert_file: Option<PathBuf>,
    /// `SSL_CERT_DIR`: directories (`:`-separated) of PEM files trusted the same way.
    pub cert_dirs: Vec<PathBuf>,
    /// The proxy for `https://` URLs.
    pub https_proxy: Option<ProxyUrl>,
    /// The proxy for `http://` URLs.
    pub http_proxy: Option<ProxyUrl>,
    /// Hosts reached without a proxy, in curl's `NO_PROXY` syntax.
    pub no_proxy: Option<String>,
    /// The CI job this run belongs to (a build or run URL, or a job id), for the
    /// `User-Agent` of API calls.
    pub job: Option<String>,
}

/// A proxy URL. It may hold credentials (`http://user:password@proxy:3128`), so
/// `Debug` and `Display` show it without them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl(Url);

impl ProxyUrl {
    /// The URL with its credentials, for the one place that connects through it.
    #[must_use]
    pub(crate) fn expose(&self) -> &Url {
        &self.0
    }

    /// The URL with the user name and password replaced by `***`.
    #[must_use]
    pub(crate) fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    let _ = shown.set_username("***");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Reads the network settings. A variable set to the empty string counts as unset, as
/// curl treats it.
pub(super) fn network(vars: &BTreeMap<String, String>) -> Result<Network, ConfigError> {
    let cert_file = var(vars, "SSL_CERT_FILE").map(|(_, v)| PathBuf::from(v));
    let cert_dirs = var(vars, "SSL_CERT_DIR")
        .map(|(_, v)| v.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default();
    Ok(Network {
        cert_file,
        cert_dirs,
        https_proxy: proxy(vars, "https_proxy", "HTTPS_PROXY")?,
        http_proxy: proxy(vars, "http_proxy", "HTTP_PROXY")?,
        no_proxy: either(vars, "no_proxy", "NO_PROXY").map(|(_, v)| v.to_owned()),
        job: job(vars),
    })
}

/// A non-empty variable, with its name.
fn var<'a>(vars: &'a BTreeMap<String, String>, name: &'static str) -> Option<(&'static str, &'a str)> {
    vars.get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| (name, v))
}

/// The lower-case spelling of a variable, else the upper-case one.
fn either<'a>(
    vars: &'a BTreeMap<String, String>,
    lower: &'static str,
    upper: &'static str,
) -> Option<(&'static str, &'a str)> {
    var(vars, lower).or_else(|| var(vars, upper))
}

/// A proxy variable: a URL, `http://` assumed when it names no scheme (`proxy:3128`),
/// as curl does.
fn proxy(
    vars: &BTreeMap<String, String>,
    lower: &'static str,
    upper: &'static str,
) -> Result<Option<ProxyUrl>, ConfigError> {
    let Some((name, value)) = either(vars, lower, upper) else {
        return Ok(None);
    };
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let invalid = |why: &str| ConfigError::Invalid {
        option: name,
        origin: name.to_owned(),
        value: shown_proxy(value),
        accepted: format!(
            "{why}; it takes a proxy URL such as http://proxy.example:3128 (with credentials: \
             http://user:password@proxy.example:3128)"
        ),
    };
    let url = Url::parse(&with_scheme).map_err(|e| invalid(&format!("it is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("only http:// and https:// proxies with a host are supported"));
    }
    Ok(Some(ProxyUrl(url)))
}

/// A proxy value for a message: its credentials are never shown, even when the rest
/// does not parse.
fn shown_proxy(value: &str) -> String {
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let shown = match rest.rsplit_once('@') {
        Some((_, host)) if scheme.is_empty() => format!("***@{host}"),
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => value.to_owned(),
    };
    format!("{:?}", shown.chars().take(120).collect::<String>())
}

/// The CI job a run belongs to: on Buildkite the job's own link (the build URL and
/// `#` the job id; the job id alone without a build URL), on GitHub Actions the
/// workflow run's URL.
fn job(vars: &BTreeMap<String, String>) -> Option<String> {
    let get = |name| var(vars, name).map(|(_, v)| v);
    let link = match Platform::detect(vars) {
        Platform::Buildkite => match (get("BUILDKITE_BUILD_URL"), get("BUILDKITE_JOB_ID")) {
            (Some(build), Some(job)) => format!("{build}#{job}"),
            (Some(build), None) => build.to_owned(),
            (None, Some(job)) => format!("job {job}"),
            (None, None) => return None,
        },
        Platform::GitHub => {
            let run = get("GITHUB_RUN_ID")?;
            match (get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY")) {
                (Some(server), Some(repo)) => format!("{}/{repo}/actions/runs/{run}", server.trim_end_matches('/')),
                _ => format!("run {run}"),
            }
        }
        Platform::Local => return None,
    };
    // A header value is visible ASCII; anything else (or a runaway value) is dropped.
    let clean: String = link
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(300)
        .collect();
    Some(clean).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn proxies_come_from_either_spelling_lower_case_first() {
        let n = network(&vars(&[
            ("HTTPS_PROXY", "http://upper:3128"),
            ("https_proxy", "http://lower:3128"),
            ("HTTP_PROXY", "plain:8080"),
            ("NO_PROXY", "localhost,.internal"),
        ]))
        .unwrap();
        assert_eq!(n.https_proxy.unwrap().expose().as_str(), "http://lower:3128/");
        assert_eq!(n.http_proxy.unwrap().expose().as_str(), "http://plain:8080/");
        assert_eq!(n.no_proxy.as_deref(), Some("localhost,.internal"));
    }

    #[test]
    fn proxy_credentials_are_never_shown() {
        let n = network(&vars(&[("HTTPS_PROXY", "http://alice:s3cret@proxy:3128")])).unwrap();
        let proxy = n.https_proxy.unwrap();
        assert_eq!(proxy.expose().password(), Some("s3cret"));
        for shown in [
            format!("{proxy}"),
            format!("{proxy:?}"),
            format!("{n:?}", n = proxy.clone()),
        ] {
            assert!(!shown.contains("s3cret") && !shown.contains("alice"), "{shown}");
        }
        let err = network(&vars(&[("HTTPS_PROXY", "http://alice:s3cret@[bad:3128")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HTTPS_PROXY") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn certificates_and_empty_values() {
        let n = network(&vars(&[
            ("SSL_CERT_FILE", "/etc/company/ca.pem"),
            ("SSL_CERT_DIR", "/a::/b"),
            ("HTTP_PROXY", ""),
        ]))
        .unwrap();
        assert_eq!(n.cert_file, Some(PathBuf::from("/etc/company/ca.pem")));
        assert_eq!(n.cert_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(n.http_proxy.is_none());
    }

    #[test]
    fn the_job_is_named_on_each_platform() {
        let bk = network(&vars(&[
            ("BUILDKITE", "true"),
            ("BUILDKITE_BUILD_URL", "https://buildkite.com/acme/app/builds/7"),
            ("BUILDKITE_JOB_ID", "0190-ab"),
        ]))
        .unwrap();
        assert_eq!(
            bk.job.as_deref(),
            Some("https://buildkite.com/acme/app/builds/7#0190-ab")
        );
        let gh = network(&vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "acme/app"),
            ("GITHUB_RUN_ID", "42"),
        ]))
        .unwrap();
        assert_eq!(gh.job.as_deref(), Some("https://github.com/acme/app/actions/runs/42"));
        let local = network(&vars(&[("BUILDKITE_JOB_ID", "x")])).unwrap();
        assert_eq!(local.job, None);
        let hostile = network(&vars(&[("BUILDKITE", "true"), ("BUILDKITE_JOB_ID", "a\r\nX-Evil: 1")])).unwrap();
        assert_eq!(hostile.job.as_deref(), Some("job aX-Evil: 1"));
    }
}
