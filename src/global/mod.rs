//! The global functions: prompts, run parameters, environment, logging,
//! sleep, shell quoting and (in clock) the time.

pub mod clock;

use rhai::{Array, Dynamic, Engine};
use std::sync::Arc;

use crate::core::api::{self, Functions};
use crate::core::context::Context;
use crate::core::options::{Bound, Options, RhaiResult, duration, runtime_error};
use crate::core::prompt::{self, Ask};

const ASK_OPTIONS: &[&str] = &["key", "fallback"];
const PROMPT_OPTIONS: &[&str] = &["key", "fallback", "secret"];

pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    let mut global = api::global(engine, ctx);
    register_prompts(&mut global);
    register_params(&mut global);
    register_logging(&mut global);
    clock::register(&mut global);

    global
        .add(
            "secret",
            &["value: ?", "?"],
            "Mark `value` as secret and return it unchanged: wherever it would appear in output, errors,\n\
             plans or the journal, `***` is shown instead.\n\
             Example: let pw = secret(env(\"DB_PASSWORD\"));",
        )
        .native(|c: &Context, value: Dynamic| -> RhaiResult<Dynamic> {
            c.output.add_secret(&value.to_string());
            Ok(value)
        });

    global
        .add(
            "quote",
            &["text: String", "String"],
            "Quote `text` as one word for a POSIX shell: safe with spaces, quotes, $, ; and newlines.\n\
             Example: host.run(`grep -c ${quote(pattern)} /var/log/syslog`);",
        )
        .native(|_: &Context, text: &str| -> RhaiResult<String> {
            Ok(crate::core::quote::quote(text))
        });

    // Rhai's own sleep blocks the thread; these take its place so Ctrl-C
    // cuts a wait short.
    let sleep_doc = "Pause for `seconds` (integer or decimal); Ctrl-C cuts it short.";
    global
        .add("sleep", &["seconds: int", "()"], sleep_doc)
        .native(|c: &Context, seconds: rhai::INT| sleep(c, seconds as f64));
    global
        .add("sleep", &["seconds: float", "()"], sleep_doc)
        .native(sleep);
}

fn sleep(ctx: &Context, seconds: f64) -> RhaiResult<()> {
    let pause = duration("sleep: `seconds`", seconds, Bound::Zero)?;
    ctx.runtime
        .block_on(async move { tokio::time::sleep(pause).await })
}

fn register_prompts(global: &mut Functions) {
    let confirm_doc = "Ask a yes/no question. Answered by --var KEY=yes|no (KEY from the `key` option,\n\
        or derived from the question: \"Upgrade the framework?\" → upgrade_the_framework), then --yes,\n\
        then the terminal, then `fallback`. With no terminal and no answer the run stops (exit 3).\n\
        Example: if confirm(\"Restart nginx?\", #{ key: \"restart\", fallback: false }) { ... }";
    global
        .add("confirm", &["question: String", "bool"], confirm_doc)
        .options(ASK_OPTIONS, |c: &Context, q: &str, opts: Options| {
            prompt::confirm(c, &Ask::new(q, &opts)?)
        });

    let prompt_doc = "Ask for a line of text. Answered by --var KEY=VALUE, then the terminal, then `fallback`.\n\
        Options: key, fallback, secret (never echoed, never logged).\n\
        Example: let branch = prompt(\"Branch to deploy?\", #{ key: \"branch\", fallback: \"main\" });";
    global
        .add("prompt", &["question: String", "String"], prompt_doc)
        .options(PROMPT_OPTIONS, |c: &Context, q: &str, opts: Options| {
            prompt::prompt(c, &Ask::new(q, &opts)?)
        });

    let choose_doc = "Ask to pick one of `choices`; returns the chosen string. Answered by --var KEY=CHOICE\n\
        (the text or its 1-based number), then the terminal, then `fallback`.\n\
        Example: let part = choose(\"Which component?\", [\"web\", \"workers\", \"all\"], #{ key: \"component\" });";
    global
        .add(
            "choose",
            &["question: String", "choices: Array", "String"],
            choose_doc,
        )
        .options(
            ASK_OPTIONS,
            |c: &Context, q: &str, choices: Array, opts: Options| {
                prompt::choose(c, &Ask::new(q, &opts)?, &choices)
            },
        );
}

fn register_params(global: &mut Functions) {
    global
        .add(
            "param",
            &["name: String", "String"],
            "The value given with --var NAME=VALUE; an error names the flag to pass when it is missing.",
        )
        .native(|c: &Context, name: &str| -> RhaiResult<String> {
            c.var(name).ok_or_else(|| {
                runtime_error(format!(
                    "this runbook needs --var {name}=VALUE (or use param(\"{name}\", fallback) for a default)"
                ))
            })
        });
    global
        .add(
            "param",
            &["name: String", "fallback: ?", "?"],
            "The value given with --var NAME=VALUE, or `fallback` when it was not given.",
        )
        .native(
            |c: &Context, name: &str, fallback: Dynamic| -> RhaiResult<Dynamic> {
                Ok(c.var(name).map_or(fallback, Dynamic::from))
            },
        );

    global
        .add(
            "env",
            &["name: String", "String"],
            "The environment variable NAME of opsh's own process; an error when it is not set.",
        )
        .native(|_: &Context, name: &str| -> RhaiResult<String> {
            std::env::var(name).map_err(|_| {
                runtime_error(format!(
                    "environment variable {name} is not set (use env(\"{name}\", fallback) for a default)"
                ))
            })
        });
    global
        .add(
            "env",
            &["name: String", "fallback: ?", "?"],
            "The environment variable NAME, or `fallback` when it is not set.",
        )
        .native(
            |_: &Context, name: &str, fallback: Dynamic| -> RhaiResult<Dynamic> {
                Ok(std::env::var(name).map_or(fallback, Dynamic::from))
            },
        );
}

fn register_logging(global: &mut Functions) {
    global
        .add(
            "info",
            &["message: ?", "()"],
            "Tell the operator what is happening (on stderr).",
        )
        .native(|c: &Context, message: Dynamic| -> RhaiResult<()> {
            c.output.info(&message.to_string());
            Ok(())
        });
    global
        .add(
            "warn",
            &["message: ?", "()"],
            "Warn the operator (on stderr) and carry on.",
        )
        .native(|c: &Context, message: Dynamic| -> RhaiResult<()> {
            c.output.warn(&message.to_string());
            Ok(())
        });
}
