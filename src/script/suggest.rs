//! "Did you mean": the known names nearest to a misspelt one.

/// The most similar known name, if one is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Up to `count` names most similar to `name`, most similar first.
pub fn nearest<'a>(name: &str, candidates: &'a [String], count: usize) -> Vec<&'a String> {
    let mut scored: Vec<(f64, &String)> = candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(count).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names_come_most_similar_first() {
        let names = ["ssh::group", "ssh::connect", "ssh::other"].map(String::from);
        let found = nearest("ssh::grop", &names, 2);
        assert_eq!(found[0], "ssh::group");
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn a_typo_is_close_and_a_stranger_is_not() {
        let modules = ["ec2", "local", "s3", "ssh"].map(String::from);
        assert_eq!(
            closest("lokal", modules.iter()).map(String::as_str),
            Some("local")
        );
        assert_eq!(closest("zzzq", modules.iter()), None);
    }
}
