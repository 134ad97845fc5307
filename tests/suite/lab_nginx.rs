//! The lab's nginx and disks against the runbooks: configs are checked by
//! the machine's real nginx (`nginx -t`, and systemctl before a start or a
//! reload), a lab host's disks are its instance's EBS volumes, and the shop
//! proxy and failover work the way a real Ubuntu host needs. Assertions look
//! only at what each test caused: its own output, and the lines its lab
//! hosts recorded since it started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common;
use crate::common::lab::{lab, unique};
use crate::common::{Test, repo};

/// `opsh run FILE FUNCTION ARGS...` from the repository root.
fn runbook(file: &str, function: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", file, function];
    all.extend_from_slice(args);
    Test::new()
        .lab()
        .env("SHOP_DB_PASSWORD", "pw-nginx-tests")
        .cwd(&repo())
        .args(&all)
        .run()
}

/// A script of the test's own, run in the lab (`--yes` for its clean-up).
fn script(text: &str) -> common::Outcome {
    Test::new()
        .lab()
        .file("t.rhai", text)
        .args(&["run", "t.rhai", "--yes"])
        .run()
}

fn lab_root() -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
}

/// The lab host directory routes.tsv gave `instance`.
fn lab_dir_of(instance: &str) -> PathBuf {
    let routes = std::fs::read_to_string(lab_root().join("routes.tsv")).expect("routes.tsv");
    let host = routes
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{instance}\t")))
        .next_back()
        .unwrap_or_else(|| panic!("{instance} was never routed to a lab host"));
    lab_root().join("hosts").join(host)
}

/// How many lines each lab host had recorded when the test started.
struct Records(HashMap<PathBuf, usize>);

impl Records {
    fn now() -> Self {
        let hosts = std::fs::read_dir(lab_root().join("hosts")).expect("lab hosts");
        Self(
            hosts
                .filter_map(|h| {
                    let dir = h.ok()?.path();
                    let text = std::fs::read_to_string(dir.join("records.log")).ok()?;
                    Some((dir, text.lines().count()))
                })
                .collect(),
        )
    }

    /// The lines `dir` recorded since `now()`.
    fn since(&self, dir: &Path) -> Vec<String> {
        let skip = self.0.get(dir).copied().unwrap_or(0);
        std::fs::read_to_string(dir.join("records.log"))
            .unwrap_or_default()
            .lines()
            .skip(skip)
            .map(str::to_string)
            .collect()
    }
}

/// The one line of `out.stdout` that starts with `label` and a space, without them.
fn field<'a>(out: &'a common::Outcome, label: &str) -> &'a str {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no {label:?} line in\n{}", out.stdout))
}

fn teardown(cluster: &str) {
    runbook(
        "runbooks/teardown.rhai",
        "teardown",
        &["--var", &format!("cluster={cluster}"), "--yes"],
    )
    .code(0);
}

/// nginx runs nowhere on this machine: the lab only ever runs `nginx -t`.
fn no_nginx_server_runs() {
    let servers: Vec<String> = common::command_lines()
        .into_iter()
        .filter(|l| {
            l.starts_with("nginx: master process") || l.starts_with("nginx: worker process")
        })
        .collect();
    assert!(servers.is_empty(), "an nginx server runs: {servers:?}");
}

#[test]
fn a_bad_nginx_config_fails_at_nginx_t_and_at_reload_or_restart() {
    let name = unique("ngx-bad");
    let out = script(&format!(
        r#"
let node = ec2::wait_until(ec2::launch(#{{ image: "ami-12c6146b", name: "{name}" }})[0], "running");
print(`id ${{node.id}}`);
let h = ssh::connect(node);
fn show(label, r) {{ let e = r.stderr; e.trim(); e.replace("\n", " | "); print(`${{label}} ${{r.code}} ${{e}}`); }}
// a lab host may have served an earlier instance: start from no nginx at all
h.sudo(apt_get("purge nginx"), #{{ quiet: true }});
show("before", h.sudo("nginx -t", #{{ warn: true }}));
h.sudo(apt_get("install nginx"), #{{ quiet: true }});
show("fresh", h.sudo("nginx -t", #{{ warn: true }}));
show("unprivileged", h.run("nginx -t", #{{ warn: true }}));
// a site proxying to a name no resolver knows
h.write("/etc/nginx/sites-available/bad", "server {{\n    listen 8080;\n    location / {{ proxy_pass http://app:8000; }}\n}}\n", #{{ sudo: true }});
h.sudo("ln -s /etc/nginx/sites-available/bad /etc/nginx/sites-enabled/bad");
show("unresolvable", h.sudo("nginx -t", #{{ warn: true }}));
show("reload", h.sudo("systemctl reload nginx", #{{ warn: true }}));
show("after-reload", h.run("systemctl is-active nginx", #{{ warn: true }}));
// a misspelt directive
h.write("/etc/nginx/sites-available/bad", "server {{\n    listen 8080;\n    proxy_passs http://127.0.0.1:8000;\n}}\n", #{{ sudo: true }});
show("unknown", h.sudo("nginx -t", #{{ warn: true }}));
show("signal", h.sudo("nginx -s reload", #{{ warn: true }}));
show("restart", h.sudo("systemctl restart nginx", #{{ warn: true }}));
show("after-restart", h.run("systemctl is-active nginx", #{{ warn: true }}));
// a second default server beside Debian's default site
h.write("/etc/nginx/sites-available/bad", "server {{\n    listen 80 default_server;\n    return 204;\n}}\n", #{{ sudo: true }});
show("duplicate", h.sudo("nginx -t", #{{ warn: true }}));
h.sudo("rm /etc/nginx/sites-enabled/bad");
show("fixed", h.sudo("nginx -t", #{{ warn: true }}));
show("start", h.sudo("systemctl start nginx", #{{ warn: true }}));
ec2::terminate(node);
"#
    ));
    out.code(0);
    assert_eq!(field(&out, "before"), "1 sudo: nginx: command not found");
    assert!(
        field(&out, "fresh")
            .starts_with("0 nginx: the configuration file /etc/nginx/nginx.conf syntax is ok")
    );
    let unprivileged = field(&out, "unprivileged");
    assert!(
        unprivileged.starts_with("1 ") && unprivileged.contains("(13: Permission denied)"),
        "{unprivileged}"
    );
    let unresolvable = field(&out, "unresolvable");
    assert!(
        unresolvable.starts_with("1 ")
            && unresolvable
                .contains("host not found in upstream \"app\" in /etc/nginx/sites-enabled/bad:3")
            && unresolvable.ends_with("test failed"),
        "{unresolvable}"
    );
    assert_eq!(
        field(&out, "reload"),
        "1 Job for nginx.service failed because the control process exited with error code. | \
         See \"systemctl status nginx.service\" and \"journalctl -xeu nginx.service\" for details."
    );
    // A failed reload keeps the server that ran; a failed restart had stopped it first.
    assert_eq!(field(&out, "after-reload"), "0 ");
    assert!(
        field(&out, "unknown")
            .contains("unknown directive \"proxy_passs\" in /etc/nginx/sites-enabled/bad:3"),
        "{}",
        out.stdout
    );
    assert!(field(&out, "signal").contains("unknown directive \"proxy_passs\""));
    assert!(field(&out, "restart").starts_with("1 Job for nginx.service failed"));
    assert_eq!(field(&out, "after-restart"), "3 ");
    assert!(
        field(&out, "duplicate").contains("a duplicate default server for 0.0.0.0:80"),
        "{}",
        out.stdout
    );
    assert!(field(&out, "fixed").starts_with("0 "));
    assert_eq!(field(&out, "start"), "0 ");
    no_nginx_server_runs();
}

#[test]
fn the_shop_proxy_passes_the_real_nginx_t_with_its_site_enabled_and_the_default_removed() {
    let cluster = unique("ngx-shop");
    let before = Records::now();
    let files = repo().join("runbooks/files");
    let out = Test::new()
        .lab()
        .env_remove("XDG_STATE_HOME")
        .file("shop.rhai", include_str!("../../runbooks/shop.rhai"))
        .file(
            "t.rhai",
            &format!(
                r#"
import "shop" as shop;
let settings = shop::settings();
let app = ec2::wait_until(ec2::launch(#{{ image: settings.base_image, name: "{cluster}-app", tags: #{{ cluster: "{cluster}", role: "app" }} }})[0], "running");
let proxy = create_node("proxy", settings);
let h = ssh::connect(proxy);
// a lab host may have served an earlier instance: start from Debian's fresh /etc/nginx
h.sudo(apt_get("purge nginx"), #{{ quiet: true }});
install_role_packages(h, "proxy", settings);
let tree = `${{settings.files}}/proxy`;
print(`first ${{shop::configure_proxy(h, tree, settings)}}`);
print(`second ${{shop::configure_proxy(h, tree, settings)}}`);
let check = h.sudo("nginx -t", #{{ warn: true }});
print(`check ${{check.code}}`);
print(`app ${{app.private_ip}}`);
print(`proxy ${{proxy.id}}`);
"#
            ),
        )
        .args(&[
            "run",
            "t.rhai",
            "--var",
            &format!("cluster={cluster}"),
            "--var",
            &format!("files={}", files.display()),
        ])
        .run();
    out.code(0);
    assert_eq!(field(&out, "first"), "true");
    assert_eq!(field(&out, "second"), "false", "{}", out.stderr);
    assert_eq!(field(&out, "check"), "0");
    out.stderr_has("nginx's configuration is unchanged: no reload");

    let dir = lab_dir_of(field(&out, "proxy"));
    let etc = dir.join("root/etc/nginx");
    let link =
        std::fs::read_link(etc.join("sites-enabled/shop")).expect("sites-enabled/shop is a link");
    assert_eq!(link, etc.join("sites-available/shop"));
    assert!(
        !etc.join("sites-enabled/default").exists() && etc.join("sites-available/default").exists(),
        "the default site is still enabled, or was deleted rather than disabled"
    );
    let upstream =
        std::fs::read_to_string(etc.join("conf.d/shop-upstream.conf")).expect("upstream");
    assert!(
        upstream.contains(&format!("server {}:8000;", field(&out, "app"))),
        "{upstream}"
    );
    // nginx -t before the one reload the first run needed; the second run
    // neither wrote nor reloaded (the run's own commands, from its journal).
    let ran = out.commands_on(field(&out, "proxy"));
    let at = |what: &str| -> Vec<usize> { (0..ran.len()).filter(|&i| ran[i] == what).collect() };
    let (tests, reloads) = (at("nginx -t"), at("systemctl reload nginx"));
    assert!(
        tests.len() == 2 && reloads.len() == 1 && tests[0] < reloads[0] && reloads[0] < tests[1],
        "{ran:#?}"
    );
    let writes: Vec<&String> = ran.iter().filter(|c| c.starts_with("write ")).collect();
    assert_eq!(
        writes,
        [
            "write /etc/nginx/sites-available/shop",
            "write /etc/nginx/conf.d/shop-upstream.conf"
        ],
        "{ran:#?}"
    );
    // What the host received: the real nginx ran for each `nginx -t`.
    let records = before.since(&dir);
    assert!(
        records.iter().filter(|l| *l == "nginx\troot\t-t").count() >= 2,
        "{records:#?}"
    );

    // With Debian's default site back, the shop's site clashes with it.
    let clash = Test::new()
        .lab()
        .file(
            "c.rhai",
            &format!(
                r#"
let h = ssh::connect("{}");
h.sudo("ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default");
let r = h.sudo("nginx -t", #{{ warn: true }});
print(`${{r.code}} ${{r.stderr}}`);
h.sudo("rm /etc/nginx/sites-enabled/default");
"#,
                field(&out, "proxy")
            ),
        )
        .args(&["run", "c.rhai"])
        .run();
    clash
        .code(0)
        .stdout_has("1 ")
        .stdout_has("a duplicate default server for 0.0.0.0:80");
    teardown(&cluster);
    no_nginx_server_runs();
}

/// pg_ctl of the machine's newest PostgreSQL (the one the lab runs).
fn pg_ctl() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql")
        .filter_map(|e| Some(e.ok()?.path().join("bin/pg_ctl")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().expect("a PostgreSQL pg_ctl")
}

#[test]
fn failover_finds_a_cluster_down_with_pg_isready_and_mounts_the_restored_volume() {
    let cluster = unique("ngx-fo");
    let var = format!("cluster={cluster}");
    let db = runbook(
        "runbooks/db_node.rhai",
        "whip_up_db_node",
        &["--var", &var, "--output", "json"],
    );
    db.code(0);
    let old: serde_json::Value = serde_json::from_str(&db.stdout).expect("JSON instance");
    let old = old["id"].as_str().expect("id").to_string();
    runbook("runbooks/backup.rhai", "backup", &["--var", &var]).code(0);

    // The cluster goes down behind systemd's back, as a crashed server does.
    let old_dir = lab_dir_of(&old);
    let stopped = std::process::Command::new("runuser")
        .args(["-u", "opsh-lab", "--"])
        .arg(pg_ctl())
        .arg("-D")
        .arg(old_dir.join("postgres/etc"))
        .args(["-m", "fast", "-w", "stop"])
        .output()
        .expect("pg_ctl stop");
    assert!(stopped.status.success(), "{stopped:?}");
    let before = Records::now();
    let out = runbook(
        "runbooks/failover.rhai",
        "failover",
        &["--var", &var, "--output", "json"],
    );
    out.code(0)
        .stderr_has(&format!("{old} failed its health check"))
        .stderr_has("pg_isready")
        .stderr_has("no response");
    let new: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON instance");
    let new_id = new["id"].as_str().expect("id").to_string();
    assert_ne!(new_id, old);
    assert!(
        before
            .since(&old_dir)
            .iter()
            .any(|l| l.starts_with("pg_isready\topsh-lab\t")),
        "the health check was not pg_isready"
    );

    // The restored volume: attached to the new node, mounted at its data directory.
    let volume = Test::new()
        .lab()
        .file(
            "v.rhai",
            &format!(
                "print(ec2::volumes(#{{ instance: \"{new_id}\" }}).filter(|v| \"restored_from\" in v.tags)[0].id);\n"
            ),
        )
        .args(&["run", "v.rhai"])
        .run();
    volume.code(0);
    let volume = volume.stdout.trim().to_string();
    let new_dir = lab_dir_of(&new_id);
    let data = new_dir.join("postgres/data");
    let mounts = std::fs::read_to_string(new_dir.join("mounts")).expect("mounts");
    assert!(
        mounts.lines().any(|l| l
            == format!(
                "/dev/nvme1n1\t{}\text4\trw,relatime\t{volume}",
                data.display()
            )),
        "{mounts}"
    );
    let by_id = format!(
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}",
        volume.replace('-', "")
    );
    let records = before.since(&new_dir);
    let line = |prefix: &str| {
        records
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {records:#?}"))
    };
    let (stop, mount, start) = (
        line("systemctl\troot\tstop postgresql"),
        line(&format!("mount\troot\t-- {by_id} {}", data.display())),
        line("systemctl\troot\tstart postgresql"),
    );
    assert!(stop < mount && mount < start, "{records:#?}");
    let fstab = std::fs::read_to_string(new_dir.join("root/etc/fstab")).expect("fstab");
    assert!(
        fstab.contains(&format!(
            "{by_id} {} auto defaults,nofail 0 2\n",
            data.display()
        )),
        "{fstab}"
    );
    let seen = Test::new()
        .lab()
        .file(
            "f.rhai",
            &format!(
                "let h = ssh::connect(\"{new_id}\");\nprint(h.run(\"findmnt -n -o SOURCE,TARGET --mountpoint {}\", #{{ quiet: true }}).stdout);\nprint(h.run(\"pg_isready\", #{{ quiet: true }}).code);\n",
                data.display()
            ),
        )
        .args(&["run", "f.rhai"])
        .run();
    seen.code(0)
        .stdout_is(&format!("/dev/nvme1n1 {}\n\n0\n", data.display()));
    teardown(&cluster);
}

#[test]
fn mounting_a_device_that_is_not_attached_to_the_host_fails() {
    let name = unique("ngx-mnt");
    let out = script(&format!(
        r#"
let node = ec2::wait_until(ec2::launch(#{{ image: "ami-12c6146b", name: "{name}" }})[0], "running");
let other = ec2::wait_until(ec2::launch(#{{ image: "ami-12c6146b", name: "{name}-other" }})[0], "running");
let source = ec2::create_volume(#{{ size: 1, zone: node.zone }});
let snap = ec2::snapshot(source);
let theirs = ec2::create_volume(#{{ snapshot: snap, zone: other.zone }});
ec2::attach_volume(theirs, other, "/dev/sdf");
let h = ssh::connect(node);
fn show(label, r) {{ let e = r.stderr; e.trim(); e.replace("\n", " | "); print(`${{label}} ${{r.code}} ${{e}}`); }}
fn by_id(v) {{ let s = v.id; s.replace("-", ""); "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + s }}
show("theirs", h.sudo(`mount ${{by_id(theirs)}} /mnt`, #{{ warn: true }}));
show("nothing", h.sudo("mount /dev/nvme1n1 /mnt", #{{ warn: true }}));
show("attach-name", h.sudo("mount /dev/sdf /mnt", #{{ warn: true }}));
let ours = ec2::create_volume(#{{ snapshot: snap, zone: node.zone }});
ec2::attach_volume(ours, node, "/dev/sdf");
let blank = ec2::create_volume(#{{ size: 1, zone: node.zone }});
ec2::attach_volume(blank, node, "/dev/sdg");
show("unprivileged", h.run(`mount ${{by_id(ours)}} /mnt`, #{{ warn: true }}));
show("no-dir", h.sudo(`mount ${{by_id(ours)}} /no/such/dir`, #{{ warn: true }}));
show("blank", h.sudo(`mount ${{by_id(blank)}} /mnt`, #{{ warn: true }}));
show("ours", h.sudo(`mount ${{by_id(ours)}} /mnt`, #{{ warn: true }}));
show("again", h.sudo(`mount ${{by_id(ours)}} /mnt`, #{{ warn: true }}));
print(`device ${{volume_device(h, ours, "/dev/sdf", 5)}}`);
let seen = h.run("findmnt -n -o SOURCE /mnt", #{{ quiet: true }}).stdout;
seen.trim();
print(`findmnt ${{seen}}`);
show("mountpoint", h.run("mountpoint -q /mnt", #{{ warn: true }}));
show("umount", h.sudo("umount /mnt", #{{ warn: true }}));
show("after", h.run("mountpoint -q /mnt", #{{ warn: true }}));
print(`volume ${{ours.id}}`);
ec2::terminate([node, other]);
"#
    ));
    out.code(0);
    let ours = field(&out, "volume").to_string();
    let theirs_line = field(&out, "theirs");
    assert!(
        theirs_line.starts_with(
            "32 mount: /mnt: special device /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol"
        ) && theirs_line.ends_with("does not exist."),
        "{theirs_line}"
    );
    assert_eq!(
        field(&out, "nothing"),
        "32 mount: /mnt: special device /dev/nvme1n1 does not exist."
    );
    // Ubuntu has no /dev/sdf on Nitro or Xen: the attach name is not a device.
    assert_eq!(
        field(&out, "attach-name"),
        "32 mount: /mnt: special device /dev/sdf does not exist."
    );
    assert_eq!(
        field(&out, "unprivileged"),
        "32 mount: /mnt: must be superuser to use mount."
    );
    assert_eq!(
        field(&out, "no-dir"),
        "32 mount: /no/such/dir: mount point does not exist."
    );
    assert!(
        field(&out, "blank").starts_with("32 mount: /mnt: wrong fs type"),
        "{}",
        out.stdout
    );
    assert_eq!(field(&out, "ours"), "0 ");
    assert_eq!(
        field(&out, "again"),
        "32 mount: /mnt: /dev/nvme1n1 already mounted on /mnt."
    );
    assert_eq!(
        field(&out, "device"),
        format!(
            "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}",
            ours.replace('-', "")
        )
    );
    assert_eq!(field(&out, "findmnt"), "/dev/nvme1n1");
    assert_eq!(field(&out, "mountpoint"), "0 ");
    assert_eq!(field(&out, "umount"), "0 ");
    assert_eq!(field(&out, "after"), "32 ");
}
