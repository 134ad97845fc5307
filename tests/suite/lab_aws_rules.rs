//! AWS's rules for removing what is still in use, as the lab's emulator
//! enforces them (scripts/lab.d/README.md, "The emulator"): a security group
//! used by an instance that is not terminated or named by another group's
//! rule, an associated elastic IP, an attached volume, a snapshot behind an
//! image; and an instance that is shutting-down for a moment before it is
//! terminated.
//!
//! Each test creates its resources with opsh, as a user would, then checks
//! the rule twice: once with the raw EC2 call (boto3 from the lab's venv:
//! this holds whatever opsh does), once with opsh's own removal call, which
//! deals with the dependency itself as AWS requires (disassociate or detach
//! first, wait for a shutdown, revoke the rules that name a group), or
//! refuses before it changes anything, naming what is in the way. The
//! teardowns (the journal's and runbooks/teardown.rhai) then remove whole
//! systems in the order these rules impose.

use std::process::Command;

use crate::common;
use crate::common::Test;
use crate::common::lab::{lab, unique};

/// Run `script` as r.rhai in a fresh directory pointed at the lab; its
/// journal is in that directory (see `journal`).
fn run(script: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", "r.rhai"];
    all.extend_from_slice(args);
    Test::new()
        .lab()
        .env_remove("XDG_STATE_HOME")
        .file("r.rhai", script)
        .args(&all)
        .run()
}

/// The actions a run journaled, in order, as "ACTION ok" or "ACTION failed".
fn journal(out: &common::Outcome) -> Vec<String> {
    let dir = out.path(".local/state/opsh/journal");
    let mut actions = Vec::new();
    let Ok(files) = std::fs::read_dir(&dir) else {
        return actions;
    };
    for file in files {
        let text = std::fs::read_to_string(file.expect("journal entry").path()).expect("journal");
        for line in text.lines().skip(1) {
            let entry: serde_json::Value = serde_json::from_str(line).expect("journal JSON");
            if entry["phase"] == "finished" {
                let ok = if entry["ok"] == true { "ok" } else { "failed" };
                actions.push(format!("{} {ok}", entry["action"].as_str().unwrap_or("?")));
            }
        }
    }
    actions
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
fn deleting_a_group_waits_for_its_instances_to_terminate_and_names_those_that_keep_it() {
    let group = unique("rules-sg");
    let out = run(
        &format!(r#"print(ec2::ensure_security_group("{group}").id);"#),
        &[],
    );
    out.code(0);
    let sg = out.stdout.trim().to_string();
    // The lab keeps a terminated instance shutting-down for 2 s; this one for
    // 20 s, so that "right after terminate" holds however loaded the machine.
    let name = unique("rules-sg-host");
    let id = launch(
        &name,
        &format!(r#"security_groups: ["{group}"], tags: #{{ "opsh-lab:shutdown-seconds": "20" }}"#),
    );
    let dependent = format!("DependencyViolation: resource {sg} has a dependent object");
    let delete = format!(r#"ec2::delete_security_group("{sg}");"#);

    // The raw rule: a running instance keeps its group.
    assert_eq!(
        ec2_raw(
            "delete_security_group",
            serde_json::json!({ "GroupId": sg })
        ),
        dependent
    );
    // opsh refuses before it sends anything, naming the instance.
    let refused = run(&delete, &["--yes"]);
    refused
        .code(1)
        .stderr_has(&format!(
            "{sg} ({group}) is still in use by {id} ({name}, running)"
        ))
        .stderr_has("terminate the instances that use it first");
    assert!(journal(&refused).is_empty(), "{:?}", journal(&refused));

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
    // A wait bounded shorter than the shutdown ends naming the instance.
    run(
        &format!(r#"ec2::delete_security_group("{sg}", #{{ timeout: 1 }});"#),
        &["--yes"],
    )
    .code(1)
    .stderr_has(&format!("{sg} ({group}) is still in use after"))
    .stderr_has(&format!("{id} ({name}, shutting-down)"))
    .stderr_has("#{ timeout: seconds }");
    // opsh waits until the instance is terminated, then deletes the group.
    let deleted = run(
        &format!(
            r#"{delete}
            print(ec2::instance("{id}").state);
            print(ec2::security_group("{group}") == ());"#
        ),
        &["--yes"],
    );
    deleted
        .code(0)
        .stdout_is("terminated\ntrue\n")
        .stderr_has(&format!(
            "{sg} ({group}) is used by {id} shutting down: waiting until terminated"
        ))
        .stderr_has(&format!("deleted security group {sg}"));
    assert_eq!(journal(&deleted), ["ec2::delete_security_group ok"]);
}

#[test]
fn terminate_then_delete_the_group_in_one_runbook() {
    let group = unique("rules-one");
    let name = unique("rules-one-host");
    let id = launch(
        &name,
        &format!(
            r#"security_groups: [ec2::ensure_security_group("{group}")], tags: #{{ "opsh-lab:shutdown-seconds": "4" }}"#
        ),
    );
    let script = format!(
        r#"ec2::terminate("{id}");
        ec2::delete_security_group("{group}");
        print(ec2::security_group("{group}") == ());"#
    );
    // The plan: the terminate, the wait it causes, the delete.
    let plan = run(&script, &["--dry-run", "--yes"]);
    plan.code(0);
    let steps: Vec<&str> = plan
        .stdout
        .lines()
        .filter_map(|l| l.trim_start().split_once(". ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split(' ').next())
        .filter(|a| a.starts_with("ec2::"))
        .collect();
    assert_eq!(
        steps,
        [
            "ec2::terminate",
            "ec2::wait_until",
            "ec2::delete_security_group"
        ],
        "{}",
        plan.stdout
    );
    // Waited for in the runbook itself, the instance is terminated in the
    // plan, and its network interface no longer counts.
    run(
        &format!(
            r#"ec2::terminate("{id}");
            ec2::wait_until("{id}", "terminated");
            ec2::delete_security_group("{group}");"#
        ),
        &["--dry-run", "--yes"],
    )
    .code(0)
    .stdout_has("ec2::delete_security_group");
    let real = run(&script, &["--yes"]);
    real.code(0)
        .stdout_is("true\n")
        .stderr_has("waiting until terminated");
    assert_eq!(
        journal(&real),
        ["ec2::terminate ok", "ec2::delete_security_group ok"]
    );
}

#[test]
fn deleting_a_group_another_groups_rule_names_revokes_that_rule_first() {
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
    let delete = format!(r#"ec2::delete_security_group("{app}");"#);
    // The confirmation names the rule it revokes; without an answer nothing changes.
    run(&delete, &[]).code(3).stderr_has(&format!(
        "{app_id} ({app}), after revoking the rules of other groups that name it ({db_id} ({db}): tcp 5432 from {app_id})"
    ));
    // A group may name itself: that rule does not keep it alive, nor is it revoked.
    run(
        &format!(r#"ec2::authorize("{db}", #{{ port: 5433, source_group: "{db}" }});"#),
        &[],
    )
    .code(0);
    let plan = run(&delete, &["--dry-run", "--yes"]);
    plan.code(0)
        .stdout_has(&format!("ec2::revoke {db_id} ({db})"))
        .stdout_has(&format!("ec2::delete_security_group {app_id} ({app})"));
    let deleted = run(
        &format!(
            r#"{delete}
            print(ec2::security_group("{app}") == ());
            print(ec2::security_group("{db}").rules.map(|r| `${{r.port}} ${{r.source_group}}`));"#
        ),
        &["--yes"],
    );
    deleted
        .code(0)
        .stdout_is(&format!("true\n[\"5433 {db_id}\"]\n"))
        .stderr_has(&format!(
            "{db_id} ({db}) no longer allows tcp 5432 from {app_id}"
        ))
        .stderr_has(&format!("deleted security group {app_id}"));
    assert_eq!(
        journal(&deleted),
        ["ec2::revoke ok", "ec2::delete_security_group ok"]
    );
    run(
        &format!(r#"ec2::delete_security_group("{db}");"#),
        &["--yes"],
    )
    .code(0)
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

    // opsh's release_address follows the rule: its confirmation names the
    // instance, then it disassociates before it releases, each an action.
    let release = format!(
        r#"ec2::release_address("{}"); print(ec2::addresses(#{{ tags: #{{ role: "{role}" }} }}).len());"#,
        first[0]
    );
    run(&release, &[])
        .code(3)
        .stderr_has(&format!("{}, on {id}", first[1]));
    let released = run(&release, &["--yes"]);
    released
        .code(0)
        .stdout_is("0\n")
        .stderr_has(&format!("released {}", first[0]));
    assert_eq!(
        journal(&released),
        ["ec2::disassociate_address ok", "ec2::release_address ok"]
    );

    // While its instance is shutting down an address is still in use; opsh
    // releases it all the same, disassociating it first.
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
        &format!(
            r#"ec2::release_address("{}"); print(ec2::addresses(#{{ tags: #{{ role: "{role}" }} }}).len());"#,
            second[0]
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("0\n");
    terminate_and_wait(&id);
}

#[test]
fn an_attached_volume_is_detached_then_deleted() {
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
    // The confirmation says it is attached, and to what.
    run(&delete, &[]).code(3).stderr_has(&format!(
        "{volume}, attached to {id} as /dev/sdf (detached first)"
    ));
    let plan = run(&delete, &["--dry-run", "--yes"]);
    plan.code(0)
        .stdout_has(&format!("ec2::detach_volume {volume}"))
        .stdout_has(&format!("ec2::delete_volume {volume}"));
    let deleted = run(&delete, &["--yes"]);
    deleted
        .code(0)
        .stdout_is("0\n")
        .stderr_has(&format!(
            "detaching {volume} from {id}: waiting until it is available"
        ))
        .stderr_has(&format!("deleted {volume}"));
    assert_eq!(
        journal(&deleted),
        ["ec2::detach_volume ok", "ec2::delete_volume ok"]
    );
    terminate_and_wait(&id);
}

#[test]
fn a_snapshot_behind_an_image_is_refused_naming_the_image() {
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
    assert_eq!(
        ec2_raw(
            "delete_snapshot",
            serde_json::json!({ "SnapshotId": snapshot })
        ),
        format!("InvalidSnapshot.InUse: The snapshot {snapshot} is currently in use by {image}")
    );
    // opsh refuses before it asks or sends anything, naming the image.
    let refused = run(&format!(r#"ec2::delete_snapshot("{snapshot}");"#), &[]);
    refused
        .code(1)
        .stderr_has(&format!(
            "ec2::delete_snapshot: {snapshot} backs image {image} ({name})"
        ))
        .stderr_has(&format!("ec2::deregister_image([\"{image}\"])"));
    assert!(journal(&refused).is_empty(), "{:?}", journal(&refused));

    // Deregistered first (in the plan too), the snapshot goes.
    let script = format!(
        r#"ec2::deregister_image("{image}");
        ec2::delete_snapshot("{snapshot}");
        print(ec2::snapshots().filter(|s| s.id == "{snapshot}").len());"#
    );
    run(&script, &["--dry-run", "--yes"])
        .code(0)
        .stdout_has(&format!("ec2::delete_snapshot {snapshot}"));
    run(&script, &["--yes"]).code(0).stdout_is("0\n");
    terminate_and_wait(&id);
}

/// A script that builds a system with one of everything a teardown must
/// order: groups where an older one's rule names a newer one, an instance
/// in both holding an elastic IP and a data volume, an image of it, a
/// snapshot, a key pair and an S3 object; everything that takes tags is
/// tagged cluster=CLUSTER. It prints the instance id.
fn system_script(cluster: &str, public_key: &str) -> String {
    format!(
        r#"let tags = #{{ cluster: "{cluster}" }};
        ec2::import_key_pair("{cluster}", "{public_key}");
        let db = ec2::ensure_security_group("{cluster}-db");
        let app = ec2::ensure_security_group("{cluster}-app", #{{ rules: [#{{ port: 8000, cidr: "10.0.0.0/8" }}] }});
        ec2::authorize(db, #{{ port: 5432, source_group: app }});
        let ami = ec2::images(#{{ owners: ["amazon"], name: "amzn*" }})[0];
        let node = ec2::wait_until(ec2::launch(#{{ image: ami, name: "{cluster}-node", key_name: "{cluster}",
            security_groups: [app, db], tags: tags }}), "running")[0];
        ec2::associate_address(ec2::allocate_address(#{{ tags: tags }}), node);
        let data = ec2::create_volume(#{{ size: 1, zone: node.zone, tags: tags }});
        ec2::attach_volume(data, node, "/dev/sdf");
        ec2::snapshot(data, #{{ tags: tags }});
        ec2::create_image(node, #{{ name: "{cluster}-image", tags: tags }});
        s3::create_bucket("{cluster}");
        s3::put("{cluster}", "state.txt", "built");
        print(node.id);"#
    )
}

/// What is left of a system built by `system_script`, as one line.
fn left_of(cluster: &str) -> String {
    let out = run(
        &format!(
            r#"let tags = #{{ tags: #{{ cluster: "{cluster}" }} }};
            let groups = ["{cluster}-db", "{cluster}-app"].filter(|g| ec2::security_group(g) != ());
            print(`instances=${{ec2::instances(tags).len()}} addresses=${{ec2::addresses(tags).len()}} volumes=${{ec2::volumes(tags).len()}} snapshots=${{ec2::snapshots(tags).len()}} images=${{ec2::images(tags).len()}} groups=${{groups.len()}} keys=${{ec2::key_pairs().filter(|k| k.name == "{cluster}").len()}}`);"#
        ),
        &[],
    );
    out.code(0);
    out.stdout.trim().to_string()
}

fn public_key(dir: &std::path::Path) -> String {
    let key = dir.join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(made.success());
    std::fs::read_to_string(key.with_extension("pub"))
        .expect("the public key")
        .trim()
        .to_string()
}

#[test]
fn the_journals_teardown_removes_a_whole_system_in_dependency_order() {
    let cluster = unique("rules-sys");
    let keys = tempfile::tempdir().expect("a key directory");
    let home = tempfile::tempdir().expect("a HOME");
    let home_str = home.path().to_str().expect("a UTF-8 path");
    let build = Test::new()
        .lab()
        .env("HOME", home_str)
        .env_remove("XDG_STATE_HOME")
        .file("b.rhai", &system_script(&cluster, &public_key(keys.path())))
        .args(&["run", "b.rhai"])
        .run();
    build.code(0);
    assert_eq!(
        left_of(&cluster),
        "instances=1 addresses=1 volumes=2 snapshots=1 images=1 groups=2 keys=1"
    );
    let teardown = Test::new()
        .env("HOME", home_str)
        .env_remove("XDG_STATE_HOME")
        .args(&["journal", "last", "--teardown"])
        .run();
    teardown.code(0);
    let calls: Vec<&str> = teardown
        .stdout
        .lines()
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .filter_map(|l| l.split('(').next())
        .collect();
    assert_eq!(
        calls,
        [
            "ec2::terminate",
            "ec2::wait_until",
            "ec2::release_address",
            "ec2::delete_volume",
            "ec2::deregister_image",
            "ec2::delete_snapshot",
            "ec2::delete_security_group",
            "ec2::delete_security_group",
            "ec2::delete_key_pair",
            "s3::delete",
        ],
        "{}",
        teardown.stdout
    );
    // The newer group goes first: the older one's rule names it, and is
    // revoked on the way. The wait for terminated freed the address and
    // the volume.
    let undo = Test::new()
        .lab()
        .env("HOME", home_str)
        .env_remove("XDG_STATE_HOME")
        .file("undo.rhai", &teardown.stdout)
        .args(&["run", "undo.rhai", "--yes"])
        .run();
    undo.code(0)
        .stderr_has("no longer allows tcp 5432 from")
        .stderr_lacks("failed");
    // The image's own snapshot is not the run's (EC2 made it): only the
    // volumes, snapshot and image the run created are on record.
    assert_eq!(
        left_of(&cluster),
        "instances=0 addresses=0 volumes=0 snapshots=0 images=0 groups=0 keys=0"
    );
}

#[test]
fn the_teardown_runbook_removes_a_cluster_with_its_groups() {
    let cluster = unique("rules-td");
    let keys = tempfile::tempdir().expect("a key directory");
    let built = run(&system_script(&cluster, &public_key(keys.path())), &[]);
    built.code(0);
    let node = built.stdout.trim().to_string();
    // A node also in a group not named after the cluster: that group stays.
    let shared = unique("rules-shared");
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let sg = ec2::ensure_security_group("{shared}");
            ec2::wait_until(ec2::launch(#{{ image: ami, name: "{cluster}-plain", security_groups: [sg], tags: #{{ cluster: "{cluster}" }} }}), "running");
            print(sg.id);"#
        ),
        &[],
    );
    out.code(0);
    let shared_id = out.stdout.trim().to_string();
    let teardown = Test::new()
        .lab()
        .cwd(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .args(&[
            "run",
            "runbooks/teardown.rhai",
            "teardown",
            "--var",
            &format!("cluster={cluster}"),
            "--yes",
        ])
        .run();
    teardown
        .code(0)
        .stderr_has("deleted security group sg-")
        .stderr_has(&format!("({cluster}-app)"))
        .stderr_has(&format!("({cluster}-db)"))
        .stderr_has(&format!(
            "kept security group(s) [\"{shared_id}\"]: not named after cluster {cluster}"
        ))
        .stderr_has("kept 2 snapshot(s) and image(s)");
    assert_eq!(
        run(&format!(r#"print(ec2::instance("{node}").state);"#), &[]).stdout,
        "terminated\n"
    );
    // Backups stay; the rest is gone, the groups too.
    assert_eq!(
        left_of(&cluster),
        "instances=0 addresses=0 volumes=0 snapshots=1 images=1 groups=0 keys=1"
    );
    run(
        &format!(
            r#"let tags = #{{ tags: #{{ cluster: "{cluster}" }} }};
            let images = ec2::images(tags);
            let ids = images.map(|i| i.id);
            let behind = ec2::snapshots().filter(|s| type_of(s.description) == "string" && ids.some(|id| s.description.contains(id)));
            ec2::deregister_image(images);
            ec2::delete_snapshot(ec2::snapshots(tags) + behind);
            ec2::delete_key_pair("{cluster}");
            s3::delete("{cluster}", "state.txt");
            ec2::delete_security_group("{shared_id}");"#
        ),
        &["--yes"],
    )
    .code(0);
}
