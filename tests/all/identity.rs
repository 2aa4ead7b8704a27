//! Packages known by their contents, as the registry knows them: files named
//! otherwise than the packages inside (a `dpkg-deb --build dir` output, a Debian or
//! RPM epoch, a scoped npm package, a platform gem, a misleading name) re-run as
//! `identical` and survive a lost answer with exactly one package; files that are not
//! valid packages are refused before any of their bytes is sent. Every fixture is
//! made by the real tool; the emulator reads identity from the uploaded bytes with
//! its own code.

use std::time::Duration;

use crate::support::{Handle, Job, emulator, fixtures, lose_first_answer};

const LIMIT: Duration = Duration::from_secs(90);

fn posts(emu: &Handle) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/packages"))
        .count()
}

/// One odd-but-ordinary package file: which registry, where, and what the registry
/// records for it.
struct Case {
    registry: (&'static str, &'static str),
    rel: String,
    bytes: Vec<u8>,
    name: &'static str,
    version: &'static str,
}

fn cases() -> Vec<Case> {
    let (rpm_name, rpm) = fixtures::rpm("hello", Some(2), "2.4.1", "1", "rpm payload");
    let (npm_name, npm) = fixtures::npm("@acme/widget", "1.2.3", "widget");
    let (gem_name, gem) = fixtures::gem("native", "1.2.3", Some("x86_64-linux"), "gem payload");
    vec![
        // `dpkg-deb --build pkgroot` writes pkgroot.deb.
        Case {
            registry: ("debs", "debian"),
            rel: "dist/pkgroot.deb".into(),
            bytes: fixtures::deb("hello", "2.4.1-1", "amd64", "renamed"),
            name: "hello",
            version: "2.4.1-1",
        },
        // dpkg leaves the epoch out of the file name.
        Case {
            registry: ("debs", "debian"),
            rel: "dist/hello_2.4.1-1_amd64.deb".into(),
            bytes: fixtures::deb("hello", "1:2.4.1-1", "amd64", "epoch"),
            name: "hello",
            version: "1:2.4.1-1",
        },
        // A file name that names another package altogether.
        Case {
            registry: ("debs", "debian"),
            rel: "dist/other_9.9-1_amd64.deb".into(),
            bytes: fixtures::deb("hello", "2.4.1-1", "amd64", "misleading"),
            name: "hello",
            version: "2.4.1-1",
        },
        // rpmbuild leaves the epoch out of the file name too.
        Case {
            registry: ("rpms", "redhat"),
            rel: format!("dist/{rpm_name}"),
            bytes: rpm,
            name: "hello",
            version: "2:2.4.1-1",
        },
        // npm pack writes @acme/widget as acme-widget-1.2.3.tgz.
        Case {
            registry: ("npm", "javascript"),
            rel: format!("dist/{npm_name}"),
            bytes: npm,
            name: "@acme/widget",
            version: "1.2.3",
        },
        // A platform gem carries its platform in the file name.
        Case {
            registry: ("gems", "ruby"),
            rel: format!("dist/{gem_name}"),
            bytes: gem,
            name: "native",
            version: "1.2.3",
        },
    ]
}

fn job(emu: &Handle, case: &Case) -> Job {
    Job::local(emu, case.registry.0, "dist/*")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .bytes(&case.rel, &case.bytes)
}

#[test]
fn packages_named_otherwise_than_their_contents_rerun_as_identical() {
    for case in cases() {
        let emu = emulator(&[case.registry]);
        let job = job(&emu, &case);
        job.run_within(LIMIT).code(0);
        let stored = emu.packages(case.registry.0);
        assert_eq!(stored.len(), 1, "{}", case.rel);
        assert_eq!(
            (stored[0].name.as_str(), stored[0].version.as_str()),
            (case.name, case.version)
        );
        let entry = &job.json("r.json")["packages"][0];
        assert_eq!(entry["status"], "published", "{}: {entry}", case.rel);
        assert_eq!(entry["name"], case.name, "{}", case.rel);
        assert_eq!(entry["version"], case.version, "{}", case.rel);

        let out = job.run_within(LIMIT);
        out.code(0).has(&format!("identical  {}", case.rel));
        assert_eq!(job.json("r.json")["packages"][0]["status"], "identical", "{}", case.rel);
        assert_eq!(emu.packages(case.registry.0).len(), 1, "{}", case.rel);
    }
}

#[test]
fn a_lost_answer_on_each_ends_with_exactly_one_package_reported_published() {
    for case in cases() {
        let emu = emulator(&[case.registry]);
        lose_first_answer(&emu, case.registry.0);
        let job = job(&emu, &case);
        job.run_within(LIMIT).code(0).has("had landed");
        assert_eq!(emu.packages(case.registry.0).len(), 1, "{}", case.rel);
        let entry = &job.json("r.json")["packages"][0];
        assert_eq!(entry["status"], "published", "{}: {entry}", case.rel);
        assert_eq!(entry["name"], case.name, "{}", case.rel);
    }
}

#[test]
fn a_file_named_otherwise_gets_a_warning_and_the_contents_win() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .bytes(
            "dist/other_9.9-1_amd64.deb",
            &fixtures::deb("hello", "2.4.1-1", "amd64", "x"),
        );
    job.run_within(LIMIT)
        .code(0)
        .has("dist/other_9.9-1_amd64.deb: the file name does not match the package inside, hello 2.4.1-1 (amd64)")
        .has("hello_2.4.1-1_amd64.deb");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["name"], "hello");
    assert_eq!(entry["version"], "2.4.1-1");
    assert_eq!(entry["variant"], "amd64");
}

#[test]
fn a_large_renamed_package_is_not_uploaded_again() {
    let emu = emulator(&[]);
    // Incompressible enough to stay over the 1 MiB lookup threshold.
    let payload = (0..300_000u32)
        .map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761)))
        .collect::<Vec<_>>()
        .concat();
    let deb = fixtures::deb_with("hello", "1:2.4.1-1", "amd64", &payload, "none");
    assert!(deb.len() > 1024 * 1024);
    let job = Job::local(&emu, "debs", "dist/*.deb").bytes("dist/build-output.deb", &deb);
    job.run_within(LIMIT).code(0);
    assert_eq!(posts(&emu), 1);
    job.run_within(LIMIT).code(0).has("identical");
    assert_eq!(posts(&emu), 1, "the re-run looked the package up instead of sending it");
}

/// Writes a zip whose one member (`member`) inflates to `size` zero bytes, with
/// Python's zipfile: a hostile input, so made by hand.
fn zip_bomb(path: &std::path::Path, member: &str, size: usize) {
    let script = format!(
        "import zipfile\nz = zipfile.ZipFile({:?}, 'w', zipfile.ZIP_DEFLATED)\nz.writestr({member:?}, b'\\0' * {size})\nz.close()\n",
        path.display().to_string()
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn files_that_are_not_valid_packages_are_refused_before_any_of_them_is_sent() {
    let emu = emulator(&[
        ("debs", "debian"),
        ("rpms", "redhat"),
        ("pypi", "python"),
        ("charts", "helm"),
    ]);
    let (_, rpm) = fixtures::rpm("cut", None, "1.0", "1", "truncated");
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.whl");
    zip_bomb(&bomb, "bomb-1.0.dist-info/METADATA", 64 << 20);
    let not_a_chart = {
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("stuff")).unwrap();
        std::fs::write(src.join("stuff/readme.txt"), "no Chart.yaml here").unwrap();
        let out = dir.path().join("c.tgz");
        let ok = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .arg("stuff")
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read(out).unwrap()
    };
    let cases: [(&str, &str, Vec<u8>, &str); 4] = [
        (
            "debs",
            "dist/corrupt_1.0_amd64.deb",
            b"this is not an ar archive".to_vec(),
            "not a valid Debian package",
        ),
        (
            "rpms",
            "dist/cut-1.0-1.noarch.rpm",
            rpm[..rpm.len() / 2].to_vec(),
            "not a valid RPM package",
        ),
        (
            "pypi",
            "dist/bomb-1.0-py3-none-any.whl",
            std::fs::read(&bomb).unwrap(),
            "a decompression bomb",
        ),
        (
            "charts",
            "dist/mychart-1.0.0.tgz",
            not_a_chart,
            "not a valid Helm chart",
        ),
    ];
    for (registry, rel, bytes, why) in cases {
        let before = emu.requests().len();
        let job = Job::local(&emu, registry, "dist/*")
            .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
            .bytes(rel, &bytes);
        let out = job.run_within(LIMIT);
        out.code(1).has(rel).has(why).has("it was not sent");
        let entry = &job.json("r.json")["packages"][0];
        assert_eq!(entry["status"], "invalid", "{rel}: {entry}");
        let sent: Vec<String> = emu.requests()[before..]
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(sent.is_empty(), "{rel}: {sent:?}");
    }
}

#[test]
fn a_valid_file_beside_an_invalid_one_is_still_published() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/good_1.0_amd64.deb", "good")
        .file("dist/bad_1.0_amd64.deb", "not a package");
    job.run_within(LIMIT).code(1).has("INVALID");
    let r = job.json("r.json");
    assert_eq!(r["packages"][0]["status"], "invalid");
    assert_eq!(r["packages"][1]["status"], "published");
    assert_eq!(emu.packages("debs").len(), 1);
    assert_eq!(posts(&emu), 1, "the invalid file was never sent");
}
