//! Test support: a working directory with files, the compiled binary run as a process
//! with a cleared environment, a recording `buildkite-agent` shim on `PATH`, and the
//! Packages API emulator on loopback.

#![allow(dead_code)]

#[path = "../../../emulator/tls.rs"]
pub mod emulator_tls;
#[path = "../../../emulator/server.rs"]
pub mod server;

pub mod fixtures;
pub mod tls;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub use server::{Chaos, Config as EmuConfig, Fault, Handle};

/// The test token with every scope.
pub const TOKEN: &str = "bkua_test_token";

/// Starts an emulator with the default configuration plus these registries.
pub fn emulator(registries: &[(&str, &str)]) -> Handle {
    let mut config = EmuConfig::default();
    for (slug, eco) in registries {
        config.registries.insert((*slug).to_owned(), (*eco).to_owned());
    }
    server::start(config)
}

/// Starts an emulator with a custom configuration.
pub fn emulator_with(config: EmuConfig) -> Handle {
    server::start(config)
}

/// The one fixture for "a registry that already holds a package": an earlier job of
/// this tool published `rel` (a `.deb` built by `dpkg-deb` from `payload`) to
/// `registry`. Returns the registry's record of it.
pub fn published_earlier(emu: &Handle, registry: &str, rel: &str, payload: &str) -> server::Pkg {
    Job::local(emu, registry, "dist/*.deb").deb(rel, payload).run().code(0);
    let file = rel.rsplit('/').next().unwrap_or(rel);
    emu.packages(registry)
        .into_iter()
        .rev()
        .find(|p| p.file_name == file)
        .expect("the earlier job published it")
}

/// The first copy lands, but its answer is lost (the connection drops after the
/// copy was made).
pub fn lose_first_copy_answer(emu: &Handle) {
    emu.fault(Fault {
        path_suffix: Some("/copy".into()),
        drop: true,
        after_commit: true,
        times: 1,
        ..Fault::default()
    });
}

/// `f`, aimed at the publish endpoint of `registry`.
pub fn publish_fault(registry: &str, f: Fault) -> Fault {
    Fault {
        method: Some("POST".into()),
        path_suffix: Some(format!("/registries/{registry}/packages")),
        ..f
    }
}

/// The first publish to `registry` lands, but its answer is lost (the connection
/// drops after the package was stored).
pub fn lose_first_answer(emu: &Handle, registry: &str) {
    emu.fault(publish_fault(
        registry,
        Fault {
            drop: true,
            after_commit: true,
            times: 1,
            ..Fault::default()
        },
    ));
}

/// The result of a run.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that the output contains `needle`.
    #[track_caller]
    pub fn has(&self, needle: &str) -> &Self {
        assert!(
            self.all().contains(needle),
            "output lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that the output does not contain `needle`.
    #[track_caller]
    pub fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.all().contains(needle),
            "output contains {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A job's working directory, its environment, and a `buildkite-agent` shim.
pub struct Job {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    /// Variables whose values are raw bytes (not necessarily UTF-8).
    pub raw_env: Vec<(String, std::ffi::OsString)>,
}

impl Job {
    /// A fresh job with an empty working directory and a minimal environment.
    pub fn new() -> Job {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let shim = bin.join("buildkite-agent");
        std::fs::write(&shim, AGENT_SHIM).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), format!("{}:/usr/bin:/bin", bin.display()));
        env.insert("HOME".to_owned(), dir.path().display().to_string());
        env.insert("SHIM_STATE".to_owned(), dir.path().join("agent").display().to_string());
        Job {
            dir,
            env,
            args: Vec::new(),
            stdin: None,
            raw_env: Vec::new(),
        }
    }

    /// A local job publishing to `registry` on the emulator with the test token.
    pub fn local(emu: &Handle, registry: &str, artifacts: &str) -> Job {
        Job::new()
            .env("PACKAGE_PUBLISHER_REGISTRY", &format!("acme/{registry}"))
            .env("PACKAGE_PUBLISHER_ARTIFACTS", artifacts)
            .env("PACKAGE_PUBLISHER_API_URL", &emu.url)
            .env("BUILDKITE_API_TOKEN", TOKEN)
    }

    /// A Buildkite job running the plugin with `config` (its JSON; `EMU` stands for
    /// the emulator's URL), as the agent sets it up.
    pub fn plugin(emu: &Handle, config: &str) -> Job {
        Job::new()
            .env("BUILDKITE", "true")
            .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
            .env("BUILDKITE_STEP_KEY", "publish")
            .env("BUILDKITE_JOB_ID", "job-1")
            .env("BUILDKITE_PLUGIN_NAME", "PACKAGE_PUBLISHER")
            .env("BUILDKITE_PLUGIN_CONFIGURATION", &config.replace("EMU", &emu.url))
    }

    /// The working directory.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Sets a variable.
    pub fn env(mut self, k: &str, v: &str) -> Job {
        self.env.insert(k.to_owned(), v.to_owned());
        self
    }

    /// Sets a variable to raw bytes.
    pub fn env_bytes(mut self, k: &str, v: &[u8]) -> Job {
        use std::os::unix::ffi::OsStringExt;
        self.raw_env
            .push((k.to_owned(), std::ffi::OsString::from_vec(v.to_vec())));
        self
    }

    /// Removes a variable.
    pub fn unset(mut self, k: &str) -> Job {
        self.env.remove(k);
        self
    }

    /// Adds command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Job {
        self.args.extend(args.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Writes a file under the working directory.
    pub fn file(self, rel: &str, content: &str) -> Job {
        self.bytes(rel, content.as_bytes())
    }

    /// Writes a file of these bytes under the working directory.
    pub fn bytes(self, rel: &str, content: &[u8]) -> Job {
        let p = self.work().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Writes a real Debian package (built by `dpkg-deb`) whose name, version and
    /// architecture are those its file name `name_version_arch.deb` says, holding
    /// `payload` (so different payloads are different contents).
    pub fn deb(self, rel: &str, payload: &str) -> Job {
        let name = rel.rsplit('/').next().unwrap();
        let bytes = fixtures::deb_for(name, payload);
        self.bytes(rel, &bytes)
    }

    /// Writes a real wheel (built by `pip wheel`) into `dir`, under the file name pip
    /// gave it.
    pub fn wheel(self, dir: &str, name: &str, version: &str, payload: &str) -> Job {
        let (file_name, bytes) = fixtures::wheel(name, version, payload);
        self.bytes(&format!("{dir}/{file_name}"), &bytes)
    }

    /// Starts the binary without waiting for it (stdin closed, output captured).
    pub fn spawn(&self) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_package-publisher"))
            .env_clear()
            .envs(&self.env)
            .envs(self.raw_env.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .current_dir(self.work())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs the binary, killing it (and failing the test) if it is still running
    /// after `limit`: for the cases where the old behaviour was to hang.
    pub fn run_within(&self, limit: std::time::Duration) -> Output {
        let child = self.spawn();
        finish_within(child, limit)
    }

    /// Runs the binary.
    pub fn run(&self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_package-publisher"));
        cmd.env_clear()
            .envs(&self.env)
            .envs(self.raw_env.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .current_dir(self.work());
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = &self.stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Reads a file under the working directory.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.work().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Parses a JSON file under the working directory.
    pub fn json(&self, rel: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(rel)).unwrap()
    }

    /// The `buildkite-agent` calls the shim recorded: (arguments, stdin).
    pub fn agent_calls(&self) -> Vec<(Vec<String>, String)> {
        let dir = self.dir.path().join("agent/calls");
        let mut calls = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return calls;
        };
        let mut names: Vec<u64> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".args")?.parse().ok())
            .collect();
        names.sort_unstable();
        for n in names {
            let args = std::fs::read_to_string(dir.join(format!("{n}.args"))).unwrap();
            let stdin = std::fs::read_to_string(dir.join(format!("{n}.stdin"))).unwrap_or_default();
            calls.push((
                args.split('\u{1f}')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                stdin,
            ));
        }
        calls
    }

    /// Calls whose first arguments are `prefix`.
    pub fn agent_calls_of(&self, prefix: &[&str]) -> Vec<(Vec<String>, String)> {
        self.agent_calls()
            .into_iter()
            .filter(|(a, _)| a.len() >= prefix.len() && a.iter().zip(prefix).all(|(x, y)| x == y))
            .collect()
    }

    /// Directory the shim serves `artifact download` from (per build id, or "default").
    pub fn artifact_store(&self, build: &str) -> PathBuf {
        let p = self.dir.path().join("agent/artifacts").join(build);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Pre-sets build meta-data in the shim.
    pub fn meta_data(self, key: &str, value: &str) -> Job {
        let p = self.dir.path().join("agent/meta");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(key), value).unwrap();
        self
    }

    /// Reads build meta-data the shim stored.
    pub fn stored_meta_data(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("agent/meta").join(key)).ok()
    }

    /// The shim's state directory (to share meta-data between two jobs of a build).
    pub fn agent_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }
}

/// Waits for a started binary; kills it and panics if it outlives `limit`. Output is
/// read while it runs, so a chatty run never blocks on a full pipe.
pub fn finish_within(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?}; killed\n--- stdout\n{}\n--- stderr\n{}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Sends a signal to a started binary.
pub fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// A `buildkite-agent` stand-in: records every call (arguments and stdin) under
/// `$SHIM_STATE/calls`, answers `oidc request-token` with an unsigned JWT for the
/// requested audience and lifetime (`SHIM_TOKEN_LIFETIME` overrides it), keeps meta-data in files, serves `artifact
/// download` from `$SHIM_STATE/artifacts/<build|default>`, fails any command named
/// in `SHIM_FAIL`, and hangs on any command named in `SHIM_HANG` (or on every call of
/// the command named in `SHIM_HANG_LATER` but the first), writing its pid to
/// `$SHIM_STATE/hung.<n>.pid` first. It enforces the
/// platform's limits as the real agent and service do: meta-data values of at most
/// 100 KB, annotation bodies of at most 1 MiB; with `SHIM_OLD_AGENT` it behaves like
/// an agent before 3.65 (no `annotate --priority`).
pub const AGENT_SHIM: &str = r#"#!/usr/bin/env bash
set -euo pipefail
state="${SHIM_STATE:?}"
mkdir -p "$state/calls" "$state/meta"
n=$(ls "$state/calls" | wc -l)
printf '%s\x1f' "$@" > "$state/calls/$n.args"
if [ ! -t 0 ]; then cat > "$state/calls/$n.stdin" || true; fi
if [ -n "${SHIM_FAIL:-}" ] && [ "$1 ${2:-}" = "$SHIM_FAIL" ]; then echo "shim: $SHIM_FAIL failed" >&2; exit 1; fi
if [ -n "${SHIM_HANG:-}" ] && [ "$1 ${2:-}" = "$SHIM_HANG" ]; then echo $$ > "$state/hung.$n.pid"; exec sleep 600; fi
if [ -n "${SHIM_HANG_LATER:-}" ] && [ "$1 ${2:-}" = "$SHIM_HANG_LATER" ] && [ "$(grep -l "^$1"$'\x1f'"${2:-}"$'\x1f' "$state"/calls/*.args | wc -l)" -gt 1 ]; then echo $$ > "$state/hung.$n.pid"; exec sleep 600; fi
size() { if [ -f "$state/calls/$n.stdin" ]; then wc -c < "$state/calls/$n.stdin"; else echo 0; fi; }
b64() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
case "$1 ${2:-}" in
  "oidc request-token")
    aud=""; life=300
    shift 2
    while [ $# -gt 0 ]; do case "$1" in --audience) aud="$2"; shift 2;; --lifetime) life="$2"; shift 2;; *) shift;; esac; done
    life="${SHIM_TOKEN_LIFETIME:-$life}"
    now=$(date +%s)
    header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64)
    payload=$(printf '{"iss":"https://agent.buildkite.com","aud":"%s","iat":%d,"exp":%d,"sub":"organization:acme"}' "$aud" "$now" "$((now + life))" | b64)
    printf '%s.%s.c2lnbmF0dXJl\n' "$header" "$payload"
    ;;
  "meta-data set")
    if [ "$(size)" -gt 102400 ]; then echo "fatal: Failed to set meta-data: value is larger than 100 KB" >&2; exit 1; fi
    cp "$state/calls/$n.stdin" "$state/meta/$3"
    ;;
  "annotate "*)
    if [ -n "${SHIM_OLD_AGENT:-}" ]; then for a in "$@"; do [ "$a" = "--priority" ] && { echo "flag provided but not defined: -priority" >&2; exit 1; }; done; fi
    if [ "$(size)" -gt 1048576 ]; then echo "fatal: Failed to annotate: body is larger than 1 MiB" >&2; exit 1; fi
    ;;
  "meta-data get")
    cat "$state/meta/$3"
    ;;
  "meta-data keys")
    ls "$state/meta"
    ;;
  "meta-data exists")
    [ -f "$state/meta/$3" ] || exit 100
    ;;
  "artifact download")
    query="$3"; dest="$4"; build=default
    shift 4
    while [ $# -gt 0 ]; do case "$1" in --build) build="$2"; shift 2;; *) shift;; esac; done
    src="$state/artifacts/$build"
    out=$(pwd)/$dest
    found=0
    (cd "$src" && shopt -s globstar nullglob && for f in $query; do mkdir -p "$out/$(dirname "$f")"; cp "$f" "$out/$f"; echo "$f"; done) > "$state/downloaded" 
    [ -s "$state/downloaded" ] || { echo "fatal: Failed to download artifacts: No artifacts found for downloading" >&2; exit 1; }
    ;;
  *) ;;
esac
"#;
