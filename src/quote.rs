//! POSIX shell quoting: the result is one word to `sh`, whatever it holds.

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

#[cfg(test)]
mod tests {
    use super::quote;

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
