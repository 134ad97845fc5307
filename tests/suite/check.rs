//! `opsh check` tells the truth: it refuses what cannot run (files that
//! are not files, import cycles, unknown functions, misspelled options)
//! before anything runs, and accepts whatever the Rhai engine accepts.

use std::time::Duration;

use crate::common::Test;

/// Any of these would hang or overflow if opsh got it wrong.
const LIMIT: Duration = Duration::from_secs(30);

fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn only_regular_files_are_read_as_runbooks() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["check", "/dev/zero"],
            "/dev/zero is a device, not a regular file",
        ),
        (
            &["run", "/dev/zero"],
            "/dev/zero is a device, not a regular file",
        ),
        (
            &["run", "/dev/null"],
            "/dev/null is a device, not a regular file",
        ),
        (
            &["list", "dir.rhai"],
            "dir.rhai is a directory, not a regular file",
        ),
        (
            &["repl", "pipe.rhai"],
            "pipe.rhai is a named pipe (fifo), not a regular file",
        ),
        (
            &["check", "pipe.rhai"],
            "pipe.rhai is a named pipe (fifo), not a regular file",
        ),
    ];
    for (args, message) in cases {
        let t = Test::new().file("dir.rhai/.keep", "").args(args);
        mkfifo(&t.path().join("pipe.rhai"));
        t.run_within(LIMIT).code(2).stderr_has(message);
    }
}

#[test]
fn imports_of_files_that_are_not_files_are_compile_errors() {
    let t = Test::new()
        .file("dir.rhai/.keep", "")
        .file(
            "r.rhai",
            "local::run(\"touch ran\");\nimport \"dir\" as d;\nimport \"pipe\" as p;\n",
        )
        .args(&["run", "r.rhai"]);
    mkfifo(&t.path().join("pipe.rhai"));
    let out = t.run_within(LIMIT);
    out.code(2)
        .stderr_has("import \"dir\": dir.rhai is a directory, not a regular file")
        .stderr_has("--> r.rhai:2:1")
        .stderr_has("import \"pipe\": pipe.rhai is a named pipe (fifo), not a regular file")
        .stderr_has("--> r.rhai:3:1");
    assert!(!out.path("ran").exists(), "the runbook ran");
}

#[test]
fn import_cycles_are_compile_errors_naming_the_cycle() {
    Test::new()
        .file("self.rhai", "import \"self\" as me;\nfn f() { 1 }\n")
        .args(&["check", "self.rhai"])
        .run_within(LIMIT)
        .code(2)
        .stderr_has("error: import cycle: self.rhai -> self.rhai")
        .stderr_has("--> self.rhai:1:1");

    let out = Test::new()
        .file(
            "a.rhai",
            "local::run(\"touch ran\");\nimport \"b\" as b;\nfn fa() { b::fb() }\n",
        )
        .file("b.rhai", "import \"a\" as a;\nfn fb() { 2 }\n")
        .args(&["run", "a.rhai", "fa"])
        .run_within(LIMIT);
    out.code(2)
        .stderr_has("error: import cycle: a.rhai -> b.rhai -> a.rhai")
        .stderr_has("--> b.rhai:1:1")
        .stderr_lacks("overflow");
    assert!(!out.path("ran").exists(), "the runbook ran");

    // A cycle through an import whose path is computed shows only at run time.
    Test::new()
        .file("dyn.rhai", "let me = \"dyn\";\nimport me as again;\n")
        .args(&["run", "dyn.rhai"])
        .run_within(LIMIT)
        .code(1)
        .stderr_has("import cycle: dyn.rhai -> dyn.rhai");

    // The same module imported twice is no cycle.
    Test::new()
        .file("lib.rhai", "fn one() { 1 }\n")
        .file(
            "mid.rhai",
            "import \"lib\" as lib;\nfn two() { lib::one() + 1 }\n",
        )
        .file(
            "top.rhai",
            "import \"lib\" as lib;\nimport \"mid\" as mid;\nprint(lib::one() + mid::two());\n",
        )
        .args(&["run", "top.rhai"])
        .run_within(LIMIT)
        .code(0)
        .stdout_is("3\n");
}

#[test]
fn an_unknown_function_of_a_known_module_names_the_module() {
    Test::new()
        .file(
            "r.rhai",
            "fn deploy() {\n    ssh::teleport([], #{}, |h| h);\n}\n",
        )
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown function `ssh::teleport`: the module `ssh` has no function `teleport`")
        .stderr_has("--> r.rhai:2:")
        .stderr_has("its nearest names: `ssh::")
        .stderr_has("`opsh doc ssh::` lists them all")
        .stderr_lacks("is not a module");
    Test::new()
        .file("lib.rhai", "fn thrice(x) { x * 3 }\n")
        .file("r.rhai", "import \"lib\" as lib;\nlib::twice(1);\n")
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("the module `lib` has no function `twice`")
        .stderr_has("its nearest names: `lib::thrice`");
}

#[test]
fn a_missing_function_of_a_file_without_functions_says_so() {
    Test::new()
        .file("r.rhai", "let x = 1;\n")
        .args(&["run", "r.rhai", "nofunc"])
        .run()
        .code(2)
        .stderr_has("r.rhai has no function `nofunc`: the file defines no functions")
        .stderr_lacks("it has:");
}

#[test]
fn misspelled_option_keys_fail_the_check_before_anything_runs() {
    let script = "\
local::run(\"touch ran\");
let found = ec2::instances(#{ tagz: #{ role: \"web\" } });
let h = ssh::connect(\"web-1\", #{ usr: \"deploy\" });
h.run(\"uptime\", #{ wran: true });
ssh::group([\"a\", \"b\"], #{ concurency: 2 });
confirm(\"Go?\", #{ fallbak: false });
ec2::authorize(\"web\", #{ protocl: \"tcp\", port: 80 });
";
    let out = Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .run();
    out.code(2)
        .stderr_has("ec2::instances: unknown option `tagz`; expected one of: tags, state, ids")
        .stderr_has("--> r.rhai:2:31")
        .stderr_has("did you mean `tags`?")
        .stderr_has("ssh::connect: unknown option `usr`")
        .stderr_has("did you mean `user`?")
        .stderr_has("run: unknown option `wran`")
        .stderr_has("--> r.rhai:4:20")
        .stderr_has("ssh::group: unknown option `concurency`")
        .stderr_has("did you mean `concurrency`?")
        .stderr_has("confirm: unknown option `fallbak`")
        .stderr_has("ec2::authorize: unknown option `protocl`")
        .stderr_has("did you mean `protocol`?")
        .stderr_has("6 problems found; nothing was run");
    assert!(!out.path("ran").exists(), "the runbook ran before failing");
}

#[test]
fn option_keys_come_from_the_declaration_doc_prints() {
    let out = Test::new().args(&["doc", "ec2::instances"]).run();
    out.code(0)
        .stdout_has("ec2::instances(options: #{ tags, state, ids }) -> Array");
    let out = Test::new()
        .args(&["doc", "local::run", "--output", "json"])
        .run();
    out.code(0);
    let docs: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let with_options = docs
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["params"].as_array().is_some_and(|p| p.len() == 2))
        })
        .expect("local::run with options");
    let options = with_options["params"][1]
        .as_str()
        .expect("a declared parameter");
    // Every key the declaration lists passes the check; any other fails it.
    let keys: Vec<&str> = options
        .trim_start_matches("options: #{")
        .trim_end_matches('}')
        .split(',')
        .map(str::trim)
        .collect();
    assert!(keys.contains(&"timeout"), "{options}");
    let all = keys
        .iter()
        .map(|k| format!("{k}: ()"))
        .collect::<Vec<_>>()
        .join(", ");
    Test::new()
        .file("r.rhai", &format!("local::run(\"true\", #{{ {all} }});\n"))
        .args(&["check", "r.rhai"])
        .run()
        .code(0);
    // A runbook's own function of a built-in's name takes any map.
    Test::new()
        .file(
            "r.rhai",
            "fn confirm(q, opts) { opts.anything }\nprint(confirm(\"q\", #{ anything: 7 }));\n",
        )
        .args(&["run", "r.rhai"])
        .run()
        .code(0)
        .stdout_is("7\n");
}

/// Script functions called as methods, closures in maps called as
/// methods, typed methods: the shapes of Rhai's own example scripts.
#[test]
fn methods_of_script_functions_and_map_closures_are_accepted() {
    let script = r#"
fn action(x, y) { this.value = x + y; }
fn calc(x) { `${this}: ${x}` }
fn int.twice() { this * 2 }
fn string.shout(mark) { this.to_upper() + mark }
fn scale(factor) { this = this * factor; }

let obj = #{ value: 0 };
obj.action(1, 2);
print(obj.value);
print("hello".calc(42));
print(21.twice());
print("hey".shout("!"));
let n = -40;
n.scale(2);
print(n);

let counter = #{
    _data: 42,
    get_data: || this._data,
    bump: |by| { this._data += by; this.get_data() },
};
print(counter.get_data());
print(counter.bump(8));

let copy = #{ _data: 1 };
copy.fill_with(counter);
print(copy.get_data());

let later = #{};
later.greet = |who| `hi ${who}`;
print(later.greet("you"));
"#;
    for command in ["check", "run"] {
        let out = Test::new()
            .file("oop.rhai", script)
            .args(&[command, "oop.rhai"])
            .run();
        out.code(0);
        if command == "run" {
            out.stdout_is("3\nhello: 42\n42\nHEY!\n-80\n42\n50\n1\nhi you\n");
        }
    }
}

#[test]
fn wrong_method_calls_are_still_caught() {
    Test::new()
        .file(
            "r.rhai",
            "fn calc(x) { x }\nlet m = #{ get: || 1 };\n\"a\".calc(1, 2);\nm.gte();\n",
        )
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("`calc` takes 1 argument(s), not 2")
        .stderr_has("unknown function `gte`")
        .stderr_has("2 problems found");
}

/// Loops, closures, switch, string, array and map methods, as Rhai's
/// example scripts use them: checked, run, and printing what Rhai prints.
#[test]
fn the_shapes_of_rhais_example_scripts_run_unchanged() {
    let script = r#"
//! A module-level doc comment.

/// A function's doc comment.
fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }

const MAX = 10;
let now = timestamp();
let closures = [];
// Every closure captures the one `i`: Rhai prints 810, not 285.
for i in 0..MAX { closures.push(|| i * i); }
let sum = 0;
for f in closures { sum += f.call(); }
print(sum);

let x = 0;
while x < 5 { x += 1; if x == 2 { continue; } }
loop { x -= 1; if x <= 0 { break; } }
do { x += 3; } until x > 7;
print(x);

for (item, i) in [42, 1.5, "hello", true, 'c', 7] {
    switch item {
        42 => print("answer"),
        1.5 => print(`float ${item}`),
        "hello" => print(`${item} world`),
        0..10 if item % 2 == 1 => print(`small odd ${item} at ${i}`),
        _ => print(`other ${type_of(item)}`),
    }
}

let s = "Hello, World";
print(s.to_upper());
print(s.sub_string(7, 5));
print(s.index_of("World"));
print(s.split(", ").len());
print(s.contains("lo, W"));
let padded = "7"; padded.pad(3, '0');
print(padded);

let a = [3, 1, 2];
a.sort();
print(a);
print(a.map(|v| v * 10).filter(|v| v > 10).reduce(|sum, v| sum + v, 0));
a.insert(0, 9);
print(a.len());

let m = #{ a: 1, b: 2 };
m.c = 3;
print(m.keys().len());
m.remove("a");
print("a" in m);
print(m.b ?? 0);

let add = |a, b| a + b;
let add_one = add.curry(1);
print(add_one.call(41));
let f = Fn("fib");
print(f.call(10));
print(call(f, 7));
print(is_def_fn("fib", 1));
print(now.elapsed >= 0.0);
"#;
    Test::new()
        .file("shapes.rhai", script)
        .args(&["check", "shapes.rhai"])
        .run()
        .code(0);
    Test::new()
        .file("shapes.rhai", script)
        .args(&["run", "shapes.rhai"])
        .run()
        .code(0)
        .stdout_is(
            "810\n9\nanswer\nfloat 1.5\nhello world\nother bool\nother char\nsmall odd 7 at 5\n\
             HELLO, WORLD\nWorld\n7\n2\ntrue\n700\n[1, 2, 3]\n50\n4\n3\nfalse\n2\n42\n55\n13\ntrue\ntrue\n",
        );
}

#[test]
fn an_imported_example_module_runs_unchanged() {
    // As Rhai's module example: a script imported by name, its export read.
    Test::new()
        .file(
            "loop.rhai",
            "let count = 42;\nexport count as foo;\nfn double(x) { x * 2 }\n",
        )
        .file(
            "module.rhai",
            "import \"loop\" as x;\nprint(`foo = ${x::foo}, doubled ${x::double(x::foo)}`);\n",
        )
        .args(&["run", "module.rhai"])
        .run()
        .code(0)
        .stdout_is("foo = 42, doubled 84\n");
}

#[test]
fn an_imports_private_functions_are_not_callable_from_outside() {
    Test::new()
        .file(
            "lib.rhai",
            "private fn hidden() { 1 }\nfn shown() { hidden() }\n",
        )
        .file(
            "r.rhai",
            "import \"lib\" as lib;\nprint(lib::shown());\nlib::hidden();\n",
        )
        .args(&["check", "r.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown function `lib::hidden`")
        .stderr_has("--> r.rhai:3:");
}

/// A built-in whose options map declared no keys would be checked by
/// nothing but its own runtime test.
#[test]
fn every_builtin_options_map_declares_its_keys() {
    let out = Test::new().args(&["doc", "--output", "json"]).run();
    out.code(0);
    let docs: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let mut undeclared = Vec::new();
    let mut declared = 0;
    for f in docs["functions"].as_array().expect("an array of functions") {
        if f["native"] != serde_json::Value::Bool(true) {
            continue;
        }
        for param in f["params"].as_array().expect("params") {
            let param = param.as_str().expect("a parameter");
            if param.starts_with("options:") {
                if param.starts_with("options: #{") {
                    declared += 1;
                } else {
                    undeclared.push(format!("{}: {param}", f["name"]));
                }
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "options without declared keys: {undeclared:?}"
    );
    assert!(declared > 20, "only {declared} options maps");
}
