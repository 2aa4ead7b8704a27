//! The subcommands for people: `list`, `get`, `copy` and `delete` over the Packages
//! API, with aligned tables by default and the API's objects as JSON with `--json`.
//! The token comes only from `BUILDKITE_API_TOKEN`, never from a flag.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use crate::api::Client;
use crate::app::Abort;
use crate::ci::Platform;
use crate::cli::{self, Command};
use crate::config;
use crate::config::sources::{RawMap, RawValue};
use crate::exit::ExitStatus;
use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// Runs `list`, `get`, `copy` or `delete`; errors go to stderr.
pub async fn run(vars: &BTreeMap<String, String>, command: Command) -> ExitStatus {
    match api_command(vars, command).await {
        Ok(status) => status,
        Err(Abort(status, err)) => {
            eprintln!("error: {err:#}");
            status
        }
    }
}

struct Session {
    client: Client,
    token: Secret,
    org: String,
}

fn session(vars: &BTreeMap<String, String>, target: &cli::Target) -> Result<Session, Abort> {
    let mut raw = RawMap::new();
    let api_url = target
        .api_url
        .clone()
        .or_else(|| vars.get("PACKAGE_PUBLISHER_API_URL").cloned());
    if let Some(url) = api_url {
        raw.insert("api-url", RawValue::scalar(url, "--api-url"));
    }
    let org = target
        .org
        .clone()
        .or_else(|| vars.get("BUILDKITE_ORGANIZATION_SLUG").cloned())
        .filter(|o| !o.is_empty());
    let Some(org) = org else {
        return Err(Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("option --org is required (or set BUILDKITE_ORGANIZATION_SLUG)"),
        ));
    };
    raw.insert("organization", RawValue::scalar(org, "--org"));
    raw.insert("registry", RawValue::scalar("unused", "--registry"));
    raw.insert("artifacts", RawValue::scalar("unused", "--registry"));
    let config =
        config::load(&BTreeMap::new(), Platform::Local, raw).map_err(|e| Abort(ExitStatus::Usage, e.into()))?;
    let token = vars.get("BUILDKITE_API_TOKEN").map(Secret::new).filter(|t| !t.is_empty()).ok_or_else(|| {
        Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("no API token: set BUILDKITE_API_TOKEN (a token is never taken as a flag, so it stays out of shell history)"),
        )
    })?;
    let client = Client::new(config.api_url(), RetryPolicy { retries: 3 }, config.stall_timeout())?;
    Ok(Session {
        client,
        token,
        org: config.organization().to_owned(),
    })
}

fn check_slug(flag: &str, value: &str) -> Result<(), Abort> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Abort(
            ExitStatus::Usage,
            anyhow::anyhow!("--{flag} {value:?} is not a registry slug (lower-case letters, digits, `-` and `_`)"),
        ))
    }
}

fn api_status(err: &crate::api::ApiError) -> ExitStatus {
    if err.is_auth() {
        ExitStatus::AuthRefused
    } else {
        ExitStatus::Failed
    }
}

async fn api_command(vars: &BTreeMap<String, String>, command: Command) -> Result<ExitStatus, Abort> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::List(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            let packages = s
                .client
                .list(&s.org, &args.registry, &s.token, args.name.as_deref(), args.limit)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&packages)?)?;
            } else {
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
                writeln!(out, "{} package(s) in {}/{}", packages.len(), s.org, args.registry)?;
            }
        }
        Command::Get(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            let p = s
                .client
                .get(&s.org, &args.registry, &s.token, &args.id)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            print_package(&mut out, &p, args.json)?;
        }
        Command::Copy(args) => {
            check_slug("registry", &args.registry)?;
            check_slug("to", &args.to)?;
            if args.registry == args.to {
                return Err(Abort(
                    ExitStatus::Usage,
                    anyhow::anyhow!("--to {:?} is the source registry; copy into a different one", args.to),
                ));
            }
            let s = session(vars, &args.target)?;
            let p = s
                .client
                .copy(&s.org, &args.registry, &s.token, &args.id, &args.to)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            print_package(&mut out, &p, args.json)?;
        }
        Command::Delete(args) => {
            check_slug("registry", &args.registry)?;
            let s = session(vars, &args.target)?;
            if !args.yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Abort(
                        ExitStatus::Usage,
                        anyhow::anyhow!(
                            "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
                        ),
                    ));
                }
                let p = s
                    .client
                    .get(&s.org, &args.registry, &s.token, &args.id)
                    .await
                    .map_err(|e| Abort(api_status(&e), e.into()))?;
                write!(
                    out,
                    "Delete {} {} ({}) from {}/{}? [y/N] ",
                    p.name,
                    p.version.as_deref().unwrap_or(""),
                    p.id,
                    s.org,
                    args.registry
                )?;
                out.flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
                    writeln!(out, "not deleted")?;
                    return Ok(ExitStatus::Failed);
                }
            }
            s.client
                .delete(&s.org, &args.registry, &s.token, &args.id)
                .await
                .map_err(|e| Abort(api_status(&e), e.into()))?;
            if args.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"deleted": args.id, "registry": args.registry, "organization": s.org})
                )?;
            } else {
                writeln!(out, "deleted {} from {}/{}", args.id, s.org, args.registry)?;
            }
        }
        Command::Publish(_) | Command::Promote(_) => unreachable!("handled by run_job"),
    }
    Ok(ExitStatus::Success)
}

fn print_package(out: &mut impl Write, p: &crate::api::model::Package, json: bool) -> anyhow::Result<()> {
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
