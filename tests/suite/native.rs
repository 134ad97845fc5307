//! What makes opsh read like a native tool: every type documented field by
//! field, definition files an editor loads, tables one line per row that fit
//! the terminal, and a "did you mean" for a misspelt module.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::Test;

/// The types the script API returns.
const TYPES: &[&str] = &[
    "Address",
    "Group",
    "Host",
    "Image",
    "Instance",
    "KeyPair",
    "Result",
    "SecurityGroup",
    "Snapshot",
    "Volume",
];

fn reference() -> Value {
    let out = Test::new().args(&["doc", "--output", "json"]).run();
    out.code(0);
    serde_json::from_str(&out.stdout).expect("`opsh doc --output json` is JSON")
}

#[test]
fn every_type_is_documented_field_by_field() {
    let doc = reference();
    let types = doc["types"].as_array().expect("types");
    let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, TYPES);
    for t in types {
        assert!(t["doc"].as_str().is_some_and(|d| !d.is_empty()), "{t}");
        let fields = t["fields"].as_array().expect("fields");
        assert!(!fields.is_empty(), "{t}");
        for f in fields {
            for key in ["name", "type", "doc"] {
                assert!(
                    f[key].as_str().is_some_and(|v| !v.is_empty()),
                    "{} field {f} has no {key}",
                    t["name"]
                );
            }
        }
    }

    let out = Test::new().args(&["doc", "Instance"]).run();
    out.code(0)
        .stdout_has("fields (read-only: x.name)")
        .stdout_has("  public_ip        String or ()     Its public IPv4 address")
        .stdout_has("  tags             Map of String ")
        .stdout_has("  type             String           The instance type");
    let out = Test::new().args(&["doc", "Host"]).run();
    out.code(0)
        .stdout_has("  port     int     The SSH port.")
        .stdout_has("methods (x.name(...)")
        .stdout_has("  run(host: Host, cmd: String) -> Result");
    // The listing ends with the types; a near miss names the type.
    let out = Test::new().args(&["doc"]).run();
    out.code(0)
        .stdout_has("types (opsh doc TYPE for the fields)\n  Address ");
    let out = Test::new().args(&["doc", "Volum"]).run();
    out.code(2).stderr_has("did you mean `Volume`?");
}

/// What a written definition file declares: `module name;`, then `///`
/// comments and `fn name(param: Type, ..) -> Type;` (a property `fn get name(x: T)`).
#[derive(Debug, Default)]
struct Declared {
    /// name → parameter counts (a name declared for each arity).
    functions: BTreeMap<String, Vec<usize>>,
    /// (type, property) pairs.
    properties: Vec<(String, String)>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn is_type(s: &str) -> bool {
    matches!(s, "?" | "()") || is_name(s)
}

fn parse_definitions(file: &str, text: &str) -> Declared {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let module = header
        .strip_prefix("module ")
        .and_then(|m| m.strip_suffix(';'))
        .filter(|m| is_name(m))
        .unwrap_or_else(|| panic!("{file}: first line {header:?} is no `module NAME;`"));
    assert_eq!(
        file,
        format!("{}.d.rhai", module.replace("static", "__static__"))
    );
    let mut declared = Declared::default();
    for line in lines.filter(|l| !l.is_empty() && !l.starts_with("/// ") && *l != "///") {
        let bad = format!("{file}: not a declaration: {line:?}");
        let decl = line.strip_prefix("fn ").and_then(|l| l.strip_suffix(';'));
        let (head, ret) = decl.and_then(|d| d.split_once(") -> ")).expect(&bad);
        assert!(is_type(ret), "{bad}");
        let (name, params) = head.split_once('(').expect(&bad);
        let params: Vec<(&str, &str)> = params
            .split(", ")
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once(": ").expect(&bad))
            .collect();
        assert!(
            params.iter().all(|(n, t)| is_name(n) && is_type(t)),
            "{bad}"
        );
        match name.strip_prefix("get ") {
            Some(property) => {
                assert!(is_name(property) && params.len() == 1, "{bad}");
                declared
                    .properties
                    .push((params[0].1.to_string(), property.to_string()));
            }
            None => {
                assert!(is_name(name), "{bad}");
                let qualified = if module == "static" {
                    name.to_string()
                } else {
                    format!("{module}::{name}")
                };
                declared
                    .functions
                    .entry(qualified)
                    .or_default()
                    .push(params.len());
            }
        }
    }
    declared
}

#[test]
fn definition_files_declare_every_function_and_property() {
    let t = Test::new().args(&["doc", "--definitions", "defs"]);
    let dir = t.path().join("defs");
    let out = t.run();
    out.code(0).stderr_has("wrote 5 definition files to defs");
    let mut declared = Declared::default();
    for entry in std::fs::read_dir(&dir).expect("the definitions directory") {
        let path = entry.expect("an entry").path();
        let file = path.file_name().and_then(|n| n.to_str()).expect("a name");
        let text = std::fs::read_to_string(&path).expect("a definition file");
        let one = parse_definitions(file, &text);
        declared.functions.extend(one.functions);
        declared.properties.extend(one.properties);
    }
    let doc = reference();
    let functions = doc["functions"].as_array().expect("functions");
    for f in functions {
        let name = f["name"].as_str().expect("name");
        let arity = f["params"].as_array().expect("params").len();
        assert!(
            declared
                .functions
                .get(name)
                .is_some_and(|a| a.contains(&arity)),
            "{name} with {arity} parameter(s) is not declared: {:?}",
            declared.functions.get(name)
        );
    }
    // The stdlib is in them too.
    assert!(declared.functions.contains_key("apt_install"));
    for t in doc["types"].as_array().expect("types") {
        for field in t["fields"].as_array().expect("fields") {
            let pair = (
                t["name"].as_str().expect("type").to_string(),
                field["name"].as_str().expect("field").to_string(),
            );
            assert!(declared.properties.contains(&pair), "{pair:?} not declared");
        }
    }
}

const TWO_RESULTS: &str = r#"
fn main() {
    [local::run("echo short", #{ quiet: true }),
     local::run("printf '%0150d' 0", #{ quiet: true })]
}
"#;

#[test]
fn tables_rule_the_header_only_and_cut_cells_to_the_terminal() {
    let out = Test::new()
        .file("t.rhai", TWO_RESULTS)
        .args(&["run", "t.rhai", "main"])
        .env("COLUMNS", "60")
        .run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "header, rule, two rows:\n{}", out.stdout);
    assert!(lines[0].starts_with("host "), "{}", out.stdout);
    assert!(
        lines[1].chars().all(|c| c == '─' || c == ' '),
        "{}",
        out.stdout
    );
    for line in &lines {
        assert!(line.chars().count() <= 60, "{line:?} is wider than 60");
    }
    assert!(
        lines[3].ends_with('…'),
        "the long cell is cut: {}",
        out.stdout
    );
    // Whole values in JSON, and in a pipe without COLUMNS.
    let out = Test::new()
        .file("t.rhai", TWO_RESULTS)
        .args(&["run", "t.rhai", "main", "--output", "json"])
        .env("COLUMNS", "60")
        .run();
    out.code(0).stdout_has(&"0".repeat(150));
    let out = Test::new()
        .file("t.rhai", TWO_RESULTS)
        .args(&["run", "t.rhai", "main"])
        .run();
    out.code(0).stdout_has(&"0".repeat(150));
}

#[test]
fn a_misspelt_module_gets_a_did_you_mean() {
    let out = Test::new()
        .file("m.rhai", "fn main() {\n    lokal::run(\"true\");\n}\n")
        .args(&["check", "m.rhai"])
        .run();
    out.code(2)
        .stderr_has("error: unknown module `lokal`")
        .stderr_has("--> m.rhai:2:5")
        .stderr_has("= help: did you mean `local`?");
    let out = Test::new()
        .file("m.rhai", "fn main() {\n    zzzq::run(\"true\");\n}\n")
        .args(&["check", "m.rhai"])
        .run();
    out.code(2)
        .stderr_has("= help: the modules are ec2, local, s3, ssh, and a file becomes one with `import \"file\" as zzzq;`");
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(head.len(), 12, "tests run in a git checkout");
    let out = Test::new().args(&["--version"]).run();
    out.code(0)
        .stdout_is(&format!("opsh {} ({head})\n", env!("CARGO_PKG_VERSION")));
}
