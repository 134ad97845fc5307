//! The POSIX sh scripts opsh runs on hosts: a command with its environment
//! and directory, sudo, and atomic file installs. Every value is passed
//! through `quote`, so nothing a runbook supplies is parsed by the shell.
//!
//! A relative path that begins with `-` is given to tools as `./-...`, so no
//! tool reads it as an option (`--` would not do for all of them: after it
//! `cat` still reads `-` as stdin and `cd` goes to the last directory).

use crate::core::quote::{check_no_nul, quote};

/// A runbook command as it is sent: `script` goes on the remote command
/// line, which every user of the host can read (`ps`); `stdin` carries the
/// environment values, then the runbook's own input.
pub struct Prepared {
    pub script: String,
    pub stdin: Option<Vec<u8>>,
}

/// A runbook command with `env`, `cwd` and `stdin` applied.
pub fn command(
    cmd: &str,
    env: &[(String, String)],
    cwd: Option<&str>,
    stdin: Option<&str>,
) -> Result<Prepared, String> {
    check_no_nul("the command", cmd)?;
    let mut script = String::new();
    let mut input = Vec::new();
    if !env.is_empty() {
        let mut exports = String::new();
        for (name, value) in env {
            if !is_name(name) {
                return Err(format!(
                    "env: {name:?} is not a variable name (letters, digits and _, not starting with a digit)"
                ));
            }
            check_no_nul(&format!("env value {name}"), value)?;
            exports += &format!("export {name}={}\n", quote(value));
        }
        script += &env_reader(exports.matches('\n').count());
        input = exports.into_bytes();
    }
    if let Some(dir) = cwd {
        check_no_nul("cwd", dir)?;
        script += &format!("cd {} || exit 1\n", quote(&operand(dir)));
    }
    script += cmd;
    let stdin = match stdin {
        Some(text) => {
            input.extend_from_slice(text.as_bytes());
            Some(input)
        }
        None => (!input.is_empty()).then_some(input),
    };
    Ok(Prepared { script, stdin })
}

/// Read `lines` lines of `export` statements from stdin and run them. The
/// shell's `read` takes one byte at a time from a pipe, so the command's
/// own input is left unread after them. The helper variables are unset
/// before the exports run, so an env value of the same name survives.
fn env_reader(lines: usize) -> String {
    format!(
        "opsh_e=; opsh_n={lines}\n\
         while [ \"$opsh_n\" -gt 0 ]; do\n\
         IFS= read -r opsh_l || {{ echo 'opsh: the environment values did not arrive on stdin' >&2; exit 1; }}\n\
         opsh_e=\"$opsh_e$opsh_l\n\"; opsh_n=$((opsh_n - 1))\n\
         done\n\
         eval \"unset opsh_e opsh_n opsh_l; $opsh_e\"\n"
    )
}

/// `path` as an operand no tool takes for an option.
fn operand(path: &str) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `script` run as `user` through sudo, never prompting for a password.
pub fn sudo(user: &str, script: &str) -> String {
    format!("sudo -n -u {} -- sh -c {}", quote(user), quote(script))
}

/// The prompt opsh gives `sudo -S -p`: the line by which opsh knows sudo
/// asks (on stderr). It ends the line, so a line reader sees it at once; it
/// has no `%`, which sudo would expand.
pub const SUDO_PROMPT: &str = "[opsh: sudo asks for the password]\n";
/// Printed on stderr by the command once sudo let it run: what follows on
/// stdin is the command's own.
pub const SUDO_ADMITTED: &str = "[opsh: sudo admitted the command]";

/// `script` run as `user` through sudo, which reads the password on stdin
/// (`-S`) after asking with opsh's own prompt; the command first says it
/// was admitted, so opsh knows when its own input may follow.
pub fn sudo_with_password(user: &str, script: &str) -> String {
    let admitted = format!("printf '%s\\n' {} >&2\n{script}", quote(SUDO_ADMITTED));
    format!(
        "sudo -S -p {} -u {} -- sh -c {}",
        quote(SUDO_PROMPT),
        quote(user),
        quote(&admitted)
    )
}

/// What a host's Result says when sudo refused the password given.
pub fn incorrect_password(host: &str) -> String {
    format!("sudo on {host}: incorrect password")
}

/// sudo refused because it wanted a password (`-n` makes it fail, not ask).
pub fn sudo_wants_password(stderr: &str) -> bool {
    stderr.contains("a password is required")
        || stderr.contains("a terminal is required")
        || stderr.contains("no tty present")
}

/// A user name for sudo or an owner such as `www-data:www-data`.
pub fn check_account(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:$@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} is not a user name (or user:group)"
        ))
    }
}

/// A chmod mode: octal such as "0644" or symbolic such as "u+x,go-w".
pub fn check_mode(mode: &str) -> Result<(), String> {
    let octal = (3..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c));
    let symbolic = !mode.is_empty()
        && mode.contains(['+', '-', '='])
        && !mode.starts_with('-')
        && mode.chars().all(|c| "ugoa+-=rwxXst,".contains(c));
    if octal || symbolic {
        Ok(())
    } else {
        Err(format!(
            "mode {mode:?} is not a chmod mode: use a string such as \"0644\" or \"u+x\""
        ))
    }
}

/// How a file is put in place on the host.
pub struct Install<'a> {
    pub remote: &'a str,
    /// Bytes the host must receive; anything else is an incomplete transfer.
    pub size: u64,
    pub mode: Option<&'a str>,
    pub owner: Option<&'a str>,
    /// Install as this user with sudo; the data is staged in /tmp as the
    /// login user first.
    pub sudo: Option<&'a str>,
    /// Makes temporary names unique.
    pub token: &'a str,
    /// sudo asks for the password (`sudo -S`, opsh's prompt): it comes
    /// first on stdin, then the data, which the install reads as the user.
    pub sudo_asks: bool,
}

/// The script that reads the file on stdin and installs it atomically:
/// written to a temporary file beside the destination, checked for size,
/// given its mode and owner, then renamed over the destination. Without a
/// mode, a replaced file keeps its mode and owner (`cp -p`); a new file
/// gets the default one. A failure leaves the destination as it was.
pub fn install(i: &Install) -> Result<String, String> {
    check_no_nul("the remote path", i.remote)?;
    if i.remote.is_empty() || i.remote.ends_with('/') {
        return Err(format!(
            "remote path {:?} must name a file (not a directory)",
            i.remote
        ));
    }
    if let Some(mode) = i.mode {
        check_mode(mode)?;
    }
    if let Some(owner) = i.owner {
        check_account("owner", owner)?;
    }
    let remote = operand(i.remote);
    let (dir, base) = match remote.rfind('/') {
        Some(0) => ("", &remote[1..]),
        Some(at) => (&remote[..at], &remote[at + 1..]),
        None => (".", remote.as_str()),
    };
    let short: String = base.chars().take(64).collect();
    let tmp = format!("{dir}/.{short}.opsh-{}", i.token);
    let size = i.size;
    let mut finish = String::new();
    if let Some(mode) = i.mode {
        finish += &format!("chmod {} \"$t\" || exit 1\n", quote(mode));
    }
    if let Some(owner) = i.owner {
        finish += &format!("chown {} \"$t\" || exit 1\n", quote(owner));
    }
    finish += "mv -f \"$t\" \"$d\" || exit 1\ntrap - EXIT\n";
    let head = format!(
        "d={}; t={}\n\
         if [ -d \"$d\" ]; then echo \"opsh: $d is a directory; give the path of the file\" >&2; exit 1; fi\n\
         trap 'rm -f \"$t\"' EXIT; trap 'exit 143' HUP INT TERM\n",
        quote(&remote),
        quote(&tmp)
    );
    let check = |file: &str| {
        format!(
            "n=$(wc -c < \"{file}\") || exit 1\n\
             if [ \"$((n))\" -ne {size} ]; then echo \"opsh: transfer incomplete: $((n)) of {size} bytes arrived; $d is unchanged\" >&2; exit 1; fi\n"
        )
    };
    Ok(match i.sudo {
        None => format!(
            "{head}cp -p \"$d\" \"$t\" 2>/dev/null || : > \"$t\" || exit 1\n\
             cat > \"$t\" || exit 1\n{}{finish}",
            check("$t")
        ),
        Some(user) if i.sudo_asks => {
            check_account("sudo user", user)?;
            // The user reads the data itself (after sudo took the password
            // from stdin), so any user can be the target: a staged file
            // would be the login user's. Only file tools touch the
            // destination, as below.
            let root = format!(
                "{head}cp -p \"$d\" \"$t\" 2>/dev/null || touch \"$t\" || exit 1\n\
                 tee \"$t\" > /dev/null || exit 1\n\
                 n=$(cat \"$t\" | wc -c) || exit 1\n\
                 if [ \"$((n))\" -ne {size} ]; then echo \"opsh: transfer incomplete: $((n)) of {size} bytes arrived; $d is unchanged\" >&2; exit 1; fi\n\
                 {finish}"
            );
            sudo_with_password(user, &root)
        }
        Some(user) => {
            check_account("sudo user", user)?;
            // Only file tools, no redirections, run as root: hosts that
            // confine sudo to such tools still work.
            let root = format!(
                "u=$1; {head}cp -p \"$d\" \"$t\" 2>/dev/null || touch \"$t\" || exit 1\n\
                 cp \"$u\" \"$t\" || exit 1\n{finish}"
            );
            format!(
                "d={}; u={}\n\
                 trap 'rm -f \"$u\"' EXIT; trap 'exit 143' HUP INT TERM\n\
                 (umask 077; : > \"$u\") || exit 1\n\
                 cat > \"$u\" || exit 1\n{}\
                 sudo -n -u {} -- sh -c {} opsh \"$u\"\n",
                quote(&remote),
                quote(&format!("/tmp/.opsh-upload-{}", i.token)),
                check("$u"),
                quote(user),
                quote(&root)
            )
        }
    })
}

/// Print a file's bytes, optionally as another user.
pub fn cat(remote: &str, sudo: Option<&str>) -> Result<String, String> {
    check_no_nul("the remote path", remote)?;
    let cat = format!("cat -- {}", quote(&operand(remote)));
    Ok(match sudo {
        None => format!("exec {cat}"),
        Some(user) => format!("exec sudo -n -u {} -- {cat}", quote(user)),
    })
}

/// Exit 0 if `path` exists (a dangling symlink counts), 1 if not.
pub fn exists(path: &str) -> Result<String, String> {
    check_no_nul("the path", path)?;
    Ok(format!(
        "p={}; [ -e \"$p\" ] || [ -L \"$p\" ]",
        quote(&operand(path))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    /// `script` run by sh in `dir` with `input` on stdin: (code, stdout, stderr).
    fn sh_in(dir: &std::path::Path, script: &str, input: &[u8]) -> (i32, String, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run(script: &str, input: &[u8]) -> (i32, String) {
        let (code, _, stderr) = sh_in(std::path::Path::new("/"), script, input);
        (code, stderr)
    }

    fn install_at(remote: &str, size: u64, mode: Option<&str>) -> Result<String, String> {
        install(&Install {
            remote,
            size,
            mode,
            owner: None,
            sudo: None,
            sudo_asks: false,
            token: "t1",
        })
    }

    #[test]
    fn install_writes_with_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("it's a file.conf");
        let script = install_at(dest.to_str().unwrap(), 5, Some("0640")).unwrap();
        assert_eq!(run(&script, b"hello").0, 0);
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn short_transfer_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("app.conf");
        std::fs::write(&dest, "old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        let script = install_at(dest.to_str().unwrap(), 10, None).unwrap();
        let (code, stderr) = run(&script, b"new");
        assert_eq!(code, 1);
        assert!(stderr.contains("3 of 10 bytes"), "{stderr}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A full transfer without a mode keeps the replaced file's mode.
        let script = install_at(dest.to_str().unwrap(), 3, None).unwrap();
        assert_eq!(run(&script, b"new").0, 0);
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_directory_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let script = install_at(dir.path().to_str().unwrap(), 1, None).unwrap();
        let (code, stderr) = run(&script, b"x");
        assert_eq!(code, 1);
        assert!(stderr.contains("is a directory"), "{stderr}");
    }

    #[test]
    fn env_arrives_on_stdin_before_the_commands_own_input() {
        let value = "it's $(id) \\ \"q\"\n  second line \n";
        let env = [
            ("A".to_string(), value.to_string()),
            // The reader's own variable names are the runbook's to use.
            ("opsh_n".to_string(), "kept".to_string()),
        ];
        let c = command(
            "printf '%s|%s|%s|' \"$A\" \"$opsh_n\" \"$PWD\"; cat",
            &env,
            Some("/"),
            Some("input\nmore"),
        )
        .unwrap();
        assert!(!c.script.contains("second line") && !c.script.contains("kept"));
        let (code, stdout, stderr) =
            sh_in(std::path::Path::new("/tmp"), &c.script, &c.stdin.unwrap());
        assert_eq!((code, stderr.as_str()), (0, ""));
        assert_eq!(stdout, format!("{value}|kept|/|input\nmore"));
        // Without env or stdin the command reads nothing.
        assert!(command("true", &[], None, None).unwrap().stdin.is_none());
        assert!(command("true", &[("A B".into(), "x".into())], None, None).is_err());
    }

    #[test]
    fn paths_that_look_like_options_are_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["-rf", "--help", "-t", "-"] {
            let script = install_at(name, 2, Some("0600")).unwrap();
            assert_eq!(sh_in(dir.path(), &script, b"ok").0, 0, "{name}");
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                b"ok",
                "{name}"
            );
            let (code, stdout, _) = sh_in(dir.path(), &cat(name, None).unwrap(), b"stdin");
            assert_eq!((code, stdout.as_str()), (0, "ok"), "{name}");
            assert_eq!(
                sh_in(dir.path(), &exists(name).unwrap(), b"").0,
                0,
                "{name}"
            );
        }
        std::fs::create_dir(dir.path().join("-P")).unwrap();
        let c = command("pwd", &[], Some("-P"), None).unwrap();
        let (code, stdout, _) = sh_in(dir.path(), &c.script, b"");
        assert_eq!(code, 0);
        assert!(stdout.trim_end().ends_with("/-P"), "{stdout}");
    }

    #[test]
    fn nul_bytes_are_refused_everywhere() {
        let env = [("A".to_string(), "a\0b".to_string())];
        assert!(command("echo a\0b", &[], None, None).is_err());
        let err = command("true", &env, None, None).err().unwrap();
        assert!(err.contains("env value A contains a NUL byte"), "{err}");
        assert!(command("true", &[], Some("/\0"), None).is_err());
        assert!(cat("a\0b", None).is_err() && exists("a\0b").is_err());
        assert!(install_at("a\0b", 0, None).is_err());
    }

    #[test]
    fn modes_and_owners_are_checked() {
        assert!(check_mode("0644").is_ok() && check_mode("u+x,go-w").is_ok());
        assert!(check_mode("644; rm").is_err() && check_mode("9").is_err());
        assert!(check_account("owner", "www-data:www-data").is_ok());
        assert!(check_account("owner", "-R").is_err() && check_account("owner", "a b").is_err());
    }

    #[test]
    fn a_sudo_that_asks_says_when_it_admitted_the_command_and_installs_from_stdin() {
        let dir = tempfile::tempdir().unwrap();
        // A sudo that asks nothing: it runs what follows `--` as it is.
        let fake = dir.path().join("sudo");
        std::fs::write(
            &fake,
            "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("PATH={}:$PATH\n", dir.path().display());
        let script = sudo_with_password("svc", "cat");
        assert!(
            script
                .starts_with("sudo -S -p '[opsh: sudo asks for the password]\n' -u svc -- sh -c "),
            "{script}"
        );
        let (code, stdout, stderr) = sh_in(dir.path(), &format!("{path}{script}"), b"the input\n");
        assert_eq!((code, stdout.as_str()), (0, "the input\n"), "{stderr}");
        assert_eq!(stderr, format!("{SUDO_ADMITTED}\n"));
        let install = install(&Install {
            remote: "f",
            size: 4,
            mode: Some("0600"),
            owner: None,
            sudo: Some("svc"),
            token: "t",
            sudo_asks: true,
        })
        .unwrap();
        let (code, _, stderr) = sh_in(dir.path(), &format!("{path}{install}"), b"data");
        assert_eq!(code, 0, "{stderr}");
        let file = dir.path().join("f");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
