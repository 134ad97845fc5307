//! Every error a built-in function raises says where the call is: the file
//! (the imported one, when the call is there), line and column, with the
//! line and a caret. Rhai places a namespaced call (`local::run`) at its
//! name, after the `local::`.

use crate::common::Test;
use crate::common::lab::unique;

const FAILS: &str = "command failed on local with exit code 1: false";

#[test]
fn a_namespaced_call_at_the_top_level_is_located() {
    Test::new()
        .file("r.rhai", "let a = 1;\n\nlet r = local::run(\"false\");\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has(FAILS)
        .stderr_has("--> r.rhai:3:16")
        .stderr_has("3 | let r = local::run(\"false\");\n  |                ^");
}

#[test]
fn a_namespaced_call_in_a_function_names_the_call_and_the_caller() {
    Test::new()
        .file(
            "r.rhai",
            "fn stop() {\n  local::run(\"false\");\n}\n\nstop();\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has(FAILS)
        .stderr_has("--> r.rhai:2:10")
        .stderr_has("2 |   local::run(\"false\");\n  |          ^")
        .stderr_has("stop() called at r.rhai:5:1");
}

#[test]
fn a_namespaced_call_in_an_imported_function_names_that_file() {
    Test::new()
        .file(
            "lib/steps.rhai",
            "fn check() {\n    local::run(\"false\");\n}\n",
        )
        .file(
            "r.rhai",
            "import \"lib/steps\" as steps;\n\nsteps::check();\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has(FAILS)
        .stderr_has("--> lib/steps.rhai:2:12")
        .stderr_has("2 |     local::run(\"false\");\n  |            ^")
        .stderr_has("check() called at r.rhai:3:8");
}

#[test]
fn a_failure_while_an_import_runs_names_the_imported_file() {
    Test::new()
        .file("lib/setup.rhai", "let a = 1;\nlocal::run(\"false\");\n")
        .file("r.rhai", "\nimport \"lib/setup\" as setup;\n")
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has(FAILS)
        .stderr_has("--> lib/setup.rhai:2:8")
        .stderr_has("2 | local::run(\"false\");\n  |        ^");
}

#[test]
fn aws_errors_are_located() {
    Test::new()
        .lab()
        .file(
            "r.rhai",
            "// look it up\nlet id = \"i-nope\";\n  let i = ec2::instance(id);\nprint(i);\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("ec2::instance: no instance i-nope")
        .stderr_has("--> r.rhai:3:16")
        .stderr_has("3 |   let i = ec2::instance(id);\n  |                ^");
    // A bucket no test creates.
    let bucket = unique("loc");
    Test::new()
        .lab()
        .file(
            "r.rhai",
            &format!("let b = \"{bucket}\";\n\nlet text = s3::get(b, \"missing\");\n"),
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(1)
        .stderr_has("--> r.rhai:3:16")
        .stderr_has("3 | let text = s3::get(b, \"missing\");\n  |                ^");
}
