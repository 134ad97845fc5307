//! The global functions: prompts, run parameters, environment, logging,
//! sleep, shell quoting and (in clock) the time.

pub mod clock;

use rhai::{Array, Dynamic, Engine, Map};
use std::sync::Arc;

use crate::core::api::{func, func_with_options};
use crate::core::context::Context;
use crate::core::options::{Bound, RhaiResult, duration, runtime_error};
use crate::core::prompt::{self, Ask};

const ASK_OPTIONS: &[&str] = &["key", "fallback"];
const PROMPT_OPTIONS: &[&str] = &["key", "fallback", "secret"];

pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    register_prompts(engine, ctx);
    register_params(engine, ctx);
    register_logging(engine, ctx);
    crate::global::clock::register(engine);

    let c = ctx.clone();
    func(
        "secret",
        &["value: ?", "?"],
        "Mark `value` as secret and return it unchanged: wherever it would appear in output, errors,\n\
         plans or the journal, `***` is shown instead.\n\
         Example: let pw = secret(env(\"DB_PASSWORD\"));",
    )
    .register_into_engine(engine, move |value: Dynamic| {
        c.output.add_secret(&value.to_string());
        value
    });

    func(
        "quote",
        &["text: String", "String"],
        "Quote `text` as one word for a POSIX shell: safe with spaces, quotes, $, ; and newlines.\n\
         Example: host.run(`grep -c ${quote(pattern)} /var/log/syslog`);",
    )
    .register_into_engine(engine, |text: &str| crate::core::quote::quote(text));

    // Rhai's own sleep blocks the thread; these take its place so Ctrl-C
    // cuts a wait short.
    let sleep_doc = "Pause for `seconds` (integer or decimal); Ctrl-C cuts it short.";
    let c = ctx.clone();
    func("sleep", &["seconds: int", "()"], sleep_doc)
        .register_into_engine(engine, move |seconds: rhai::INT| sleep(&c, seconds as f64));
    let c = ctx.clone();
    func("sleep", &["seconds: float", "()"], sleep_doc)
        .register_into_engine(engine, move |seconds: rhai::FLOAT| sleep(&c, seconds));
}

fn sleep(ctx: &Context, seconds: f64) -> RhaiResult<()> {
    let pause = duration("sleep: `seconds`", seconds, Bound::Zero)?;
    ctx.runtime
        .block_on(async move { tokio::time::sleep(pause).await })
}

fn register_prompts(engine: &mut Engine, ctx: &Arc<Context>) {
    let confirm_doc = "Ask a yes/no question. Answered by --var KEY=yes|no (KEY from the `key` option,\n\
        or derived from the question: \"Upgrade the framework?\" → upgrade_the_framework), then --yes,\n\
        then the terminal, then `fallback`. With no terminal and no answer the run stops (exit 3).\n\
        Example: if confirm(\"Restart nginx?\", #{ key: \"restart\", fallback: false }) { ... }";
    let c = ctx.clone();
    func("confirm", &["question: String", "bool"], confirm_doc)
        .register_into_engine(engine, move |q: &str| prompt::confirm(&c, &Ask::plain(q)));
    let c = ctx.clone();
    func_with_options(
        "confirm",
        &["question: String", "options: Map", "bool"],
        ASK_OPTIONS,
        confirm_doc,
    )
    .register_into_engine(engine, move |q: &str, opts: Map| {
        prompt::confirm(&c, &Ask::new("confirm", q, opts, ASK_OPTIONS)?)
    });

    let prompt_doc = "Ask for a line of text. Answered by --var KEY=VALUE, then the terminal, then `fallback`.\n\
        Options: key, fallback, secret (never echoed, never logged).\n\
        Example: let branch = prompt(\"Branch to deploy?\", #{ key: \"branch\", fallback: \"main\" });";
    let c = ctx.clone();
    func("prompt", &["question: String", "String"], prompt_doc)
        .register_into_engine(engine, move |q: &str| prompt::prompt(&c, &Ask::plain(q)));
    let c = ctx.clone();
    func_with_options(
        "prompt",
        &["question: String", "options: Map", "String"],
        PROMPT_OPTIONS,
        prompt_doc,
    )
    .register_into_engine(engine, move |q: &str, opts: Map| {
        prompt::prompt(&c, &Ask::new("prompt", q, opts, PROMPT_OPTIONS)?)
    });

    let choose_doc = "Ask to pick one of `choices`; returns the chosen string. Answered by --var KEY=CHOICE\n\
        (the text or its 1-based number), then the terminal, then `fallback`.\n\
        Example: let part = choose(\"Which component?\", [\"web\", \"workers\", \"all\"], #{ key: \"component\" });";
    let c = ctx.clone();
    func(
        "choose",
        &["question: String", "choices: Array", "String"],
        choose_doc,
    )
    .register_into_engine(engine, move |q: &str, choices: Array| {
        prompt::choose(&c, &Ask::plain(q), &choices)
    });
    let c = ctx.clone();
    func_with_options(
        "choose",
        &[
            "question: String",
            "choices: Array",
            "options: Map",
            "String",
        ],
        ASK_OPTIONS,
        choose_doc,
    )
    .register_into_engine(engine, move |q: &str, choices: Array, opts: Map| {
        prompt::choose(&c, &Ask::new("choose", q, opts, ASK_OPTIONS)?, &choices)
    });
}

fn register_params(engine: &mut Engine, ctx: &Arc<Context>) {
    let c = ctx.clone();
    func(
        "param",
        &["name: String", "String"],
        "The value given with --var NAME=VALUE; an error names the flag to pass when it is missing.",
    )
    .register_into_engine(engine, move |name: &str| -> RhaiResult<String> {
        c.var(name).ok_or_else(|| {
            runtime_error(format!(
                "this runbook needs --var {name}=VALUE (or use param(\"{name}\", fallback) for a default)"
            ))
        })
    });
    let c = ctx.clone();
    func(
        "param",
        &["name: String", "fallback: ?", "?"],
        "The value given with --var NAME=VALUE, or `fallback` when it was not given.",
    )
    .register_into_engine(engine, move |name: &str, fallback: Dynamic| -> Dynamic {
        c.var(name).map_or(fallback, Dynamic::from)
    });

    func(
        "env",
        &["name: String", "String"],
        "The environment variable NAME of opsh's own process; an error when it is not set.",
    )
    .register_into_engine(engine, |name: &str| -> RhaiResult<String> {
        std::env::var(name).map_err(|_| {
            runtime_error(format!(
                "environment variable {name} is not set (use env(\"{name}\", fallback) for a default)"
            ))
        })
    });
    func(
        "env",
        &["name: String", "fallback: ?", "?"],
        "The environment variable NAME, or `fallback` when it is not set.",
    )
    .register_into_engine(engine, |name: &str, fallback: Dynamic| -> Dynamic {
        std::env::var(name).map_or(fallback, Dynamic::from)
    });
}

fn register_logging(engine: &mut Engine, ctx: &Arc<Context>) {
    let c = ctx.clone();
    func(
        "info",
        &["message: ?", "()"],
        "Tell the operator what is happening (on stderr).",
    )
    .register_into_engine(engine, move |message: Dynamic| {
        c.output.info(&message.to_string())
    });
    let c = ctx.clone();
    func(
        "warn",
        &["message: ?", "()"],
        "Warn the operator (on stderr) and carry on.",
    )
    .register_into_engine(engine, move |message: Dynamic| {
        c.output.warn(&message.to_string())
    });
}
