//! `--dry-run` of every entry point of runbooks/ and examples/, on a cluster
//! that does not exist and on built ones: each ends without hanging, with
//! exit 0, and afterwards the emulator (scoped by the test's own tags and
//! names) and the lab hosts are as they were, and no journal was written.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::lab::{lab, unique};
use crate::common::records::{Record, RecordsMark};
use crate::common::{HANG, Outcome, Test, repo};

/// A real run that builds a cluster: far more than it needs; reaching it
/// means it hangs.
const BUILD_HANG: Duration = Duration::from_secs(600);

/// `opsh ARGS` from the repository root, killed (and reported as hung) at
/// `limit`. A dry run sits through no wait (an instance state, a planned
/// host), so [`HANG`], far below those waits' own limits (minutes), bounds
/// it.
fn opsh(args: &[&str], limit: Duration) -> Outcome {
    Test::new()
        .lab()
        .cwd(&repo())
        .env_remove("XDG_STATE_HOME")
        .args(args)
        .run_within(limit)
}

/// A real run that builds something the dry runs then read.
fn build(args: &[&str]) {
    opsh(args, BUILD_HANG).code(0);
}

/// What the emulator holds of the test's clusters, names and buckets, as
/// describe calls return it.
struct Scope {
    clusters: Vec<String>,
    /// Security group names that runbooks and examples ensure.
    groups: Vec<String>,
    buckets: Vec<String>,
}

impl Scope {
    fn script(&self) -> String {
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        format!(
            r#"fn world() {{
    let out = #{{}};
    for c in {clusters} {{
        let nodes = ec2::instances(#{{ tags: #{{ cluster: c }} }});
        out[`instances ${{c}}`] = nodes;
        let volumes = ec2::volumes(#{{ tags: #{{ cluster: c }} }});
        for node in nodes {{ volumes += ec2::volumes(#{{ instance: node }}); }}
        out[`volumes ${{c}}`] = volumes;
        out[`addresses ${{c}}`] = ec2::addresses(#{{ tags: #{{ cluster: c }} }});
        out[`snapshots ${{c}}`] = ec2::snapshots(#{{ tags: #{{ cluster: c }} }});
        out[`images ${{c}}`] = ec2::images(#{{ tags: #{{ cluster: c }} }});
    }}
    for g in {groups} {{
        out[`group ${{g}}`] = "absent";
        try {{ out[`group ${{g}}`] = ec2::security_group(g); }} catch {{ }}
    }}
    let buckets = s3::buckets();
    for b in {buckets} {{
        out[`bucket ${{b}}`] = if buckets.contains(b) {{ s3::list(b) }} else {{ "absent" }};
    }}
    out
}}
"#,
            clusters = list(&self.clusters),
            groups = list(&self.groups),
            buckets = list(&self.buckets),
        )
    }

    fn describe(&self) -> serde_json::Value {
        let out = Test::new()
            .lab()
            .file("world.rhai", &self.script())
            .args(&["run", "world.rhai", "world", "--output", "json"])
            .run();
        out.code(0);
        serde_json::from_str(&out.stdout).expect("the world as JSON")
    }
}

/// The lab hosts the test's instances are routed to: their state files
/// (packages, services, databases, owners, the fake root, HOME) by
/// content, and where their records end. Other tests share the lab, so a
/// host that one of their instances was routed to meanwhile is left out.
struct LabHosts {
    hosts: Vec<PathBuf>,
    state: BTreeMap<PathBuf, u64>,
    records: RecordsMark,
    routed: usize,
}

fn lab_root() -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
}

/// `instance<TAB>lab-host` lines, from routes.tsv or the route log.
fn routes(file: &str, instance_field: usize, host_field: usize) -> Vec<(String, String)> {
    std::fs::read_to_string(lab_root().join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            Some((
                fields.get(instance_field)?.to_string(),
                fields.get(host_field)?.to_string(),
            ))
        })
        .collect()
}

fn route_log() -> Vec<(String, String)> {
    routes("logs/route.log", 1, 2)
}

impl LabHosts {
    fn now(instances: &[String]) -> Self {
        let mut hosts: Vec<PathBuf> = routes("routes.tsv", 0, 1)
            .into_iter()
            .filter(|(id, _)| instances.contains(id))
            .map(|(_, host)| lab_root().join("hosts").join(host))
            .collect();
        hosts.sort();
        hosts.dedup();
        let records = RecordsMark::now();
        let mut state = BTreeMap::new();
        for dir in &hosts {
            walk(dir, &mut state);
        }
        Self {
            hosts,
            state,
            records,
            routed: route_log().len(),
        }
    }

    /// What changed since `self` on the hosts only the test's instances
    /// used meanwhile: state files that differ, and records of calls that
    /// change something (reads such as `psql -tAc SELECT` or `systemctl
    /// is-active` are recorded too, and are fine).
    fn changes(&self, instances: &[String]) -> Vec<String> {
        let shared: Vec<PathBuf> = route_log()
            .into_iter()
            .skip(self.routed)
            .filter(|(id, _)| !instances.contains(id))
            .map(|(_, host)| lab_root().join("hosts").join(host))
            .collect();
        let mut changes = Vec::new();
        let mut checked = 0;
        for dir in self.hosts.iter().filter(|h| !shared.contains(h)) {
            checked += 1;
            let mut after = BTreeMap::new();
            walk(dir, &mut after);
            let before: BTreeMap<&PathBuf, &u64> = self
                .state
                .iter()
                .filter(|(p, _)| p.starts_with(dir))
                .collect();
            for (path, hash) in &after {
                if before.get(path) != Some(&hash) {
                    changes.push(format!("changed {}", path.display()));
                }
            }
            for path in before.keys().filter(|p| !after.contains_key(**p)) {
                changes.push(format!("removed {}", path.display()));
            }
            changes.extend(
                self.records
                    .since(dir)
                    .into_iter()
                    .filter(|record| !is_read_record(record))
                    .map(|record| format!("{}: {record}", dir.display())),
            );
        }
        eprintln!(
            "lab hosts checked: {checked} of {} (others were shared with other tests meanwhile)",
            self.hosts.len()
        );
        changes
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // a lab host's PostgreSQL server writes its own files as it runs
            if path.ends_with("postgres/data") || path.ends_with("postgres/run") {
                continue;
            }
            walk(&path, out);
        } else if path
            .file_name()
            .is_some_and(|n| n != "records.log" && n != ".lock")
        {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            if meta.file_type().is_symlink() {
                std::fs::read_link(&path).ok().hash(&mut hasher);
            } else {
                std::fs::read(&path).ok().hash(&mut hasher);
            }
            out.insert(path, hasher.finish());
        }
    }
}

/// A record of a stand-in call that only looks.
fn is_read_record(record: &Record) -> bool {
    let args = record.args.as_str();
    let first = args.split(' ').next().unwrap_or_default();
    match record.tool.as_str() {
        // The inner tool records its own line.
        "sudo" | "hostname" => true,
        // they only look: a health check, the disks and mounts
        "pg_isready" | "lsblk" | "findmnt" | "mountpoint" => true,
        "psql" => args.to_uppercase().contains("SELECT"),
        "systemctl" => matches!(first, "is-active" | "is-enabled" | "status"),
        "git" => matches!(first, "rev-parse" | "status" | "log"),
        _ => false,
    }
}

/// One dry run: the entry point and its `--var`s.
struct Case {
    file: &'static str,
    function: &'static str,
    vars: Vec<String>,
}

fn case(file: &'static str, function: &'static str, vars: &[&str]) -> Case {
    Case {
        file,
        function,
        vars: vars.iter().map(ToString::to_string).collect(),
    }
}

/// Dry-run each case; what failed, with why, for one report at the end.
fn dry_run_all(cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let mut args = vec!["run", case.file, case.function, "--dry-run"];
        for var in &case.vars {
            args.extend(["--var", var.as_str()]);
        }
        let label = format!("{} {} {}", case.file, case.function, case.vars.join(" "));
        let out = std::panic::catch_unwind(|| opsh(&args, HANG));
        let out = match out {
            Ok(out) => out,
            Err(_) => {
                failures.push(format!("{label}: hung (still running after {HANG:?})"));
                continue;
            }
        };
        let journal = out.dir.path().join(".local/state/opsh/journal");
        if out.code != 0 {
            let tail: Vec<&str> = out.stderr.lines().rev().take(4).collect();
            failures.push(format!(
                "{label}: exit {}: {}",
                out.code,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        } else if !out.stdout.contains("Plan (dry run, nothing was changed)") {
            failures.push(format!("{label}: no plan in\n{}", out.stdout));
        }
        if journal.exists() {
            failures.push(format!("{label}: a dry run wrote {}", journal.display()));
        }
    }
    failures
}

/// Tears down what the test built, even when an assertion failed.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for cluster in &self.0 {
            let var = format!("cluster={cluster}");
            let _ = opsh(
                &[
                    "run",
                    "runbooks/teardown.rhai",
                    "teardown",
                    "--var",
                    &var,
                    "--yes",
                ],
                BUILD_HANG,
            );
        }
    }
}

#[test]
fn every_entry_point_dry_runs_without_hanging_and_changes_nothing() {
    let new = unique("dry-new");
    let built = unique("dry-built");
    let knit = unique("dry-knit");
    let fixture = unique("dry-ex");
    let bucket = unique("dry-bucket");
    let _cleanup = Cleanup(vec![built.clone(), knit.clone(), fixture.clone()]);

    // What the dry runs read: the quick start's cluster, cluster.rhai's
    // machines, and for the examples an instance (running, with a role,
    // owner and image of its own) and a directory to archive.
    let cluster = |c: &str| format!("cluster={c}");
    build(&[
        "run",
        "runbooks/full_system.rhai",
        "whip_up_full_system",
        "--var",
        &cluster(&built),
    ]);
    // A second release, so rollback_update has one to go back to whatever
    // the shared lab hosts held before.
    build(&[
        "run",
        "runbooks/quick_update.rhai",
        "quick_update",
        "--yes",
        "--var",
        &cluster(&built),
        "--var",
        "component=all",
        "--var",
        "reinstall=no",
        "--var",
        "upgrade=no",
    ]);
    build(&[
        "run",
        "runbooks/cluster.rhai",
        "launch_cluster",
        "--var",
        &cluster(&knit),
    ]);
    let example_name = format!("{fixture}-web");
    let setup = format!(
        r#"let node = ec2::launch(#{{ image: "ami-12c6146b", type: "t3.micro", name: "{example_name}",
    tags: #{{ cluster: "{fixture}", role: "{fixture}", purpose: "scratch", owner: "{fixture}" }} }})[0];
ec2::wait_until(node, "running");
ec2::create_image(node, #{{ name: "{fixture}", tags: #{{ cluster: "{fixture}", role: "{fixture}" }} }});
"#
    );
    Test::new()
        .lab()
        .file("setup.rhai", &setup)
        .args(&["run", "setup.rhai"])
        .run()
        .code(0);
    let archived = tempfile::tempdir().expect("a directory to archive");
    std::fs::write(archived.path().join("a.txt"), "a").expect("write a file");
    let archived = archived.path().to_string_lossy().into_owned();

    let scope = Scope {
        clusters: vec![new.clone(), built.clone(), knit.clone(), fixture.clone()],
        groups: [&new, &built]
            .iter()
            .flat_map(|c| ["web", "app", "db", "monitor"].map(|g| format!("{c}-{g}")))
            .chain(["example-web".to_string(), "example-db".to_string()])
            .collect(),
        buckets: vec![
            format!("{new}-backups"),
            format!("{built}-backups"),
            bucket.clone(),
        ],
    };
    let world_before = scope.describe();
    let instances: Vec<String> = world_before
        .as_object()
        .expect("the world as a map")
        .iter()
        .filter(|(key, _)| key.starts_with("instances "))
        .flat_map(|(_, nodes)| nodes.as_array().cloned().unwrap_or_default())
        .filter_map(|node| node["id"].as_str().map(str::to_string))
        .collect();
    let hosts_before = LabHosts::now(&instances);

    let on = |c: &str| cluster(c);
    let (n, b, k) = (on(&new), on(&built), on(&knit));
    let answers = ["component=web", "reinstall=no", "upgrade=no"];
    let with = |c: &str, more: &[&str]| {
        let mut all = vec![c.to_string()];
        all.extend(more.iter().map(ToString::to_string));
        all
    };
    // A cluster that does not exist: what can start from nothing.
    let mut cases = vec![
        case("runbooks/full_system.rhai", "whip_up_full_system", &[&n]),
        case("runbooks/db_node.rhai", "whip_up_db_node", &[&n]),
        case("runbooks/cluster.rhai", "launch_cluster", &[&n]),
        case("runbooks/teardown.rhai", "teardown", &[&n]),
    ];
    let mut quick = case("runbooks/quick_update.rhai", "quick_update", &[]);
    quick.vars = with(&n, &answers);
    cases.push(quick);
    let mut back = case("runbooks/quick_update.rhai", "rollback_update", &[]);
    back.vars = with(&n, &["component=all"]);
    cases.push(back);
    // The built clusters: every entry point.
    cases.push(case(
        "runbooks/full_system.rhai",
        "whip_up_full_system",
        &[&b],
    ));
    cases.push(case("runbooks/db_node.rhai", "whip_up_db_node", &[&b]));
    let mut quick = case("runbooks/quick_update.rhai", "quick_update", &[]);
    quick.vars = with(&b, &["component=all", "reinstall=yes", "upgrade=yes"]);
    cases.push(quick);
    let mut back = case("runbooks/quick_update.rhai", "rollback_update", &[]);
    back.vars = with(&b, &["component=all"]);
    cases.push(back);
    cases.push(case("runbooks/rolling.rhai", "rolling_update", &[&b]));
    cases.push(case("runbooks/failover.rhai", "failover", &[&b]));
    cases.push(case("runbooks/backup.rhai", "backup", &[&b]));
    cases.push(case("runbooks/teardown.rhai", "teardown", &[&b]));
    cases.push(case("runbooks/cluster.rhai", "launch_cluster", &[&k]));
    cases.push(case("runbooks/cluster.rhai", "definition", &[&k]));
    cases.push(case("runbooks/shop.rhai", "settings", &[&b]));
    cases.push(case("runbooks/shop.rhai", "release_id", &[]));
    let mut scenario = case("runbooks/cluster.rhai", "run_scenario", &[]);
    scenario.vars = with(&k, &["scenario=deploy"]);
    cases.push(scenario);
    // The examples, on names nothing has and on what the test built.
    let owner = format!("owner={fixture}");
    let named = format!("name={example_name}");
    let role = format!("role={fixture}");
    let new_name = format!("name={new}-scratch");
    let s3 = format!("bucket={bucket}");
    let dir = format!("dir={archived}");
    cases.extend([
        case("examples/default_hosts.rhai", "uptime_everywhere", &[]),
        case(
            "examples/describe_and_terminate.rhai",
            "stop_scratch",
            &[&format!("owner={new}")],
        ),
        case(
            "examples/describe_and_terminate.rhai",
            "stop_scratch",
            &[&owner],
        ),
        case("examples/elastic_ip.rhai", "pin_address", &[&named]),
        case("examples/first_runbook.rhai", "check_disk", &[]),
        case(
            "examples/first_runbook.rhai",
            "test_then_commit",
            &["message=m"],
        ),
        case(
            "examples/git_pull_restart.rhai",
            "pull_and_restart",
            &[&role],
        ),
        case("examples/image_by_role.rhai", "image_for", &[&role]),
        case(
            "examples/launch_and_connect.rhai",
            "launch_and_connect",
            &[&new_name],
        ),
        case(
            "examples/launch_and_connect.rhai",
            "launch_and_connect",
            &[&named],
        ),
        case("examples/s3_backup.rhai", "backup_dir", &[&s3, &dir]),
        case("examples/security_groups.rhai", "web_and_db", &[]),
        case("examples/tag_resources.rhai", "retag", &[&named]),
    ]);
    // Every entry point of runbooks/ and examples/ is among the cases.
    let covered: std::collections::BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.file.to_string(), c.function.to_string()))
        .collect();
    for (file, function) in entry_points() {
        assert!(
            covered.contains(&(file.clone(), function.clone())),
            "{file} {function} has no dry run here"
        );
    }

    let mut failures = dry_run_all(&cases);
    let world_after = scope.describe();
    if world_after != world_before {
        failures.push(format!(
            "the emulator changed:\nbefore {world_before:#}\nafter {world_after:#}"
        ));
    }
    failures.extend(hosts_before.changes(&instances));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `opsh list --output json` of each file: its functions that take no
/// parameters are what a user runs (the others are called by them).
fn entry_points() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for dir in ["runbooks", "examples"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .expect("list the directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .collect();
        files.sort();
        for path in files {
            let file = format!(
                "{dir}/{}",
                path.file_name().expect("name").to_string_lossy()
            );
            let out = opsh(&["list", &file, "--output", "json"], HANG);
            out.code(0);
            let listed: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON list");
            all.extend(
                entry_functions(&listed)
                    .into_iter()
                    .map(|f| (file.clone(), f)),
            );
        }
    }
    all
}

fn entry_functions(listed: &serde_json::Value) -> Vec<String> {
    listed
        .as_array()
        .expect("a list of functions")
        .iter()
        .filter(|f| f["params"].as_array().is_some_and(Vec::is_empty))
        .filter_map(|f| f["name"].as_str().map(str::to_string))
        // Closures are listed too, under generated names.
        .filter(|name| !name.starts_with("anon$"))
        .collect()
}
