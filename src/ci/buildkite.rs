//! Buildkite specifics: every call to `buildkite-agent` (annotate, meta-data, artifact
//! download, OIDC tokens, redactor), and the log's inline link format. The agent is
//! called by name through `PATH`, so tests put a recording shim in front of it. Every
//! call has a time limit (`stall-timeout`; artifact downloads [`DOWNLOAD_TIMEOUT`]):
//! a hung agent is killed and reported, never waited on forever.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;

use crate::secret::Secret;

/// The annotation size limit (after redaction), in bytes.
pub const ANNOTATION_LIMIT: usize = 1024 * 1024;
/// The meta-data value limit, in bytes.
pub const META_DATA_LIMIT: usize = 100 * 1024;

/// The longest an `artifact download` may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The `buildkite-agent` command, with the time limit its calls get.
#[derive(Debug, Clone, Copy)]
pub struct Agent {
    pub timeout: Duration,
}

/// Runs `buildkite-agent ARGS` with `stdin` piped in and returns its stdout; kills it
/// after `limit`.
async fn agent_within(limit: Duration, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let name = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    match tokio::time::timeout(limit, agent(args, stdin)).await {
        Ok(result) => result,
        Err(_) => bail!(
            "`buildkite-agent {name}` did not finish within {} s and was stopped (the agent may be hung or unable to reach Buildkite)",
            limit.as_secs()
        ),
    }
}

/// Runs `buildkite-agent ARGS` with `stdin` piped in and returns its stdout.
async fn agent(args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new("buildkite-agent")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "cannot run `buildkite-agent {}` (is the agent on PATH?)",
                args.first().unwrap_or(&"")
            )
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .context("cannot write to buildkite-agent")?;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .context("buildkite-agent did not finish")?;
    if !out.status.success() {
        bail!(
            "`buildkite-agent {}` failed ({}): {}",
            args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Agent {
    /// Hands a secret to the agent's log redactor (agent 3.67+). Failure is not fatal:
    /// older agents lack the command, and the agent already redacts its own OIDC tokens.
    pub async fn redactor_add(&self, secret: &Secret) {
        if let Err(err) = agent_within(self.timeout, &["redactor", "add"], Some(secret.expose())).await {
            eprintln!("warning: could not register a token with the log redactor: {err:#}");
        }
    }

    /// Requests an OIDC token for `audience`, valid for 300 s (Buildkite's maximum for
    /// Package Registries).
    pub async fn oidc_token(&self, audience: &str) -> anyhow::Result<Secret> {
        let out = agent_within(
            self.timeout,
            &["oidc", "request-token", "--audience", audience, "--lifetime", "300"],
            None,
        )
        .await
        .with_context(|| format!("cannot get an OIDC token for {audience} from the Buildkite agent"))?;
        let token = Secret::new(out);
        if token.is_empty() {
            bail!("the Buildkite agent returned an empty OIDC token for {audience}");
        }
        Ok(token)
    }

    /// Creates or replaces the annotation `context` with `body` (piped on stdin).
    pub async fn annotate(&self, body: &str, style: &str, context: &str, priority: u8) -> anyhow::Result<()> {
        let priority = priority.to_string();
        agent_within(
            self.timeout,
            &[
                "annotate",
                "--style",
                style,
                "--context",
                context,
                "--priority",
                &priority,
            ],
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Sets build meta-data `key` to `value` (piped on stdin).
    pub async fn meta_data_set(&self, key: &str, value: &str) -> anyhow::Result<()> {
        agent_within(self.timeout, &["meta-data", "set", key], Some(value))
            .await
            .map(drop)
    }

    /// Reads build meta-data `key`; `None` when it does not exist.
    pub async fn meta_data_get(&self, key: &str, build: Option<&str>) -> anyhow::Result<Option<String>> {
        let mut args = vec!["meta-data", "exists", key];
        if let Some(build) = build {
            args.extend(["--build", build]);
        }
        if agent_within(self.timeout, &args, None).await.is_err() {
            return Ok(None);
        }
        args[1] = "get";
        agent_within(self.timeout, &args, None).await.map(Some)
    }

    /// The build's meta-data keys (of `build`, or this build).
    pub async fn meta_data_keys(&self, build: Option<&str>) -> anyhow::Result<Vec<String>> {
        let mut args = vec!["meta-data", "keys"];
        if let Some(build) = build {
            args.extend(["--build", build]);
        }
        Ok(agent_within(self.timeout, &args, None)
            .await?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Downloads the artifacts matching `query` into `dest`, from `build` or this build.
    pub async fn artifact_download(&self, query: &str, dest: &str, build: Option<&str>) -> anyhow::Result<()> {
        let mut args = vec!["artifact", "download", query, dest];
        if let Some(build) = build {
            args.extend(["--build", build]);
        }
        agent_within(DOWNLOAD_TIMEOUT, &args, None).await.map(drop)
    }
}

/// An inline link in the job log (the agent's OSC 1339 escape).
#[must_use]
pub fn log_link(url: &str, text: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| !c.is_control() && *c != '\'').collect::<String>();
    format!("\x1b]1339;url='{}';content='{}'\x07", clean(url), clean(text))
}
