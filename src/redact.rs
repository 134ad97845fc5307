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
    // A request line, a form body or an error body may carry the value
    // URL-encoded: all-encoded, with `/` kept (an S3 key in a path, as
    // Python's `quote` does), or with `+` for a space (form encoding).
    let forms = [
        value.to_string(),
        url_encoded(value, "", "%20"),
        url_encoded(value, "/", "%20"),
        url_encoded(value, "", "+"),
    ];
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
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

/// `text` with every known secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    secrets.iter().fold(text.to_string(), |text, secret| {
        text.replace(secret.as_str(), REDACTED)
    })
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
}
