//! POSIX shell quoting: the result is one word to `sh`, whatever it holds,
//! except a NUL byte, which no word, argument, path or environment value
//! can carry: text with one is refused before it is sent anywhere.

/// Characters that never need quoting.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c)
}

pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    // Inside single quotes nothing is special but the quote itself, which
    // closes the string, gets escaped, and reopens it.
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `what` as the error names it, e.g. "the command" or "env value X".
/// A NUL would end the text early wherever it goes (and breaks the SSH
/// session request outright), so it is an error, not something to escape.
pub fn check_no_nul(what: &str, text: &str) -> Result<(), String> {
    match text.find('\0') {
        None => Ok(()),
        Some(at) => Err(format!(
            "{what} contains a NUL byte (at byte {at}): no command, argument, path or environment value can hold one"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{check_no_nul, quote};

    #[test]
    fn nul_bytes_are_refused_and_located() {
        assert!(check_no_nul("the command", "echo hi").is_ok());
        let err = check_no_nul("the command", "echo a\0b").unwrap_err();
        assert!(
            err.starts_with("the command contains a NUL byte (at byte 6)"),
            "{err}"
        );
    }

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(quote("web-1.example.com"), "web-1.example.com");
        assert_eq!(quote("/etc/nginx/nginx.conf"), "/etc/nginx/nginx.conf");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME; rm -rf /"), "'$HOME; rm -rf /'");
    }

    #[test]
    fn hostile_strings_survive_sh() {
        for s in [
            "it's",
            "a\"b",
            "$(id)",
            "`id`",
            "x;y",
            "new\nline",
            "\\",
            "*",
            "-n",
            "'",
            "''",
            "a'\"'b",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
