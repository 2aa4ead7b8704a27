//! Every bad input gets a message naming the option, where it came from, the value and
//! what is accepted; configuration errors exit 2 before any network call, and no
//! message ever contains a token.

use crate::support::{Job, TOKEN, emulator};

/// A local job whose emulator must never be called.
fn job(pairs: &[(&str, &str)]) -> Job {
    let mut job = Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .deb("dist/a_1.0_amd64.deb", "a");
    for (k, v) in pairs {
        job = job.env(k, v);
    }
    job
}

#[track_caller]
fn refused(pairs: &[(&str, &str)], needles: &[&str]) {
    let out = job(pairs).run();
    out.code(2).lacks(TOKEN);
    for n in needles {
        out.has(n);
    }
}

const REG: (&str, &str) = ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs");
const ART: (&str, &str) = ("PACKAGE_PUBLISHER_ARTIFACTS", "dist/*.deb");

#[test]
fn missing_registry() {
    refused(&[ART], &["PACKAGE_PUBLISHER_REGISTRY is required"]);
}

#[test]
fn registry_with_extra_slashes() {
    refused(
        &[("PACKAGE_PUBLISHER_REGISTRY", "acme/debs/extra"), ART],
        &[
            "PACKAGE_PUBLISHER_REGISTRY has the value",
            "\"acme/debs/extra\"",
            "at most one `/`",
        ],
    );
}

#[test]
fn registry_with_characters_outside_a_slug() {
    refused(
        &[("PACKAGE_PUBLISHER_REGISTRY", "acme/My Debs"), ART],
        &["PACKAGE_PUBLISHER_REGISTRY has the value", "\"My Debs\"", "lower-case"],
    );
}

#[test]
fn unknown_local_option_suggests_the_right_one() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_CONCURENCY", "2")],
        &[
            "unknown variable PACKAGE_PUBLISHER_CONCURENCY",
            "did you mean PACKAGE_PUBLISHER_CONCURRENCY?",
        ],
    );
}

#[test]
fn unknown_plugin_key_suggests_the_right_one() {
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"acme/debs","artifacts":"dist/*.deb","if_exist":"skip"}"#,
            ),
        ],
        &["unknown plugin option `if_exist`", "did you mean `if-exists`"],
    );
}

#[test]
fn non_numeric_concurrency() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_CONCURRENCY", "four")],
        &[
            "PACKAGE_PUBLISHER_CONCURRENCY has the value",
            "\"four\"",
            "whole number from 1 to 64",
        ],
    );
}

#[test]
fn zero_concurrency() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_CONCURRENCY", "0")],
        &["PACKAGE_PUBLISHER_CONCURRENCY has the value", "\"0\"", "from 1 to 64"],
    );
}

#[test]
fn negative_retries() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_RETRIES", "-1")],
        &["PACKAGE_PUBLISHER_RETRIES has the value", "\"-1\"", "from 0 to 20"],
    );
}

#[test]
fn zero_stall_timeout() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_STALL_TIMEOUT", "0")],
        &["PACKAGE_PUBLISHER_STALL_TIMEOUT has the value", "from 1 to 3600"],
    );
}

#[test]
fn unknown_if_exists_value() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_IF_EXISTS", "overwrite")],
        &[
            "PACKAGE_PUBLISHER_IF_EXISTS has the value",
            "\"overwrite\"",
            "skip-identical, skip, fail, replace",
        ],
    );
}

#[test]
fn unknown_if_no_files_found_value() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_IF_NO_FILES_FOUND", "explode")],
        &[
            "PACKAGE_PUBLISHER_IF_NO_FILES_FOUND has the value",
            "error, warn, ignore",
        ],
    );
}

#[test]
fn unknown_upload_method() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_UPLOAD_METHOD", "ftp")],
        &[
            "PACKAGE_PUBLISHER_UPLOAD_METHOD has the value",
            "auto, direct, presigned",
        ],
    );
}

#[test]
fn malformed_plugin_configuration_json() {
    refused(
        &[
            ("BUILDKITE", "true"),
            ("BUILDKITE_PLUGIN_CONFIGURATION", "{\"registry\": "),
        ],
        &["BUILDKITE_PLUGIN_CONFIGURATION", "not valid JSON"],
    );
}

#[test]
fn null_in_plugin_configuration_points_at_the_key() {
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"acme/debs","artifacts":"dist/*.deb","promote-to":null}"#,
            ),
        ],
        &["option `promote-to` is null", "remove the key"],
    );
}

#[test]
fn agent_dropped_the_configuration_because_of_a_null() {
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGINS",
                "[{\"github.com/x/package-publisher-buildkite-plugin#v1\":null}]",
            ),
        ],
        &["null"],
    );
}

#[test]
fn api_url_that_is_not_http() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_API_URL", "ftp://api.example.com")],
        &[
            "PACKAGE_PUBLISHER_API_URL has the value",
            "\"ftp://api.example.com\"",
            "http:// or https://",
        ],
    );
}

#[test]
fn api_url_with_credentials_is_not_echoed() {
    refused(
        &[
            REG,
            ART,
            ("PACKAGE_PUBLISHER_API_URL", "https://user:hunter2@api.example.com"),
        ],
        &["PACKAGE_PUBLISHER_API_URL has the value", "credentials"],
    );
    job(&[
        REG,
        ART,
        ("PACKAGE_PUBLISHER_API_URL", "https://user:hunter2@api.example.com"),
    ])
    .run()
    .lacks("hunter2");
}

#[test]
fn missing_artifacts() {
    refused(&[REG], &["PACKAGE_PUBLISHER_ARTIFACTS is required"]);
}

#[test]
fn missing_organization() {
    refused(
        &[("PACKAGE_PUBLISHER_REGISTRY", "debs"), ART],
        &[
            "PACKAGE_PUBLISHER_ORGANIZATION is required",
            "BUILDKITE_ORGANIZATION_SLUG",
        ],
    );
}

#[test]
fn organization_given_twice_differently() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_ORGANIZATION", "other")],
        &["\"other\"", "\"acme\""],
    );
}

#[test]
fn github_boolean_the_toolkit_would_refuse() {
    refused(
        &[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_REGISTRY", "acme/debs"),
            ("INPUT_ARTIFACTS", "dist/*.deb"),
            ("INPUT_DRY-RUN", "yes"),
        ],
        &["`dry-run`", "INPUT_DRY-RUN", "\"yes\"", "true, True, TRUE"],
    );
}

#[test]
fn api_token_env_given_a_token_value_is_not_echoed() {
    let out = job(&[REG, ART, ("PACKAGE_PUBLISHER_API_TOKEN_ENV", "bkua_abcdef0123456789")]).run();
    out.code(2)
        .has("PACKAGE_PUBLISHER_API_TOKEN_ENV has the value")
        .has("not the token itself")
        .lacks("bkua_abcdef0123456789");
}

#[test]
fn annotation_context_longer_than_buildkite_allows() {
    let long = "x".repeat(101);
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_ANNOTATION_CONTEXT", &long)],
        &[
            "PACKAGE_PUBLISHER_ANNOTATION_CONTEXT has the value",
            "at most 100 characters",
        ],
    );
}

#[test]
fn promote_to_the_source_registry() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_PROMOTE_TO", "debs")],
        &["PACKAGE_PUBLISHER_PROMOTE_TO has the value", "must differ"],
    );
}

#[test]
fn pattern_that_climbs_out_of_the_working_directory() {
    refused(
        &[REG, ("PACKAGE_PUBLISHER_ARTIFACTS", "../secrets/*")],
        &[
            "PACKAGE_PUBLISHER_ARTIFACTS has the value",
            "\"../secrets/*\"",
            "may not contain `..`",
        ],
    );
}

#[test]
fn invalid_glob_pattern() {
    refused(
        &[REG, ("PACKAGE_PUBLISHER_ARTIFACTS", "dist/[*.deb")],
        &["PACKAGE_PUBLISHER_ARTIFACTS has the value", "not a valid glob pattern"],
    );
}

#[test]
fn download_outside_buildkite() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_DOWNLOAD", "dist/*")],
        &["PACKAGE_PUBLISHER_DOWNLOAD has the value", "only on Buildkite"],
    );
}

#[test]
fn no_token_and_oidc_off() {
    let out = Job::new()
        .deb("dist/a_1.0_amd64.deb", "a")
        .env(REG.0, REG.1)
        .env(ART.0, ART.1)
        .env("PACKAGE_PUBLISHER_OIDC", "false")
        .run();
    out.code(2).has("no API token").has("BUILDKITE_API_TOKEN");
}

// ----- bad input found at run time

#[test]
fn pattern_that_matches_nothing_exits_3() {
    let emu = emulator(&[]);
    let out = Job::local(&emu, "debs", "dist/*.rpm")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(3)
        .has("\"dist/*.rpm\" matched no files")
        .has("PACKAGE_PUBLISHER_IF_NO_FILES_FOUND=warn");
    assert!(emu.requests().is_empty(), "no request may be sent");
}

#[test]
fn pattern_that_matches_only_a_directory_exits_3() {
    let emu = emulator(&[]);
    let out = Job::local(&emu, "debs", "dist/pkgs")
        .deb("dist/pkgs/a_1.0_amd64.deb", "a")
        .run();
    out.code(3).has("matched only directories: dist/pkgs");
}

#[test]
fn symlink_to_a_file_outside_the_working_directory() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb").deb("dist/a_1.0_amd64.deb", "a");
    let outside = job.dir.path().join("secret.txt");
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, job.work().join("dist/leak_1.0_amd64.deb")).unwrap();
    job.run()
        .code(2)
        .has("dist/leak_1.0_amd64.deb")
        .has("outside the working directory");
    assert!(emu.requests().is_empty());
}

#[test]
fn unreadable_file_is_named() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb").deb("dist/a_1.0_amd64.deb", "a");
    std::os::unix::fs::symlink(
        job.work().join("dist/missing"),
        job.work().join("dist/broken_1.0_amd64.deb"),
    )
    .unwrap();
    job.run().code(2).has("cannot read").has("dist/broken_1.0_amd64.deb");
    assert!(emu.requests().is_empty());
}

#[test]
fn token_without_the_write_scope_exits_4_and_names_the_scope() {
    let mut config = crate::support::EmuConfig::default();
    config
        .tokens
        .insert("bkua_readonly".into(), vec!["read_packages".into()]);
    let emu = crate::support::emulator_with(config);
    let out = Job::local(&emu, "debs", "dist/*.deb")
        .env("BUILDKITE_API_TOKEN", "bkua_readonly")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(4).has("403").has("write_packages").lacks("bkua_readonly");
}

/// Credentials are checked once, up front: a refused token with 50 files is one
/// message, exit 4, and nothing is uploaded.
#[test]
fn a_refused_token_with_many_files_is_one_error_and_no_upload() {
    let emu = emulator(&[("files", "files")]);
    let job = Job::local(&emu, "files", "dist/*.bin").env("BUILDKITE_API_TOKEN", "bkua_revoked_token");
    std::fs::create_dir_all(job.work().join("dist")).unwrap();
    for i in 0..50 {
        std::fs::write(job.work().join(format!("dist/tool{i:02}-1.0.0.bin")), format!("{i}")).unwrap();
    }
    let out = job.run();
    out.code(4).lacks("bkua_revoked_token");
    assert_eq!(out.all().matches("401").count(), 1, "{}", out.all());
    assert!(emu.requests().iter().all(|r| r.method == "GET"), "nothing was uploaded");
    assert_eq!(emu.requests().len(), 1, "one request checked the credentials");
}

#[test]
fn unknown_token_exits_4() {
    let emu = emulator(&[]);
    let out = Job::local(&emu, "debs", "dist/*.deb")
        .env("BUILDKITE_API_TOKEN", "bkua_revoked_token")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(4)
        .has("401")
        .has("token was refused")
        .lacks("bkua_revoked_token");
}

#[test]
fn unknown_registry_is_a_clear_404() {
    let emu = emulator(&[]);
    let out = Job::local(&emu, "nope", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(4)
        .has("404")
        .has("registry \"nope\" was not found in organization \"acme\"")
        .has("nothing was sent");
    assert!(
        !emu.requests().iter().any(|r| r.method != "GET"),
        "nothing but the registry check was sent"
    );
}

// ----- each source's own words

#[test]
fn plugin_messages_name_plugin_options() {
    refused(
        &[
            ("BUILDKITE", "true"),
            ("BUILDKITE_PLUGIN_CONFIGURATION", r#"{"artifacts":"dist/*.deb"}"#),
        ],
        &[
            "plugin option `registry` is required",
            "(with plugin option `promote-from`)",
        ],
    );
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"acme/debs","artifacts":"dist/*.deb","concurrency":"four"}"#,
            ),
        ],
        &["plugin option `concurrency` (BUILDKITE_PLUGIN_CONFIGURATION) has the value \"four\""],
    );
    // serde_json would keep the last of two values: the plugin refuses to guess.
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"acme/debs","artifacts":"dist/*.deb","if-exists":"fail","if-exists":"replace"}"#,
            ),
        ],
        &["the option `if-exists` is given twice"],
    );
    // One spelling for every source: the action cannot take `promote_to`, so the plugin
    // does not quietly accept it either.
    refused(
        &[
            ("BUILDKITE", "true"),
            (
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"acme/debs","artifacts":"dist/*.deb","promote_to":"prod"}"#,
            ),
        ],
        &[
            "plugin option `promote_to`",
            "written in kebab-case",
            "write `promote-to`",
        ],
    );
}

#[test]
fn action_messages_name_inputs() {
    refused(
        &[("GITHUB_ACTIONS", "true"), ("INPUT_ARTIFACTS", "dist/*.deb")],
        &["input `registry` is required", "(with input `promote-from`)"],
    );
    refused(
        &[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_REGISTRY", "acme/debs"),
            ("INPUT_ARTIFACTS", "dist/*.deb"),
            ("INPUT_DRY-RUNN", "true"),
        ],
        &["unknown input `dry-runn` (INPUT_DRY-RUNN)", "did you mean `dry-run`?"],
    );
}

#[test]
fn variable_typos_suggest_the_variable() {
    refused(
        &[REG, ART, ("PACKAGE_PUBLISHER_DRYRUN", "true")],
        &[
            "unknown variable PACKAGE_PUBLISHER_DRYRUN",
            "did you mean PACKAGE_PUBLISHER_DRY_RUN?",
        ],
    );
}

#[test]
fn no_token_messages_name_options_in_each_source() {
    let out = Job::new()
        .deb("dist/a_1.0_amd64.deb", "a")
        .env(REG.0, REG.1)
        .env(ART.0, ART.1)
        .env("PACKAGE_PUBLISHER_OIDC", "false")
        .run();
    out.code(2)
        .has("name another variable with PACKAGE_PUBLISHER_API_TOKEN_ENV")
        .has("allow OIDC with `PACKAGE_PUBLISHER_OIDC=auto`");
    let out = Job::new()
        .deb("dist/a_1.0_amd64.deb", "a")
        .env("BUILDKITE", "true")
        .env(
            "BUILDKITE_PLUGIN_CONFIGURATION",
            r#"{"registry":"acme/debs","artifacts":"dist/*.deb","oidc":false}"#,
        )
        .run();
    out.code(2)
        .has("name another variable with plugin option `api-token-env`")
        .has("allow OIDC with `oidc: auto`");
}
