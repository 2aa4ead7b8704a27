//! The CI adapter: which platform this run is on, and everything that talks to it —
//! log groups and error lines, masking tokens, the annotation or job summary, step
//! outputs and build meta-data, and OIDC tokens. The platform-specific details live in
//! [`buildkite`] and [`github`]; this module picks between them so the rest of the
//! program never asks which CI it is on. Which [`Platform`] a run is on is decided by
//! `config` (re-exported here). Only this module and `config` read the environment,
//! and they get it as an injected map.

pub(crate) mod buildkite;
pub(crate) mod github;
pub(crate) mod meta_data;
pub(crate) mod outputs;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

pub(crate) use crate::config::Platform;
use crate::report::text::{code_point, is_invisible_format};
use crate::secret::{Secret, redact};

/// Whether the run reads variable `name` for its configuration or credentials (the
/// token variable named by `api-token-env` is checked when it is read).
#[must_use]
pub(crate) fn reads_variable(name: &str) -> bool {
    ["PACKAGE_PUBLISHER_", "INPUT_", "BUILDKITE_PLUGIN_"]
        .iter()
        .any(|p| name.starts_with(p))
        || matches!(
            name,
            "BUILDKITE_API_TOKEN" | "ACTIONS_ID_TOKEN_REQUEST_URL" | "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
        )
}

/// Annotation style, from the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Success,
    Info,
    Warning,
    Error,
}

impl Style {
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Style::Success => "success",
            Style::Info => "info",
            Style::Warning => "warning",
            Style::Error => "error",
        }
    }
}

/// The running CI context: platform, its variables, and the secrets to keep out of
/// everything printed.
pub(crate) struct Ci {
    pub platform: Platform,
    /// Local run with stdout on a terminal: live progress is drawn in place.
    terminal: bool,
    vars: BTreeMap<String, String>,
    secrets: Mutex<Vec<Secret>>,
    in_group: Mutex<bool>,
    /// The time limit of each `buildkite-agent` call.
    agent_timeout: Mutex<std::time::Duration>,
}

impl Ci {
    /// A context for `platform` with the environment `vars`.
    #[must_use]
    pub(crate) fn new(platform: Platform, vars: BTreeMap<String, String>) -> Self {
        use std::io::IsTerminal;
        Ci {
            platform,
            terminal: platform == Platform::Local && std::io::stdout().is_terminal(),
            vars,
            secrets: Mutex::new(Vec::new()),
            in_group: Mutex::new(false),
            agent_timeout: Mutex::new(std::time::Duration::from_secs(60)),
        }
    }

    /// Sets the time limit of agent calls (`stall-timeout`, once it is known).
    pub(crate) fn set_agent_timeout(&self, timeout: std::time::Duration) {
        *self.agent_timeout.lock().expect("agent timeout lock") = timeout;
    }

    /// The Buildkite agent, with its calls' time limit.
    #[must_use]
    pub(crate) fn agent(&self) -> buildkite::Agent {
        buildkite::Agent {
            timeout: *self.agent_timeout.lock().expect("agent timeout lock"),
        }
    }

    /// A variable of the environment the run was given.
    #[must_use]
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Registers a token so it is masked (GitHub `::add-mask::`) or redacted
    /// (`buildkite-agent redactor add`) by the CI system, and scrubbed from everything
    /// this program prints. Must be called before the token could appear anywhere.
    pub(crate) async fn protect(&self, secret: &Secret) {
        if secret.is_empty() {
            return;
        }
        {
            let mut secrets = self.secrets.lock().expect("secrets lock");
            if secrets.contains(secret) {
                return;
            }
            secrets.push(secret.clone());
        }
        match self.platform {
            Platform::GitHub => github::add_mask(secret),
            Platform::Buildkite => self.agent().redactor_add(secret).await,
            Platform::Local => {}
        }
    }

    /// Removes registered secrets from `text`.
    #[must_use]
    pub(crate) fn scrub(&self, text: &str) -> String {
        redact(text, &self.secrets.lock().expect("secrets lock"))
    }

    /// Prints a log line, scrubbed of secrets, kept on one line and free of control
    /// characters: text from file names or servers cannot start a workflow command or
    /// a log group of its own, nor drive the terminal (escape sequences, inline links).
    pub(crate) fn line(&self, text: &str) {
        self.print(&printable(&self.scrub(text)), "");
    }

    /// [`Ci::line`] followed by a link to `url` labelled `label`: an inline link on
    /// Buildkite (only for `http(s)` URLs), the bare URL elsewhere.
    pub(crate) fn line_with_link(&self, text: &str, url: &str, label: &str) {
        let url = printable(&self.scrub(url));
        let link = match self.platform {
            Platform::Buildkite if url.starts_with("https://") || url.starts_with("http://") => {
                buildkite::log_link(&url, label)
            }
            _ => url,
        };
        self.print(&printable(&self.scrub(text)), &format!(" {link}"));
    }

    fn print(&self, text: &str, tail: &str) {
        let mut out = std::io::stdout().lock();
        // On a terminal a progress bar may own the current line: clear it first.
        let clear = if self.terminal { "\r\x1b[2K" } else { "" };
        let _ = writeln!(out, "{clear}{text}{tail}");
    }

    /// Whether live progress can be drawn in place (a local run on a terminal).
    #[must_use]
    pub(crate) fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Redraws the in-place status line (terminals only).
    pub(crate) fn status(&self, text: &str) {
        if self.terminal {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K{text}");
            let _ = out.flush();
        }
    }

    /// Opens a collapsed group (`---` on Buildkite, `::group::` on GitHub).
    pub(crate) fn group(&self, title: &str) {
        self.open(title, "---");
    }

    /// Opens a de-emphasised setup group (`~~~`).
    pub(crate) fn setup_group(&self, title: &str) {
        self.open(title, "~~~");
    }

    /// Opens the expanded result group (`+++`).
    pub(crate) fn result_group(&self, title: &str) {
        self.open(title, "+++");
    }

    fn open(&self, title: &str, marker: &str) {
        match self.platform {
            Platform::Buildkite => self.line(&format!("{marker} {title}")),
            Platform::GitHub => {
                self.close_group();
                self.line(&format!("::group::{}", github::escape_data(title)));
                *self.in_group.lock().expect("group lock") = true;
            }
            Platform::Local => self.line(&format!("==> {title}")),
        }
    }

    /// Closes an open GitHub group; call before the final output.
    pub(crate) fn close_group(&self) {
        let mut open = self.in_group.lock().expect("group lock");
        if *open {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "::endgroup::");
            *open = false;
        }
    }

    /// Reports an error so the CI shows it: `^^^ +++` on Buildkite (opens the group
    /// that holds it), `::error title=…::` on GitHub, plain on a terminal.
    pub(crate) fn error(&self, title: &str, message: &str) {
        match self.platform {
            Platform::Buildkite => {
                self.line("^^^ +++");
                self.line(&format!("Error: {title}: {message}"));
            }
            Platform::GitHub => self.line(&github::error_command(title, &self.scrub(message))),
            Platform::Local => self.line(&format!("error: {title}: {message}")),
        }
    }

    /// A warning line.
    pub(crate) fn warning(&self, message: &str) {
        match self.platform {
            Platform::GitHub => self.line(&format!("::warning::{}", github::escape_data(&self.scrub(message)))),
            _ => self.line(&format!("warning: {message}")),
        }
    }
}

/// Text made safe to print on one log line: line breaks become `⏎`, other control
/// characters (escape, bell, C1 controls) their visible pictures or `�`, and
/// bidirectional or zero-width formatting characters their code point (`<U+202E>`).
#[must_use]
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push('⏎'),
            '\t' => out.push(' '),
            c if (c as u32) < 0x20 => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
            '\u{7f}' => out.push('␡'),
            c if c.is_control() => out.push('�'),
            c if is_invisible_format(c) => out.push_str(&code_point(c)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(
            printable("a\nb\x1b]1339;url='javascript:x'\x07\u{9b}c"),
            "a⏎b␛]1339;url='javascript:x'␇�c"
        );
    }

    #[test]
    fn bidirectional_and_zero_width_characters_are_shown_by_code_point() {
        assert_eq!(printable("evil\u{202e}bed.deb"), "evil<U+202E>bed.deb");
        assert_eq!(printable("a\u{200b}b\u{2066}c\u{feff}"), "a<U+200B>b<U+2066>c<U+FEFF>");
    }
}
