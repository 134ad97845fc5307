//! confirm / prompt / choose. An answer comes from `--var KEY=...`, then
//! `--yes` (confirmations only), then the terminal, then the fallback; with
//! none of those the run stops with exit 3 and names the `--var` to pass.

use std::io::{BufRead, Write};

use rhai::{Array, Dynamic};

use crate::core::abort::Abort;
use crate::core::context::Context;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::redact::redact;

pub struct Ask {
    question: String,
    key: String,
    fallback: Option<Dynamic>,
    secret: bool,
}

thread_local! {
    /// The host whose closure runs on this thread (a rollout): its prompts
    /// name it.
    static ORIGIN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Only one question is at the terminal at a time, whichever host asks.
static TERMINAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `work` with the prompts it asks naming `host` (`web-1: Go on?`).
pub fn on_behalf_of<T>(host: &str, work: impl FnOnce() -> T) -> T {
    ORIGIN.with(|o| *o.borrow_mut() = Some(host.to_string()));
    let out = work();
    ORIGIN.with(|o| *o.borrow_mut() = None);
    out
}

/// `question`, naming the host it is asked for, if any.
fn for_origin(question: &str) -> String {
    ORIGIN.with(|o| match &*o.borrow() {
        Some(host) => format!("{host}: {question}"),
        None => question.to_string(),
    })
}

impl Ask {
    pub fn new(question: &str, opts: &Options) -> RhaiResult<Self> {
        Ok(Self {
            question: for_origin(question.trim()),
            key: opts.string("key")?.unwrap_or_else(|| key_for(question)),
            fallback: opts.value("fallback").cloned(),
            secret: opts.bool("secret")?.unwrap_or(false),
        })
    }

    fn echo(&self, answer: &str, why: &str) {
        let shown = if self.secret { "***" } else { answer };
        say(&format!("? {} {shown}  ({why})", self.question));
    }

    fn no_terminal(&self, example: &str) -> Box<rhai::EvalAltResult> {
        Abort::declined(
            format!("no terminal to ask: {}", self.question),
            Some(format!(
                "answer it with --var {}={example}{}",
                self.key,
                if example == "yes" {
                    " (or --yes to confirm everything)"
                } else {
                    ""
                }
            )),
        )
    }
}

/// A `--var` key derived from the question: "Reinstall dependencies?" →
/// `reinstall_dependencies`.
pub fn key_for(question: &str) -> String {
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut key = String::new();
    for word in words {
        if !key.is_empty() && key.len() + word.len() >= 40 {
            break;
        }
        if !key.is_empty() {
            key.push('_');
        }
        key.push_str(&word);
    }
    if key.is_empty() { "answer".into() } else { key }
}

fn parse_yes_no(answer: &str) -> Option<bool> {
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" | "true" | "1" | "on" => Some(true),
        "n" | "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

pub fn confirm(ctx: &Context, ask: &Ask) -> RhaiResult<bool> {
    if let Some(answer) = ctx.var(&ask.key) {
        let yes = parse_yes_no(&answer).ok_or_else(|| {
            runtime_error(format!(
                "--var {}={answer}: answer yes or no to \"{}\"",
                ask.key, ask.question
            ))
        })?;
        ask.echo(
            if yes { "yes" } else { "no" },
            &format!("--var {}", ask.key),
        );
        return Ok(yes);
    }
    if ctx.settings.yes {
        ask.echo("yes", "--yes");
        return Ok(true);
    }
    // A dry run shows confirmations in the plan and follows the "yes"
    // path, so the plan covers what a confirmed run would do.
    if ctx.settings.dry_run {
        ctx.act("confirm", &ask.question, serde_json::Value::Null)?;
        return Ok(true);
    }
    let fallback = ask
        .fallback
        .as_ref()
        .map(|f| {
            f.as_bool()
                .map_err(|_| runtime_error("confirm: `fallback` must be true or false"))
        })
        .transpose()?;
    if !ctx.terminal {
        return match fallback {
            Some(yes) => {
                ask.echo(if yes { "yes" } else { "no" }, "fallback, no terminal");
                Ok(yes)
            }
            None => Err(ask.no_terminal("yes")),
        };
    }
    let hint = match fallback {
        Some(true) => "[Y/n]",
        _ => "[y/N]",
    };
    loop {
        let line = read_line(ctx, &format!("? {} {hint} ", ask.question), false)?;
        if line.trim().is_empty() {
            return Ok(fallback.unwrap_or(false));
        }
        match parse_yes_no(&line) {
            Some(yes) => return Ok(yes),
            None => eprintln!("  please answer yes or no"),
        }
    }
}

pub fn prompt(ctx: &Context, ask: &Ask) -> RhaiResult<String> {
    let answer = ask_text(ctx, ask)?;
    if ask.secret {
        ctx.output.add_secret(&answer);
    }
    Ok(answer)
}

fn ask_text(ctx: &Context, ask: &Ask) -> RhaiResult<String> {
    if let Some(answer) = ctx.var(&ask.key) {
        ask.echo(&answer, &format!("--var {}", ask.key));
        return Ok(answer);
    }
    let fallback = ask.fallback.as_ref().map(Dynamic::to_string);
    if !ctx.terminal {
        return match fallback {
            Some(answer) => {
                ask.echo(&answer, "fallback, no terminal");
                Ok(answer)
            }
            None => Err(ask.no_terminal("VALUE")),
        };
    }
    let shown = match (&fallback, ask.secret) {
        (Some(f), false) => format!("? {} [{f}] ", ask.question),
        _ => format!("? {} ", ask.question),
    };
    loop {
        let line = read_line(ctx, &shown, ask.secret)?;
        if !line.is_empty() {
            return Ok(line);
        }
        if let Some(f) = &fallback {
            return Ok(f.clone());
        }
    }
}

pub fn choose(ctx: &Context, ask: &Ask, options: &Array) -> RhaiResult<String> {
    let options: Vec<String> = options.iter().map(Dynamic::to_string).collect();
    if options.is_empty() {
        return Err(runtime_error(format!(
            "choose: no options to choose from for \"{}\"",
            ask.question
        )));
    }
    let valid = |answer: &str| -> Option<String> {
        if let Ok(n) = answer.trim().parse::<usize>() {
            return options.get(n.checked_sub(1)?).cloned();
        }
        options
            .iter()
            .find(|o| o.as_str() == answer.trim())
            .cloned()
    };
    if let Some(answer) = ctx.var(&ask.key) {
        let chosen = valid(&answer).ok_or_else(|| {
            runtime_error(format!(
                "--var {}={answer} is not one of: {}",
                ask.key,
                options.join(", ")
            ))
        })?;
        ask.echo(&chosen, &format!("--var {}", ask.key));
        return Ok(chosen);
    }
    let fallback = match &ask.fallback {
        Some(f) => Some(valid(&f.to_string()).ok_or_else(|| {
            runtime_error(format!(
                "choose: fallback `{f}` is not one of: {}",
                options.join(", ")
            ))
        })?),
        None => None,
    };
    if !ctx.terminal {
        return match fallback {
            Some(answer) => {
                ask.echo(&answer, "fallback, no terminal");
                Ok(answer)
            }
            None => Err(ask.no_terminal(&options[0])),
        };
    }
    say(&format!("? {}", ask.question));
    for (i, option) in options.iter().enumerate() {
        let mark = if fallback.as_deref() == Some(option) {
            " (default)"
        } else {
            ""
        };
        say(&format!("  {}) {option}{mark}", i + 1));
    }
    loop {
        let line = read_line(ctx, "  choice: ", false)?;
        if line.is_empty() {
            if let Some(f) = &fallback {
                return Ok(f.clone());
            }
            continue;
        }
        match valid(&line) {
            Some(chosen) => return Ok(chosen),
            None => eprintln!(
                "  pick a number from 1 to {} or type an option",
                options.len()
            ),
        }
    }
}

/// A line for the person at the terminal. Questions, answers and choices
/// are script values: a secret may be among them.
fn say(text: &str) {
    eprintln!("{}", redact(text));
}

/// One line from the terminal; Ctrl-C while waiting stops the runbook.
fn read_line(ctx: &Context, shown: &str, secret: bool) -> RhaiResult<String> {
    let _turn = TERMINAL.lock().unwrap_or_else(|p| p.into_inner());
    eprint!("{}", redact(shown));
    let _ = std::io::stderr().flush();
    let _echo_off = secret.then(EchoOff::new);
    let line = ctx.runtime.block_on(async {
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map(|n| (n, line))
        })
        .await
    })?;
    if secret {
        eprintln!();
    }
    match line {
        Ok(Ok((0, _))) => Err(Abort::declined(
            "no answer: the terminal closed (end of input)",
            None,
        )),
        Ok(Ok((_, line))) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Ok(Err(e)) => Err(runtime_error(format!("cannot read the answer: {e}"))),
        Err(e) => Err(runtime_error(format!("cannot read the answer: {e}"))),
    }
}

/// A secret asked before the run starts (no runtime yet): at the terminal
/// without echo, or the first line of stdin when it is not a terminal.
pub fn read_secret(question: &str) -> Result<String, String> {
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        eprint!("{question} ");
        let _ = std::io::stderr().flush();
    }
    let _echo_off = terminal.then(EchoOff::new);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if terminal {
        eprintln!();
    }
    match read {
        Ok(0) => Err(format!("{question} no answer (end of input)")),
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) => Err(format!("{question} cannot read the answer: {e}")),
    }
}

/// Turns terminal echo off for a secret and back on when dropped, also when
/// the wait is interrupted.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed struct they fill.
        unsafe {
            let mut term: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut term) != 0 {
                return Self(None);
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &term);
            Self(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// The confirmation in front of a destructive call (terminate, release,
/// delete...). It lists what will be destroyed; `--yes`, `--var KEY=yes` or
/// a "yes" at the terminal goes on, anything else stops the run (exit 3).
pub fn confirm_destructive(ctx: &Context, action: &str, targets: &[String]) -> RhaiResult<()> {
    let what = match targets {
        [one] => one.clone(),
        many => format!("{} resources", many.len()),
    };
    let ask = Ask {
        question: for_origin(&format!("{action} {what}?")),
        key: key_for(&format!("confirm {action}")),
        fallback: None,
        secret: false,
    };
    if targets.len() > 1 {
        say(&format!("{action}:"));
        for target in targets {
            say(&format!("  - {target}"));
        }
    }
    if confirm(ctx, &ask)? {
        Ok(())
    } else {
        Err(Abort::declined(format!("declined: {action} {what}"), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_questions() {
        assert_eq!(key_for("Reinstall dependencies?"), "reinstall_dependencies");
        assert_eq!(
            key_for("Which component (web/workers)?"),
            "which_component_web_workers"
        );
        assert_eq!(key_for("???"), "answer");
        assert!(key_for(&"word ".repeat(30)).len() < 45);
    }

    #[test]
    fn yes_no_answers() {
        assert_eq!(parse_yes_no(" YES "), Some(true));
        assert_eq!(parse_yes_no("n"), Some(false));
        assert_eq!(parse_yes_no("maybe"), None);
    }
}
