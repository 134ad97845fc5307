//! The interactive REPL driven in a real pseudo-terminal.

mod common;

use common::Test;
use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

const PROMPT: &str = "opsh> ";

fn start(test: &Test, args: &[&str]) -> PtySession {
    let mut cmd = test.command();
    cmd.arg("repl").args(args);
    // Every expectation waits at most this long: reaching it means a hang.
    let hang = u64::try_from(common::HANG.as_millis()).expect("HANG in ms fits u64");
    let mut p = spawn_command(cmd, Some(hang)).expect("spawn opsh repl in a pty");
    prompt(&mut p);
    p
}

/// Wait for a fresh prompt: the line editor reading the next line. The
/// editor also redraws the prompt with the line when Enter is pressed, and
/// keys typed then are lost. A fresh prompt follows the editor taking the
/// terminal (it turns on bracketed paste, ESC[?2004h, first) or starts a
/// line, with only cursor and mode sequences between. Returns what came
/// before it.
fn prompt(p: &mut PtySession) -> String {
    p.exp_regex(&format!(
        r"(?:\n|\x1b\[\?2004h)(?:\r|\x1b\[[0-9;?]*[A-Za-z])*{PROMPT}"
    ))
    .expect("a fresh prompt")
    .0
}

/// Wait for `text` printed as a line of its own (not a part of the echoed
/// input or of a terminal sequence).
fn output_line(p: &mut PtySession, text: &str) {
    p.exp_string(&format!("\n{text}\r\n"))
        .unwrap_or_else(|e| panic!("no output line {text:?}: {e}"));
}

/// Type without pressing Enter (e.g. before a Tab).
fn type_keys(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

/// The exit code, once the REPL has closed the terminal (bounded by the
/// session's timeout, so a REPL that never exits fails the test instead of
/// hanging it).
fn exit_code(p: &mut PtySession) -> i32 {
    p.exp_eof().expect("the repl exits");
    match p.process().wait().expect("wait for the repl") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("repl ended with {other:?}"),
    }
}

#[test]
fn state_persists_and_multiline_functions_continue() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line("let x = 41;").unwrap();
    prompt(&mut p);
    p.send_line("fn inc(a) {").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("  a + 1").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("}").unwrap();
    prompt(&mut p);
    p.send_line("inc(x)").unwrap();
    output_line(&mut p, "42");
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn an_error_then_a_correct_line() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line("nope(1)").unwrap();
    p.exp_string("unknown function `nope`").unwrap();
    prompt(&mut p);
    p.send_line("40 + 2").unwrap();
    output_line(&mut p, "42");
    p.send_line(":quit").unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn tab_completes_namespaced_functions_and_fields() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    type_keys(&mut p, "ec2::laun\t");
    p.exp_string("ec2::launch(").unwrap();
    // Clear the line (Ctrl-U) and go on.
    type_keys(&mut p, "\u{15}");
    type_keys(&mut p, "local::ru\t");
    p.exp_string("local::run(").unwrap();
    p.send_line("\"echo hi\", #{ quiet: true })").unwrap();
    output_line(&mut p, "hi");
    prompt(&mut p);
    p.send_line("let r = local::run(\"true\", #{ quiet: true });")
        .unwrap();
    prompt(&mut p);
    type_keys(&mut p, "r.code\t");
    p.exp_string("r.code").unwrap();
    type_keys(&mut p, "\r");
    output_line(&mut p, "0");
    prompt(&mut p);
    type_keys(&mut p, ":he\t");
    p.exp_string(":help").unwrap();
    p.send_line("").unwrap();
    p.exp_string(":doc [NAME]").unwrap();
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn doc_and_vars_meta_commands() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line(":doc quote").unwrap();
    p.exp_string("quote(text: String) -> String").unwrap();
    prompt(&mut p);
    p.send_line("let zone = \"a\";").unwrap();
    prompt(&mut p);
    p.send_line(":vars").unwrap();
    p.exp_string("let zone: string = a").unwrap();
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn file_functions_are_preloaded_and_load_adds_more() {
    let test = Test::new()
        .file("a.rhai", "fn from_a() { \"A\" }\n")
        .file("b.rhai", "fn from_b() { \"B\" }\n");
    let mut p = start(&test, &["a.rhai"]);
    p.send_line("from_a()").unwrap();
    output_line(&mut p, "A");
    prompt(&mut p);
    p.send_line(":load b.rhai").unwrap();
    prompt(&mut p);
    p.send_line("from_a() + from_b()").unwrap();
    output_line(&mut p, "AB");
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn ctrl_c_cancels_a_long_call_and_returns_to_the_prompt() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    // The sleep outlasts every expectation's bound: only Ctrl-C gets the
    // prompt back in time, and the rest of the line never runs.
    p.send_line("info(\"sleeping\"); sleep(600); info(\"wo\" + \"ke\")")
        .unwrap();
    p.exp_string("sleeping\r\n").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    let shown = prompt(&mut p);
    assert!(!shown.contains("woke"), "{shown}");
    // A second, later Ctrl-C cancels the next call too rather than exiting.
    p.send_line("info(\"again\"); sleep(600); info(\"wo\" + \"ke\")")
        .unwrap();
    p.exp_string("again\r\n").unwrap();
    p.send_control('c').unwrap();
    let shown = prompt(&mut p);
    assert!(!shown.contains("woke"), "{shown}");
    p.send_line("1 + 1").unwrap();
    output_line(&mut p, "2");
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn confirmations_read_the_same_terminal() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line("if confirm(\"Proceed?\") { \"went on\" } else { \"stopped\" }")
        .unwrap();
    p.exp_string("Proceed? [y/N]").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("went on").unwrap();
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn history_is_kept_across_sessions() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line("let remembered = 7;").unwrap();
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
    let history = test.path().join(".local/state/opsh/history");
    let text = std::fs::read_to_string(&history).expect("history file");
    assert!(text.contains("let remembered = 7;"), "{text}");
}

#[test]
fn imports_persist_across_lines() {
    Test::new()
        .file("lib/math.rhai", "fn twice(x) { x * 2 }\n")
        .args(&["repl"])
        .stdin("import \"lib/math\" as m;\nlet n = m::twice(4);\nprint(m::twice(n));\n")
        .run()
        .code(0)
        .stdout_is("16\n");
}

#[test]
fn host_shell_opens_a_terminal_and_returns_to_the_prompt() {
    let test = Test::new().lab();
    let mut p = start(&test, &[]);
    p.send_line("let h = ssh::connect(\"lab-3\");").unwrap();
    prompt(&mut p);
    p.send_line("h.shell()").unwrap();
    // The host's shell prompt: it reads what comes next.
    p.exp_string("opsh-lab@lab-3:$ ").unwrap();
    p.send_line("echo shell-on-$(hostname)").unwrap();
    p.exp_string("shell-on-lab-3").unwrap();
    p.send_line("exit").unwrap();
    prompt(&mut p);
    p.send_line("40 + 2").unwrap();
    output_line(&mut p, "42");
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn an_error_from_load_hides_secrets() {
    let test = Test::new()
        .file(
            "s.rhai",
            "let pw = secret(env(\"REPL_PW\"));\nthrow `bad ${pw}`;\n",
        )
        .env("REPL_PW", "repl-secret-\"q\\uote");
    let mut p = start(&test, &[]);
    p.send_line(":load s.rhai").unwrap();
    let shown = prompt(&mut p);
    assert!(shown.contains("bad ***"), "{shown}");
    assert!(!shown.contains("repl-secret"), "{shown}");
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}
