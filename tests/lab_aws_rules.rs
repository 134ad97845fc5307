//! AWS's rules for removing what is still in use, as the lab's emulator
//! enforces them (scripts/lab.d/README.md, "The emulator"): a security group
//! used by an instance that is not terminated or named by another group's
//! rule, an associated elastic IP, an attached volume, a snapshot behind an
//! image; and an instance that is shutting-down for a moment before it is
//! terminated.
//!
//! Each test creates its resources with opsh, as a user would, then checks
//! the rule twice: once with the raw EC2 call (boto3 from the lab's venv:
//! this holds whatever opsh does), once with opsh's own removal call. The
//! opsh assertions marked TODAY describe opsh as it is, where the call sends
//! the removal and fails with AWS's error; once that call handles the
//! dependency itself (detach first, wait for a shutdown, revoke the rules
//! that name a group), those assertions flip to success and the raw ones
//! keep proving the rule. After the dependency is gone, the same opsh call
//! succeeds.

mod common;

use std::process::Command;

use common::Test;
use common::lab::{lab, unique};

/// Run `script` as r.rhai in a fresh directory pointed at the lab.
fn run(script: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", "r.rhai"];
    all.extend_from_slice(args);
    Test::new().lab().file("r.rhai", script).args(&all).run()
}

/// Rhai that sets `ami` to one of the emulator's stock images.
const STOCK_IMAGE: &str = r#"let ami = ec2::images(#{ owners: ["amazon"], name: "amzn*" })[0];"#;

/// The lines a run printed, for the ids a script reports.
fn lines(out: &common::Outcome) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// Call EC2 directly, bypassing opsh: boto3's `client.<op>(**params)`
/// against the lab. Returns "ok", or "Code: Message" as AWS would answer.
fn ec2_raw(op: &str, params: serde_json::Value) -> String {
    const CALL: &str = r#"
import json, sys, boto3
from botocore.exceptions import ClientError
try:
    getattr(boto3.client("ec2"), sys.argv[1])(**json.loads(sys.argv[2]))
    print("ok")
except ClientError as e:
    print(e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"])
"#;
    let lab = lab();
    let python = format!("{}/bin/python3", lab.var("OPSH_LAB_VENV"));
    let out = Command::new(&python)
        .args(["-I", "-c", CALL, op, &params.to_string()])
        .envs(&lab.env)
        .output()
        .expect("run the lab venv's python");
    assert!(
        out.status.success(),
        "{python} {op} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Launch a running instance named `name`, with more launch options
/// (`key: value, ...`) if any; its id.
fn launch(name: &str, options: &str) -> String {
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let i = ec2::wait_until(ec2::launch(#{{ image: ami, name: "{name}", {options} }}), "running")[0];
            print(i.id);"#
        ),
        &[],
    );
    out.code(0);
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("i-"), "{id}");
    id
}

/// Terminate `id` and wait (bounded) until it is terminated.
fn terminate_and_wait(id: &str) {
    run(
        &format!(
            r#"ec2::terminate("{id}"); print(ec2::wait_until("{id}", "terminated", #{{ timeout: 60 }}).state);"#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("terminated\n");
}

#[test]
fn deleting_a_group_right_after_terminate_fails_until_the_instance_is_terminated() {
    let group = unique("rules-sg");
    let out = run(
        &format!(r#"print(ec2::ensure_security_group("{group}").id);"#),
        &[],
    );
    out.code(0);
    let sg = out.stdout.trim().to_string();
    // The lab keeps a terminated instance shutting-down for 2 s; this one for
    // 20 s, so that "right after terminate" holds however loaded the machine.
    let id = launch(
        &unique("rules-sg-host"),
        &format!(r#"security_groups: ["{group}"], tags: #{{ "opsh-lab:shutdown-seconds": "20" }}"#),
    );
    let dependent = format!("DependencyViolation: resource {sg} has a dependent object");

    // The raw rule: a running instance keeps its group.
    assert_eq!(
        ec2_raw(
            "delete_security_group",
            serde_json::json!({ "GroupId": sg })
        ),
        dependent
    );

    // The old teardown order: terminate, then at once delete the group.
    run(
        &format!(r#"ec2::terminate("{id}"); print(ec2::instance("{id}").state);"#),
        &["--yes"],
    )
    .code(0)
    .stdout_is("shutting-down\n");
    // The raw rule: a shutting-down instance still keeps its group.
    assert_eq!(
        ec2_raw(
            "delete_security_group",
            serde_json::json!({ "GroupId": sg })
        ),
        dependent
    );
    // TODAY: opsh sends the delete at once and fails as AWS does.
    run(
        &format!(r#"ec2::delete_security_group("{sg}");"#),
        &["--yes"],
    )
    .code(1)
    .stderr_has("ec2::delete_security_group")
    .stderr_has(&dependent);

    // Once the instance is terminated, the same call succeeds.
    run(
        &format!(
            r#"print(ec2::wait_until("{id}", "terminated", #{{ timeout: 60 }}).state);
            ec2::delete_security_group("{sg}");
            print(ec2::security_group("{group}") == ());"#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("terminated\ntrue\n")
    .stderr_has(&format!("deleted security group {sg}"));
}

#[test]
fn deleting_a_group_another_groups_rule_names_fails_until_the_rule_is_revoked() {
    let app = unique("rules-app");
    let db = unique("rules-db");
    let out = run(
        &format!(
            r#"let app = ec2::ensure_security_group("{app}");
            let db = ec2::ensure_security_group("{db}", #{{ rules: [#{{ port: 5432, source_group: "{app}" }}] }});
            print(app.id);
            print(db.id);"#
        ),
        &[],
    );
    out.code(0);
    let ids = lines(&out);
    let (app_id, db_id) = (&ids[0], &ids[1]);
    let dependent = format!("DependencyViolation: resource {app_id} has a dependent object");

    assert_eq!(
        ec2_raw(
            "delete_security_group",
            serde_json::json!({ "GroupId": app_id })
        ),
        dependent
    );
    // TODAY: opsh deletes the group without revoking the rule that names it.
    run(
        &format!(r#"ec2::delete_security_group("{app}");"#),
        &["--yes"],
    )
    .code(1)
    .stderr_has(&dependent);
    // A group may name itself: that rule does not keep it alive.
    run(
        &format!(
            r#"ec2::authorize("{db}", #{{ port: 5433, source_group: "{db}" }});
            ec2::revoke("{db}", #{{ port: 5432, source_group: "{app}" }});
            ec2::delete_security_group("{app}");
            ec2::delete_security_group("{db}");
            print(ec2::security_group("{app}") == () && ec2::security_group("{db}") == ());"#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("true\n")
    .stderr_has(&format!("deleted security group {app_id}"))
    .stderr_has(&format!("deleted security group {db_id}"));
}

#[test]
fn an_associated_address_is_released_only_after_it_is_disassociated() {
    let role = unique("rules-eip");
    // Shutting-down for 10 s (the lab's default is 2 s): still so when the raw
    // release below arrives, however loaded the machine.
    let id = launch(
        &unique("rules-eip-host"),
        r#"tags: #{ "opsh-lab:shutdown-seconds": "10" }"#,
    );
    let associate = format!(
        r#"let a = ec2::associate_address(ec2::allocate_address(#{{ tags: #{{ role: "{role}" }} }}), "{id}");
        print(a.allocation_id);
        print(a.ip);"#
    );
    let out = run(&associate, &[]);
    out.code(0);
    let first = lines(&out);
    assert_eq!(
        ec2_raw(
            "release_address",
            serde_json::json!({ "AllocationId": first[0] })
        ),
        format!("InvalidIPAddress.InUse: Address {} is in use.", first[1])
    );

    // opsh's release_address already follows the rule: its confirmation
    // names the instance, then it disassociates before it releases.
    let release = format!(
        r#"ec2::release_address("{}"); print(ec2::addresses(#{{ tags: #{{ role: "{role}" }} }}).len());"#,
        first[0]
    );
    run(&release, &[])
        .code(3)
        .stderr_has(&format!("{}, on {id}", first[1]));
    run(&release, &["--yes"])
        .code(0)
        .stdout_is("0\n")
        .stderr_has(&format!("released {}", first[0]));

    // Terminating the instance detaches its address, once terminated: while
    // it is shutting-down the address is still in use.
    let out = run(&associate, &[]);
    out.code(0);
    let second = lines(&out);
    run(&format!(r#"ec2::terminate("{id}");"#), &["--yes"]).code(0);
    assert_eq!(
        ec2_raw(
            "release_address",
            serde_json::json!({ "AllocationId": second[0] })
        ),
        format!("InvalidIPAddress.InUse: Address {} is in use.", second[1])
    );
    run(
        &format!(r#"print(ec2::wait_until("{id}", "terminated", #{{ timeout: 60 }}).state);"#),
        &[],
    )
    .code(0)
    .stdout_is("terminated\n");
    assert_eq!(
        ec2_raw(
            "release_address",
            serde_json::json!({ "AllocationId": second[0] })
        ),
        "ok"
    );
}

#[test]
fn an_attached_volume_is_deleted_only_once_its_instance_is_terminated() {
    let role = unique("rules-vol");
    let id = launch(&unique("rules-vol-host"), "");
    let out = run(
        &format!(
            r#"let i = ec2::instance("{id}");
            let v = ec2::create_volume(#{{ size: 1, zone: i.zone, tags: #{{ role: "{role}" }} }});
            print(ec2::attach_volume(v, i, "/dev/sdf").id);"#
        ),
        &[],
    );
    out.code(0);
    let volume = out.stdout.trim().to_string();
    let in_use = format!("VolumeInUse: Volume {volume} is currently attached to {id}");
    assert_eq!(
        ec2_raw("delete_volume", serde_json::json!({ "VolumeId": volume })),
        in_use
    );
    let delete = format!(
        r#"ec2::delete_volume("{volume}"); print(ec2::volumes(#{{ tags: #{{ role: "{role}" }} }}).len());"#
    );
    // TODAY: opsh deletes without detaching first.
    run(&delete, &["--yes"]).code(1).stderr_has(&in_use);

    // A terminated instance's volumes are detached: the same call succeeds.
    terminate_and_wait(&id);
    run(&delete, &["--yes"])
        .code(0)
        .stdout_is("0\n")
        .stderr_has(&format!("deleted {volume}"));
}

#[test]
fn a_snapshot_behind_an_image_is_deleted_only_after_the_image_is_deregistered() {
    let name = unique("rules-img");
    let id = launch(&unique("rules-img-host"), "");
    let out = run(
        &format!(
            r#"let img = ec2::create_image("{id}", #{{ name: "{name}" }});
            let behind = ec2::snapshots().filter(|s| type_of(s.description) == "string" && s.description.contains(img.id));
            print(img.id);
            print(behind.len());
            print(behind[0].id);"#
        ),
        &[],
    );
    out.code(0);
    let printed = lines(&out);
    let (image, snapshot) = (&printed[0], &printed[2]);
    assert_eq!(printed[1], "1", "{}", out.stdout);
    let in_use =
        format!("InvalidSnapshot.InUse: The snapshot {snapshot} is currently in use by {image}");
    assert_eq!(
        ec2_raw(
            "delete_snapshot",
            serde_json::json!({ "SnapshotId": snapshot })
        ),
        in_use
    );
    // opsh's call fails and names the image that uses the snapshot (AWS's
    // message does; opsh must keep saying it).
    run(
        &format!(r#"ec2::delete_snapshot("{snapshot}");"#),
        &["--yes"],
    )
    .code(1)
    .stderr_has("ec2::delete_snapshot")
    .stderr_has(&in_use);

    run(
        &format!(
            r#"ec2::deregister_image("{image}");
            ec2::delete_snapshot("{snapshot}");
            print(ec2::snapshots().filter(|s| s.id == "{snapshot}").len());"#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("0\n");
    terminate_and_wait(&id);
}
