//! Package fixtures made by the real tools: `dpkg-deb`, `rpmbuild`, `npm pack`,
//! `gem build`, `pip wheel`. Each is built once per process and kept by its inputs,
//! so hundreds of tests can ask for the same package cheaply. Hand-made archives live
//! only in the tests of corrupt and hostile input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Built fixtures, by their inputs.
fn cache() -> &'static Mutex<HashMap<String, PathBuf>> {
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Where fixtures are built (removed with the process's temporary folder).
fn workshop() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Runs a tool, panicking with its output when it fails.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds once per key; `build` gets an empty folder and returns the package file.
fn cached(key: String, build: impl FnOnce(&Path) -> PathBuf) -> Vec<u8> {
    std::fs::read(cached_path(key, build)).unwrap()
}

/// The same, returning where the package file is (its name is the tool's).
fn cached_path(key: String, build: impl FnOnce(&Path) -> PathBuf) -> PathBuf {
    let mut cache = cache().lock().unwrap();
    if let Some(p) = cache.get(&key) {
        return p.clone();
    }
    let dir = workshop().join(format!("f{}", cache.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = build(&dir);
    cache.insert(key, path.clone());
    path
}

/// A package file's name and bytes.
fn named(path: &Path) -> (String, Vec<u8>) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (name, std::fs::read(path).unwrap())
}

/// A Debian package built by `dpkg-deb`, holding `payload` as a file.
pub fn deb(name: &str, version: &str, arch: &str, payload: &str) -> Vec<u8> {
    deb_with(name, version, arch, payload, "gzip")
}

/// The same, with the control and data members compressed by `compression`
/// (`gzip`, `xz`, `zstd`, `none`).
pub fn deb_with(name: &str, version: &str, arch: &str, payload: &str, compression: &str) -> Vec<u8> {
    let key = format!("deb\0{name}\0{version}\0{arch}\0{payload}\0{compression}");
    cached(key, |dir| {
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join("usr/share/fixture")).unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Tests <tests@example.invalid>\nDescription: a test fixture\n"
            ),
        )
        .unwrap();
        std::fs::write(root.join("usr/share/fixture/payload"), payload).unwrap();
        let out = dir.join("out.deb");
        run(Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Z", compression, "--build"])
            .arg(&root)
            .arg(&out));
        out
    })
}

/// A Debian package named after a test's file name `name_version_arch.deb` (the
/// convention most tests use), holding `payload`. A payload over 4 KiB is stored
/// uncompressed (`dpkg-deb -Z none`), so a test that needs a large file gets one.
pub fn deb_for(file_name: &str, payload: &str) -> Vec<u8> {
    let stem = file_name.strip_suffix(".deb").unwrap_or(file_name);
    let mut parts = stem.splitn(3, '_');
    let name = parts.next().filter(|n| !n.is_empty()).unwrap_or("unnamed");
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-.".contains(c) {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = if name.is_empty() { "unnamed" } else { name };
    let version = parts.next().unwrap_or("1.0");
    let arch = parts.next().unwrap_or("all");
    let compression = if payload.len() > 4096 { "none" } else { "gzip" };
    deb_with(name, version, arch, payload, compression)
}

/// An RPM package built by `rpmbuild`, with an optional epoch: its file name, as
/// rpmbuild wrote it (no epoch in it), and its bytes.
pub fn rpm(name: &str, epoch: Option<u32>, version: &str, release: &str, payload: &str) -> (String, Vec<u8>) {
    let key = format!("rpm\0{name}\0{epoch:?}\0{version}\0{release}\0{payload}");
    named(&cached_path(key, |dir| {
        let epoch_line = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
        let spec = format!(
            "Name: {name}\n{epoch_line}Version: {version}\nRelease: {release}\nSummary: fixture\nLicense: MIT\nBuildArch: noarch\n\n%description\nfixture\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\necho '{payload}' > %{{buildroot}}/usr/share/{name}/payload\n\n%files\n/usr/share/{name}/payload\n"
        );
        std::fs::write(dir.join("f.spec"), spec).unwrap();
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", dir.join("top").display()))
            .args(["--quiet", "-bb"])
            .arg(dir.join("f.spec")));
        only_file(&dir.join("top/RPMS/noarch"), "rpm")
    }))
}

/// An npm package made by `npm pack` (scoped names welcome): its file name, as npm
/// wrote it (`@scope/name` becomes `scope-name-…`), and its bytes.
pub fn npm(name: &str, version: &str, payload: &str) -> (String, Vec<u8>) {
    let key = format!("npm\0{name}\0{version}\0{payload}");
    named(&cached_path(key, |dir| {
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("package.json"),
            format!(r#"{{"name": "{name}", "version": "{version}", "description": "fixture", "license": "MIT"}}"#),
        )
        .unwrap();
        std::fs::write(src.join("index.js"), format!("module.exports = {payload:?};\n")).unwrap();
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        run(Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(&out)
            .current_dir(&src)
            .env("npm_config_cache", dir.join("npm-cache"))
            .env("npm_config_update_notifier", "false"));
        only_file(&out, "tgz")
    }))
}

/// A gem made by `gem build`; `platform` `None` is a pure-Ruby gem: its file name,
/// as gem wrote it (with the platform), and its bytes.
pub fn gem(name: &str, version: &str, platform: Option<&str>, payload: &str) -> (String, Vec<u8>) {
    let key = format!("gem\0{name}\0{version}\0{platform:?}\0{payload}");
    named(&cached_path(key, |dir| {
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("lib/fixture.rb"), format!("# {payload}\n")).unwrap();
        let platform_line = platform.map(|p| format!("  s.platform = '{p}'\n")).unwrap_or_default();
        std::fs::write(
            dir.join("f.gemspec"),
            format!(
                "Gem::Specification.new do |s|\n  s.name = '{name}'\n  s.version = '{version}'\n  s.summary = 'fixture'\n  s.authors = ['tests']\n  s.license = 'MIT'\n  s.files = ['lib/fixture.rb']\n{platform_line}end\n"
            ),
        )
        .unwrap();
        run(Command::new("gem")
            .args(["build", "--silent", "f.gemspec"])
            .current_dir(dir)
            .env("HOME", dir));
        only_file(dir, "gem")
    }))
}

/// A pure-Python wheel made by `pip wheel` (setuptools, no build isolation: the
/// test venv has it, and nothing is fetched): its file name, as pip wrote it, and
/// its bytes.
pub fn wheel(name: &str, version: &str, payload: &str) -> (String, Vec<u8>) {
    named(&wheel_path(name, version, payload))
}

fn wheel_path(name: &str, version: &str, payload: &str) -> PathBuf {
    let key = format!("whl\0{name}\0{version}\0{payload}");
    cached_path(key, |dir| {
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("fixture_mod")).unwrap();
        std::fs::write(src.join("fixture_mod/__init__.py"), format!("X = {payload:?}\n")).unwrap();
        std::fs::write(
            src.join("setup.py"),
            format!(
                "from setuptools import setup\nsetup(name={name:?}, version={version:?}, packages=['fixture_mod'])\n"
            ),
        )
        .unwrap();
        let out = dir.join("out");
        run(Command::new(python())
            .args([
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-w",
            ])
            .arg(&out)
            .arg(&src)
            .current_dir(dir));
        only_file(&out, "whl")
    })
}

/// A wheel of `name` `version` tagged `python_tag-none-any`: made by `pip wheel`,
/// then retagged by `wheel tags`, as projects do for this.
pub fn wheel_tagged(name: &str, version: &str, python_tag: &str) -> (String, Vec<u8>) {
    let base = wheel_path(name, version, "tagged");
    let key = format!("whl-tag\0{name}\0{version}\0{python_tag}");
    named(&cached_path(key, |dir| {
        let copy = dir.join(base.file_name().unwrap());
        std::fs::copy(&base, &copy).unwrap();
        run(Command::new(python())
            .args(["-m", "wheel", "tags", "--remove", "--python-tag", python_tag])
            .arg(&copy)
            .current_dir(dir));
        only_file(dir, "whl")
    }))
}

/// The one file with extension `ext` in `dir`.
fn only_file(dir: &Path, ext: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("no .{ext} file in {}", dir.display()))
}

/// A Helm chart archive laid out as `helm package` does (`name/Chart.yaml` in a
/// gzipped tar), made with GNU tar: Helm itself is not packaged for this machine.
/// `chart_yaml` is the whole `Chart.yaml`.
pub fn helm_chart(dir_name: &str, chart_yaml: &str) -> Vec<u8> {
    let key = format!("helm\0{dir_name}\0{chart_yaml}");
    cached(key, |dir| {
        let root = dir.join("src").join(dir_name);
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(root.join("Chart.yaml"), chart_yaml).unwrap();
        std::fs::write(root.join("values.yaml"), "replicas: 1\n").unwrap();
        let out = dir.join("chart.tgz");
        run(Command::new("tar")
            .args(["--owner=0", "--group=0", "-czf"])
            .arg(&out)
            .arg("-C")
            .arg(dir.join("src"))
            .arg(dir_name));
        out
    })
}

/// The test venv's Python (with setuptools), else the machine's.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci-cache/venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// The sha256 (lower-case hex) of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The sha256 of the Debian package [`deb_for`] builds for `file_name` and `payload`.
pub fn deb_sha256(file_name: &str, payload: &str) -> String {
    sha256(&deb_for(file_name, payload))
}
