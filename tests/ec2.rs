//! `ec2::` against the lab's EC2 emulator: images, launch and wait,
//! idempotence, security groups, elastic IPs, volumes, snapshots, key
//! pairs, confirmations and dry runs. Every test tags or names what it
//! creates with its own unique() value and looks only at that.

mod common;

use common::Test;
use common::lab::unique;

/// Run `script` as r.rhai in a fresh directory pointed at the lab.
fn run(script: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", "r.rhai"];
    all.extend_from_slice(args);
    Test::new().lab().file("r.rhai", script).args(&all).run()
}

/// Rhai that sets `ami` to one of the emulator's stock images.
const STOCK_IMAGE: &str = r#"let ami = ec2::images(#{ owners: ["amazon"], name: "amzn*" })[0];"#;

/// Rhai that waits (bounded) until the clock is in a later second than when
/// it began: what is created after it has a later time stamp than what was
/// created before.
const NEXT_SECOND: &str = r#"let second = now(); let polls = 0;
            while now() == second { polls += 1; if polls > 100 { throw "the clock stood still"; } sleep(0.05); }"#;

/// Launch a running instance tagged `role` and named `name`; prints its id.
fn launch_running(name: &str, role: &str) -> String {
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let i = ec2::wait_until(ec2::launch(#{{ image: ami, name: "{name}", tags: #{{ role: "{role}" }} }}), "running");
            print(i[0].id);"#
        ),
        &[],
    );
    out.code(0);
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("i-"), "{id}");
    id
}

/// The state of instance `id`, as ec2::instance sees it.
fn state_of(id: &str) -> String {
    let out = run(&format!("print(ec2::instance(\"{id}\").state);"), &[]);
    out.code(0);
    out.stdout.trim().to_string()
}

#[test]
fn find_image_by_role_tag_returns_the_newest() {
    let role = unique("img");
    let name = unique("img-src");
    launch_running(&name, &role);
    run(
        &format!(
            r#"
            let i = ec2::instances(#{{ tags: #{{ Name: "{name}" }} }})[0];
            let older = ec2::create_image(i, #{{ name: "{role}-old", tags: #{{ role: "{role}" }} }});
            {NEXT_SECOND}  // creation times have a resolution of one second
            let newer = ec2::create_image(i, #{{ name: "{role}-new", tags: #{{ role: "{role}", build: "2" }} }});
            let found = ec2::find_image(#{{ tags: #{{ role: "{role}" }} }});
            print(found.id == newer.id);
            print(found.name);
            print(found.tags.build);
            print(newer.tags.role == "{role}");
            let all = ec2::images(#{{ tags: #{{ role: "{role}" }} }});
            print(all.map(|x| x.name));
            print(ec2::images(#{{ tags: #{{ role: "{role}" }}, name: "*-old" }}).len());
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is(&format!(
        "true\n{role}-new\n2\ntrue\n[\"{role}-new\", \"{role}-old\"]\n1\n"
    ));
    run(
        &format!("ec2::find_image(#{{ tags: #{{ role: \"{role}-none\" }} }});"),
        &[],
    )
    .code(1)
    .stderr_has("ec2::find_image: no available image in us-east-1 matches owners self; tags role=");
}

#[test]
fn launch_wait_and_list_round_trip() {
    let role = unique("web");
    let name = unique("web-1");
    run(
        &format!(
            r##"{STOCK_IMAGE}
            let sg = ec2::ensure_security_group("{role}", #{{ rules: [#{{ port: 22, cidr: "10.0.0.0/8" }}] }});
            let launched = ec2::launch(#{{ image: ami, type: "t3.small", name: "{name}", volume_size: 12,
                security_groups: ["{role}"], tags: #{{ role: "{role}", env: "test" }},
                user_data: "#!/bin/sh\necho ready\n" }});
            print(type_of(launched));
            let one = ec2::wait_until(launched[0], "running", #{{ timeout: 60 }});
            print(type_of(one));
            let many = ec2::wait_until(launched, "running");
            print(type_of(many) + " " + many.len());
            let found = ec2::instances(#{{ tags: #{{ role: "{role}" }}, state: "running" }});
            print(found.len());
            let i = found[0];
            print(i.id == launched[0].id);
            print(i.state + " " + i.type + " " + i.tags.Name + " " + i.tags.env);
            print(i.image == ami.id);
            print(i.private_ip != () && i.launch_time != ());
            print(ec2::user_data(i));
            print(ec2::instances(#{{ tags: #{{ role: "{role}" }}, state: "stopped" }}).len());
            print(ec2::instances(#{{ tags: #{{ role: ["{role}", "other"], env: () }} }}).len());
            print(ec2::instance(i.id).id == i.id);
            print(i.security_groups == [sg.id]);
            print(ec2::volumes(#{{ instance: i }}).map(|v| v.size + " " + v.tags.Name));
            ec2::tag(i, #{{ stage: "blue" }});
            print(ec2::instance(i.id).tags.stage);
            ec2::untag(i.id, ["stage"]);
            print("stage" in ec2::instance(i.id).tags);
            "##
        ),
        &[],
    )
    .code(0)
    .stdout_is(&format!(
        "array\nInstance\narray 1\n1\ntrue\nrunning t3.small {name} test\ntrue\ntrue\n#!/bin/sh\necho ready\n\n0\n1\ntrue\ntrue\n[\"12 {name}\"]\nblue\nfalse\n"
    ));
}

#[test]
fn launch_with_a_name_is_idempotent() {
    let role = unique("db");
    let name = unique("db-1");
    let first = launch_running(&name, &role);
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let again = ec2::launch(#{{ image: ami, name: "{name}", tags: #{{ role: "{role}" }} }});
            print(again.map(|i| i.id));
            print(ec2::instances(#{{ tags: #{{ Name: "{name}" }} }}).len());
            "#
        ),
        &[],
    );
    out.code(0)
        .stdout_is(&format!("[\"{first}\"]\n1\n"))
        .stderr_has(&format!("reused {first}"));
}

#[test]
fn ensure_security_group_twice_changes_nothing_the_second_time() {
    let app = unique("app");
    let db = unique("db");
    let script = format!(
        r#"
        let app = ec2::ensure_security_group("{app}", #{{ rules: [#{{ port: 80, cidr: "0.0.0.0/0" }}] }});
        let db = ec2::ensure_security_group("{db}", #{{
            description: "database",
            rules: [
                #{{ port: 5432, source_group: "{app}" }},
                #{{ protocol: "tcp", from_port: 9000, to_port: 9100, cidr: "10.0.0.0/8" }},
            ],
        }});
        print(db.id + " " + db.name + " " + db.description);
        print(db.rules.len());
        for r in db.rules {{
            if r.source_group != () {{ print(r.source_group == app.id); print(r.port); }}
            else {{ print(r.cidr + " " + r.from_port + "-" + r.to_port + " " + r.protocol); }}
        }}
        "#
    );
    let first = run(&script, &[]);
    first
        .code(0)
        .stderr_has("created security group")
        .stderr_has("now allows");
    let second = run(&script, &[]);
    second
        .code(0)
        .stderr_lacks("created security group")
        .stderr_lacks("now allows");
    assert_eq!(first.stdout, second.stdout, "the group changed");
    // Rules come sorted by protocol and port.
    assert!(
        second
            .stdout
            .ends_with(" database\n2\ntrue\n5432\n10.0.0.0/8 9000-9100 tcp\n"),
        "{}",
        second.stdout
    );
    run(
        &format!(
            r#"
            print(ec2::security_group("{db}").rules.len());
            print(ec2::security_group("{db}-missing") == ());
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is("2\ntrue\n");
    let prune = format!(
        r#"print(ec2::ensure_security_group("{db}", #{{ rules: [#{{ port: 5432, source_group: "{app}" }}], prune: true }}).rules.len());"#
    );
    run(&prune, &[])
        .code(3)
        .stderr_has("tcp 9000-9100 from 10.0.0.0/8");
    run(&prune, &["--yes"])
        .code(0)
        .stdout_is("1\n")
        .stderr_has("no longer allows tcp 9000-9100 from 10.0.0.0/8");
}

#[test]
fn authorize_then_revoke_with_a_confirmation() {
    let web = unique("web");
    run(
        &format!(
            r#"
            ec2::ensure_security_group("{web}");
            let g = ec2::authorize("{web}", #{{ port: 443, cidr: "0.0.0.0/0" }});
            let g = ec2::authorize(g, #{{ port: 443, cidr: "0.0.0.0/0" }});
            print(g.rules);
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is(
        "[#{\"cidr\": \"0.0.0.0/0\", \"from_port\": 443, \"port\": 443, \"protocol\": \"tcp\", \"source_group\": (), \"to_port\": 443}]\n",
    );
    let revoke = format!(
        "print(ec2::revoke(\"{web}\", #{{ port: 443, cidr: \"0.0.0.0/0\" }}).rules.len());"
    );
    run(&revoke, &[])
        .code(3)
        .stderr_has("revoke sg-")
        .stderr_has("tcp 443 from 0.0.0.0/0");
    run(&revoke, &["--yes"]).code(0).stdout_is("0\n");
}

#[test]
fn elastic_ip_allocate_associate_release() {
    let role = unique("eip");
    let name = unique("eip-host");
    let id = launch_running(&name, &role);
    run(
        &format!(
            r#"
            let a = ec2::allocate_address(#{{ tags: #{{ role: "{role}" }} }});
            print(a.instance == ());
            let a = ec2::associate_address(a, "{id}");
            print(a.instance);
            print(ec2::instance("{id}").public_ip == a.ip);
            print(ec2::addresses(#{{ tags: #{{ role: "{role}" }} }}).map(|x| x.allocation_id) == [a.allocation_id]);
            print(ec2::addresses(#{{ instance: "{id}" }}).len());
            ec2::release_address(a);
            print(ec2::addresses(#{{ tags: #{{ role: "{role}" }} }}).len());
            "#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is(&format!("true\n{id}\ntrue\ntrue\n1\n0\n"))
    .stderr_has("released eipalloc-");
}

#[test]
fn volume_create_attach_detach() {
    let role = unique("vol");
    let name = unique("vol-host");
    let id = launch_running(&name, &role);
    run(
        &format!(
            r#"
            let i = ec2::instance("{id}");
            let v = ec2::create_volume(#{{ size: 4, zone: i.zone, tags: #{{ data: "{role}", Name: "data" }} }});
            print(v.state + " " + v.size + " " + (v.zone == i.zone));
            let v = ec2::attach_volume(v, i, "/dev/sdf");
            print(v.state + " " + v.device + " " + v.instance);
            print(ec2::volumes(#{{ tags: #{{ data: "{role}" }} }}).len());
            // The root volume carries the instance's tags from launch.
            print(ec2::volumes(#{{ instance: i, tags: #{{ role: "{role}" }} }}).len());
            print(ec2::volumes(#{{ instance: i }}).map(|x| x.id).contains(v.id));
            let v = ec2::detach_volume(v.id);
            print(v.state + " " + (v.instance == ()));
            ec2::delete_volume(v);
            print(ec2::volumes(#{{ tags: #{{ data: "{role}" }} }}).len());
            "#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is(&format!(
        "available 4 true\nin-use /dev/sdf {id}\n1\n1\ntrue\navailable true\n0\n"
    ));
}

#[test]
fn snapshots_by_tag_newest_first_then_deleted() {
    let role = unique("snap");
    run(
        &format!(
            r#"
            let v = ec2::create_volume(#{{ size: 2, tags: #{{ role: "{role}" }} }});
            let first = ec2::snapshot(v, #{{ description: "first", tags: #{{ role: "{role}" }} }});
            {NEXT_SECOND}  // start times have a resolution of one second
            let second = ec2::snapshot(v.id, #{{ description: "second", tags: #{{ role: "{role}" }} }});
            print(ec2::snapshots(#{{ tags: #{{ role: "{role}" }} }}).map(|s| s.description));
            print(ec2::snapshots(#{{ volume: v }}).len());
            print(first.volume == v.id);
            ec2::delete_snapshot(first);
            print(ec2::snapshots(#{{ tags: #{{ role: "{role}" }} }}).map(|s| s.id) == [second.id]);
            ec2::delete_volume(v);
            "#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("[\"second\", \"first\"]\n2\ntrue\ntrue\n");
}

#[test]
fn import_key_pair_and_list_key_pairs() {
    let name = unique("deploy");
    let test = Test::new().lab();
    let key = test.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy@test", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success());
    let out = test
        .file(
            "r.rhai",
            &format!(
                r#"
                let k = ec2::import_key_pair("{name}", "id_ed25519.pub");
                print(k.name);
                print(k.fingerprint != ());
                let again = ec2::import_key_pair("{name}", "id_ed25519.pub");
                print(again.fingerprint == k.fingerprint);
                print(ec2::key_pairs().filter(|p| p.name == "{name}").len());
                "#
            ),
        )
        .args(&["run", "r.rhai"])
        .run();
    out.code(0)
        .stdout_is(&format!("{name}\ntrue\ntrue\n1\n"))
        .stderr_has(&format!("key pair {name} already exists"));
    run(
        &format!(
            "ec2::delete_key_pair(\"{name}\");\nprint(ec2::key_pairs().filter(|p| p.name == \"{name}\").len());"
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("0\n");
}

#[test]
fn terminate_asks_first_and_goes_on_only_with_yes() {
    let role = unique("term");
    let name = unique("term-1");
    let id = launch_running(&name, &role);
    let script = format!("ec2::terminate(ec2::instances(#{{ tags: #{{ role: \"{role}\" }} }}));");
    run(&script, &[])
        .code(3)
        .stderr_has(&format!("terminate {id} ({name})?"))
        .stderr_has("--yes");
    assert_eq!(state_of(&id), "running");
    run(&script, &["--yes"])
        .code(0)
        .stderr_has(&format!("terminating {id} ({name})"));
    run(
        &format!("print(ec2::wait_until(\"{id}\", \"terminated\").state);"),
        &[],
    )
    .code(0)
    .stdout_is("terminated\n");
    run(&format!("ec2::wait_until(\"{id}\", \"running\");"), &[])
        .code(1)
        .stderr_has(&format!(
            "ec2::wait_until: {id} ({name}) is terminated: it will not become running"
        ));
}

#[test]
fn wait_until_times_out_naming_each_state() {
    let role = unique("wait");
    let name = unique("wait-1");
    let id = launch_running(&name, &role);
    run(
        &format!("ec2::wait_until([\"{id}\"], \"stopped\", #{{ timeout: 1 }});"),
        &[],
    )
    .code(1)
    .stderr_has(&format!(
        "timed out after 1s waiting for stopped: {id} ({name}) running"
    ));
}

#[test]
fn dry_run_launch_and_terminate_leave_the_emulator_unchanged() {
    let role = unique("dry");
    let name = unique("dry-1");
    let id = launch_running(&name, &role);
    let planned = unique("dry-planned");
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let fresh = ec2::launch(#{{ image: ami, name: "{planned}", tags: #{{ role: "{role}" }} }});
            print(fresh[0].id);
            let fresh = ec2::wait_until(fresh, "running");
            print(fresh[0].state + " " + fresh[0].tags.Name);
            let a = ec2::allocate_address();
            ec2::associate_address(a, fresh[0]);
            ec2::terminate("{id}");
            "#
        ),
        &["--dry-run"],
    );
    out.code(0)
        .stdout_has("i-planned-")
        .stdout_has(&format!("running {planned}\n"))
        .stdout_has("Plan (dry run, nothing was changed)")
        .stdout_has(&format!("ec2::launch {planned}"))
        .stdout_has("ec2::allocate_address")
        .stdout_has("ec2::associate_address")
        .stdout_has(&format!("ec2::terminate {id} ({name})"));
    assert_eq!(state_of(&id), "running");
    run(
        &format!(
            "print(ec2::instances(#{{ tags: #{{ Name: \"{planned}\" }}, state: \"all\" }}).len());"
        ),
        &[],
    )
    .code(0)
    .stdout_is("0\n");
}

#[test]
fn errors_name_the_call_the_resource_and_the_region() {
    run("ec2::instance(\"i-0000000000000dead\");", &[])
        .code(1)
        .stderr_has("ec2::instance: no instance i-0000000000000dead in us-east-1");
    run("ec2::terminate(\"vol-1\");", &[])
        .code(1)
        .stderr_has("ec2::terminate: expected an Instance or an instance id (i-...)");
    run("ec2::launch(#{ imag: \"ami-1\" });", &[])
        .code(2)
        .stderr_has("ec2::launch: unknown option `imag`");
    run("ec2::wait_until(\"i-1\", \"runing\");", &[])
        .code(1)
        .stderr_has("ec2::wait_until: unknown state `runing`");
}

#[test]
fn doc_lists_every_ec2_function() {
    let out = Test::new().args(&["doc", "ec2::"]).run();
    out.code(0);
    for f in [
        "images(",
        "find_image(",
        "launch(options: #{ image, ",
        "instances(",
        "instance(id: String) -> Instance",
        "wait_until(instances: Instance|String|Array, state: String",
        "start(",
        "stop(",
        "reboot(",
        "terminate(",
        "tag(",
        "untag(",
        "user_data(",
        "security_group(name: String) -> SecurityGroup",
        "ensure_security_group(",
        "authorize(",
        "revoke(",
        "allocate_address(",
        "addresses(",
        "associate_address(",
        "release_address(",
        "create_volume(",
        "volumes(",
        "attach_volume(",
        "detach_volume(",
        "delete_volume(",
        "snapshot(",
        "snapshots(",
        "delete_snapshot(",
        "create_image(",
        "deregister_image(",
        "import_key_pair(",
        "key_pairs() -> Array",
        "delete_key_pair(",
        "delete_security_group(",
    ] {
        out.stdout_has(&format!("ec2::{f}"));
    }
}

#[test]
fn records_print_as_tables_and_json() {
    let role = unique("rec");
    let name = unique("rec-1");
    let id = launch_running(&name, &role);
    let script = format!("fn list() {{ ec2::instances(#{{ tags: #{{ role: \"{role}\" }} }}) }}\n");
    Test::new()
        .lab()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "list"])
        .run()
        .code(0)
        .stdout_has("public_ip")
        .stdout_has(&id)
        .stdout_has(&name);
    let out = Test::new()
        .lab()
        .file("r.rhai", &script)
        .args(&["run", "r.rhai", "list", "--output", "json"])
        .run();
    out.code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    assert_eq!(json[0]["id"], serde_json::json!(id));
    assert_eq!(json[0]["type"], serde_json::json!("t3.micro"));
    assert_eq!(json[0]["tags"]["Name"], serde_json::json!(name));
    assert_eq!(json[0]["key_name"], serde_json::Value::Null);
}
