//! Turns glob patterns into the list of files to publish: patterns are expanded
//! relative to the working directory, `!` patterns exclude, results are sorted and
//! de-duplicated, directories and hidden files are skipped unless a pattern names them.
//! One rule holds for every matched path, glob or literal: it must resolve inside the
//! working directory (through symlinked files or directories alike), be a regular file
//! (a FIFO or device is refused without being opened), and have a name without control
//! characters. What each pattern matched is kept so the log can say it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::{IfNoFilesFound, Opt, Pattern, Patterns};

/// A file found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Path relative to the working directory, with `/` separators: how it is reported.
    pub rel: String,
    /// Absolute path, for reading.
    pub path: PathBuf,
}

/// What one include pattern matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternMatch {
    pub pattern: String,
    /// Files this pattern contributed (after excludes), in sorted order.
    pub files: Vec<String>,
    /// Directories the pattern matched, which are skipped.
    pub skipped_dirs: Vec<String>,
}

/// The result of discovery.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovery {
    /// Files in order: sorted by relative path, each once.
    pub files: Vec<Found>,
    pub patterns: Vec<PatternMatch>,
    /// Patterns that matched no file, when `if-no-files-found` is `warn`.
    pub warnings: Vec<String>,
}

/// Why discovery stopped.
#[derive(Debug, Error)]
pub(crate) enum DiscoverError {
    /// A pattern matched nothing and `if-no-files-found` is `error`.
    #[error(
        "{option} pattern {pattern:?} matched no files{detail} (if-no-files-found: error; set it to `warn` or `ignore` to allow this)"
    )]
    NoMatch {
        option: Opt,
        pattern: String,
        detail: String,
    },
    /// A matched path is a symlink that leads outside the working directory.
    #[error("{rel:?} is a symlink to {target}, which is outside the working directory {root}; refusing to publish it")]
    OutsideRoot { rel: String, target: String, root: String },
    /// A matched path is not a regular file (a FIFO, socket or device).
    #[error("{rel:?} is a {kind}, not a regular file; refusing to read it (narrow the pattern or remove it)")]
    NotRegular { rel: String, kind: &'static str },
    /// A matched file name holds a control character (a line feed, an escape), which
    /// no registry accepts and no log can show safely, or a quote or backslash, which
    /// multipart parsers read differently (so the registry could record another name).
    #[error("{rel:?} has {what} in its name; rename the file")]
    BadName { rel: String, what: &'static str },
    /// The file system refused a read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Expands `patterns` (the option named `option`) under `root`.
pub(crate) fn discover(
    root: &Path,
    option: Opt,
    patterns: &Patterns,
    if_none: IfNoFilesFound,
) -> Result<Discovery, DiscoverError> {
    let root_real = root.canonicalize().map_err(|source| DiscoverError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let walk = Walk {
        root,
        root_real: &root_real,
        excludes: patterns.excludes().collect(),
    };
    let mut seen = BTreeSet::new();
    let mut out = Discovery::default();
    for pattern in patterns.includes() {
        let (matched, excluded) = walk.expand(pattern, &mut seen, &mut out.files)?;
        if matched.files.is_empty() {
            let detail = why_empty(&matched, excluded);
            match if_none {
                IfNoFilesFound::Error => {
                    return Err(DiscoverError::NoMatch {
                        option,
                        pattern: pattern.text.clone(),
                        detail,
                    });
                }
                IfNoFilesFound::Warn => out
                    .warnings
                    .push(format!("{option} pattern {:?} matched no files{detail}", pattern.text)),
                IfNoFilesFound::Ignore => {}
            }
        }
        out.patterns.push(matched);
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Where discovery looks, and what it leaves out.
struct Walk<'a> {
    root: &'a Path,
    root_real: &'a Path,
    excludes: Vec<&'a Pattern>,
}

impl Walk<'_> {
    /// What one include pattern matched (each new file also added to `files`, once
    /// across patterns), and how many matches an exclude removed.
    fn expand(
        &self,
        pattern: &Pattern,
        seen: &mut BTreeSet<String>,
        files: &mut Vec<Found>,
    ) -> Result<(PatternMatch, usize), DiscoverError> {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut matched = PatternMatch {
            pattern: pattern.text.clone(),
            files: Vec::new(),
            skipped_dirs: Vec::new(),
        };
        let mut excluded = 0usize;
        for (path, kind) in candidates(self.root, self.root_real, &pattern.text)? {
            let rel = relative(self.root, &path);
            if !pattern.glob.matches_with(&rel, options) {
                continue;
            }
            if self.excludes.iter().any(|ex| ex.glob.matches_with(&rel, options)) {
                excluded += 1;
                continue;
            }
            if is_dir(&path, &rel, kind, self.root_real, literal(&pattern.text))? {
                matched.skipped_dirs.push(rel);
                continue;
            }
            if seen.insert(rel.clone()) {
                matched.files.push(rel.clone());
                files.push(Found { rel, path });
            } else {
                matched.files.push(rel);
            }
        }
        Ok((matched, excluded))
    }
}

/// Why a pattern that matched no file matched nothing, when it can be told.
fn why_empty(matched: &PatternMatch, excluded: usize) -> String {
    if !matched.skipped_dirs.is_empty() {
        format!(
            " (it matched only directories: {}; add `/*` or `/**/*` to match the files inside)",
            matched.skipped_dirs.join(", ")
        )
    } else if excluded > 0 {
        format!(" ({excluded} matching files were excluded by `!` patterns)")
    } else {
        String::new()
    }
}

/// What kind of special file this is, for the message that refuses it.
#[cfg(unix)]
fn special_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "FIFO (named pipe)"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: std::fs::FileType) -> &'static str {
    "special file"
}

/// Whether a pattern names one path (no glob characters).
fn literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '['])
}

/// Applies the rule every matched path must pass, and says whether it is a directory
/// (skipped) rather than a file. Walked entries come from real directories below a
/// checked base, so only a symlink needs resolving; a literal path may pass through
/// symlinked directories anywhere, so it is resolved whole.
fn is_dir(
    path: &Path,
    rel: &str,
    kind: std::fs::FileType,
    root_real: &Path,
    literal: bool,
) -> Result<bool, DiscoverError> {
    if rel.chars().any(char::is_control) {
        return Err(DiscoverError::BadName {
            rel: rel.to_owned(),
            what: "a control character",
        });
    }
    let kind = if kind.is_symlink() || literal {
        let target = path.canonicalize().map_err(|source| DiscoverError::Io {
            path: rel.to_owned(),
            source,
        })?;
        if !target.starts_with(root_real) {
            return Err(DiscoverError::OutsideRoot {
                rel: rel.to_owned(),
                target: target.display().to_string(),
                root: root_real.display().to_string(),
            });
        }
        // stat, not open: opening a FIFO would block.
        std::fs::metadata(&target)
            .map_err(|source| DiscoverError::Io {
                path: rel.to_owned(),
                source,
            })?
            .file_type()
    } else {
        kind
    };
    if kind.is_dir() {
        return Ok(true);
    }
    if !kind.is_file() {
        let what = special_kind(kind);
        return Err(DiscoverError::NotRegular {
            rel: rel.to_owned(),
            kind: what,
        });
    }
    // The base name travels as the multipart `filename`, where a quote or a
    // backslash is written one way by one client and read another way by another.
    if rel.rsplit('/').next().is_some_and(|name| name.contains(['"', '\\'])) {
        return Err(DiscoverError::BadName {
            rel: rel.to_owned(),
            what: "a quote or backslash (multipart parsers read such a file name differently, so the registry could record another name)",
        });
    }
    Ok(false)
}

/// The paths under `root` that `pattern` could match, found by walking only the
/// directory the pattern's literal prefix names, only as deep as the pattern reaches
/// (any depth for `**`), and into hidden directories only when the pattern names one.
/// Entries come with their type from the directory listing, so no path is stat'ed
/// twice; symlinks are not followed.
fn candidates(
    root: &Path,
    root_real: &Path,
    pattern: &str,
) -> Result<Vec<(PathBuf, std::fs::FileType)>, DiscoverError> {
    let is_glob = |c: &str| c.contains(['*', '?', '[']);
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let literal = components.iter().take_while(|c| !is_glob(c)).count();
    let base = components[..literal].iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let rest = &components[literal..];
    // The walk starts at the literal prefix and follows it if it is a symlink: it must
    // stay inside the working directory. (Below it, symlinked directories are not
    // followed, and matched symlinks are checked one by one.)
    if !rest.is_empty() {
        if let Ok(real) = base.canonicalize() {
            if !real.starts_with(root_real) {
                return Err(DiscoverError::OutsideRoot {
                    rel: relative(root, &base),
                    target: real.display().to_string(),
                    root: root_real.display().to_string(),
                });
            }
        }
    }
    if rest.is_empty() {
        return Ok(match base.symlink_metadata() {
            Ok(meta) => vec![(base, meta.file_type())],
            Err(_) => Vec::new(),
        });
    }
    let mut out = walk(root, &base, rest)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Walks `base` for entries the pattern components `rest` could match: as deep as they
/// reach (any depth for `**`), into hidden directories only when they name one, and
/// keeping only entries whose own name fits the last component.
fn walk(root: &Path, base: &Path, rest: &[&str]) -> Result<Vec<(PathBuf, std::fs::FileType)>, DiscoverError> {
    let depth = if rest.contains(&"**") { usize::MAX } else { rest.len() };
    let hidden_ok = rest.iter().any(|c| c.starts_with('.'));
    let walker = walkdir::WalkDir::new(base)
        .min_depth(1)
        .max_depth(depth)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| hidden_ok || e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    // Entries whose own name cannot match the pattern's last component are dropped
    // before any path is built (the full match runs on what is left).
    let last = rest
        .last()
        .filter(|c| **c != "**")
        .and_then(|c| glob::Pattern::new(c).ok());
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut out = Vec::new();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let name_fits = last
                    .as_ref()
                    .is_none_or(|p| entry.file_name().to_str().is_some_and(|n| p.matches_with(n, options)));
                if name_fits {
                    let kind = entry.file_type();
                    out.push((entry.into_path(), kind));
                }
            }
            // The base directory not existing just means no match.
            Err(err)
                if err.depth() == 0 && err.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => {}
            Err(err) => {
                let path = err.path().map(|p| relative(root, p)).unwrap_or_default();
                return Err(DiscoverError::Io {
                    path,
                    source: err
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("directory loop")),
                });
            }
        }
    }
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        dir
    }

    fn run(dir: &Path, patterns: &[&str]) -> Result<Discovery, DiscoverError> {
        let p = Patterns::parse(patterns).unwrap();
        discover(dir, Opt::Artifacts, &p, IfNoFilesFound::Error)
    }

    fn rels(d: &Discovery) -> Vec<&str> {
        d.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn sorted_deduplicated_and_excluded() {
        let d = tree(&["dist/b.deb", "dist/a.deb", "dist/a-dbg.deb", "dist/sub/c.deb"]);
        let found = run(d.path(), &["dist/*.deb", "dist/**/*.deb", "!dist/*-dbg.deb"]).unwrap();
        assert_eq!(rels(&found), ["dist/a.deb", "dist/b.deb", "dist/sub/c.deb"]);
        assert_eq!(found.patterns[0].files, ["dist/a.deb", "dist/b.deb"]);
    }

    #[test]
    fn hidden_files_need_a_pattern_that_names_them() {
        let d = tree(&["dist/.hidden.deb", "dist/x.deb"]);
        assert_eq!(rels(&run(d.path(), &["dist/*"]).unwrap()), ["dist/x.deb"]);
        assert_eq!(rels(&run(d.path(), &["dist/.*.deb"]).unwrap()), ["dist/.hidden.deb"]);
    }

    #[test]
    fn hidden_directories_are_entered_only_when_named() {
        let d = tree(&[".git/objects/x.deb", ".cache/y.deb", "out/z.deb", "out/deep/er/w.deb"]);
        assert_eq!(
            rels(&run(d.path(), &["**/*.deb"]).unwrap()),
            ["out/deep/er/w.deb", "out/z.deb"]
        );
        assert_eq!(rels(&run(d.path(), &[".cache/*.deb"]).unwrap()), [".cache/y.deb"]);
        assert_eq!(rels(&run(d.path(), &["out/z.deb"]).unwrap()), ["out/z.deb"]);
        assert_eq!(rels(&run(d.path(), &["*/*.deb"]).unwrap()), ["out/z.deb"]);
    }

    #[test]
    fn a_pattern_that_matches_only_a_directory_says_so() {
        let d = tree(&["dist/x/y.deb"]);
        let err = run(d.path(), &["dist/x"]).unwrap_err().to_string();
        assert!(err.contains("matched only directories: dist/x"), "{err}");
    }

    #[test]
    fn symlink_outside_the_root_is_refused() {
        let outside = tree(&["secret.txt"]);
        let d = tree(&["dist/ok.deb"]);
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("dist/leak.deb")).unwrap();
        let err = run(d.path(), &["dist/*.deb"]).unwrap_err();
        assert!(matches!(err, DiscoverError::OutsideRoot { ref rel, .. } if rel == "dist/leak.deb"));
    }

    #[test]
    fn a_symlinked_directory_leading_outside_is_refused() {
        let outside = tree(&["keys/id_rsa"]);
        let d = tree(&["ok.deb"]);
        std::os::unix::fs::symlink(outside.path().join("keys"), d.path().join("dist")).unwrap();
        let err = run(d.path(), &["dist/*"]).unwrap_err();
        assert!(
            matches!(err, DiscoverError::OutsideRoot { ref rel, .. } if rel == "dist"),
            "{err}"
        );
        // Below the walk's start, symlinked directories are not followed at all.
        let err = run(d.path(), &["**/id_rsa"]).unwrap_err();
        assert!(matches!(err, DiscoverError::NoMatch { .. }), "{err}");
    }

    #[test]
    fn a_literal_path_through_a_symlinked_directory_is_held_to_the_same_rule() {
        let outside = tree(&["secret.deb"]);
        let d = tree(&["ok.deb"]);
        std::os::unix::fs::symlink(outside.path(), d.path().join("dist")).unwrap();
        let err = run(d.path(), &["dist/secret.deb"]).unwrap_err();
        assert!(
            matches!(err, DiscoverError::OutsideRoot { ref rel, .. } if rel == "dist/secret.deb"),
            "{err}"
        );
    }

    #[test]
    fn fifos_and_control_characters_are_refused_by_name() {
        let d = tree(&["dist/ok.deb"]);
        let fifo = d.path().join("dist/pipe.deb");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let err = run(d.path(), &["dist/*.deb"]).unwrap_err();
        assert!(
            matches!(err, DiscoverError::NotRegular { ref rel, .. } if rel == "dist/pipe.deb"),
            "{err}"
        );
        let err = run(d.path(), &["dist/pipe.deb"]).unwrap_err();
        assert!(matches!(err, DiscoverError::NotRegular { .. }), "{err}");
        std::fs::remove_file(&fifo).unwrap();
        std::fs::write(d.path().join("dist/evil\nname_1.0_all.deb"), "x").unwrap();
        let err = run(d.path(), &["dist/*.deb"]).unwrap_err();
        assert!(matches!(err, DiscoverError::BadName { .. }), "{err}");
        std::fs::remove_file(d.path().join("dist/evil\nname_1.0_all.deb")).unwrap();
        std::fs::write(d.path().join("dist/q\"uote_1.0_all.deb"), "x").unwrap();
        let err = run(d.path(), &["dist/*.deb"]).unwrap_err();
        assert!(err.to_string().contains("a quote or backslash"), "{err}");
    }

    #[test]
    fn warn_mode_records_the_empty_pattern() {
        let d = tree(&["dist/x.deb"]);
        let p = Patterns::parse(&["dist/*.rpm", "dist/*.deb"]).unwrap();
        let found = discover(d.path(), Opt::Artifacts, &p, IfNoFilesFound::Warn).unwrap();
        assert_eq!(found.warnings.len(), 1);
        assert_eq!(rels(&found), ["dist/x.deb"]);
    }
}
