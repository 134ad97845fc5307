//! The sandbox a runbook runs in: ordinary large data passes under the
//! defaults; runaway loops, growth and recursion end with an error that
//! names the limit, its value and the flag or opsh.toml key that raises it;
//! nothing ends in the kernel's OOM killer or a hang.

use std::time::Duration;

use crate::common;
use crate::common::Test;

/// Longer than any of these runs takes on a debug build; past it, a run
/// has hung.
const HANG: Duration = Duration::from_secs(120);

fn run(script: &str, args: &[&str]) -> common::Outcome {
    Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .args(args)
        .run_within(HANG)
}

fn run_with_config(script: &str, config: &str) -> common::Outcome {
    Test::new()
        .file("r.rhai", script)
        .file("opsh.toml", config)
        .args(&["run", "r.rhai"])
        .run_within(HANG)
}

#[test]
fn a_two_million_line_output_splits_into_lines() {
    run(
        "let lines = local::run(\"seq 1 2000000\", #{ quiet: true }).stdout.split(\"\\n\");\n\
         print(`${lines.len()} ${lines[1999999]}`);\n",
        &[],
    )
    .code(0)
    .stdout_is("2000001 2000000\n");
}

#[test]
fn a_two_million_key_listing_and_a_half_million_entry_map_fit() {
    // An S3 listing of 2M keys: the keys, and the maps list() returns.
    let script = "\
let keys = local::run(\"seq 1 2000000\", #{ quiet: true }).stdout.split(\"\\n\");
keys.pop();
let listing = [];
listing.pad(keys.len(), #{ key: \"photos/0000001.jpg\", size: 1024, modified: \"2026-01-01\" });
let index = #{};
for key in keys.extract(0, 500000) {
    index[key] = 1024;
}
print(`${keys.len()} ${listing.len()} ${listing[1999999].size} ${index.len()}`);
";
    run(script, &[])
        .code(0)
        .stdout_is("2000000 2000000 1024 500000\n");
}

#[test]
fn the_operations_limit_names_its_value_and_how_to_raise_it() {
    let looping = "let n = 0;\nloop { n += 1; }\n";
    run(looping, &["--max-operations", "10000"])
        .code(1)
        .stderr_has("operation limit of 10000 operations")
        .stderr_has("--> r.rhai:2:")
        .stderr_has("--max-operations N (or max_operations in opsh.toml");
    run_with_config(looping, "max_operations = 5000\n")
        .code(1)
        .stderr_has("operation limit of 5000 operations");
}

/// The number of loop rounds that ran before the operations limit.
fn rounds_within(limit: u64) -> usize {
    let out = run(
        "let n = 0;\nloop { n += 1; print(n); }\n",
        &["--max-operations", &limit.to_string()],
    );
    out.code(1).stderr_has("operation limit");
    out.stdout.lines().count()
}

#[test]
fn the_operations_limit_is_counted_exactly() {
    // Every round costs the same operations: with the limit checked on
    // each one, the rounds that fit grow in step with the limit, to the
    // round (a check every so many operations would move in jumps).
    let rounds: Vec<usize> = [600, 1200, 1800].into_iter().map(rounds_within).collect();
    assert!(rounds[0] > 50, "{rounds:?}");
    let steps = [rounds[1] - rounds[0], rounds[2] - rounds[1]];
    assert!(steps[0] > 50, "{rounds:?}");
    assert!(steps[0].abs_diff(steps[1]) <= 1, "{rounds:?}");
}

#[test]
fn runaway_growth_ends_at_the_memory_limit_with_its_value() {
    let pushing = "let list = [];\nlet i = 0;\nloop { list.push(`item ${i}`); i += 1; }\n";
    run(pushing, &["--max-memory", "64M"])
        .code(1)
        .stderr_has("outgrew its memory limit of 64.0 MiB: opsh holds")
        .stderr_has("--> r.rhai:3:")
        .stderr_has("--max-memory SIZE such as 8GiB (or max_memory in opsh.toml");
    let inserting = "let map = #{};\nlet i = 0;\nloop { map[`key ${i}`] = i; i += 1; }\n";
    run_with_config(inserting, "max_memory = \"48MiB\"\n")
        .code(1)
        .stderr_has("outgrew its memory limit of 48.0 MiB");
    // Each step copies the text and doubles it: whether the check after a
    // step or the allocator during one stops it, the message says why.
    let doubling = "let text = \"x\";\nloop { text += text; }\n";
    run(doubling, &["--max-memory", "64M"])
        .code(1)
        .stderr_has("memory limit of 64.0 MiB")
        .stderr_has("--max-memory");
}

#[test]
fn a_call_asking_for_more_memory_than_the_limit_is_refused_first() {
    for call in [
        "blob(1 << 40)",
        "blob(9223372036854775807, 1)",
        "\"\".pad(1 << 40, \"ab\")",
        "\"\".pad(9223372036854775807, 'x')",
        "[].pad(1 << 40, 0)",
        "[].pad(1 << 36, [1, 2, 3])",
        "blob().pad(1 << 40, 7)",
    ] {
        run(&format!("let x = {call};\n"), &[])
            .code(1)
            .stderr_has("items would take")
            .stderr_has("its memory limit of")
            .stderr_has("--max-memory")
            .stderr_lacks("panicked");
    }
    // Within the limit they do what Rhai's own do.
    run(
        "let s = \"ab\";\ns.pad(5, \"xy\");\nlet a = [1];\na.pad(3, 0);\nlet b = blob(2, 0x1ff);\nb.pad(3, 1);\nprint(`${s} ${a} ${b.len()} ${b[0]}`);\n",
        &[],
    )
    .code(0)
    .stdout_is("abxyx [1, 0, 0] 3 255\n");
}

#[test]
fn one_step_far_past_the_limit_is_stopped_with_a_message() {
    // One call turning 8 MiB of text into 8 million chars (128 MiB) gives
    // the per-operation check no chance: the allocator stops the process.
    let script =
        "let text = \"x\";\ntext.pad(8 * 1024 * 1024, \"x\");\nlet chars = text.to_chars();\n";
    run(script, &["--max-memory", "48M"])
        .code(1)
        .stderr_has("well over its memory limit of 48.0 MiB; stopped at once")
        .stderr_has("--max-memory");
}

#[test]
fn the_call_depth_limit_names_its_value_and_key() {
    let recursing = "fn down(n) { if n > 0 { down(n - 1) } else { 0 } }\ndown(150);\n";
    run(recursing, &[])
        .code(1)
        .stderr_has("deeper than its limit of 64 levels")
        .stderr_has("max_call_depth in opsh.toml");
    run_with_config(recursing, "max_call_depth = 200\n").code(0);
}

#[test]
fn the_expression_depth_limit_names_its_value_and_key() {
    // Each parenthesis is two levels of Rhai's parser.
    let nested = format!("let x = {}1{};\n", "(".repeat(150), ")".repeat(150));
    run(&nested, &[])
        .code(2)
        .stderr_has("nested deeper than the limit of 256 levels")
        .stderr_has("max_expression_depth in opsh.toml");
    run_with_config(&nested, "max_expression_depth = 400\n").code(0);
}

#[test]
fn the_imports_limit_names_its_value_and_key() {
    let importing = "for i in 0..300 { import \"lib\" as lib; }\n";
    let test = || {
        Test::new()
            .file("lib.rhai", "fn f() { 1 }\n")
            .file("r.rhai", importing)
            .args(&["run", "r.rhai"])
    };
    test()
        .run_within(HANG)
        .code(1)
        .stderr_has("`import` statements than its limit of 256")
        .stderr_has("max_imports in opsh.toml");
    test()
        .file("opsh.toml", "max_imports = 1000\n")
        .run_within(HANG)
        .code(0);
}

#[test]
fn limits_out_of_range_are_usage_errors() {
    run("1;\n", &["--max-memory", "lots"])
        .code(2)
        .stderr_has("`lots` is not a size");
    for (config, problem) in [
        (
            "max_memory = \"8 parsecs\"\n",
            "max_memory `8 parsecs`: unknown unit",
        ),
        (
            "max_call_depth = 0\n",
            "max_call_depth = 0 is out of range: give 1 to 4096",
        ),
        (
            "max_expression_depth = 513\n",
            "max_expression_depth = 513 is out of range: give 1 to 512",
        ),
        ("max_imports = 0\n", "max_imports = 0 is out of range"),
    ] {
        run_with_config("1;\n", config).code(2).stderr_has(problem);
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_busy_loop() {
    use std::io::{BufRead, BufReader};
    let test = Test::new().file(
        "r.rhai",
        "info(\"looping\");\nlet n = 0;\nloop { n += 1; }\n",
    );
    let mut child = test
        .command()
        .args(["run", "r.rhai", "--max-operations", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start opsh");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("looping") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "no output"
        );
    }
    // SAFETY: signals the child this test started.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT) };
    let deadline = std::time::Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Ctrl-C did not stop the loop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
}
