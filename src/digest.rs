//! A SHA-256 digest as a type: 64 lower-case hex characters, compared without regard
//! to case with what a registry reports. A file whose digest is not known yet has none
//! (`Option<Sha256>`), never an empty string standing in for one.

use std::fmt;

use sha2::Digest;

/// A SHA-256 digest, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sha256(String);

impl Sha256 {
    /// The digest a hasher has computed.
    #[must_use]
    pub(crate) fn finish(hasher: sha2::Sha256) -> Sha256 {
        Sha256(format!("{:x}", hasher.finalize()))
    }

    /// The digest of `bytes`.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn of(bytes: &[u8]) -> Sha256 {
        Sha256::finish(sha2::Sha256::new_with_prefix(bytes))
    }

    /// A digest written as hex (either case); `None` for anything else.
    #[must_use]
    pub(crate) fn parse(hex: &str) -> Option<Sha256> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Sha256(hex.to_ascii_lowercase()))
    }

    /// The lower-case hex.
    #[must_use]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a digest a server reported (hex, either case) is this one.
    #[must_use]
    pub(crate) fn matches(&self, reported: &str) -> bool {
        self.0.eq_ignore_ascii_case(reported.trim())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lower_case_hex_and_match_any_case() {
        let empty = Sha256::of(b"");
        assert_eq!(
            empty.as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(empty.matches("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
        assert!(!empty.matches(""));
        assert_eq!(Sha256::parse(&empty.as_str().to_ascii_uppercase()), Some(empty));
        assert_eq!(Sha256::parse(""), None);
        assert_eq!(Sha256::parse("xyz"), None);
    }
}
