//! `prove --mask`: what varies between two runs of the same workload whatever the bundle
//! (timings, ids, addresses) is hidden before runs are compared, in the reference and in every
//! run alike, so that only a difference the bundle caused counts.

use regex::Regex;

use super::{Observed, ProveError, Runner};
use sysallow_profile::hardening::Bundle;

/// What a match is replaced by.
const HIDDEN: &str = "\u{2026}";

/// The patterns, compiled; an invalid one is the user's error, named.
pub fn compile(patterns: &[String]) -> Result<Vec<Regex>, ProveError> {
    patterns
        .iter()
        .map(|p| Regex::new(p).map_err(|err| ProveError::Invalid(format!("--mask {p:?}: {err}"))))
        .collect()
}

/// `text` with every match of every pattern replaced by `…`.
pub fn hide(text: &str, masks: &[Regex]) -> String {
    masks.iter().fold(text.to_owned(), |t, m| {
        m.replace_all(&t, HIDDEN).into_owned()
    })
}

/// A runner whose outputs are masked.
pub struct Masked<'a> {
    pub inner: &'a dyn Runner,
    pub masks: Vec<Regex>,
}

impl Masked<'_> {
    fn mask(&self, observed: Observed) -> Observed {
        Observed {
            stdout: hide(&observed.stdout, &self.masks),
            stderr: hide(&observed.stderr, &self.masks),
            ..observed
        }
    }
}

impl Runner for Masked<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn reference(&self) -> Result<Observed, ProveError> {
        self.inner.reference().map(|o| self.mask(o))
    }
    fn confined(&self, bundle: &Bundle) -> Result<Observed, ProveError> {
        self.inner.confined(bundle).map(|o| self.mask(o))
    }
    fn not_applied(&self, bundle: &Bundle) -> Vec<String> {
        self.inner.not_applied(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_hidden_and_the_rest_kept() {
        let masks = compile(&[r"in [0-9.]+s".to_owned()]).unwrap();
        assert_eq!(
            hide("Ran 4 tests in 0.309s\nOK\n", &masks),
            "Ran 4 tests \u{2026}\nOK\n"
        );
        assert_eq!(
            hide("Ran 4 tests in 0.152s\nOK\n", &masks),
            hide("Ran 4 tests in 0.445s\nOK\n", &masks)
        );
        assert_eq!(hide("no timing", &masks), "no timing");
    }

    #[test]
    fn an_invalid_pattern_is_named() {
        let err = compile(&["(".to_owned()]).unwrap_err().to_string();
        assert!(err.contains("--mask \"(\""), "{err}");
    }
}
