//! Glob patterns as validated and compiled once (`artifacts`, `attestations`): each
//! keeps the text the user wrote (normalised), whether it excludes (`!`), and its
//! compiled matcher, so discovery matches with what validation checked and never
//! parses a pattern again.

/// One pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// As written (normalised), with its `!` for an exclusion: how messages show it.
    pub text: String,
    /// The compiled glob (without the `!`).
    pub glob: glob::Pattern,
    /// A `!` pattern: it removes matches of the others.
    pub exclude: bool,
}

/// Patterns in the order given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patterns(Vec<Pattern>);

impl Patterns {
    /// Compiles normalised pattern texts (a leading `!` excludes).
    ///
    /// # Errors
    /// The first text that is not a glob pattern, with why.
    pub(crate) fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Patterns, (String, glob::PatternError)> {
        texts
            .iter()
            .map(|text| {
                let text = text.as_ref();
                let (exclude, body) = match text.strip_prefix('!') {
                    Some(body) => (true, body),
                    None => (false, text),
                };
                glob::Pattern::new(body)
                    .map(|glob| Pattern {
                        text: text.to_owned(),
                        glob,
                        exclude,
                    })
                    .map_err(|err| (text.to_owned(), err))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Patterns)
    }

    /// The patterns that select files, in order.
    pub(crate) fn includes(&self) -> impl Iterator<Item = &Pattern> {
        self.0.iter().filter(|p| !p.exclude)
    }

    /// The `!` patterns.
    pub(crate) fn excludes(&self) -> impl Iterator<Item = &Pattern> {
        self.0.iter().filter(|p| p.exclude)
    }

    /// Whether no pattern was given.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The patterns as written, in order.
    #[must_use]
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.text.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_keep_their_text_order_and_exclusions() {
        let p = Patterns::parse(&["dist/*.deb", "!dist/*-dbg*", "b/**"]).unwrap();
        assert_eq!(p.texts(), ["dist/*.deb", "!dist/*-dbg*", "b/**"]);
        let includes: Vec<&str> = p.includes().map(|p| p.text.as_str()).collect();
        assert_eq!(includes, ["dist/*.deb", "b/**"]);
        let exclude = p.excludes().next().unwrap();
        assert!(exclude.glob.matches("dist/a-dbg.deb"));
        let (bad, _) = Patterns::parse(&["ok", "[unclosed"]).unwrap_err();
        assert_eq!(bad, "[unclosed");
    }
}
