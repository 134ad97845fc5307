//! Secrets with hostile contents (quotes, backslashes, newlines, `$`,
//! unicode), obtained every way a runbook can get one — a secret prompt
//! answered by `--var`, `secret(..)`, AWS credentials — and used in local
//! commands, EC2 tags, S3 keys and bodies, results and errors, in dry runs
//! and real runs against the lab. Every output stream, the journal, the
//! plan and the `-vvv` logs are searched for each secret: whole, line by
//! line, and escaped as JSON, string and byte literals show it.

use std::path::Path;

use crate::common;
use crate::common::Test;
use crate::common::lab::unique;

/// The prompt's answer: two lines and a trailing newline.
const PROMPTED: &str = "p\"w\\d $HOME 'q' ünï-line-one\nsecond `line` of the $PW\n";
/// Given to `secret(env(..))`: an indented second line.
const TOKEN: &str = "t0k\"en\\ $(id) 'it''s' ✓ first\n    indented: \"second\" \\ line";
/// Given to `secret(env(..))` and used as an S3 key: one line (the
/// emulator cannot route a key holding a newline).
const KEY: &str = "k\"e\\y $x 'q' ü-object-key";
/// AWS credentials: the access key goes into a header, so one line of
/// ASCII; the secret key is only ever used to sign.
const ACCESS_KEY: &str = "AKIA\"OPSH\\x'TEST";
const SECRET_KEY: &str = "aws\"sec\\ret'key ü\nsecond line of the key";

const RUNBOOK: &str = r#"
fn obtain() {
    #{
        pw: prompt("DB password?", #{ key: "pw", secret: true }),
        tok: secret(env("OPSH_T_TOKEN")),
        key: secret(env("OPSH_T_KEY")),
        aws: env("AWS_SECRET_ACCESS_KEY"),
        access: env("AWS_ACCESS_KEY_ID"),
    }
}

fn use_secrets(bucket, name) {
    let s = obtain();
    // In the environment, printed line by line.
    local::run("printf '%s\n' \"$PW\" \"$TOK\" \"$AWS\" \"$ACCESS\"",
        #{ env: #{ PW: s.pw, TOK: s.tok, AWS: s.aws, ACCESS: s.access } });
    // As arguments, on stdout and stderr, captured.
    let r = local::run("printf '%s\n' " + quote(s.pw) + " " + quote(s.key) + " >&2; printf '%s\n' "
        + quote(s.tok) + " " + quote(s.aws));
    print(r.stdout);
    print(r.stderr);
    // The runbook has the real values.
    print(`same: ${r.stdout == s.tok + "\n" + s.aws + "\n"}`);
    local::run("test \"$PW\" = " + quote(s.pw), #{ env: #{ PW: s.pw } });
    print(s);
    print([s.tok, #{ nested: s.pw }]);
    info(`token ${s.tok}`);
    warn(`password ${s.pw}`);
    s3::create_bucket(bucket);
    let ami = ec2::images(#{ owners: ["amazon"], name: "amzn*" })[0];
    let launched = ec2::launch(#{ image: ami, name: name, tags: #{ token: s.tok, pw: s.pw } });
    s3::put(bucket, "k/" + s.key, s.pw + s.tok);
    if s3::exists(bucket, "k/" + s.key) {
        print(`body: ${s3::get(bucket, "k/" + s.key) == s.pw + s.tok}`);
        print(`tag: ${ec2::instance(launched[0].id).tags.token == s.tok}`);
    }
    let listed = s3::list(bucket, #{ prefix: "k/" });
    print(listed);
    let found = ec2::instances(#{ tags: #{ Name: name } });
    print(found);
    ec2::terminate(launched);
    #{ secrets: s, result: r, listed: listed, instances: found }
}

fn fail_command() {
    let s = obtain();
    local::run("printf '%s\n' " + quote(s.pw) + " " + quote(s.tok) + " >&2; exit 3");
}

fn fail_throw() {
    let s = obtain();
    throw #{ token: s.tok, list: [s.pw] };
}

fn fail_aws(bucket) {
    let s = obtain();
    s3::create_bucket(bucket);
    s3::get(bucket, "missing/" + s.key);
}
"#;

/// As the SDK's trace logs show HTTP bodies (`b"..."`).
fn bytes_escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'\n' => "\\n".to_string(),
            b'\r' => "\\r".to_string(),
            b'\t' => "\\t".to_string(),
            b'"' => "\\\"".to_string(),
            b'\\' => "\\\\".to_string(),
            0x20..=0x7e => char::from(b).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect()
}

fn unquoted(quoted: &str) -> String {
    quoted[1..quoted.len() - 1].to_string()
}

/// What must not appear: every secret whole and each of its lines, as they
/// are and escaped.
fn needles() -> Vec<String> {
    let mut plain = Vec::new();
    for secret in [PROMPTED, TOKEN, KEY, ACCESS_KEY, SECRET_KEY] {
        plain.push(secret.to_string());
        plain.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    let mut all = Vec::new();
    for text in plain {
        all.push(unquoted(&serde_json::to_string(&text).unwrap()));
        all.push(unquoted(&format!("{text:?}")));
        all.push(bytes_escaped(&text));
        all.push(text);
    }
    all.sort();
    all.dedup();
    all
}

fn assert_clean(what: &str, text: &str) {
    for needle in needles() {
        assert!(
            !text.contains(&needle),
            "{what} shows the secret {needle:?}:\n{text}"
        );
    }
}

fn journal_text(state: &Path) -> String {
    let dir = state.join("opsh/journal");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read journal"))
        .collect()
}

/// Runs of the runbook sharing one journal directory; each checks its
/// own stdout and stderr.
struct Runs {
    state: tempfile::TempDir,
}

impl Runs {
    fn new() -> Self {
        Self {
            state: tempfile::tempdir().expect("state directory"),
        }
    }

    fn opsh(&self, args: &[&str]) -> common::Outcome {
        let out = Test::new()
            .lab()
            .env("XDG_STATE_HOME", self.state.path().to_str().unwrap())
            .env("OPSH_T_TOKEN", TOKEN)
            .env("OPSH_T_KEY", KEY)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .file("r.rhai", RUNBOOK)
            .args(args)
            .run();
        let shown = format!("opsh {}", args.join(" "));
        assert_clean(&format!("stdout of {shown}"), &out.stdout);
        assert_clean(&format!("stderr of {shown}"), &out.stderr);
        out
    }

    fn run(&self, function: &str, extra: &[&str]) -> common::Outcome {
        let mut args = vec!["run", "r.rhai", function];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--var", PW_VAR.as_str()]);
        self.opsh(&args)
    }

    fn journal(&self) -> String {
        journal_text(self.state.path())
    }
}

static PW_VAR: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("pw={PROMPTED}"));

#[test]
fn secrets_appear_nowhere_in_a_dry_run_or_its_plan() {
    let runs = Runs::new();
    let bucket = unique("secrets-dry");
    let name = unique("secrets-dry");
    // The bucket exists, so the dry run's reads of it go through.
    Test::new()
        .lab()
        .file("b.rhai", &format!("s3::create_bucket(\"{bucket}\");\n"))
        .args(&["run", "b.rhai"])
        .run()
        .code(0);
    let text = runs.run("use_secrets", &[&bucket, &name, "--dry-run"]);
    text.code(0)
        .stdout_has("Plan (dry run, nothing was changed)")
        .stdout_has("ec2::launch")
        .stdout_has("\"token\":\"***\"")
        .stdout_has("s3::put s3://")
        .stderr_has("plan ");
    let json = runs.run(
        "use_secrets",
        &[&bucket, &name, "--dry-run", "--output", "json"],
    );
    json.code(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let launch = plan["plan"]
        .as_array()
        .expect("a plan")
        .iter()
        .find(|step| step["action"] == "ec2::launch")
        .expect("the launch is planned");
    assert_eq!(launch["args"]["tags"]["pw"], "***", "{plan}");
    assert_eq!(plan["result"]["secrets"]["tok"], "***", "{plan}");
    assert!(runs.journal().is_empty(), "a dry run wrote a journal");
}

#[test]
fn secrets_appear_nowhere_in_a_real_run_its_journal_or_its_logs() {
    let runs = Runs::new();
    let bucket = unique("secrets-real");
    let name = unique("secrets-real");
    let text = runs.run("use_secrets", &[&bucket, &name, "--yes", "-vvv"]);
    text.code(0)
        .stdout_has("same: true")
        .stdout_has("body: true")
        .stdout_has("tag: true")
        .stdout_has("***")
        .stderr_has("local | ***")
        .stderr_has("TRACE")
        .stderr_has("RunInstances");
    let json = runs.run(
        "use_secrets",
        &[
            &bucket,
            &format!("{name}-json"),
            "--yes",
            "--output",
            "json",
        ],
    );
    json.code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(value["secrets"]["pw"], "***", "{value}");
    assert_eq!(value["result"]["stdout"], "***\n***\n", "{value}");
    assert_eq!(value["instances"][0]["tags"]["token"], "***", "{value}");

    let journal = runs.journal();
    assert!(journal.contains("\"phase\":\"finished\""), "{journal}");
    assert!(journal.contains("ec2::launch"), "{journal}");
    assert_clean("the journal", &journal);
    for view in [
        vec!["journal"],
        vec!["journal", "last"],
        vec!["journal", "last", "--output", "json"],
        vec!["journal", "last", "--teardown"],
    ] {
        runs.opsh(&view).code(0);
    }
}

#[test]
fn secrets_appear_nowhere_in_errors() {
    let runs = Runs::new();
    let bucket = unique("secrets-err");
    for format in ["text", "json"] {
        runs.run("fail_command", &["--output", format])
            .code(1)
            .stderr_has("exit code 3")
            .stderr_has("***");
        runs.run("fail_throw", &["--output", format])
            .code(1)
            .stderr_has("token");
        runs.run("fail_aws", &[&bucket, "--output", format])
            .code(1)
            .stderr_has("s3::get");
    }
    assert_clean("the journal", &runs.journal());
}
