//! How the user writes an option. Each option has one kebab-case name, but a user meets
//! it as `--registry` on the command line, `PACKAGE_PUBLISHER_REGISTRY` in the
//! environment, plugin option `registry` in a pipeline and input `registry` in a
//! workflow. Every message that names an option it was not given (a missing option, a
//! hint to change another one) goes through a [`Spelling`], so it uses the words the
//! user typed; a given value carries its own origin (the flag or variable it came
//! from) with its raw value.

use super::options::Opt;

/// The prefix of the local configuration variables.
pub(crate) const ENV_PREFIX: &str = "PACKAGE_PUBLISHER_";

/// A flag table: each option a subcommand takes, with the flag that sets it.
pub(crate) type Flags = &'static [(Opt, &'static str)];

/// How the user wrote the options of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// Command-line flags of one subcommand. Options it has no flag for are still read
    /// from `PACKAGE_PUBLISHER_*` variables, and named that way.
    Flags(Flags),
    /// `PACKAGE_PUBLISHER_*` variables.
    Env,
    /// Buildkite plugin options.
    Plugin,
    /// GitHub Action inputs.
    Action,
}

/// The local variable of an option: `PACKAGE_PUBLISHER_DRY_RUN` for `dry-run`.
#[must_use]
pub(crate) fn env_var(option: &str) -> String {
    format!("{ENV_PREFIX}{}", option.to_ascii_uppercase().replace('-', "_"))
}

fn flag(flags: Flags, option: Opt) -> Option<&'static str> {
    flags.iter().find(|(o, _)| *o == option).map(|(_, f)| *f)
}

impl Spelling {
    /// The option's name as the user would write it: `--org`,
    /// `PACKAGE_PUBLISHER_ORGANIZATION`, plugin option `organization`, input
    /// `organization`.
    #[must_use]
    pub(crate) fn name(self, option: Opt) -> String {
        match self {
            Spelling::Flags(flags) => flag(flags, option).map_or_else(|| env_var(option.name()), str::to_owned),
            Spelling::Env => env_var(option.name()),
            Spelling::Plugin => format!("plugin option `{option}`"),
            Spelling::Action => format!("input `{option}`"),
        }
    }

    /// The option set to `value`, as the user would write it: `--if-exists skip`,
    /// `PACKAGE_PUBLISHER_IF_EXISTS=skip`, `if-exists: skip`.
    #[must_use]
    pub(crate) fn setting(self, option: Opt, value: &str) -> String {
        match self {
            Spelling::Flags(flags) => match flag(flags, option).filter(|f| f.starts_with("--")) {
                Some(f) => format!("`{f} {value}`"),
                None => format!("`{}={value}`", env_var(option.name())),
            },
            Spelling::Env => format!("`{}={value}`", env_var(option.name())),
            Spelling::Plugin | Spelling::Action => format!("`{option}: {value}`"),
        }
    }

    /// Whether the options were given as command-line flags.
    #[must_use]
    pub(crate) fn is_flags(self) -> bool {
        matches!(self, Spelling::Flags(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: Flags = &[(Opt::Organization, "--org"), (Opt::Artifacts, "a PATTERN argument")];

    #[test]
    fn each_dialect_names_options_its_own_way() {
        assert_eq!(Spelling::Flags(FLAGS).name(Opt::Organization), "--org");
        assert_eq!(Spelling::Flags(FLAGS).name(Opt::Artifacts), "a PATTERN argument");
        assert_eq!(
            Spelling::Flags(FLAGS).name(Opt::DownloadBuild),
            "PACKAGE_PUBLISHER_DOWNLOAD_BUILD"
        );
        assert_eq!(Spelling::Env.name(Opt::DryRun), "PACKAGE_PUBLISHER_DRY_RUN");
        assert_eq!(Spelling::Plugin.name(Opt::DryRun), "plugin option `dry-run`");
        assert_eq!(Spelling::Action.name(Opt::DryRun), "input `dry-run`");
    }

    #[test]
    fn settings_are_written_as_the_user_would() {
        let flags = Spelling::Flags(&[(Opt::IfExists, "--if-exists")]);
        assert_eq!(flags.setting(Opt::IfExists, "skip"), "`--if-exists skip`");
        assert_eq!(flags.setting(Opt::Oidc, "auto"), "`PACKAGE_PUBLISHER_OIDC=auto`");
        assert_eq!(
            Spelling::Env.setting(Opt::Oidc, "auto"),
            "`PACKAGE_PUBLISHER_OIDC=auto`"
        );
        assert_eq!(Spelling::Plugin.setting(Opt::Oidc, "auto"), "`oidc: auto`");
    }
}
