//! `--limit`: the hosts a run may touch. Every group and rollout is
//! narrowed to the targets one of its patterns matches, and `ssh::connect`
//! refuses any other. A pattern is a glob (`*` any run of characters, `?`
//! one character) matched against every name a target goes by: its name,
//! its address, its instance id, its Name tag.

use std::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    patterns: Vec<String>,
    /// How the user wrote it, for messages (`@failed` stays `@failed`).
    shown: String,
}

impl Limit {
    pub fn new(patterns: Vec<String>, shown: &str) -> Self {
        Self {
            patterns,
            shown: shown.to_string(),
        }
    }

    /// Whether a target going by `names` is inside the limit.
    pub fn allows<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> bool {
        self.patterns
            .iter()
            .any(|p| names.clone().into_iter().any(|name| glob(p, name)))
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The run's limit, set once its patterns are known (`@failed` needs the
/// journal and the runbook's name).
#[derive(Default)]
pub struct RunLimit(RwLock<Option<Limit>>);

impl RunLimit {
    pub fn set(&self, limit: Limit) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(limit);
    }

    pub fn get(&self) -> Option<Limit> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `*` and `?` globbing, by characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // The classic two-pointer match with one backtrack point: linear in
    // practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("web-*", "web-12"));
        assert!(glob("web-?", "web-1"));
        assert!(!glob("web-?", "web-12"));
        assert!(glob("*", ""));
        assert!(glob("127.0.0.*", "127.0.0.9"));
        assert!(!glob("web", "web-1"));
        assert!(glob("*-1*", "lab-13"));
        assert!(!glob("a*b", "ab-c"));
    }

    #[test]
    fn a_limit_allows_a_target_by_any_of_its_names() {
        let limit = Limit::new(vec!["db-*".into(), "i-0abc".into()], "db-*,i-0abc");
        assert!(limit.allows(["10.0.0.5", "db-1"]));
        assert!(limit.allows(["i-0abc", "54.1.2.3"]));
        assert!(!limit.allows(["web-1", "10.0.0.6"]));
    }
}
