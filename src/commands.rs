//! The subcommands for people: `list`, `get`, `copy` and `delete` over the Packages
//! API, with aligned tables by default and the API's objects as JSON with `--json`.
//! They are not a CI job: their configuration ([`config::load_api`]) is a registry,
//! the API URL, a time limit and the token variable, read from flags and
//! `PACKAGE_PUBLISHER_*` variables by the same rules as `publish`. The token comes only
//! from the environment, never from a flag. Output stops quietly when its reader goes
//! away (`list | head`), as other Unix tools do.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use anyhow::anyhow;

use crate::api::model::Package;
use crate::api::{ApiError, Client, RegistryId};
use crate::cli::{self, CopyArgs, DeleteArgs, IdArgs, ListArgs};
use crate::config::{self, ApiConfig};
use crate::digest::Sha256;
use crate::exit::{Abort, ExitStatus};
use crate::lookup::{self, Found, Key, Wanted};
use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// Ends a subcommand: its status, or its error on stderr with the error's status. A
/// closed standard output (the reader went away) ends it quietly and successfully.
#[must_use]
pub(crate) fn finish(result: Result<ExitStatus, Abort>) -> ExitStatus {
    match result {
        Ok(status) => status,
        Err(Abort(_, err)) if is_broken_pipe(&err) => ExitStatus::Success,
        Err(Abort(status, err)) => {
            eprintln!("error: {err:#}");
            status
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

struct Session {
    client: Client,
    token: Secret,
    config: ApiConfig,
}

impl Session {
    /// `org/registry`, for messages.
    fn registry(&self) -> String {
        format!("{}/{}", self.config.organization(), self.config.registry())
    }
}

/// Validates the flags (and variables) and finds the token; nothing is sent yet.
fn session(vars: &BTreeMap<String, String>, api: &cli::ApiTarget, to: Option<&String>) -> Result<Session, Abort> {
    let config = config::load_api(vars, api.command_line(to)).map_err(Abort::usage)?;
    let token_var = config.api_token_env();
    let token = vars
        .get(token_var)
        .map(Secret::new)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Abort::usage(anyhow!(
                "no API token: set {token_var} (a token is never taken as a flag, so it stays out of shell history)"
            ))
        })?;
    let client = Client::new(
        config.api_url(),
        RetryPolicy { retries: 3 },
        config.timeout(),
        config.network(),
    )
    .map_err(|e| Abort::usage(e.context("cannot build the HTTP client")))?;
    Ok(Session { client, token, config })
}

impl Session {
    /// A failed API call: exit 4 when the credentials were refused, else 1. A request
    /// that ran out of time says which limit it hit.
    fn failure(&self, err: &ApiError) -> Abort {
        let status = if err.is_auth() {
            ExitStatus::AuthRefused
        } else {
            ExitStatus::Failed
        };
        let timed_out = matches!(
            &err,
            ApiError::Transport { timed_out: true, .. } | ApiError::Stalled { .. }
        );
        // A server may echo the token back: it is redacted before the message is printed.
        let message = crate::secret::redact(&err.to_string(), std::slice::from_ref(&self.token));
        if timed_out {
            let limit = self.config.timeout().as_secs();
            return Abort(
                status,
                anyhow!("{message} (each request may take at most {limit} s: set --timeout to allow longer)"),
            );
        }
        Abort(status, anyhow!("{message}"))
    }
}

/// `list`: every package of the registry (optionally by name), as a table or JSON.
pub(crate) async fn list(vars: &BTreeMap<String, String>, args: ListArgs) -> Result<ExitStatus, Abort> {
    let s = session(vars, &args.api, None)?;
    let packages = s
        .client
        .list(s.config.at(), &s.token, args.name.as_deref(), args.limit)
        .await
        .map_err(|e| s.failure(&e))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&packages)?)?;
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<[String; 5]> = packages
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.version.clone().unwrap_or_default(),
                p.created_at.clone().unwrap_or_default(),
                p.id.clone(),
                p.web_url.clone().unwrap_or_default(),
            ]
        })
        .collect();
    write!(out, "{}", table(&["NAME", "VERSION", "CREATED", "ID", "URL"], &rows))?;
    writeln!(out, "{} package(s) in {}", packages.len(), s.registry())?;
    Ok(ExitStatus::Success)
}

/// `get`: one package.
pub(crate) async fn get(vars: &BTreeMap<String, String>, args: IdArgs) -> Result<ExitStatus, Abort> {
    let s = session(vars, &args.api, None)?;
    let p = s
        .client
        .get(s.config.at(), &s.token, &args.id)
        .await
        .map_err(|e| s.failure(&e))?;
    print_package(&mut std::io::stdout().lock(), &p, args.json)?;
    Ok(ExitStatus::Success)
}

/// `copy`: one package into another registry of the organization.
pub(crate) async fn copy(vars: &BTreeMap<String, String>, args: CopyArgs) -> Result<ExitStatus, Abort> {
    let s = session(vars, &args.api, Some(&args.to))?;
    let to = s.config.destination().expect("copy has a destination");
    let p = match s.client.copy(s.config.at(), &s.token, &args.id, to).await {
        Ok(p) => p,
        // Already in the destination: done when it is the same content (as promotion
        // counts it), a conflict naming both digests when it is not.
        Err(err) if err.is_already_exists() => return already_copied(&s, &args, to, err).await,
        Err(err) => return Err(s.failure(&err)),
    };
    print_package(&mut std::io::stdout().lock(), &p, args.json)?;
    Ok(ExitStatus::Success)
}

/// `copy` answered "already exists": compares the source package with what the
/// destination holds under its name and version.
async fn already_copied(s: &Session, args: &CopyArgs, to: &str, refused: ApiError) -> Result<ExitStatus, Abort> {
    let org = s.config.organization();
    let source = s
        .client
        .get(s.config.at(), &s.token, &args.id)
        .await
        .map_err(|e| s.failure(&e))?;
    let version = source.version.clone().unwrap_or_default();
    let ours = source.sha256().and_then(Sha256::parse);
    let wanted = Wanted {
        key: Key::Recorded {
            name: &source.name,
            version: &version,
        },
        sha256: ours.as_ref(),
    };
    let found = lookup::find(&s.client, &s.token, RegistryId { org, slug: to }, wanted)
        .await
        .map_err(|e| s.failure(&e))?;
    let sha256 = ours.map_or_else(|| "(none reported)".to_owned(), |s| s.to_string());
    let digest = |p: &Package| p.sha256().unwrap_or("(none reported)").to_owned();
    match found {
        Found::Exact(existing) => {
            let mut out = std::io::stdout().lock();
            if args.json {
                print_package(&mut out, &existing, true)?;
            } else {
                writeln!(
                    out,
                    "{} {version} is already in {org}/{to} with the same content (sha256 {sha256}): nothing to copy",
                    source.name
                )?;
                print_package(&mut out, &existing, false)?;
            }
            Ok(ExitStatus::Success)
        }
        Found::Other(other) => Err(Abort(
            ExitStatus::Failed,
            anyhow!(
                "{} {version} is already in {org}/{to} with different content: source sha256 {sha256}, destination sha256 {}; not copied",
                source.name,
                digest(&other)
            ),
        )),
        Found::Many(others) => Err(Abort(
            ExitStatus::Failed,
            anyhow!(
                "{} packages named {} {version} are in {org}/{to} and none has the source's sha256 {sha256} (theirs: {}); not copied",
                others.len(),
                source.name,
                others.iter().map(digest).collect::<Vec<_>>().join(", ")
            ),
        )),
        // The destination's listing does not show it (yet): the registry's answer
        // stands.
        Found::Absent | Found::Unknown => Err(s.failure(&refused)),
    }
}

/// `delete`: one package, after a confirmation on a terminal unless `--yes`.
pub(crate) async fn delete(vars: &BTreeMap<String, String>, args: DeleteArgs) -> Result<ExitStatus, Abort> {
    let s = session(vars, &args.api, None)?;
    let (org, registry) = (s.config.organization(), s.config.registry());
    let mut out = std::io::stdout().lock();
    if !args.yes && !confirm(&s, &args.id, &mut out).await? {
        writeln!(out, "not deleted")?;
        return Ok(ExitStatus::Failed);
    }
    s.client
        .delete(s.config.at(), &s.token, &args.id)
        .await
        .map_err(|e| s.failure(&e))?;
    if args.json {
        let deleted = serde_json::json!({"deleted": args.id, "registry": registry, "organization": org});
        writeln!(out, "{deleted}")?;
    } else {
        writeln!(out, "deleted {} from {}", args.id, s.registry())?;
    }
    Ok(ExitStatus::Success)
}

/// Shows the package and asks; `true` when the answer is yes. Refuses without a
/// terminal to ask on.
async fn confirm(s: &Session, id: &str, out: &mut impl Write) -> Result<bool, Abort> {
    if !std::io::stdin().is_terminal() {
        return Err(Abort::usage(anyhow!(
            "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
        )));
    }
    let p = s
        .client
        .get(s.config.at(), &s.token, id)
        .await
        .map_err(|e| s.failure(&e))?;
    write!(
        out,
        "Delete {} {} ({}) from {}? [y/N] ",
        p.name,
        p.version.as_deref().unwrap_or(""),
        p.id,
        s.registry()
    )?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

fn print_package(out: &mut impl Write, p: &Package, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(p)?)?;
        return Ok(());
    }
    let rows = [
        ["name".to_owned(), p.name.clone()],
        ["version".to_owned(), p.version.clone().unwrap_or_default()],
        ["id".to_owned(), p.id.clone()],
        ["sha256".to_owned(), p.sha256().unwrap_or_default().to_owned()],
        ["created".to_owned(), p.created_at.clone().unwrap_or_default()],
        [
            "registry".to_owned(),
            p.registry.as_ref().map(|r| r.slug.clone()).unwrap_or_default(),
        ],
        ["url".to_owned(), p.web_url.clone().unwrap_or_default()],
    ];
    for [k, v] in rows.iter().filter(|[_, v]| !v.is_empty()) {
        writeln!(out, "{k:<9} {v}")?;
    }
    Ok(())
}

/// An aligned text table.
fn table<const N: usize>(headers: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
