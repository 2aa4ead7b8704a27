//! Buildkite specifics: every call to `buildkite-agent` (annotate, meta-data, artifact
//! download, OIDC tokens, redactor), and the log's inline link format. The agent is
//! called by name through `PATH`, so tests put a recording shim in front of it. Every
//! call has a time limit (`stall-timeout`; artifact downloads [`DOWNLOAD_TIMEOUT`]):
//! a hung agent is killed and reported, never waited on forever.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

use crate::secret::Secret;

/// The annotation size limit (after redaction), in bytes.
pub(crate) const ANNOTATION_LIMIT: usize = 1024 * 1024;
/// The largest meta-data value written, in bytes (the agent's limit is 100 KB).
pub(crate) const META_DATA_LIMIT: usize = 100_000;

/// The longest an `artifact download` may take.
pub(crate) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The `buildkite-agent` command, with the time limit its calls get.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Agent {
    pub timeout: Duration,
}

/// Why an agent call failed, in the kinds callers decide on.
#[derive(Debug, Error)]
pub(crate) enum AgentError {
    /// The agent could not be started.
    #[error("cannot run `buildkite-agent {command}` (is the agent on PATH?): {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The call outlived its time limit and was killed.
    #[error(
        "`buildkite-agent {command}` did not finish within {secs} s and was stopped (the agent may be hung or unable to reach Buildkite)"
    )]
    TimedOut { command: String, secs: u64 },
    /// The agent exited unsuccessfully.
    #[error("`buildkite-agent {command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        code: Option<i32>,
        status: String,
        stderr: String,
    },
}

impl AgentError {
    /// The exit code of a call that ran and failed.
    #[must_use]
    pub(crate) fn code(&self) -> Option<i32> {
        match self {
            AgentError::Failed { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether the agent said something like `text` (case-insensitive) on stderr.
    #[must_use]
    pub(crate) fn says(&self, text: &str) -> bool {
        match self {
            AgentError::Failed { stderr, .. } => stderr.to_ascii_lowercase().contains(&text.to_ascii_lowercase()),
            _ => false,
        }
    }
}

/// Runs `buildkite-agent ARGS` with `stdin` piped in and returns its stdout; kills it
/// after `limit`.
async fn agent_within(limit: Duration, args: &[&str], stdin: Option<&str>) -> Result<String, AgentError> {
    let command = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    match tokio::time::timeout(limit, agent(&command, args, stdin)).await {
        Ok(result) => result,
        Err(_) => Err(AgentError::TimedOut {
            command,
            secs: limit.as_secs(),
        }),
    }
}

/// Runs `buildkite-agent ARGS` with `stdin` piped in and returns its stdout.
async fn agent(command: &str, args: &[&str], stdin: Option<&str>) -> Result<String, AgentError> {
    let spawn = |source| AgentError::Spawn {
        command: command.to_owned(),
        source,
    };
    let mut cmd = tokio::process::Command::new("buildkite-agent");
    // Its own process group: the agent signals the job's whole group on a cancel,
    // and a `meta-data set` or `annotate` killed mid-write would lose the report.
    // The call stays bounded by its caller's time limit (and is killed on drop).
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // An agent that exits without reading its input is judged by its exit status.
        let _ = pipe.write_all(input.as_bytes()).await;
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(spawn)?;
    if !out.status.success() {
        return Err(AgentError::Failed {
            command: command.to_owned(),
            code: out.status.code(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Agent {
    /// Hands a secret to the agent's log redactor (agent 3.67+). Failure is not fatal:
    /// older agents lack the command, and the agent already redacts its own OIDC tokens.
    pub(crate) async fn redactor_add(&self, secret: &Secret) {
        if let Err(err) = agent_within(self.timeout, &["redactor", "add"], Some(secret.expose())).await {
            eprintln!("warning: could not register a token with the log redactor: {err:#}");
        }
    }

    /// Requests an OIDC token for `audience`, valid for 300 s (Buildkite's maximum for
    /// Package Registries).
    pub(crate) async fn oidc_token(&self, audience: &str) -> anyhow::Result<Secret> {
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
    /// Agents before 3.65 know no `--priority`: the annotation is then written
    /// without it, and the returned note says so.
    pub(crate) async fn annotate(
        &self,
        body: &str,
        style: &str,
        context: &str,
        priority: u8,
    ) -> Result<Option<String>, AgentError> {
        let priority = priority.to_string();
        let mut args = vec!["annotate", "--style", style, "--context", context];
        let with_priority = [args.as_slice(), &["--priority", &priority]].concat();
        match agent_within(self.timeout, &with_priority, Some(body)).await {
            Ok(_) => Ok(None),
            Err(err) if err.says("priority") => {
                args.truncate(5);
                agent_within(self.timeout, &args, Some(body)).await?;
                Ok(Some(
                    "this agent does not know `annotate --priority` (agent 3.65+): the annotation was written without a priority".to_owned(),
                ))
            }
            Err(err) => Err(err),
        }
    }

    /// Sets build meta-data `key` to `value` (piped on stdin).
    pub(crate) async fn meta_data_set(&self, key: &str, value: &str) -> Result<(), AgentError> {
        agent_within(self.timeout, &["meta-data", "set", key], Some(value))
            .await
            .map(drop)
    }

    /// Reads build meta-data `key`; `None` when it does not exist (`meta-data exists`
    /// exits 100). Any other failure is an error, not a missing key.
    pub(crate) async fn meta_data_get(&self, key: &str, build: Option<&str>) -> Result<Option<String>, AgentError> {
        let mut args = vec!["meta-data", "exists", key];
        if let Some(build) = build {
            args.extend(["--build", build]);
        }
        match agent_within(self.timeout, &args, None).await {
            Ok(_) => {}
            Err(err) if err.code() == Some(100) => return Ok(None),
            Err(err) => return Err(err),
        }
        args[1] = "get";
        agent_within(self.timeout, &args, None).await.map(Some)
    }

    /// The build's meta-data keys (of `build`, or this build).
    pub(crate) async fn meta_data_keys(&self, build: Option<&str>) -> Result<Vec<String>, AgentError> {
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

    /// Downloads the artifacts matching `query` into `dest`, from `build` or this
    /// build. `Ok(false)` when nothing matched (the agent's "No artifacts found for
    /// downloading").
    pub(crate) async fn artifact_download(
        &self,
        query: &str,
        dest: &str,
        build: Option<&str>,
    ) -> Result<bool, AgentError> {
        let mut args = vec!["artifact", "download", query, dest];
        if let Some(build) = build {
            args.extend(["--build", build]);
        }
        match agent_within(DOWNLOAD_TIMEOUT, &args, None).await {
            Ok(_) => Ok(true),
            Err(err) if err.says("no artifacts found") => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// An inline link in the job log (the agent's OSC 1339 escape).
#[must_use]
pub(crate) fn log_link(url: &str, text: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| !c.is_control() && *c != '\'').collect::<String>();
    format!("\x1b]1339;url='{}';content='{}'\x07", clean(url), clean(text))
}
