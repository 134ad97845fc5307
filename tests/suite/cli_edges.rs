//! Edges of the command line: endpoint URLs that cannot work are usage
//! errors before anything runs, `--var` counts wherever it is given, and a
//! stdout whose reader has gone (as with `| head -1`) ends the output
//! quietly instead of panicking.

use std::process::Stdio;

use crate::common::Test;

const BAD_URLS: &[&str] = &["", "not a url", "ftp://x", "http://", "http://h:1/?a=b"];

#[test]
fn a_bad_endpoint_url_flag_is_a_usage_error_even_without_aws_calls() {
    for url in BAD_URLS {
        Test::new()
            .env_remove("AWS_ENDPOINT_URL")
            .file("r.rhai", "print(\"ran\");")
            .args(&["run", "r.rhai", "--endpoint-url", url])
            .run()
            .code(2)
            .stdout_lacks("ran")
            .stderr_has(&format!("--endpoint-url `{url}` is not an endpoint URL"));
    }
    // A runbook that calls AWS does not get as far as a call either.
    Test::new()
        .file("r.rhai", "print(ec2::instances());")
        .args(&["run", "r.rhai", "--endpoint-url", "not a url"])
        .run()
        .code(2)
        .stderr_lacks("ec2::instances");
}

#[test]
fn vars_before_and_after_the_subcommand_all_count() {
    Test::new()
        .file(
            "v.rhai",
            "print(`a=${param(\"a\", \"-\")} b=${param(\"b\", \"-\")} c=${param(\"c\", \"-\")}`);",
        )
        .args(&["--var", "a=1", "run", "v.rhai", "--var=b=2", "--var", "c=3"])
        .run()
        .code(0)
        .stdout_has("a=1 b=2 c=3");
}

#[test]
fn a_bad_endpoint_url_in_opsh_toml_names_the_file_and_key() {
    let out = Test::new()
        .env_remove("AWS_ENDPOINT_URL")
        .file("opsh.toml", "[aws]\nendpoint_url = \"ftp://x\"\n")
        .file("r.rhai", "print(\"ran\");")
        .args(&["run", "r.rhai"])
        .run();
    out.code(2)
        .stdout_lacks("ran")
        .stderr_has("opsh.toml: [aws] endpoint_url `ftp://x` is not an endpoint URL")
        .stderr_has("not http or https");
}

#[test]
fn a_bad_aws_endpoint_url_variable_is_a_usage_error() {
    // The SDK would drop it with a warning and send the calls to AWS.
    for url in ["", "http://"] {
        Test::new()
            .env("AWS_ENDPOINT_URL", url)
            .args(&["doc", "confirm"])
            .run()
            .code(2)
            .stdout_is("")
            .stderr_has(&format!("AWS_ENDPOINT_URL `{url}` is not an endpoint URL"));
    }
}

#[test]
fn a_good_endpoint_url_is_accepted() {
    Test::new()
        .file("r.rhai", "print(\"ran\");")
        .args(&["run", "r.rhai", "--endpoint-url", "http://127.0.0.1:4566"])
        .run()
        .code(0)
        .stdout_is("ran\n");
}

/// Run opsh with `args`, its stdout a pipe whose reading end is already
/// closed, so its first write fails with EPIPE. Returns the exit code and
/// stderr.
fn with_closed_stdout(test: &Test, args: &[&str], stdin: Stdio) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("create a pipe");
    drop(reader);
    let out = test
        .command()
        .args(args)
        .stdin(stdin)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run opsh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_output_quietly() {
    let test = Test::new();
    let state = test.path().join("state");
    let test = test
        .env("XDG_STATE_HOME", &state.display().to_string())
        .file(
            "r.rhai",
            "/// Say hello.\nfn hello() { \"hi\" }\nfor i in 0..1000 { print(`line ${i}`); }\nlocal::run(\"true\");",
        );
    // A run on record, for `opsh journal` to list.
    let recorded = test
        .command()
        .args(["run", "r.rhai"])
        .stdout(Stdio::null())
        .status()
        .expect("run opsh");
    assert!(recorded.success(), "the setup run failed: {recorded}");
    let cases: &[&[&str]] = &[
        &["doc"],
        &["doc", "ec2::"],
        &["doc", "confirm"],
        &["doc", "--output", "json"],
        &["list", "r.rhai"],
        &["journal"],
        &["journal", "last"],
        &["journal", "last", "--teardown"],
        &["completions", "bash"],
        &["--help"],
        &["run", "r.rhai"],
        &["run", "r.rhai", "hello"],
    ];
    for args in cases {
        let (code, stderr) = with_closed_stdout(&test, args, Stdio::null());
        assert_eq!(
            (code, stderr.as_str()),
            (0, ""),
            "`opsh {}` into a closed pipe",
            args.join(" ")
        );
    }
    let (reader, mut writer) = std::io::pipe().expect("create a pipe");
    std::io::Write::write_all(&mut writer, b"1 + 1\n").expect("write stdin");
    drop(writer);
    let (code, stderr) = with_closed_stdout(&test, &["repl"], Stdio::from(reader));
    assert_eq!(
        (code, stderr.as_str()),
        (0, ""),
        "`opsh repl` into a closed pipe"
    );
}
