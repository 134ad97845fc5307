//! The opsh binary end to end: CLI, exit codes, compile-before-run, error
//! rendering, prompts, params, quoting, local commands, check/list/doc.

mod common;

use common::Test;

#[test]
fn every_subcommand_help_shows_examples() {
    for sub in ["run", "repl", "check", "list", "doc", "completions"] {
        Test::new()
            .args(&[sub, "--help"])
            .run()
            .code(0)
            .stdout_has("Examples:");
    }
    Test::new()
        .args(&["--help"])
        .run()
        .code(0)
        .stdout_has("Exit codes:");
}

#[test]
fn usage_errors_exit_2() {
    Test::new().args(&["frobnicate"]).run().code(2);
    Test::new().args(&["run"]).run().code(2);
    Test::new()
        .args(&["run", "missing.rhai"])
        .run()
        .code(2)
        .stderr_has("missing.rhai");
    Test::new()
        .args(&["run", "x.rhai", "--var", "novalue"])
        .run()
        .code(2)
        .stderr_has("KEY=VALUE");
}

#[test]
fn a_syntax_error_anywhere_means_nothing_runs() {
    let out = Test::new()
        .file(
            "r.rhai",
            "local::run(\"touch side-effect\");\nlet a = 1;\nlet b = a +;\n",
        )
        .args(&["run", "r.rhai"])
        .run();
    out.code(2).stderr_has("r.rhai:3:");
    assert!(!out.path("side-effect").exists(), "the first line ran");
}

#[test]
fn an_unknown_function_is_caught_before_anything_runs() {
    let out = Test::new()
        .file(
            "r.rhai",
            "local::run(\"touch side-effect\");\n\nfn later() {\n    local::rnu(\"ls\");\n}\n",
        )
        .args(&["run", "r.rhai"])
        .run();
    out.code(2)
        .stderr_has("unknown function `local::rnu`")
        .stderr_has("--> r.rhai:4:")
        .stderr_has("did you mean `local::run`?");
    assert!(!out.path("side-effect").exists());
}

#[test]
fn wrong_argument_counts_are_reported() {
    Test::new()
        .file("r.rhai", "let ok = confirm(\"a\", #{}, 3);\n")
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("`confirm` takes 1 or 2 argument(s), not 3");
}

#[test]
fn caret_lands_on_the_failing_line_with_the_call_chain() {
    let script = "fn outer() {\n    inner(2)\n}\n\nfn inner(n) {\n    let x = n;\n    throw `bad value ${x}`;\n}\n\nouter();\n";
    Test::new()
        .file("chain.rhai", script)
        .args(&["run", "chain.rhai"])
        .run()
        .code(1)
        .stderr_has("error: bad value 2")
        .stderr_has("--> chain.rhai:7:5")
        .stderr_has("7 |     throw `bad value ${x}`;\n  |     ^")
        .stderr_has("outer() called at chain.rhai:10:1")
        .stderr_has("inner() called at chain.rhai:2:5");
}

#[test]
fn run_calls_the_function_with_arguments() {
    Test::new()
        .file(
            "r.rhai",
            "print(\"top\");\nfn add(a, b) { a + b }\nfn greet(name) { `hi ${name}` }\n",
        )
        .args(&["run", "r.rhai", "add", "2", "40"])
        .run()
        .code(0)
        .stdout_is("top\n42\n");
    Test::new()
        .file("r.rhai", "fn add(a, b) { a + b }\n")
        .args(&["run", "r.rhai", "sub"])
        .run()
        .code(2)
        .stderr_has("has no function `sub`; it has: add(a, b)");
    Test::new()
        .file("r.rhai", "fn add(a, b) { a + b }\n")
        .args(&["run", "r.rhai", "add", "1"])
        .run()
        .code(2)
        .stderr_has("add takes 2 argument(s)");
}

#[test]
fn json_output_keeps_stdout_for_the_result() {
    let out = Test::new()
        .file(
            "r.rhai",
            "fn facts() { print(\"chatter\"); #{ hosts: [\"a\", \"b\"], count: 2 } }\n",
        )
        .args(&["run", "r.rhai", "facts", "--output", "json"])
        .run();
    out.code(0).stderr_has("chatter");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(json, serde_json::json!({"hosts": ["a", "b"], "count": 2}));
}

#[test]
fn confirm_is_answered_by_var_yes_or_fallback() {
    let script =
        "if confirm(\"Restart nginx?\") { print(\"restarted\") } else { print(\"skipped\") }\n";
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--var", "restart_nginx=no"])
        .run()
        .code(0)
        .stdout_is("skipped\n")
        .stderr_has("? Restart nginx? no  (--var restart_nginx)");
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--yes"])
        .run()
        .code(0)
        .stdout_is("restarted\n");
    Test::new()
        .file(
            "r.rhai",
            "print(confirm(\"Go?\", #{ key: \"go\", fallback: false }));\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_is("false\n");
}

#[test]
fn unanswered_prompts_without_a_terminal_exit_3_and_name_the_var() {
    let out = Test::new()
        .file("r.rhai", "local::run(\"touch before\");\nif confirm(\"Drop the database?\") { local::run(\"touch dropped\"); }\n")
        .args(&["run", "r.rhai"])
        .run();
    out.code(3)
        .stderr_has("no terminal to ask: Drop the database?")
        .stderr_has("--var drop_the_database=yes");
    assert!(!out.path("dropped").exists());
    Test::new()
        .file(
            "r.rhai",
            "let b = prompt(\"Branch?\", #{ key: \"branch\" });\n",
        )
        .args(&["run", "r.rhai", "--yes"])
        .run()
        .code(3)
        .stderr_has("--var branch=VALUE");
    Test::new()
        .file(
            "r.rhai",
            "choose(\"Which component?\", [\"web\", \"workers\"]);\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(3)
        .stderr_has("--var which_component=web");
}

#[test]
fn prompt_and_choose_answers() {
    let script = "let part = choose(\"Which component?\", [\"web\", \"workers\", \"all\"], #{ key: \"component\" });\n\
                  let branch = prompt(\"Branch?\", #{ key: \"branch\", fallback: \"main\" });\n\
                  print(`${part} ${branch}`);\n";
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--var", "component=2"])
        .run()
        .code(0)
        .stdout_is("workers main\n");
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--var", "component=db"])
        .run()
        .code(1)
        .stderr_has("--var component=db is not one of: web, workers, all");
}

#[test]
fn secrets_answered_by_var_are_never_echoed() {
    Test::new()
        .file("r.rhai", "let pw = prompt(\"Password?\", #{ key: \"pw\", secret: true });\nif pw.len() != 9 { throw \"wrong\"; }\n")
        .args(&["run", "r.rhai", "--var", "pw=hunter2!!"])
        .run()
        .code(0)
        .stderr_has("? Password? ***")
        .stderr_lacks("hunter2");
}

#[test]
fn params_env_and_unused_vars() {
    Test::new()
        .file("r.rhai", "print(param(\"size\"));\nprint(param(\"zone\", \"a\"));\nprint(env(\"OPSH_T\"));\nprint(env(\"OPSH_NOPE\", 7));\n")
        .env("OPSH_T", "from-env")
        .args(&["run", "r.rhai", "--var", "size=3", "--var", "sise=4"])
        .run()
        .code(0)
        .stdout_is("3\na\nfrom-env\n7\n")
        .stderr_has("--var sise was given but nothing asked for it");
    Test::new()
        .file("r.rhai", "param(\"size\");\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("needs --var size=VALUE");
}

#[test]
fn quote_round_trips_hostile_strings_through_sh() {
    let script = r#"
let hostile = ["it's", "a \"b\"", "$(touch pwned)", "`touch pwned`", "x; touch pwned", "new\nline", "back\\slash", "*", "-n", "'", ""];
for s in hostile {
    let r = local::run(`printf %s ${quote(s)}`, #{ quiet: true });
    if r.stdout != s { throw `mangled: ${s} became ${r.stdout}`; }
}
print("all intact");
"#;
    let out = Test::new()
        .file("q.rhai", script)
        .args(&["run", "q.rhai"])
        .run();
    out.code(0).stdout_is("all intact\n");
    assert!(!out.path("pwned").exists());
}

#[test]
fn local_run_streams_captures_and_fails_loudly() {
    Test::new()
        .file("r.rhai", "let r = local::run(\"echo out; echo err >&2\");\nprint(`code=${r.code} ok=${r.ok} out=${r.stdout == \"out\\n\"}`);\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_has("local | out\n")
        .stderr_has("local | err\n")
        .stdout_has("code=0 ok=true out=true");
    Test::new()
        .file(
            "r.rhai",
            "local::run(\"echo first >&2; echo broken >&2; exit 7\");\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("exit code 7")
        .stderr_has("echo first")
        .stderr_has("  broken");
    Test::new()
        .file(
            "r.rhai",
            "let r = local::run(\"exit 7\", #{ warn: true });\nprint(`${r.code} ${r.ok}`);\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_is("7 false\n");
}

#[test]
fn local_run_options() {
    Test::new()
        .file("sub/.keep", "")
        .file("r.rhai", "let r = local::run(\"echo $GREETING; pwd; cat\", #{ env: #{ GREETING: \"hi there\" }, cwd: \"sub\", stdin: \"fed\", quiet: true });\nprint(r.stdout);\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_has("hi there\n")
        .stdout_has("/sub\nfed");
    Test::new()
        .file("r.rhai", "local::run(\"true\", #{ timout: 3 });\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown option `timout`; expected one of: warn, timeout");
}

#[test]
fn local_run_timeout_stops_the_command() {
    // Far longer than the hang guard: only the timeout ends it in time.
    let out = Test::new()
        .file(
            "r.rhai",
            "local::run(\"echo $$ > cmd.pid; sleep 600; touch late\", #{ timeout: 2 });\n",
        )
        .args(&["run", "r.rhai"])
        .run_within(common::HANG);
    out.code(1)
        .stderr_has("exit code 124")
        .stderr_has("timed out after 2s");
    common::wait_gone(pid_in(&out.path("cmd.pid")), "the timed-out command");
    assert!(!out.path("late").exists(), "the command went on");
}

/// The pid a command wrote into `file`.
fn pid_in(file: &std::path::Path) -> i32 {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{} holds no pid: {e}", file.display()))
}

#[test]
fn eval_is_disabled_and_limits_hold() {
    Test::new()
        .file("r.rhai", "eval(\"1 + 1\");\n")
        .args(&["check", "r.rhai"])
        .run()
        .code(2);
    Test::new()
        .file("r.rhai", "let n = 0;\nloop { n += 1; }\n")
        .args(&["run", "r.rhai", "--max-operations", "10000"])
        .run()
        .code(1)
        .stderr_has("operation limit")
        .stderr_has("--max-operations");
}

#[test]
fn imports_resolve_beside_the_runbook_only() {
    Test::new()
        .file("lib/common.rhai", "fn twice(x) { x * 2 }\n")
        .file(
            "r.rhai",
            "import \"lib/common\" as common;\nprint(common::twice(21));\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_is("42\n");
    Test::new()
        .file("lib/common.rhai", "fn twice(x) { x * 2 }\n")
        .file(
            "r.rhai",
            "import \"lib/common\" as common;\nprint(common::thrice(21));\n",
        )
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown function `common::thrice`");
    Test::new()
        .file("r.rhai", "import \"../outside\" as o;\n")
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("no absolute paths or `..`");
    Test::new()
        .file("lib/broken.rhai", "fn f( {\n")
        .file("r.rhai", "import \"lib/broken\" as b;\n")
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("lib/broken.rhai:1:");
}

#[test]
fn stdlib_functions_are_global() {
    Test::new()
        .file(
            "r.rhai",
            "print(batches([1, 2, 3, 4, 5], 2));\nrequire(false, \"no hosts\");\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stdout_has("[[1, 2], [3, 4], [5]]")
        .stderr_has("no hosts")
        .stderr_has("stdlib/util.rhai");
}

#[test]
fn check_reports_every_file_and_json() {
    let out = Test::new()
        .file("good.rhai", "fn f() { 1 }\n")
        .file("bad.rhai", "let x = undefined_var;\n")
        .args(&["check", "good.rhai", "bad.rhai", "--output", "json"])
        .run();
    out.code(2);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(json[0]["ok"], true);
    assert_eq!(json[1]["ok"], false);
    assert_eq!(json[1]["problems"][0]["line"], 1);
}

#[test]
fn list_shows_functions_with_doc_comments() {
    Test::new()
        .file("r.rhai", "/// Launch a db node.\n/// Then set it up.\nfn whip_up_db_node(name) { }\n\nprivate fn helper() { }\n")
        .args(&["list", "r.rhai"])
        .run()
        .code(0)
        .stdout_is("whip_up_db_node(name)\n    Launch a db node.\n    Then set it up.\n");
}

#[test]
fn doc_lists_builtins_and_explains_one() {
    Test::new()
        .args(&["doc"])
        .run()
        .code(0)
        .stdout_has("local::run(cmd: String)")
        .stdout_has("quote(text: String) -> String");
    Test::new()
        .args(&["doc", "confirm"])
        .run()
        .code(0)
        .stdout_has("confirm(question: String, options: #{ key, fallback }) -> bool");
    Test::new()
        .args(&["doc", "confrim"])
        .run()
        .code(2)
        .stderr_has("did you mean `confirm`?");
}

#[test]
fn opsh_toml_is_validated() {
    Test::new()
        .file("opsh.toml", "[ssh]\nconcurency = 4\n")
        .file("r.rhai", "1;\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("opsh.toml")
        .stderr_has("concurency");
}

#[test]
fn completions_are_generated() {
    Test::new()
        .args(&["completions", "bash"])
        .run()
        .code(0)
        .stdout_has("opsh");
}

#[test]
fn piped_repl_keeps_state_and_stops_at_the_first_error() {
    Test::new()
        .args(&["repl"])
        .stdin("let x = 40;\nfn two(a) { 2 }\nfn add(a) {\n  a + two(a)\n}\nprint(add(x));\n")
        .run()
        .code(0)
        .stdout_is("42\n");
    Test::new()
        .args(&["repl"])
        .stdin("print(\"one\");\nthrow \"stop\";\nprint(\"never\");\n")
        .run()
        .code(1)
        .stdout_is("one\n")
        .stderr_has("stop");
}

/// Run opsh, press Ctrl-C once its stderr shows `wait_for`, and wait
/// (bounded) for it to end.
fn interrupt_after(test: Test, wait_for: &str) -> common::Outcome {
    let mut opsh = test.spawn();
    opsh.wait_for_stderr(wait_for);
    opsh.interrupt();
    opsh.finish()
}

#[test]
fn ctrl_c_during_sleep_exits_130_and_runs_nothing_after() {
    // The sleep outlasts the hang guard: only Ctrl-C ends the run in time.
    let test = Test::new().file(
        "r.rhai",
        "info(\"sleeping\");\nsleep(600);\nlocal::run(\"touch after\");\n",
    );
    let out = interrupt_after(test.args(&["run", "r.rhai"]), "sleeping");
    out.code(130).stderr_has("interrupted");
    assert!(!out.path("after").exists(), "the runbook went on");
}

#[test]
fn ctrl_c_during_a_local_command_ends_it() {
    let test = Test::new().file(
        "r.rhai",
        "local::run(\"echo $$ > cmd.pid; echo started >&2; sleep 600; touch finished\");\n",
    );
    let out = interrupt_after(test.args(&["run", "r.rhai"]), "started");
    out.code(130);
    common::wait_gone(pid_in(&out.path("cmd.pid")), "the interrupted command");
    assert!(!out.path("finished").exists(), "the command kept running");
}

#[test]
fn secrets_never_appear_in_output_or_errors() {
    let script = "let pw = secret(env(\"OPSH_T_PW\"));\n\
                  print(`password is ${pw}`);\n\
                  local::run(`echo using ${pw}; echo ${pw} >&2`);\n\
                  local::run(`echo ${pw}; exit 3`);\n";
    Test::new()
        .file("r.rhai", script)
        .env("OPSH_T_PW", "s3cr3t-Value")
        .args(&["run", "r.rhai", "-v"])
        .run()
        .code(1)
        .stdout_has("password is ***")
        .stdout_has("using ***")
        .stdout_lacks("s3cr3t")
        .stderr_lacks("s3cr3t")
        .stderr_has("echo ***; exit 3");
}

#[test]
fn flags_may_follow_function_arguments() {
    Test::new()
        .file(
            "r.rhai",
            "fn show(a, b) { `${a} ${b} ${confirm(\"ok?\")}` }\n",
        )
        .args(&["run", "r.rhai", "show", "v1.4.2", "x", "--yes"])
        .run()
        .code(0)
        .stdout_has("v1.4.2 x true");
    Test::new()
        .file("r.rhai", "fn show(a) { a }\n")
        .args(&["run", "r.rhai", "show", "--", "-1"])
        .run()
        .code(0)
        .stdout_is("-1\n");
}

#[test]
fn functions_see_global_constants_and_the_top_level_runs_once() {
    Test::new()
        .file("r.rhai", "const ROLES = [\"db\", \"app\"];\nprint(\"top\");\nfn roles() { global::ROLES.len() }\n")
        .args(&["run", "r.rhai", "roles"])
        .run()
        .code(0)
        .stdout_is("top\n2\n");
}
