//! The interactive REPL driven in a real pseudo-terminal.

mod common;

use std::time::{Duration, Instant};

use common::Test;
use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

const PROMPT: &str = "opsh> ";

fn start(test: &Test, args: &[&str]) -> PtySession {
    let mut cmd = test.command();
    cmd.arg("repl").args(args);
    let mut p = spawn_command(cmd, Some(20_000)).expect("spawn opsh repl in a pty");
    prompt(&mut p);
    p
}

/// Wait for the prompt, then give the line editor a moment to take over the
/// terminal: keys typed while it switches modes can be swallowed.
fn prompt(p: &mut PtySession) {
    p.exp_string(PROMPT).unwrap();
    std::thread::sleep(Duration::from_millis(150));
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
    p.exp_string("42").unwrap();
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
    p.exp_string("42").unwrap();
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
    p.exp_string("hi").unwrap();
    prompt(&mut p);
    p.send_line("let r = local::run(\"true\", #{ quiet: true });")
        .unwrap();
    prompt(&mut p);
    type_keys(&mut p, "r.code\t");
    p.exp_string("r.code").unwrap();
    type_keys(&mut p, "\r");
    p.exp_string("0").unwrap();
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
    p.exp_string("A").unwrap();
    prompt(&mut p);
    p.send_line(":load b.rhai").unwrap();
    prompt(&mut p);
    p.send_line("from_a() + from_b()").unwrap();
    p.exp_string("AB").unwrap();
    prompt(&mut p);
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn ctrl_c_cancels_a_long_call_and_returns_to_the_prompt() {
    let test = Test::new();
    let mut p = start(&test, &[]);
    p.send_line("info(\"sleeping\"); sleep(30)").unwrap();
    p.exp_string("sleeping\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    prompt(&mut p);
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sent.elapsed()
    );
    // A second, later Ctrl-C cancels the next call too rather than exiting.
    p.send_line("info(\"again\"); sleep(30)").unwrap();
    p.exp_string("again\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    p.send_control('c').unwrap();
    prompt(&mut p);
    p.send_line("1 + 1").unwrap();
    p.exp_string("2").unwrap();
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
    std::thread::sleep(Duration::from_millis(500));
    p.send_line("echo shell-on-$(hostname)").unwrap();
    p.exp_string("shell-on-lab-3").unwrap();
    p.send_line("exit").unwrap();
    prompt(&mut p);
    p.send_line("40 + 2").unwrap();
    p.exp_string("42").unwrap();
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
    let shown = p.exp_string(PROMPT).unwrap();
    assert!(shown.contains("bad ***"), "{shown}");
    assert!(!shown.contains("repl-secret"), "{shown}");
    std::thread::sleep(Duration::from_millis(150));
    p.send_control('d').unwrap();
    assert_eq!(exit_code(&mut p), 0);
}
