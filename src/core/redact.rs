//! Values that must never be shown — secret prompt answers, `secret()`
//! values, AWS credentials — and the functions that hide them. It is
//! process-wide because log lines need it too, before and outside any run.

use std::io::Write;
use std::sync::{Arc, RwLock};

use serde_json::Value;

pub const REDACTED: &str = "***";

/// A line of a multi-line secret is hidden on its own (output streams line
/// by line) when it has at least this many characters; shorter lines (`{`,
/// `}` of a JSON key file) would blank out unrelated output and give little
/// of the secret away.
const MIN_LINE_CHARS: usize = 4;

/// Longest first, so a secret containing another is hidden whole.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Every text form of every secret, longest first, with the number of
/// secrets it was built from: secrets are only ever added, so a different
/// count means the forms are stale.
static FORMS: RwLock<(usize, Option<Arc<Vec<String>>>)> = RwLock::new((0, None));

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

/// How `secret` can appear in text: as it is; without surrounding
/// whitespace (a value read from a file ends in a newline); line by line;
/// and each of those escaped inside a JSON, Rust/Rhai or byte string literal
/// (error texts, a printed map, the SDK's trace logs of HTTP bodies) or
/// inside a single-quoted shell word (`quote()`).
fn forms(secret: &str) -> Vec<String> {
    let trimmed = secret.trim();
    let mut plain = vec![secret.to_string()];
    if !trimmed.is_empty() {
        plain.push(trimmed.to_string());
    }
    if trimmed.contains(['\n', '\r']) {
        plain.extend(
            trimmed
                .lines()
                .map(str::trim)
                .filter(|line| line.chars().count() >= MIN_LINE_CHARS)
                .map(str::to_string),
        );
    }
    let mut all = Vec::new();
    for form in plain {
        all.push(json_escaped(&form));
        all.push(debug_escaped(&form));
        all.push(bytes_escaped(&form));
        all.push(form.replace('\'', r"'\''"));
        // AWS answers in XML: an error body quoting the value escapes it.
        all.push(xml_escaped(&form));
        // A request line, a form body or an error body may carry the value
        // URL-encoded: all-encoded, with `/` kept (an S3 key in a path, as
        // Python's `quote` does), or with `+` for a space (form encoding).
        all.push(url_encoded(&form, "", "%20"));
        all.push(url_encoded(&form, "/", "%20"));
        all.push(url_encoded(&form, "", "+"));
        all.push(form);
    }
    all
}

/// `value` percent-encoded (uppercase hex) but for RFC 3986's unreserved
/// characters and those in `keep`, with `space` for a space.
fn url_encoded(value: &str, keep: &str, space: &str) -> String {
    use std::fmt::Write as _;
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        let c = char::from(byte);
        if c.is_ascii_alphanumeric() || "-._~".contains(c) || (byte.is_ascii() && keep.contains(c))
        {
            encoded.push(c);
        } else if c == ' ' {
            encoded.push_str(space);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

fn debug_escaped(text: &str) -> String {
    let quoted = format!("{text:?}");
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// As a byte string's Debug shows it (`b"..."`): printable ASCII as is,
/// every other byte as `\xNN`.
fn bytes_escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'\n' => r"\n".to_string(),
            b'\r' => r"\r".to_string(),
            b'\t' => r"\t".to_string(),
            b'"' => r#"\""#.to_string(),
            b'\\' => r"\\".to_string(),
            0 => r"\0".to_string(),
            0x20..=0x7e => char::from(b).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect()
}

/// The current forms of every secret, rebuilt after a secret was added.
fn current_forms() -> Arc<Vec<String>> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    {
        let cached = FORMS.read().unwrap_or_else(|p| p.into_inner());
        if let (count, Some(forms)) = &*cached
            && *count == secrets.len()
        {
            return forms.clone();
        }
    }
    let mut all: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
    all.retain(|form| !form.is_empty());
    all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    all.dedup();
    let all = Arc::new(all);
    let mut cached = FORMS.write().unwrap_or_else(|p| p.into_inner());
    *cached = (secrets.len(), Some(all.clone()));
    all
}

/// `text` with every known secret, in any of its forms, replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut text = text.to_string();
    for form in current_forms().iter() {
        if text.contains(form.as_str()) {
            text = text.replace(form.as_str(), REDACTED);
        }
    }
    text
}

/// `value` with secrets hidden in every string, map key and number, to be
/// done before serializing: in serialized JSON a secret holding `"`, `\` or
/// a newline is escaped and no longer matches itself.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(redact(text)),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (redact(key), redact_json(item)))
                .collect(),
        ),
        Value::Number(number) => {
            let text = number.to_string();
            let hidden = redact(&text);
            if hidden == text {
                value.clone()
            } else {
                Value::String(hidden)
            }
        }
        Value::Null | Value::Bool(_) => value.clone(),
    }
}

/// How many trailing bytes of `text` begin some form of a secret (a line
/// of a multi-line one included): text arriving in
/// pieces (a command's output) holds them back until the next piece shows
/// whether the rest of the secret follows. Always a char boundary of `text`.
pub fn secret_start_len(text: &str) -> usize {
    current_forms()
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
    fn url_encoded_forms_are_redacted_too() {
        add("a/b+c=d é");
        assert_eq!(
            redact(
                "raw a/b+c=d é, query a%2Fb%2Bc%3Dd%20%C3%A9, form a%2Fb%2Bc%3Dd+%C3%A9, path a/b%2Bc%3Dd%20%C3%A9"
            ),
            "raw ***, query ***, form ***, path ***"
        );
    }

    #[test]
    fn xml_escaped_forms_are_redacted() {
        add("i-Zq&q<x>-unit");
        assert_eq!(
            redact("<Message>The instance ID 'i-Zq&amp;q&lt;x&gt;-unit' does not exist</Message>"),
            "<Message>The instance ID '***' does not exist</Message>"
        );
    }

    #[test]
    fn escaped_and_quoted_forms_are_redacted() {
        let secret = "q\"u\\o'te-unit";
        add(secret);
        let json = serde_json::to_string(&serde_json::json!({ "pw": secret })).unwrap();
        assert_eq!(redact(&json), r#"{"pw":"***"}"#);
        assert_eq!(redact(&format!("{secret:?}")), "\"***\"");
        assert_eq!(redact(&crate::core::quote::quote(secret)), "'***'");
        add("bytes-ünit\t\"");
        let body = r#"b"<v>bytes-\xc3\xbcnit\t\"</v>""#;
        assert_eq!(redact(body), r#"b"<v>***</v>""#);
    }

    #[test]
    fn multi_line_secrets_are_redacted_whole_and_line_by_line() {
        add("  first-line-unit\n{\nsecond-line-unit\n");
        assert_eq!(redact("a first-line-unit b"), "a *** b");
        assert_eq!(redact("x second-line-unit"), "x ***");
        assert_eq!(redact("{ kept }"), "{ kept }");
        assert_eq!(redact("first-line-unit\n{\nsecond-line-unit"), "***");
    }

    #[test]
    fn json_values_are_redacted_before_serializing() {
        add("js\"on\nsecret-unit");
        add("4242424242");
        let value = serde_json::json!({
            "js\"on\nsecret-unit": ["js\"on\nsecret-unit", 4242424242_i64, 7, null, true],
        });
        assert_eq!(
            redact_json(&value),
            serde_json::json!({ "***": ["***", "***", 7, null, true] })
        );
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
