//! The safety net end to end against the lab: one runbook that creates a
//! security group, launches, tags, runs a remote command, writes S3 and
//! terminates — planned by a dry run that changes nothing, journaled by the
//! real run, undone by the teardown the journal writes.

use std::path::Path;

use crate::common::Test;
use crate::common::lab::{lab, unique};

const SCENARIO: &str = r#"
fn build(tag) {
    let token = secret(env("OPSH_T_TOKEN"));
    let sg = ec2::ensure_security_group(`${tag}-web`, #{ description: "web", rules: [#{ port: 80, cidr: "0.0.0.0/0" }] });
    let inst = ec2::launch(#{ image: "ami-12c6146b", type: "t3.micro", name: `${tag}-node`, security_groups: [sg], tags: #{ suite: tag } });
    inst = ec2::wait_until(inst, "running");
    ec2::tag(inst, #{ stage: "checked" });
    let host = ssh::connect(inst[0]);
    host.run(`echo ${tag} ${token} >> opsh-safety-marker`);
    s3::put(tag, "state.txt", "built");
    ec2::terminate(inst);
}
"#;

/// What SCENARIO does, in order: the group is created, then its rule
/// authorized (two steps).
const ACTIONS: [&str; 7] = [
    "ec2::ensure_security_group",
    "ec2::ensure_security_group",
    "ec2::launch",
    "ec2::tag",
    "ssh::run",
    "s3::put",
    "ec2::terminate",
];

/// What the emulator and the lab hosts hold for `tag`, as one line.
fn world(home: &Path, tag: &str) -> String {
    let out = Test::new()
        .lab()
        .env("HOME", home.to_str().unwrap())
        .file(
            "q.rhai",
            &format!(
                r#"
let sg = ec2::security_group("{tag}-web");
let live = ec2::instances(#{{ tags: #{{ suite: "{tag}" }}, state: "running" }});
print(`sg=${{sg != ()}} running=${{live.len()}} object=${{s3::exists("{tag}", "state.txt")}}`);
"#
            ),
        )
        .args(&["run", "q.rhai"])
        .run();
    out.code(0);
    let hosts = Path::new(lab().var("OPSH_LAB_DIR")).join("hosts");
    let marked = std::fs::read_dir(hosts)
        .unwrap()
        .filter_map(|h| {
            std::fs::read_to_string(h.ok()?.path().join("home/opsh-safety-marker")).ok()
        })
        .any(|text| text.contains(tag));
    format!("{} marker={marked}", out.stdout.trim())
}

fn journal_text(home: &Path) -> String {
    let dir = home.join(".local/state/opsh/journal");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn plan_then_journal_then_teardown() {
    let tag = unique("safety");
    let token = format!("tok-{}", unique("s"));
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "r.rhai", "build", tag.as_str()];
        args.extend_from_slice(extra);
        Test::new()
            .lab()
            .env("HOME", home_str)
            .env("OPSH_T_TOKEN", &token)
            .file("r.rhai", SCENARIO)
            .args(&args)
            .run()
    };
    Test::new()
        .lab()
        .file("b.rhai", &format!("s3::create_bucket(\"{tag}\");\n"))
        .args(&["run", "b.rhai"])
        .run()
        .code(0);
    let before = world(home.path(), &tag);
    assert_eq!(before, "sg=false running=0 object=false marker=false");

    let plan = run(&["--dry-run"]);
    plan.code(0).stdout_lacks(&token).stderr_lacks(&token);
    let steps: Vec<&str> = plan
        .stdout
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split_once(". ")
                .map(|(_, rest)| rest.split(' ').next().unwrap_or_default())
        })
        .collect();
    // The plan shows the confirmation in front of the terminate, and the
    // wait for the running state its launch causes (satisfied at once).
    let mut planned: Vec<&str> = ACTIONS.to_vec();
    planned.insert(ACTIONS.len() - 1, "confirm");
    let launch = planned
        .iter()
        .position(|a| *a == "ec2::launch")
        .expect("the scenario launches");
    planned.insert(launch + 1, "ec2::wait_until");
    assert_eq!(steps, planned, "{}", plan.stdout);
    assert_eq!(
        world(home.path(), &tag),
        before,
        "the dry run changed something"
    );
    assert!(
        journal_text(home.path()).is_empty(),
        "a dry run wrote a journal"
    );

    let real = run(&["--yes"]);
    real.code(0).stdout_lacks(&token).stderr_lacks(&token);
    assert_eq!(
        world(home.path(), &tag),
        "sg=true running=0 object=true marker=true"
    );
    let journal = journal_text(home.path());
    assert!(!journal.contains(&token), "the secret reached the journal");
    let entries: Vec<serde_json::Value> = journal
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["phase"] == "finished")
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ACTIONS);
    assert!(entries.iter().all(|e| e["ok"] == true), "{journal}");
    let launched = entries[2]["result"]["created"][0]["id"].as_str().unwrap();
    assert!(launched.starts_with("i-"), "{journal}");
    assert_eq!(entries[6]["result"]["removed"][0]["id"], launched);

    let teardown = Test::new()
        .env("HOME", home_str)
        .args(&["journal", "last", "--teardown"])
        .run();
    teardown.code(0);
    assert!(
        !teardown.stdout.contains("ec2::terminate"),
        "{}",
        teardown.stdout
    );
    assert!(
        teardown.stdout.contains("ec2::delete_security_group("),
        "{}",
        teardown.stdout
    );
    assert!(
        teardown.stdout.contains("s3::delete("),
        "{}",
        teardown.stdout
    );
    Test::new()
        .lab()
        .env("HOME", home_str)
        .file("undo.rhai", &teardown.stdout)
        .args(&["run", "undo.rhai", "--yes"])
        .run()
        .code(0);
    assert_eq!(
        world(home.path(), &tag),
        "sg=false running=0 object=false marker=true"
    );
}

#[test]
fn aws_credentials_never_reach_the_logs() {
    let out = Test::new()
        .lab()
        .env("AWS_ACCESS_KEY_ID", "AKIAOPSHTESTKEY0001")
        .env("AWS_SECRET_ACCESS_KEY", "opsh-test-secret-0001")
        .file(
            "r.rhai",
            "ec2::instances(#{ tags: #{ role: \"none\" } });\ns3::buckets();\n",
        )
        .args(&["run", "r.rhai", "-vvv"])
        .run();
    out.code(0)
        .stderr_has("DescribeInstances")
        .stderr_lacks("AKIAOPSHTESTKEY0001")
        .stderr_lacks("opsh-test-secret-0001");
}
