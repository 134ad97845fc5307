//! AWS faults a user meets: an endpoint that never answers, settings that
//! cannot work, no credentials at all, and secrets the SDK sends
//! URL-encoded. Each run is bounded: a fault that hangs fails the test.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::Test;
use crate::common::lab::{lab, unique};

/// Far above what the small timeouts below need; reached only by a hang.
const HANG: Duration = Duration::from_secs(90);

/// Variables that could hand opsh credentials or settings from the
/// environment the tests run in.
const AWS_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

fn without_aws_env(mut test: Test) -> Test {
    for key in AWS_ENV {
        test = test.env_remove(key);
    }
    test
}

/// A TCP endpoint on loopback that accepts connections and never answers.
/// It holds what it accepted until dropped, and stops by itself after a
/// while in any case.
struct MuteEndpoint {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MuteEndpoint {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + HANG + HANG;
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline && held.len() < 1000
            {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for MuteEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn against_mute_endpoint(endpoint: &MuteEndpoint, script: &str) -> common::Outcome {
    without_aws_env(Test::new())
        .env("AWS_ACCESS_KEY_ID", "AKIDFAULTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "fault-test-secret-key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint.url)
        .file(
            "opsh.toml",
            "[aws]\ntimeout = 1\nconnect_timeout = 1\nmax_attempts = 2\n",
        )
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .run_within(HANG)
}

#[test]
fn a_mute_endpoint_fails_ec2_calls_naming_the_call_and_endpoint() {
    let endpoint = MuteEndpoint::start();
    against_mute_endpoint(&endpoint, "print(ec2::instances().len());")
        .code(1)
        .stdout_is("")
        .stderr_has("ec2::instances failed")
        .stderr_has(&format!("no answer from {}", endpoint.url))
        .stderr_has("within 1 s")
        .stderr_has("`timeout` under [aws]");
}

#[test]
fn a_mute_endpoint_fails_s3_calls_naming_the_call_and_endpoint() {
    let endpoint = MuteEndpoint::start();
    against_mute_endpoint(&endpoint, "print(s3::buckets());")
        .code(1)
        .stdout_is("")
        .stderr_has("s3::buckets failed")
        .stderr_has(&format!("no answer from {}", endpoint.url));
}

#[test]
fn a_mute_endpoint_fails_an_upload_naming_the_limit_it_had() {
    // 128 KiB at the slowest rate allowed (64 KiB/s) adds 2 s to `timeout`.
    let endpoint = MuteEndpoint::start();
    let script = r#"s3::upload("b", "k", "data.bin");"#;
    without_aws_env(Test::new())
        .env("AWS_ACCESS_KEY_ID", "AKIDFAULTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "fault-test-secret-key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint.url)
        .file("opsh.toml", "[aws]\ntimeout = 1\nmax_attempts = 1\n")
        .file("data.bin", &"x".repeat(128 * 1024))
        .file("r.rhai", script)
        .args(&["run", "r.rhai"])
        .run_within(HANG)
        .code(1)
        .stderr_has("s3::upload (s3://b/k) failed")
        .stderr_has(&format!(
            "no answer from {} within 3 s (the attempt timeout of 1 s, \
             plus 1 s per 64 KiB of its 128 KiB of object data)\n",
            endpoint.url
        ));
}

#[test]
fn aws_timeouts_out_of_range_are_usage_errors() {
    for key in ["timeout", "connect_timeout"] {
        for value in ["0", "-1", "nan", "inf", "1e300", "\"soon\""] {
            Test::new()
                .file("opsh.toml", &format!("[aws]\n{key} = {value}\n"))
                .file("r.rhai", "print(\"ran\");")
                .args(&["run", "r.rhai"])
                .run_within(HANG)
                .code(2)
                .stdout_lacks("ran")
                .stderr_has("opsh.toml")
                .stderr_has(key);
        }
    }
}

#[test]
fn aws_timeouts_in_range_are_accepted() {
    Test::new()
        .file("opsh.toml", "[aws]\ntimeout = 2.5\nconnect_timeout = 3\n")
        .file("r.rhai", "print(\"ran\");")
        .args(&["run", "r.rhai"])
        .run_within(HANG)
        .code(0)
        .stdout_is("ran\n");
}

#[test]
fn no_credentials_says_so_and_how_to_provide_them() {
    let out = without_aws_env(Test::new())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", lab().var("AWS_ENDPOINT_URL"))
        .file("r.rhai", "print(ec2::instances().len());")
        .args(&["run", "r.rhai"])
        .run_within(HANG);
    out.code(1)
        .stderr_has("ec2::instances failed: no AWS credentials were found")
        .stderr_has("AWS_PROFILE")
        .stderr_has("`aws configure`")
        .stderr_has("`aws sso login`")
        .stderr_has("an instance with an IAM role")
        .stderr_lacks("could not be reached")
        .stderr_lacks("WARN");
    // Debug dumps of SDK structures read `Name { field: ... }` or `Variant(...)`.
    assert!(
        !out.stderr.contains('{') && !out.stderr.contains("CredentialsNotLoaded"),
        "stderr shows SDK structures:\n{}",
        out.stderr
    );
}

/// Every way the secret could travel: raw, percent-encoded throughout, with
/// `/` kept (an S3 key in a URL path), and form-encoded.
fn forms_of(secret: &str) -> Vec<String> {
    let encode = |keep_slash: bool, space: &str| {
        secret
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                b'/' if keep_slash => "/".to_string(),
                b' ' => space.to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    vec![
        secret.to_string(),
        encode(false, "%20"),
        encode(true, "%20"),
        encode(false, "+"),
    ]
}

#[test]
fn a_secret_in_an_s3_key_is_hidden_raw_and_url_encoded() {
    let bucket = unique("opsh-redact");
    let secret = "Zq/9+x=y Wv-s3cr3t";
    // moto answers NoSuchKey with the key in its body; the SDK's trace logs
    // show the request path with the key URL-encoded.
    let out = Test::new()
        .lab()
        .file(
            "r.rhai",
            &format!(
                r#"
                let pw = prompt("password", #{{ secret: true, key: "pw" }});
                s3::create_bucket("{bucket}");
                s3::get("{bucket}", pw);
                "#
            ),
        )
        .args(&["run", "r.rhai", "-vvv", "--var", &format!("pw={secret}")])
        .run_within(HANG);
    out.code(1)
        .stderr_has("NoSuchKey")
        .stderr_has(&format!("s3::get (s3://{bucket}/***) failed"));
    for form in forms_of(secret) {
        out.stdout_lacks(&form).stderr_lacks(&form);
    }
}
