//! Values that must never be shown — secret prompt answers, `secret()`
//! values, AWS credentials — and the one function that hides them. It is
//! process-wide because log lines need it too, before and outside any run.

use std::io::Write;
use std::sync::RwLock;

pub const REDACTED: &str = "***";

/// Longest first, so a secret containing another is hidden whole.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

pub fn add(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every known secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    secrets.iter().fold(text.to_string(), |text, secret| {
        text.replace(secret.as_str(), REDACTED)
    })
}

/// How many trailing bytes of `text` begin some secret: text arriving in
/// pieces (a command's output) holds them back until the next piece shows
/// whether the rest of the secret follows. Always a char boundary of `text`.
pub fn secret_start_len(text: &str) -> usize {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    secrets
        .iter()
        .map(|secret| prefix_at_end(text.as_bytes(), secret.as_bytes()))
        .max()
        .unwrap_or(0)
}

/// The longest start of `secret` that `text` ends with, found in time
/// linear in the shorter of the two (Knuth-Morris-Pratt): a secret may be
/// long, and is searched for in every chunk of a command's output.
fn prefix_at_end(text: &[u8], secret: &[u8]) -> usize {
    // A start longer than `text` cannot end it.
    let secret = &secret[..secret.len().min(text.len())];
    let Some(&first) = secret.first() else {
        return 0;
    };
    let tail = &text[text.len().saturating_sub(secret.len())..];
    if !tail.contains(&first) {
        return 0;
    }
    // fallback[i]: the longest proper start of secret[..=i] that also ends it.
    let mut fallback = vec![0; secret.len()];
    let mut k = 0;
    for (i, &byte) in secret.iter().enumerate().skip(1) {
        while k > 0 && secret[k] != byte {
            k = fallback[k - 1];
        }
        if secret[k] == byte {
            k += 1;
        }
        fallback[i] = k;
    }
    let mut matched = 0;
    for &byte in tail {
        while matched > 0 && (matched == secret.len() || secret[matched] != byte) {
            matched = fallback[matched - 1];
        }
        if secret[matched] == byte {
            matched += 1;
        }
    }
    matched
}

/// Credentials from the environment are secret from the start; those from
/// profiles are added when the AWS configuration loads them.
pub fn add_env_credentials() {
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        if let Ok(value) = std::env::var(name) {
            add(&value);
        }
    }
}

/// Log output through `redact`: the SDK's debug logs print whole
/// configurations, credentials included.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = redact(&String::from_utf8_lossy(buf));
        std::io::stderr().lock().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_longest_first() {
        add("hunter2");
        add("hunter2-extra");
        assert_eq!(redact("pw=hunter2-extra or hunter2"), "pw=*** or ***");
    }

    #[test]
    fn a_secret_begun_at_the_end_is_found() {
        assert_eq!(prefix_at_end(b"say abcab", b"abcabd"), 5);
        assert_eq!(prefix_at_end(b"abcabcab", b"abcabd"), 5);
        assert_eq!(prefix_at_end(b"xyz", b"abc"), 0);
        assert_eq!(prefix_at_end(b"line\nal", b"alpha\nbravo"), 2);
        assert_eq!(prefix_at_end(b"", b"abc"), 0);
        assert_eq!(prefix_at_end(b"aaaa", b"aaaaaaaa"), 4);
    }
}
