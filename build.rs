//! Stamps the version the binary reports (`--version`, the log, the `User-Agent`, the
//! JSON report). A release build (`scripts/release build` sets
//! `PACKAGE_PUBLISHER_RELEASE=1`) is the version in Cargo.toml; any other build is
//! `<version>-dev+<commit>` (or `+unknown` outside a git checkout), so a build from a
//! commit never passes for a release that may not exist.

use std::path::Path;
use std::process::Command;

#[allow(
    clippy::disallowed_methods,
    reason = "a build script's inputs are environment variables Cargo sets"
)]
fn main() {
    println!("cargo:rerun-if-env-changed=PACKAGE_PUBLISHER_RELEASE");
    // A new commit moves the branch's ref, not HEAD itself: watch both.
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(reference) = head.strip_prefix("ref: ").map(str::trim) {
            let path = Path::new(".git").join(reference);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version = if std::env::var("PACKAGE_PUBLISHER_RELEASE").as_deref() == Ok("1") {
        package
    } else {
        let commit = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|sha| !sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit()))
            .unwrap_or_else(|| "unknown".to_owned());
        format!("{package}-dev+{commit}")
    };
    println!("cargo:rustc-env=PACKAGE_PUBLISHER_VERSION={version}");
}
