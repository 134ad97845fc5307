//! `--dry-run` against the lab's emulators: what the plan creates, changes
//! and removes is what later reads of the same run see, waits the plan
//! explains return at once, and the emulators are left exactly as they were.

mod common;

use common::Test;
use common::lab::unique;

fn run(script: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", "r.rhai"];
    all.extend_from_slice(args);
    Test::new()
        .lab()
        .file("r.rhai", script)
        .args(&all)
        .run_within(common::HANG)
}

fn dry_run(script: &str) -> common::Outcome {
    run(script, &["--dry-run", "--yes"])
}

/// Rhai that sets `ami` to one of the emulator's stock images.
const STOCK_IMAGE: &str = r#"let ami = ec2::images(#{ owners: ["amazon"], name: "amzn*" })[0];"#;

/// What the emulators hold tagged `dw=tag` (and the buckets named after
/// it), counted by a real run: one line per kind.
fn census(tag: &str) -> String {
    let out = run(
        &format!(
            r#"let q = #{{ tags: #{{ dw: "{tag}" }} }};
            print(`instances ${{ec2::instances(#{{ tags: #{{ dw: "{tag}" }}, state: "all" }}).len()}}`);
            print(`addresses ${{ec2::addresses(q).len()}}`);
            print(`volumes ${{ec2::volumes(q).len()}}`);
            print(`snapshots ${{ec2::snapshots(q).len()}}`);
            print(`images ${{ec2::images(q).len()}}`);
            print(`group ${{ec2::security_group("{tag}") != ()}}`);
            print(`buckets ${{s3::buckets().filter(|b| b.contains("{tag}")).len()}}`);"#
        ),
        &[],
    );
    out.code(0);
    out.stdout.clone()
}

/// Launch a running instance tagged `dw=tag`, for real; its id.
fn launch_running(tag: &str) -> String {
    let out = run(
        &format!(
            r#"{STOCK_IMAGE}
            let i = ec2::wait_until(ec2::launch(#{{ image: ami, name: "{tag}", tags: #{{ dw: "{tag}" }} }}), "running");
            print(i[0].id);"#
        ),
        &[],
    );
    out.code(0);
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("i-"), "{id}");
    id
}

#[test]
fn what_a_dry_run_launches_and_creates_its_reads_find() {
    let tag = unique("dw");
    let before = census(&tag);
    let out = dry_run(&format!(
        r#"{STOCK_IMAGE}
        let sg = ec2::ensure_security_group("{tag}", #{{ rules: [#{{ port: 22, cidr: "10.0.0.0/8" }}] }});
        let i = ec2::launch(#{{ image: ami, name: "{tag}", security_groups: ["{tag}"], tags: #{{ dw: "{tag}" }} }})[0];
        let back = ec2::instance(i.id);
        print(`read ${{back.id == i.id}} ${{back.state}} ${{back.tags.dw == "{tag}"}} ${{back.security_groups[0] == sg.id}}`);
        print(`listed ${{ec2::instances(#{{ tags: #{{ dw: "{tag}" }} }}).len()}}`);
        let again = ec2::launch(#{{ image: ami, name: "{tag}", tags: #{{ dw: "{tag}" }} }})[0];
        print(`reused ${{again.id == i.id}}`);
        print(`group ${{ec2::security_group("{tag}").id == sg.id}} ${{ec2::security_group("{tag}").rules.len()}}`);
        ec2::wait_until(i, "running");
        print(`running ${{ec2::instance(i.id).state}}`);
        let a = ec2::allocate_address(#{{ tags: #{{ dw: "{tag}" }} }});
        ec2::associate_address(a, i);
        print(`address ${{ec2::addresses(#{{ instance: i }})[0].allocation_id == a.allocation_id}}`);
        let v = ec2::create_volume(#{{ size: 1, tags: #{{ dw: "{tag}" }} }});
        ec2::attach_volume(v, i, "/dev/sdf");
        print(`volume ${{ec2::volumes(#{{ instance: i }})[0].id == v.id}}`);
        let s = ec2::snapshot(v, #{{ tags: #{{ dw: "{tag}" }} }});
        print(`snapshot ${{ec2::snapshots(#{{ volume: v }})[0].id == s.id}}`);
        let img = ec2::create_image(i, #{{ name: "{tag}-img", tags: #{{ dw: "{tag}" }} }});
        print(`image ${{ec2::find_image(#{{ tags: #{{ dw: "{tag}" }} }}).id == img.id}}`);
        ec2::tag(i, #{{ extra: "yes" }});
        print(`tagged ${{ec2::instances(#{{ tags: #{{ extra: "yes", dw: "{tag}" }} }}).len()}}`);
        ec2::delete_snapshot(s);
        print(`deleted ${{ec2::snapshots(#{{ tags: #{{ dw: "{tag}" }} }}).len()}}`);"#
    ));
    out.code(0)
        .stdout_has("read true pending true true")
        .stdout_has("listed 1")
        .stdout_has("reused true")
        .stdout_has("group true 1")
        .stdout_has("running running")
        .stdout_has("address true")
        .stdout_has("volume true")
        .stdout_has("snapshot true")
        .stdout_has("image true")
        .stdout_has("tagged 1")
        .stdout_has("deleted 0")
        .stdout_has("i-planned-");
    assert_eq!(census(&tag), before, "the dry run changed the emulator");
}

#[test]
fn a_bucket_the_plan_creates_holds_what_the_plan_puts() {
    let tag = unique("dw");
    let before = census(&tag);
    let out = dry_run(&format!(
        r#"let b = s3::create_bucket("{tag}");
        print(`empty ${{s3::list(b).len()}} ${{s3::exists(b, "k/1")}}`);
        s3::put(b, "k/1", "hello");
        print(`listed ${{s3::list(b, #{{ prefix: "k/" }}).map(|o| o.key)}}`);
        print(`exists ${{s3::exists(b, "k/1")}}`);
        print(`got ${{s3::get(b, "k/1")}}`);
        print(`buckets ${{s3::buckets().contains(b)}}`);
        s3::delete(b, "k/1");
        print(`after ${{s3::exists(b, "k/1")}} ${{s3::list(b).len()}}`);"#
    ));
    out.code(0)
        .stdout_has("empty 0 false")
        .stdout_has(r#"listed ["k/1"]"#)
        .stdout_has("exists true")
        .stdout_has("got hello")
        .stdout_has("buckets true")
        .stdout_has("after false 0");
    assert_eq!(census(&tag), before, "the dry run changed the emulator");
}

#[test]
fn a_real_bucket_lists_with_the_plan_applied() {
    let bucket = unique("dw");
    run(
        &format!(r#"s3::create_bucket("{bucket}"); s3::put("{bucket}", "old", "1");"#),
        &[],
    )
    .code(0);
    let out = dry_run(&format!(
        r#"s3::put("{bucket}", "new", "22");
        print(`both ${{s3::list("{bucket}").map(|o| o.key)}}`);
        s3::delete("{bucket}", "old");
        print(`left ${{s3::list("{bucket}").map(|o| o.key)}} ${{s3::exists("{bucket}", "old")}}`);"#
    ));
    out.code(0)
        .stdout_has(r#"both ["new", "old"]"#)
        .stdout_has(r#"left ["new"] false"#);
    let real = run(
        &format!(r#"print(s3::list("{bucket}").map(|o| o.key));"#),
        &[],
    );
    real.code(0).stdout_has(r#"["old"]"#);
}

#[test]
fn a_wait_for_the_state_a_planned_terminate_causes_returns_at_once() {
    let tag = unique("dw");
    let id = launch_running(&tag);
    // A wait that polled the emulator (where it still runs) would time out.
    let out = dry_run(&format!(
        r#"ec2::terminate("{id}");
        print(`read ${{ec2::instance("{id}").state}}`);
        let gone = ec2::wait_until("{id}", "terminated", #{{ timeout: 1 }});
        print(`waited ${{gone.state}}`);
        print(`live ${{ec2::instances(#{{ tags: #{{ dw: "{tag}" }} }}).len()}}`);
        print(`all ${{ec2::instances(#{{ tags: #{{ dw: "{tag}" }}, state: "terminated" }}).len()}}`);"#
    ));
    out.code(0)
        .stdout_has("read shutting-down")
        .stdout_has("waited terminated")
        .stdout_has("live 0")
        .stdout_has("all 1")
        .stdout_has(&format!("ec2::wait_until {id} ({tag}) is terminated"));
    let real = run(&format!(r#"print(ec2::instance("{id}").state);"#), &[]);
    real.code(0).stdout_has("running");
}

#[test]
fn a_wait_nothing_planned_explains_still_polls_with_its_timeout() {
    let tag = unique("dw");
    let id = launch_running(&tag);
    let out = dry_run(&format!(
        r#"ec2::wait_until("{id}", "stopped", #{{ timeout: 2 }});"#
    ));
    out.code(1)
        .stderr_has("timed out after 2s waiting for stopped")
        .stdout_lacks("ec2::wait_until");
}

#[test]
fn a_planned_instance_answers_a_tag_query_with_wildcards() {
    let tag = unique("dw");
    let out = dry_run(&format!(
        r#"{STOCK_IMAGE}
        let i = ec2::launch(#{{ image: ami, name: "{tag}-web", tags: #{{ dw: "{tag}" }} }})[0];
        print(`any ${{ec2::instances(#{{ tags: #{{ Name: "{tag}-*" }} }}).map(|x| x.id == i.id)}}`);
        print(`one ${{ec2::instances(#{{ tags: #{{ Name: "{tag}-we?" }} }}).len()}}`);
        print(`none ${{ec2::instances(#{{ tags: #{{ Name: "{tag}-db*" }} }}).len()}}`);"#
    ));
    out.code(0)
        .stdout_has("any [true]")
        .stdout_has("one 1")
        .stdout_has("none 0");
}

#[test]
fn a_dry_run_plans_a_bucket_only_where_s3_answers_that_none_exists() {
    // A port that refuses: the bucket's existence cannot be asked.
    let closed = format!("127.0.0.1:{}", common::ports::refused_port());
    let bucket = unique("dw");
    let out = Test::new()
        .lab()
        .env("AWS_ENDPOINT_URL", &format!("http://{closed}"))
        .file(
            "opsh.toml",
            "[aws]\ntimeout = 1\nconnect_timeout = 1\nmax_attempts = 1\n",
        )
        .file(
            "r.rhai",
            &format!(r#"s3::create_bucket("{bucket}"); print("planned");"#),
        )
        .args(&["run", "r.rhai", "--dry-run", "--yes"])
        .run_within(common::HANG);
    out.code(1)
        .stdout_lacks("planned")
        .stderr_has(&format!("s3::create_bucket (s3://{bucket}) failed"));
}
