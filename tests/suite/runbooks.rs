//! The runbooks end to end in the lab: cloud state through opsh, remote
//! effects through the lab hosts' recording stand-ins and their real
//! PostgreSQL servers. Each test uses a cluster name of its own.

use std::path::PathBuf;

use crate::common;
use crate::common::lab::{lab, unique};
use crate::common::{Test, repo};

/// The password the runbooks give the db role (SHOP_DB_PASSWORD).
const DB_PASSWORD: &str = "pw-for-the-lab's \"db\" role";

/// `opsh run` of a repository runbook, from the repository root; the
/// Outcome's directory is the run's HOME, with its journal (`commands_on`).
fn runbook(file: &str, function: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", file, function];
    all.extend_from_slice(args);
    Test::new()
        .lab()
        .env("SHOP_DB_PASSWORD", DB_PASSWORD)
        .env_remove("XDG_STATE_HOME")
        .cwd(&repo())
        .args(&all)
        .run()
}

/// The cluster's live instances, as JSON.
fn instances(cluster: &str) -> Vec<serde_json::Value> {
    let out = Test::new()
        .lab()
        .file(
            "q.rhai",
            &format!("fn q() {{ ec2::instances(#{{ tags: #{{ cluster: \"{cluster}\" }}, state: \"running\" }}) }}\n"),
        )
        .args(&["run", "q.rhai", "q", "--output", "json"])
        .run();
    out.code(0);
    serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout).expect("JSON instances")
}

fn by_role<'a>(nodes: &'a [serde_json::Value], role: &str) -> &'a serde_json::Value {
    nodes
        .iter()
        .find(|n| n["tags"]["role"] == role)
        .unwrap_or_else(|| panic!("no {role} node in {nodes:?}"))
}

/// The lab host directory an instance's SSH connections were routed to.
fn lab_dir_of(instance: &str) -> PathBuf {
    let root = PathBuf::from(lab().var("OPSH_LAB_DIR"));
    let routes = std::fs::read_to_string(root.join("routes.tsv")).expect("routes.tsv");
    let host = routes
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{instance}\t")))
        .unwrap_or_else(|| panic!("{instance} was never routed to a lab host"));
    root.join("hosts").join(host)
}

/// Lines each lab host has recorded so far. Instances can outnumber lab
/// hosts, so a host may carry an earlier instance's records: assertions
/// about what did NOT happen look only at the lines added since.
struct Records(std::collections::HashMap<PathBuf, usize>);

impl Records {
    fn now() -> Self {
        let hosts = PathBuf::from(lab().var("OPSH_LAB_DIR")).join("hosts");
        let counts = std::fs::read_dir(hosts)
            .unwrap()
            .filter_map(|h| {
                let dir = h.ok()?.path();
                let lines = std::fs::read_to_string(dir.join("records.log"))
                    .ok()?
                    .lines()
                    .count();
                Some((dir, lines))
            })
            .collect();
        Self(counts)
    }

    /// The lines `dir` recorded since `now()`.
    fn since(&self, dir: &std::path::Path) -> Vec<String> {
        let skip = self.0.get(dir).copied().unwrap_or(0);
        read(dir.join("records.log"))
            .lines()
            .skip(skip)
            .map(str::to_string)
            .collect()
    }
}

/// psql from this machine over TCP to the PostgreSQL of the lab host kept
/// in `dir` (lab-K listens on 127.0.0.(K+1)), as a (user, password).
fn psql_over_tcp(
    dir: &std::path::Path,
    (user, password): (&str, &str),
    db: &str,
    sql: &str,
) -> common::Outcome {
    let k: u8 = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("lab-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{} is not a lab host dir", dir.display()));
    let out = std::process::Command::new("psql")
        .args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGHOST", format!("127.0.0.{}", k + 1))
        .env("PGPORT", lab().var("OPSH_LAB_PG_PORT"))
        .env("PGUSER", user)
        .env("PGDATABASE", db)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run psql");
    common::Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir: tempfile::tempdir().unwrap(),
    }
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_runbook_stdlib_file_and_example_checks() {
    let mut files = Vec::new();
    for dir in ["runbooks", "stdlib", "examples", "bench"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "rhai") {
                files.push(path.to_str().unwrap().to_string());
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(String::as_str))
        .collect();
    Test::new().args(&args).run().code(0);
}

#[test]
fn full_system_from_nothing_then_again_launches_nothing() {
    let cluster = unique("fs");
    let var = format!("cluster={cluster}");
    let before = Records::now();
    let first = runbook(
        "runbooks/full_system.rhai",
        "whip_up_full_system",
        &["--var", &var],
    );
    first
        .code(0)
        .stdout_has(&format!("{cluster}-db"))
        .stderr_has(&format!("{cluster} is up: 5 nodes"));

    let nodes = instances(&cluster);
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    for role in ["proxy", "app", "worker", "db", "monitor"] {
        let node = by_role(&nodes, role);
        assert_eq!(node["tags"]["Name"], format!("{cluster}-{role}"));
        assert_eq!(node["tags"]["cluster"], cluster.as_str());
    }
    // Elastic IPs for the proxy and the db (the emulator hands them out in 127/8).
    for role in ["proxy", "db"] {
        let ip = by_role(&nodes, role)["public_ip"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(ip.starts_with("127."), "{role} has no elastic IP: {ip}");
    }
    // The db group admits PostgreSQL from the app group, not from anywhere.
    let rules = Test::new()
        .lab()
        .file(
            "g.rhai",
            &format!(
                "let app = ec2::security_group(\"{cluster}-app\");\n\
                 let pg = ec2::security_group(\"{cluster}-db\").rules.filter(|r| r.port == 5432);\n\
                 print(`${{pg.len()}} ${{pg[0].source_group == app.id}} ${{pg[0].cidr}}`);\n"
            ),
        )
        .args(&["run", "g.rhai"])
        .run();
    rules.code(0).stdout_is("1 true \n");

    let db = lab_dir_of(by_role(&nodes, "db")["id"].as_str().unwrap());
    let packages = read(db.join("packages"));
    for p in ["git", "supervisor", "postgresql", "postgresql-contrib"] {
        assert!(packages.lines().any(|l| l == p), "db lacks {p}: {packages}");
    }
    let db_id = by_role(&nodes, "db")["id"].as_str().unwrap();
    let on_db = first.commands_on(db_id);
    assert!(
        !on_db
            .iter()
            .any(|c| c.contains("/etc/nginx") || c.split_whitespace().any(|w| w == "nginx")),
        "nginx went onto the db node: {on_db:#?}"
    );
    // A real database, owned by the app's role, which logs in over TCP with its password.
    psql_over_tcp(&db, ("shop", DB_PASSWORD), "shop", "SELECT current_user, current_database(), pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        .code(0)
        .stdout_is("shop|shop|shop\n");
    psql_over_tcp(&db, ("shop", "not-the-password"), "shop", "SELECT 1")
        .code(2)
        .stderr_has("password authentication failed for user \"shop\"");
    // Its access rules went where the server said they live, as the postgres user.
    let hba = db.join("postgres/etc/pg_hba.conf");
    assert!(read(hba.clone()).contains("Managed by opsh"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&hba).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(read(db.join("owners")).contains(&format!("{}\tpostgres", hba.display())));
    assert!(
        !on_db.iter().any(|c| c.contains("/etc/postgresql/")),
        "a hard-coded PostgreSQL path was used"
    );
    assert_eq!(read(db.join("services/postgresql")).trim(), "running");

    let proxy = lab_dir_of(by_role(&nodes, "proxy")["id"].as_str().unwrap());
    assert!(read(proxy.join("packages")).lines().any(|l| l == "nginx"));
    // The site is enabled, Debian's default site is not, the upstream is the
    // app node's private address, and the real nginx -t passed before the reload.
    let etc = proxy.join("root/etc/nginx");
    assert_eq!(
        std::fs::read_link(etc.join("sites-enabled/shop")).expect("the shop site is enabled"),
        etc.join("sites-available/shop")
    );
    assert!(!etc.join("sites-enabled/default").exists());
    let app_ip = by_role(&nodes, "app")["private_ip"].as_str().unwrap();
    assert!(
        read(etc.join("conf.d/shop-upstream.conf")).contains(&format!("server {app_ip}:8000;"))
    );
    let proxy_log = before.since(&proxy);
    let check = proxy_log.iter().position(|l| l == "nginx\troot\t-t");
    let reload = proxy_log
        .iter()
        .position(|l| l == "systemctl\troot\treload nginx");
    assert!(
        matches!((check, reload), (Some(c), Some(r)) if c < r),
        "no nginx -t before the reload: {proxy_log:#?}"
    );

    // Nodes log in with the cluster's key pair; no key rides in their user data.
    for node in &nodes {
        assert_eq!(node["key_name"], cluster.as_str(), "{node}");
    }
    let keys = Test::new()
        .lab()
        .file(
            "k.rhai",
            &format!(
                "print(ec2::key_pairs().filter(|k| k.name == \"{cluster}\").len());\n\
                 print(ec2::user_data(\"{}\").contains(\"ssh_authorized_keys\"));\n",
                by_role(&nodes, "app")["id"].as_str().unwrap()
            ),
        )
        .args(&["run", "k.rhai"])
        .run();
    keys.code(0).stdout_is("1\nfalse\n");

    // The app: a release cloned over ssh with the deploy key, with a venv of
    // its own, run by the shop unit from that venv.
    let app = lab_dir_of(by_role(&nodes, "app")["id"].as_str().unwrap());
    let current = std::fs::read_link(app.join("home/shop/current")).expect("current symlink");
    assert!(
        current.to_string_lossy().contains("/shop/releases/"),
        "{current:?}"
    );
    assert!(current.join("venv/bin/gunicorn").is_file(), "{current:?}");
    let app_records = before.since(&app);
    let repo_url = lab().var("SHOP_REPO");
    let release = current.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        app_records.iter().any(|l| {
            l.starts_with("git\topsh-lab\tclone --quiet --branch main ")
                && l.contains(&format!(" -- {repo_url} "))
                && l.ends_with(&release)
        }),
        "no clone of {repo_url} into {release}: {app_records:#?}"
    );
    assert!(
        !app_records.iter().any(|l| l.starts_with("pip")),
        "the system pip was used: {app_records:#?}"
    );
    let ran = format!(
        "migrate: Django 4.2.11 (opsh lab) under {}",
        current.join("venv/bin/python").display()
    );
    assert!(
        first.stdout.contains(&ran),
        "no {ran:?} in\n{}",
        first.stdout
    );
    let unit = read(app.join("root/etc/systemd/system/shop.service"));
    assert!(
        unit.contains(&format!(
            "ExecStart={}/current/venv/bin/gunicorn ",
            app.join("home/shop").display()
        )),
        "{unit}"
    );
    for wanted in [
        "systemctl\troot\tdaemon-reload",
        "systemctl\troot\tenable --now shop",
        "systemctl\troot\trestart shop",
    ] {
        assert!(
            app_records.iter().any(|l| l == wanted),
            "no {wanted:?}: {app_records:#?}"
        );
    }

    let again = runbook(
        "runbooks/full_system.rhai",
        "whip_up_full_system",
        &["--var", &var],
    );
    again
        .code(0)
        .stderr_lacks("▸ launched")
        .stderr_has("nginx's configuration is unchanged: no reload");
    let proxy_id = by_role(&nodes, "proxy")["id"].as_str().unwrap();
    let rerun = again.commands_on(proxy_id);
    assert!(
        !rerun.is_empty()
            && !rerun.iter().any(|c| c.starts_with("write ")
                || c.contains("nginx -t")
                || c.contains("reload nginx")),
        "the second run rewrote or reloaded nginx: {rerun:#?}"
    );
    assert_eq!(
        again.stderr.matches("▸ reused").count(),
        5,
        "{}",
        again.stderr
    );
    assert_eq!(instances(&cluster).len(), 5);

    teardown(&cluster);
}

fn teardown(cluster: &str) {
    let var = format!("cluster={cluster}");
    let refused = runbook("runbooks/teardown.rhai", "teardown", &["--var", &var]);
    refused.code(3).stderr_has("--yes");
    assert!(
        !instances(cluster).is_empty(),
        "teardown without --yes removed something"
    );
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &var, "--yes"],
    )
    .code(0);
    assert!(instances(cluster).is_empty());
    let left = Test::new()
        .lab()
        .file(
            "a.rhai",
            &format!("print(ec2::addresses(#{{ tags: #{{ cluster: \"{cluster}\" }} }}).len());\n"),
        )
        .args(&["run", "a.rhai"])
        .run();
    left.code(0).stdout_is("0\n");
}

#[test]
fn quick_update_answered_by_vars_updates_only_what_was_chosen() {
    let cluster = unique("qu");
    let var = format!("cluster={cluster}");
    runbook(
        "runbooks/full_system.rhai",
        "whip_up_full_system",
        &["--var", &var],
    )
    .code(0);
    let nodes = instances(&cluster);
    let app_id = by_role(&nodes, "app")["id"].as_str().unwrap().to_string();
    let worker_id = by_role(&nodes, "worker")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let app = lab_dir_of(&app_id);
    let first = std::fs::read_link(app.join("home/shop/current")).unwrap();
    let before = Records::now();

    let out = runbook(
        "runbooks/quick_update.rhai",
        "quick_update",
        &[
            "--var",
            &var,
            "--var",
            "component=web",
            "--var",
            "reinstall=no",
            "--var",
            "upgrade=yes",
            "--output",
            "json",
        ],
    );
    out.code(0)
        .stderr_has("? Which component do you want to update? web  (--var component)")
        .stderr_has("? Upgrade the framework (Django)? yes  (--var upgrade)");
    let updated: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("JSON result");
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["role"], "app");
    assert_eq!(updated[0]["instance"], app_id.as_str());
    // Nothing ran on the worker: no line of output came from it.
    assert!(
        !out.stderr.contains(&format!("{worker_id} |")),
        "the worker was touched:\n{}",
        out.stderr
    );
    // The new release has a venv of its own; the framework upgrade kept
    // requirements.txt's pin (the wheelhouse also offers Django 5).
    let second = app
        .join("home/shop/releases")
        .join(updated[0]["release"].as_str().unwrap());
    assert_ne!(first, second, "no new release");
    let site = std::fs::read_dir(second.join("venv/lib"))
        .expect("the release's venv")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .next()
        .expect("a python in the venv");
    assert!(site.join("Django-4.2.11.dist-info").is_dir(), "{site:?}");
    assert!(
        !site.join("Django-5.0.3.dist-info").exists(),
        "the pin broke"
    );
    assert!(
        out.stderr.contains(&format!(
            "migrate: Django 4.2.11 (opsh lab) under {}",
            second.join("venv/bin/python").display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        before
            .since(&app)
            .iter()
            .any(|l| l == "systemctl\troot\trestart shop"),
        "the app was not restarted"
    );

    let back = runbook(
        "runbooks/quick_update.rhai",
        "rollback_update",
        &["--var", &var, "--var", "component=web", "--output", "json"],
    );
    back.code(0);
    let now_running: Vec<serde_json::Value> =
        serde_json::from_str(&back.stdout).expect("JSON result");
    assert_eq!(
        now_running[0]["release"].as_str(),
        first.file_name().and_then(|n| n.to_str()),
        "rollback did not switch back"
    );

    // Without a terminal, an unanswered question stops before anything runs on a host.
    runbook(
        "runbooks/quick_update.rhai",
        "quick_update",
        &["--var", &var],
    )
    .code(3)
    .stderr_has("--var component=");

    teardown(&cluster);
}

#[test]
fn db_node_then_backup_with_retention() {
    let cluster = unique("bk");
    let var = format!("cluster={cluster}");
    runbook("runbooks/db_node.rhai", "whip_up_db_node", &["--var", &var]).code(0);
    let out = runbook(
        "runbooks/backup.rhai",
        "backup",
        &["--var", &var, "--output", "json"],
    );
    out.code(0).stderr_lacks("could not change directory");
    let made: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON result");
    assert_eq!(
        made["snapshots"].as_array().map(Vec::len),
        Some(1),
        "{made}"
    );
    let uri = made["dump"].as_str().unwrap();
    let (bucket, key) = uri.trim_start_matches("s3://").split_once('/').unwrap();
    let dump = Test::new()
        .lab()
        .file(
            "g.rhai",
            &format!("print(s3::get(\"{bucket}\", \"{key}\"));\n"),
        )
        .args(&["run", "g.rhai"])
        .run();
    dump.code(0).stdout_has("PostgreSQL database dump");
    // Retention of 0 days wants to delete: without --yes and a terminal it stops.
    runbook(
        "runbooks/backup.rhai",
        "backup",
        &["--var", &var, "--var", "keep_days=0"],
    )
    .code(3)
    .stderr_has("--yes");
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &var, "--yes"],
    )
    .code(0);
}

#[test]
fn db_node_makes_a_real_database_with_quoted_names_and_wrong_commands_fail() {
    let cluster = unique("pg");
    let (db_name, db_user) = ("o'shop; DROP DATABASE postgres; --", "the \"app\" role");
    let vars = [
        format!("cluster={cluster}"),
        format!("db_name={db_name}"),
        format!("db_user={db_user}"),
    ];
    let mut args = Vec::new();
    for v in &vars {
        args.extend(["--var", v.as_str()]);
    }
    runbook("runbooks/db_node.rhai", "whip_up_db_node", &args)
        .code(0)
        .stderr_lacks("could not change directory");
    let db = lab_dir_of(by_role(&instances(&cluster), "db")["id"].as_str().unwrap());
    // The names arrived whole: the role logs in to the database of that name.
    psql_over_tcp(
        &db,
        (db_user, DB_PASSWORD),
        db_name,
        "SELECT current_user || '|' || current_database()",
    )
    .code(0)
    .stdout_is(&format!("{db_user}|{db_name}\n"));
    psql_over_tcp(
        &db,
        (db_user, DB_PASSWORD),
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname = 'postgres'",
    )
    .code(0)
    .stdout_is("1\n");

    // The host's server refuses what a real one refuses.
    let host = db.file_name().unwrap().to_str().unwrap();
    let wrong = Test::new()
        .lab()
        .file(
            "w.rhai",
            &format!(
                r#"
let h = ssh::connect("{host}");
let su = h.run("createuser --superuser shop", #{{ warn: true }});
let bad = h.sudo("psql -tAc 'CREAT DATABASE x'", #{{ user: "postgres", cwd: "/", warn: true }});
let home = h.sudo("psql -tAc 'SELECT 1'", #{{ user: "postgres", warn: true }});
print(`${{su.code}} ${{su.stderr}}`);
print(`${{bad.code}} ${{bad.stderr}}`);
print(`${{home.code}} ${{home.stderr}}`);
"#
            ),
        )
        .args(&["run", "w.rhai"])
        .run();
    wrong
        .code(0)
        .stdout_has("1 createuser: error: ")
        .stdout_has("FATAL:  role \"opsh-lab\" does not exist")
        .stdout_has("1 ERROR:  syntax error at or near \"CREAT\"")
        .stdout_has("0 could not change directory to ");
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &vars[0], "--yes"],
    )
    .code(0);
}

#[test]
fn failover_replaces_a_stopped_db_node_and_moves_its_address() {
    let cluster = unique("fo");
    let var = format!("cluster={cluster}");
    runbook("runbooks/db_node.rhai", "whip_up_db_node", &["--var", &var]).code(0);
    runbook("runbooks/backup.rhai", "backup", &["--var", &var]).code(0);
    let old = by_role(&instances(&cluster), "db")["id"]
        .as_str()
        .unwrap()
        .to_string();
    Test::new()
        .lab()
        .file(
            "s.rhai",
            &format!("ec2::stop(\"{old}\");\nec2::wait_until(\"{old}\", \"stopped\");\n"),
        )
        .args(&["run", "s.rhai"])
        .run()
        .code(0);

    let before = Records::now();
    let out = runbook(
        "runbooks/failover.rhai",
        "failover",
        &["--var", &var, "--output", "json"],
    );
    out.code(0).stderr_has(&format!("{old} is stopped"));
    let new: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON instance");
    let new_id = new["id"].as_str().unwrap();
    assert_ne!(new_id, old);
    assert_eq!(new["state"], "running");
    // Its health was checked with pg_isready; the restored volume (the one
    // disk besides its root) is mounted at PostgreSQL's data directory.
    let new_dir = lab_dir_of(new_id);
    assert!(
        before
            .since(&new_dir)
            .iter()
            .any(|l| l.starts_with("pg_isready\topsh-lab\t")),
        "no pg_isready on the new node"
    );
    let data = new_dir.join("postgres/data");
    assert!(
        read(new_dir.join("mounts"))
            .lines()
            .any(|l| l.starts_with(&format!("/dev/nvme1n1\t{}\t", data.display()))),
        "the restored volume is not mounted at {}",
        data.display()
    );
    let check = Test::new()
        .lab()
        .file(
            "c.rhai",
            &format!(
                r#"
let eip = ec2::addresses(#{{ tags: #{{ cluster: "{cluster}", role: "db" }} }})[0];
let restored = ec2::volumes(#{{ instance: "{new_id}" }}).filter(|v| "restored_from" in v.tags);
let old = ec2::instance("{old}");
print(`${{eip.instance}} ${{restored.len()}} ${{old.tags.failed}}`);
"#
            ),
        )
        .args(&["run", "c.rhai"])
        .run();
    check.code(0).stdout_is(&format!("{new_id} 1 true\n"));
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &var, "--yes"],
    )
    .code(0);
}

#[test]
fn cluster_scenarios_run_step_by_step_and_stop_at_the_first_failure() {
    let cluster = unique("kn");
    let var = format!("cluster={cluster}");
    runbook("runbooks/cluster.rhai", "launch_cluster", &["--var", &var]).code(0);
    runbook("runbooks/cluster.rhai", "launch_cluster", &["--var", &var])
        .code(0)
        .stderr_lacks("▸ launched");
    let nodes = instances(&cluster);
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let dir = |name: &str| {
        let node = nodes
            .iter()
            .find(|n| n["tags"]["Name"] == format!("{cluster}-{name}"))
            .unwrap_or_else(|| panic!("no {name}"));
        lab_dir_of(node["id"].as_str().unwrap())
    };
    let before = Records::now();
    let deploy = runbook(
        "runbooks/cluster.rhai",
        "run_scenario",
        &["--var", &var, "--var", "scenario=deploy"],
    );
    deploy
        .code(0)
        .stderr_has("step 6/6: proxy.site_up on 1 host(s)");
    let restarts = |name: &str| {
        before
            .since(&dir(name))
            .iter()
            .filter(|l| l.starts_with("systemctl\troot\trestart memcached"))
            .count()
    };
    assert_eq!(
        (restarts("app1"), restarts("app2"), restarts("proxy1")),
        (1, 0, 0)
    );
    assert!(
        dir("app2").join("home/app/manage.py").exists(),
        "ALL.update did not clone"
    );
    // migrations and static files ran with the checkout's venv
    let venv_python = dir("app2").join("home/app/venv/bin/python");
    assert!(
        deploy.stdout.contains(&format!(
            "collectstatic: Django 4.2.11 (opsh lab) under {}",
            venv_python.display()
        )),
        "{}",
        deploy.stdout
    );
    assert!(
        !dir("proxy1").join("home/maintenance.on").exists(),
        "the site stayed down"
    );

    runbook(
        "runbooks/cluster.rhai",
        "run_scenario",
        &["--var", &var, "--var", "scenario=broken"],
    )
    .code(1)
    .stderr_has("scenario broken stopped at step 2/3 (django.fail); steps done: [\"ALL.update\"]")
    .stderr_lacks("step 3/3");
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &var, "--yes"],
    )
    .code(0);
}

#[test]
fn rolling_update_stops_at_an_unhealthy_batch_and_rolls_it_back() {
    let cluster = unique("ro");
    let var = format!("cluster={cluster}");
    let launched = Test::new()
        .lab()
        .file(
            "l.rhai",
            &format!(
                r#"
let nodes = [];
for i in 1..=4 {{
    nodes += ec2::launch(#{{ image: "ami-12c6146b", name: `{cluster}-app-${{i}}`, tags: #{{ cluster: "{cluster}", role: "app" }} }});
}}
ec2::wait_until(nodes, "running");
"#
            ),
        )
        .args(&["run", "l.rhai"])
        .run();
    launched.code(0);
    let rolling = |extra: &[&str]| {
        let mut args = vec!["--var", var.as_str(), "--var", "batch=2"];
        args.extend_from_slice(extra);
        runbook("runbooks/rolling.rhai", "rolling_update", &args)
    };
    rolling(&[]).code(0);
    let nodes = instances(&cluster);
    let dirs: Vec<PathBuf> = nodes
        .iter()
        .map(|n| lab_dir_of(n["id"].as_str().unwrap()))
        .collect();
    // The release each host runs: the name `current` points at.
    let current = |d: &PathBuf| {
        let target = std::fs::read_link(d.join("home/shop/current")).expect("current");
        target.file_name().unwrap().to_string_lossy().into_owned()
    };
    let first: Vec<String> = dirs.iter().map(current).collect();
    assert!(
        first.windows(2).all(|w| w[0] == w[1]),
        "one release everywhere: {first:?}"
    );

    // The third host (second batch) turns unhealthy.
    std::fs::write(dirs[2].join("home/unhealthy"), "").unwrap();
    let out = rolling(&[]);
    out.code(1)
        .stderr_has("batch 2 failed its health check")
        .stderr_has("was rolled back");
    let after: Vec<String> = dirs.iter().map(current).collect();
    assert_ne!(after[0], first[0], "batch 1 was not updated");
    assert_eq!(after[0], after[1]);
    assert_eq!(&after[2..], &first[2..], "batch 2 was not rolled back");
    std::fs::remove_file(dirs[2].join("home/unhealthy")).unwrap();
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &var, "--yes"],
    )
    .code(0);
}
