//! Every built-in that `opsh doc` lists, called with hostile values for
//! each parameter: whatever a runbook passes, opsh answers with an error or
//! a result, never a panic, an abort or a hang.
//!
//! Harmless by construction: the runs are dry runs against the lab's moto
//! (planned instances, volumes and hosts are never real), `--yes` answers
//! the confirmations, and no value turns a plan into a side effect.

mod common;

use std::time::Duration;

use common::Test;

/// A built-in as `opsh doc --output json` lists it.
#[derive(serde::Deserialize)]
struct Builtin {
    name: String,
    params: Vec<String>,
    native: bool,
}

/// How deep the nested arrays and maps go.
const DEPTH: usize = 1000;
/// Calls per opsh process: a batch that stops early (an uncatchable error
/// such as a declined prompt) goes on from the call after the last one it
/// started.
const BATCH: usize = 500;
/// Batches run at once.
const WORKERS: usize = 3;
/// Longer than any batch takes; a batch that runs past it has hung.
const BATCH_LIMIT: Duration = Duration::from_secs(120);

/// Answers for the prompts whose key the hostile questions derive ("x",
/// "-1", "a\0b", "" ...): each prompt left unanswered ends its batch.
const ANSWERS: &[&str] = &[
    "--var", "x=1", "--var", "answer=1", "--var", "1=1", "--var", "rf=1", "--var", "a_b=1",
];

/// Objects of each opsh type, all planned by the dry run, and the values
/// the parameters get.
const PRELUDE: &str = r#"
let BIG = "x"; for i in 0..20 { BIG += BIG; }
let NAN = 0.0 / 0.0;
let INF = 1e300 * 1e300;
let DEEP_A = []; for i in 0..DEPTH { DEEP_A = [DEEP_A]; }
let DEEP_M = #{}; for i in 0..DEPTH { DEEP_M = #{ m: DEEP_M }; }
let INSTANCE = ec2::launch(#{ image: "ami-12345678", name: "hostile-values" })[0];
let HOST = ssh::connect(INSTANCE);
let GROUP = ssh::group([INSTANCE]);
let VOLUME = ec2::create_volume(#{ size: 1, zone: "us-east-1a" });
let SNAPSHOT = ec2::snapshot(VOLUME);
let ADDRESS = ec2::allocate_address();
let SECURITY_GROUP = ec2::ensure_security_group("hostile-values");
let RESULT = local::run("true");
"#;

/// The values a parameter that takes any type is tried with.
const HOSTILE: &[&str] = &[
    "()",
    "\"\"",
    "-1",
    "0",
    "9223372036854775807",
    "1e300",
    "1e19",
    "-1.0",
    "NAN",
    "INF",
    "BIG",
    "DEEP_A",
    "DEEP_M",
];
const STRINGS: &[&str] = &[
    "\"\"",
    "\"-1\"",
    "\"-rf\"",
    "BIG",
    "\"a\\x00b\"",
    "\"\\n\"",
    "\"..\"",
];
const INTS: &[&str] = &["-1", "0", "9223372036854775807", "-9223372036854775807 - 1"];
const FLOATS: &[&str] = &["-1.0", "NAN", "1e300", "1e19", "INF", "-INF"];
const MAPS: &[&str] = &["#{}", "DEEP_M", "#{ \"\": () }"];
const ARRAYS: &[&str] = &["[]", "DEEP_A", "[(), \"\", -1, NAN, BIG]"];
const OBJECTS: &[&str] = &[
    "INSTANCE",
    "HOST",
    "GROUP",
    "VOLUME",
    "SNAPSHOT",
    "ADDRESS",
    "SECURITY_GROUP",
    "RESULT",
    "[INSTANCE, ()]",
];

fn builtins() -> Vec<Builtin> {
    let out = Test::new().args(&["doc", "--output", "json"]).run();
    out.code(0);
    let all: Vec<Builtin> =
        serde_json::from_str(&out.stdout).expect("`opsh doc --output json` prints the functions");
    all.into_iter().filter(|b| b.native).collect()
}

/// The declared type of `param` (`name: Type`).
fn declared_type(param: &str) -> &str {
    param.split_once(':').map_or("", |(_, ty)| ty.trim())
}

/// The option keys of an options map type, `#{ a, b }`.
fn option_keys(ty: &str) -> Option<Vec<&str>> {
    let keys = ty.strip_prefix("#{")?.strip_suffix('}')?;
    Some(
        keys.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect(),
    )
}

/// A value of the parameter's type that lets the other parameters reach
/// the code (a valid state lets `wait_until` read its options).
fn ordinary(param: &str) -> &'static str {
    let (name, ty) = param
        .split_once(':')
        .map_or((param, ""), |(n, t)| (n, t.trim()));
    match (name, ty) {
        ("state", _) => "\"running\"",
        ("device", _) => "\"/dev/sdf\"",
        ("choices", _) => "[\"a\", \"b\"]",
        ("targets", _) => "[INSTANCE]",
        (_, "String" | "String | Blob" | "String | Array") => "\"x\"",
        (_, "int") => "1",
        (_, "float") => "0.5",
        (_, "Map") => "#{}",
        (_, "Array") => "[]",
        (_, "Host") => "HOST",
        (_, "Group") => "GROUP",
        _ if ty.starts_with("#{") => "#{}",
        _ if ty.starts_with("Instance") => "INSTANCE",
        _ if ty.starts_with("Volume") => "VOLUME",
        _ if ty.starts_with("Snapshot") => "SNAPSHOT",
        _ if ty.starts_with("Address") => "ADDRESS",
        _ if ty.starts_with("SecurityGroup") => "SECURITY_GROUP",
        _ => "\"x\"",
    }
}

/// The hostile values a parameter of type `ty` is tried with.
fn hostile(ty: &str) -> Vec<String> {
    let own = |values: &[&str]| values.iter().map(ToString::to_string).collect();
    match ty {
        "String" => own(STRINGS),
        "int" => own(INTS),
        "float" => own(FLOATS),
        "Map" => own(MAPS),
        "Array" => own(ARRAYS),
        // A Host or Group parameter takes nothing else.
        "Host" | "Group" => Vec::new(),
        _ => match option_keys(ty) {
            Some(keys) => std::iter::once("#{}".to_string())
                .chain(keys.iter().flat_map(|key| {
                    HOSTILE
                        .iter()
                        .chain(OBJECTS)
                        .map(move |value| format!("#{{ {key}: {value} }}"))
                }))
                .collect(),
            None => {
                let mut any: Vec<String> = Vec::new();
                for value in [HOSTILE, STRINGS, OBJECTS].concat() {
                    if !any.iter().any(|v| v == value) {
                        any.push(value.to_string());
                    }
                }
                any
            }
        },
    }
}

/// Each parameter in turn hostile, the others ordinary.
fn calls_of(builtin: &Builtin) -> Vec<String> {
    let types: Vec<&str> = builtin.params.iter().map(|p| declared_type(p)).collect();
    if types.is_empty() {
        return vec![format!("{}()", builtin.name)];
    }
    let mut calls = Vec::new();
    for (index, ty) in types.iter().enumerate() {
        for value in hostile(ty) {
            let args: Vec<String> = builtin
                .params
                .iter()
                .enumerate()
                .map(|(i, param)| {
                    if i == index {
                        value.clone()
                    } else {
                        ordinary(param).to_string()
                    }
                })
                .collect();
            // A group connects and takes its options' effect when it acts.
            let then = if builtin.name == "ssh::group" {
                ".run(\"true\")"
            } else {
                ""
            };
            calls.push(format!("{}({}){then}", builtin.name, args.join(", ")));
        }
    }
    calls
}

/// What went wrong in one batch, if anything.
fn run_batch(calls: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut start = 0;
    // Each round starts at least one call further.
    for _round in 0..=calls.len() {
        if start >= calls.len() {
            break;
        }
        let mut script = PRELUDE.replace("DEPTH", &DEPTH.to_string());
        for (n, call) in calls.iter().enumerate().skip(start) {
            script += &format!("print(\"@{n}\");\ntry {{ {call}; }} catch {{}}\n");
        }
        let out = Test::new()
            .lab()
            .file("hostile.rhai", &script)
            .args(&["run", "--dry-run", "--yes", "--max-operations", "20000000"])
            .args(ANSWERS)
            .args(&["hostile.rhai"])
            .run_within(BATCH_LIMIT);
        let last = out
            .stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix('@')?.parse::<usize>().ok());
        let at = last.map_or_else(|| "the prelude".to_string(), |n| calls[n].clone());
        if !matches!(out.code, 0..=3) || out.stderr.contains("panicked at") {
            let why: Vec<&str> = out
                .stderr
                .lines()
                .skip_while(|l| !l.contains("panicked at") && !l.contains("overflow"))
                .take(2)
                .collect();
            problems.push(format!("exit {} at {at}\n{}", out.code, why.join("\n")));
        }
        match last {
            _ if out.code == 0 => break,
            Some(n) => start = n + 1,
            None => {
                problems.push(format!(
                    "the batch stopped before its first call (exit {}):\n{}",
                    out.code, out.stderr
                ));
                break;
            }
        }
    }
    problems
}

#[test]
fn no_builtin_panics_on_hostile_values() {
    let builtins = builtins();
    assert!(
        builtins.iter().any(|b| b.name == "ec2::launch") && builtins.len() > 50,
        "`opsh doc --output json` lists the built-ins"
    );
    // `secret` hides its argument from all later output, the batch's
    // progress marks included: its calls go last.
    let (secret, others): (Vec<&Builtin>, Vec<&Builtin>) =
        builtins.iter().partition(|b| b.name == "secret");
    let calls: Vec<String> = others.iter().flat_map(|b| calls_of(b)).collect();
    let secret_calls: Vec<String> = secret.iter().flat_map(|b| calls_of(b)).collect();
    assert!(calls.len() > 1000, "only {} calls", calls.len());

    // Most of a batch's time is spent waiting for moto: a few at once.
    let batches: Vec<&[String]> = calls
        .chunks(BATCH)
        .chain([secret_calls.as_slice()])
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    while let Some(batch) =
                        batches.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                    {
                        found.extend(run_batch(batch));
                    }
                    found
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a batch worker"))
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Durations a runbook gives, out of range: an error naming the function,
/// the option and the range, exit 1 — not a panic in Duration.
#[test]
fn durations_out_of_range_are_errors() {
    let lab = "lab-1";
    let cases = [
        (
            "sleep(1e300);".to_string(),
            "sleep: `seconds` must be from 0 to 31536000 seconds (365 days), not 1e300",
        ),
        ("sleep(-1);".into(), "sleep: `seconds` must be from 0 to"),
        ("sleep(0.0 / 0.0);".into(), "not NaN"),
        (
            "local::run(\"true\", #{ timeout: 1e300 });".into(),
            "local::run: option `timeout` must be more than 0 and at most 31536000 seconds (365 days), not 1e300",
        ),
        (
            "local::run(\"true\", #{ timeout: -2 });".into(),
            "local::run: option `timeout` must be more than 0",
        ),
        (
            "ec2::wait_until(\"i-0123456789abcdef0\", \"running\", #{ timeout: 1e300 });".into(),
            "ec2::wait_until: option `timeout` must be more than 0",
        ),
        (
            format!("ssh::connect(\"{lab}\", #{{ connect_timeout: 1e19 }});"),
            "ssh::connect: option `connect_timeout` must be more than 0 and at most 31536000 seconds (365 days), not 1e19",
        ),
        (
            format!("ssh::group([\"{lab}\"], #{{ connect_timeout: 0.0 / 0.0 }});"),
            "ssh::group: option `connect_timeout` must be more than 0",
        ),
        (
            format!("ssh::connect(\"{lab}\").run(\"true\", #{{ timeout: 1e300 }});"),
            "run: option `timeout` must be more than 0",
        ),
    ];
    for (script, message) in cases {
        Test::new()
            .lab()
            .file("r.rhai", &script)
            .args(&["run", "r.rhai"])
            .run_within(common::HANG)
            .code(1)
            .stderr_has(message)
            .stderr_lacks("panicked");
    }
}

#[test]
fn an_ssh_connect_timeout_out_of_range_in_opsh_toml_is_a_usage_error() {
    Test::new()
        .file(
            "opsh.toml",
            "[ssh]\nconnect_timeout = 9223372036854775807\n",
        )
        .file("r.rhai", "ssh::connect(\"lab-1\");\n")
        .args(&["run", "r.rhai"])
        .run_within(common::HANG)
        .code(2)
        .stderr_has("[ssh] connect_timeout must be at most 31536000 seconds (365 days)")
        .stderr_lacks("panicked");
}

/// Rhai clones, compares, prints and drops nested values recursively; at a
/// depth of 2000 that overflowed the main thread's stack and aborted.
#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    let script = "\
fn deep() {
    let a = []; for i in 0..2500 { a = [a]; }
    let m = #{}; for i in 0..2500 { m = #{ m: m }; }
    info(a);
    warn(m);
    if a != a || m != m { throw \"unequal\"; }
    local::run(\"true\", #{ env: #{ X: m } });
    #{ a: a, m: m }
}
";
    let out = Test::new()
        .file("deep.rhai", script)
        .args(&["run", "--dry-run", "--output", "json", "deep.rhai", "deep"])
        .run_within(common::HANG);
    out.code(0).stderr_lacks("overflow");
    assert!(
        out.stdout.matches("\"m\"").count() >= 2500,
        "the result is shown whole"
    );
}
