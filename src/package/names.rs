//! File-name rules: the two ecosystems whose identity *is* the file name (Terraform
//! modules, `terraform-{provider}-{module}-{major.minor.patch}.tgz`; Files,
//! `{BASENAME}-{SEMVER}.{EXT}`), the name each packaging tool would give a package
//! (to warn when a file's name disagrees with its contents), and the PEP 503 form of
//! Python names.

use super::{Format, Identity, Invalid};

/// The PEP 503 normal form of a Python project name: lower case, each run of `-`,
/// `_` and `.` one `-`.
#[must_use]
pub(crate) fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// Whether `v` is a semantic version: `MAJOR.MINOR.PATCH`, then an optional
/// `-prerelease` and `+build` of letters, digits, `.` and `-`.
#[must_use]
pub(super) fn is_semver(v: &str) -> bool {
    let (core, build) = v.split_once('+').map_or((v, None), |(c, b)| (c, Some(b)));
    let (core, pre) = core.split_once('-').map_or((core, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(ident)
        && build.is_none_or(ident)
}

/// A generic file: `{BASENAME}-{SEMVER}.{EXT}`.
pub(super) fn file(file_name: &str) -> Result<Identity, Invalid> {
    let rule = || {
        Invalid::new(
            Format::File,
            format!(
                "{file_name:?} does not follow the Files rule {{BASENAME}}-{{SEMVER}}.{{EXT}} (for example tool-1.2.3.tar.gz)"
            ),
        )
    };
    let lower = file_name.to_ascii_lowercase();
    let ext_len = [".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst"]
        .iter()
        .find(|e| lower.ends_with(*e))
        .map(|e| e.len())
        .or_else(|| file_name.rfind('.').map(|at| file_name.len() - at))
        .filter(|&n| n > 1 && n < file_name.len())
        .ok_or_else(rule)?;
    let stem = &file_name[..file_name.len() - ext_len];
    let (name, version) = stem
        .match_indices('-')
        .map(|(at, _)| (&stem[..at], &stem[at + 1..]))
        .find(|(name, version)| !name.is_empty() && is_semver(version))
        .ok_or_else(rule)?;
    Ok(named(Format::File, name, version))
}

/// A Terraform module: `terraform-{provider}-{module}-{major.minor.patch}.tgz`.
pub(super) fn terraform(file_name: &str) -> Result<Identity, Invalid> {
    let parts = file_name
        .strip_suffix(".tgz")
        .and_then(|s| s.strip_prefix("terraform-"))
        .and_then(|s| s.rsplit_once('-'))
        .and_then(|(module, version)| Some((module.split_once('-')?, version)));
    let numeric = |v: &str| {
        let n: Vec<&str> = v.split('.').collect();
        n.len() == 3 && n.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    match parts {
        Some(((provider, module), version)) if !provider.is_empty() && !module.is_empty() && numeric(version) => Ok(
            named(Format::Terraform, &format!("terraform-{provider}-{module}"), version),
        ),
        _ => Err(Invalid::new(
            Format::Terraform,
            format!(
                "{file_name:?} does not follow the rule terraform-{{provider}}-{{module}}-{{major.minor.patch}}.tgz"
            ),
        )),
    }
}

fn named(format: Format, name: &str, version: &str) -> Identity {
    Identity {
        format,
        name: name.to_owned(),
        version: version.to_owned(),
        version_aliases: Vec::new(),
        variant: None,
        name_says: None,
    }
}

/// The name the packaging tool would give this package, when `file_name` is not it.
#[must_use]
pub(super) fn disagreement(id: &Identity, file_name: &str) -> Option<String> {
    // dpkg and rpm leave the epoch out of file names.
    let without_epoch = id.version.split_once(':').map_or(id.version.as_str(), |(_, v)| v);
    let variant = id.variant.as_deref().unwrap_or_default();
    let conventional = match id.format {
        Format::Debian => format!("{}_{without_epoch}_{variant}.deb", id.name),
        Format::RedHat if variant == "src" => format!("{}-{without_epoch}.src.rpm", id.name),
        Format::RedHat => format!("{}-{without_epoch}.{variant}.rpm", id.name),
        Format::Alpine => format!("{}-{}.apk", id.name, id.version),
        Format::Npm => format!(
            "{}-{}.tgz",
            id.name.trim_start_matches('@').replace('/', "-"),
            id.version
        ),
        Format::Gem if variant.is_empty() => format!("{}-{}.gem", id.name, id.version),
        Format::Gem => format!("{}-{}-{variant}.gem", id.name, id.version),
        Format::Helm => format!("{}-{}.tgz", id.name, id.version),
        Format::Sdist => {
            let stem = file_name.split_once(".tar.").map_or(file_name, |(s, _)| s);
            let stem = stem.strip_suffix(".zip").unwrap_or(stem);
            let agrees = stem
                .rsplit_once('-')
                .is_some_and(|(n, v)| pep503(n) == pep503(&id.name) && v.eq_ignore_ascii_case(&id.version));
            return (!agrees).then(|| format!("{}-{}.tar.gz", id.name, id.version));
        }
        Format::Wheel | Format::Terraform | Format::File => return None,
    };
    (conventional != file_name).then_some(conventional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_normalises_case_and_separator_runs() {
        assert_eq!(pep503("Django"), "django");
        assert_eq!(pep503("My_Pkg"), "my-pkg");
        assert_eq!(pep503("a.-_b__c"), "a-b-c");
    }

    #[test]
    fn files_follow_basename_semver_ext() {
        let id = file("my-tool-1.2.3.tar.gz").unwrap();
        assert_eq!((id.name.as_str(), id.version.as_str()), ("my-tool", "1.2.3"));
        let id = file("tool-2.0.0-rc.1+b5.bin").unwrap();
        assert_eq!(id.version, "2.0.0-rc.1+b5");
        for bad in [
            "notes.txt",
            "tool-1.2.bin",
            "tool-1.2.3",
            "-1.2.3.bin",
            "tool_1.2.3.bin",
        ] {
            assert!(file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn terraform_modules_follow_their_rule() {
        let id = terraform("terraform-aws-my-vpc-1.4.0.tgz").unwrap();
        assert_eq!(
            (id.name.as_str(), id.version.as_str()),
            ("terraform-aws-my-vpc", "1.4.0")
        );
        for bad in [
            "terraform-aws-1.0.0.tgz",
            "aws-vpc-1.0.0.tgz",
            "terraform-aws-vpc-1.0.tgz",
            "terraform-aws-vpc-1.0.0.tar.gz",
        ] {
            assert!(terraform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_conventional_name_leaves_the_epoch_out() {
        let mut id = named(Format::Debian, "hello", "1:2.4.1-1");
        id.variant = Some("amd64".into());
        assert_eq!(disagreement(&id, "hello_2.4.1-1_amd64.deb"), None);
        assert_eq!(
            disagreement(&id, "pkgroot.deb").as_deref(),
            Some("hello_2.4.1-1_amd64.deb")
        );
        let npm = named(Format::Npm, "@acme/widget", "1.2.3");
        assert_eq!(disagreement(&npm, "acme-widget-1.2.3.tgz"), None);
    }
}
