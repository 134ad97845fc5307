//! `s3::` against the lab's moto: buckets, text and blobs, streamed
//! multipart transfers, listing across pages, confirmations, presigned
//! URLs and dry runs. Every test uses its own bucket.

mod common;

use std::process::Command;

use common::Test;
use common::lab::{lab, unique};

fn bucket() -> String {
    unique("opsh-s3")
}

/// Run `script` as r.rhai in a fresh directory pointed at the lab.
fn run(script: &str, args: &[&str]) -> common::Outcome {
    let mut all = vec!["run", "r.rhai"];
    all.extend_from_slice(args);
    Test::new().lab().file("r.rhai", script).args(&all).run()
}

/// What `code` prints, run by the lab venv's python (boto3, pointed at the
/// lab) to see moto's side of a transfer.
fn boto3(code: &str) -> String {
    let out = Command::new(lab().python())
        .arg("-c")
        .arg(format!("import boto3\ns3 = boto3.client('s3')\n{code}"))
        .envs(&lab().env)
        .output()
        .expect("run the lab venv's python");
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Bytes that differ everywhere, so a misplaced part cannot compare equal.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn create_bucket_twice_is_fine() {
    let b = bucket();
    run(
        &format!(
            r#"
            print(s3::create_bucket("{b}"));
            s3::create_bucket("{b}");
            print(s3::buckets().contains("{b}"));
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is(&format!("{b}\ntrue\n"))
    .stderr_has(&format!("bucket s3://{b} already exists"));
}

#[test]
fn put_and_get_text_round_trip() {
    let b = bucket();
    run(
        &format!(
            r#"
            s3::create_bucket("{b}");
            s3::put("{b}", "notes/today.txt", "héllo\nwörld ✓");
            s3::put("{b}", "page.html", "<p>hi</p>", #{{ content_type: "text/html" }});
            print(s3::get("{b}", "notes/today.txt"));
            print(s3::get("{b}", "page.html"));
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is("héllo\nwörld ✓\n<p>hi</p>\n");
}

#[test]
fn get_of_binary_data_errors_and_get_blob_returns_the_bytes() {
    let b = bucket();
    let setup = format!(
        r#"
        s3::create_bucket("{b}");
        let data = blob();
        for byte in [0, 255, 128, 10] {{ data.push(byte); }}
        s3::put("{b}", "raw.bin", data);
        print(s3::get_blob("{b}", "raw.bin"));
        s3::get("{b}", "raw.bin");
        "#
    );
    run(&setup, &[])
        .code(1)
        .stdout_is("[00ff800a]\n")
        .stderr_has(&format!("s3::get (s3://{b}/raw.bin)"))
        .stderr_has("not UTF-8")
        .stderr_has("s3::get_blob");
}

#[test]
fn missing_objects_and_buckets_are_named_in_errors() {
    let b = bucket();
    run(
        &format!("s3::create_bucket(\"{b}\");\ns3::get(\"{b}\", \"nope.txt\");\n"),
        &[],
    )
    .code(1)
    .stderr_has(&format!("s3::get (s3://{b}/nope.txt) failed: NoSuchKey"))
    .stderr_has("help:");
    run(&format!("s3::exists(\"{b}-missing\", \"k\");\n"), &[])
        .code(1)
        .stderr_has(&format!("s3://{b}-missing"))
        .stderr_has("NoSuchBucket");
}

#[test]
fn multipart_upload_and_download_round_trip_byte_for_byte() {
    let b = bucket();
    // Three 5 MiB parts (the last one short) and a small single-request file.
    let big = pseudo_random(11 * 1024 * 1024 + 123);
    let small = pseudo_random(3000);
    let test = Test::new().lab().file(
        "r.rhai",
        &format!(
            r#"
            s3::create_bucket("{b}");
            print(s3::upload("{b}", "data/", "in/big.bin", #{{ part_size: 5 * 1024 * 1024 }}));
            print(s3::upload("{b}", "data/small.bin", "in/small.bin"));
            for o in s3::list("{b}") {{ print(`${{o.key}} ${{o.size}}`); }}
            print(s3::download("{b}", "data/big.bin", "out/big.bin"));
            print(s3::download("{b}", "data/small.bin", "out"));
            "#
        ),
    );
    std::fs::create_dir_all(test.path().join("in")).unwrap();
    std::fs::create_dir_all(test.path().join("out")).unwrap();
    std::fs::write(test.path().join("in/big.bin"), &big).unwrap();
    std::fs::write(test.path().join("in/small.bin"), &small).unwrap();
    let out = test.args(&["run", "r.rhai", "-v"]).run();
    out.code(0)
        .stdout_is(&format!(
            "data/big.bin\ndata/small.bin\ndata/big.bin {}\ndata/small.bin 3000\nout/big.bin\nout/small.bin\n",
            big.len()
        ))
        .stderr_has("parts=3");
    assert!(std::fs::read(out.path("out/big.bin")).unwrap() == big);
    assert!(std::fs::read(out.path("out/small.bin")).unwrap() == small);
}

#[test]
fn a_failed_download_leaves_no_file_behind() {
    let b = bucket();
    let out = Test::new()
        .lab()
        .file("keep.txt", "old contents")
        .file(
            "r.rhai",
            &format!(
                "s3::create_bucket(\"{b}\");\ns3::download(\"{b}\", \"missing\", \"keep.txt\");\n"
            ),
        )
        .args(&["run", "r.rhai"])
        .run();
    out.code(1).stderr_has(&format!(
        "s3::download (s3://{b}/missing) failed: NoSuchKey"
    ));
    assert_eq!(
        std::fs::read_to_string(out.path("keep.txt")).unwrap(),
        "old contents"
    );
    let mut names: Vec<String> = std::fs::read_dir(out.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // opsh's own state (the journal) lives under the test's HOME.
        .filter(|name| name != ".local")
        .collect();
    names.sort();
    assert_eq!(names, ["keep.txt", "r.rhai"], "temporary files left behind");
}

#[test]
fn local_paths_that_cannot_be_used_are_named() {
    let b = bucket();
    let upload = format!("s3::upload(\"{b}\", \"k\", \"no/such/file.bin\");\n");
    run(&upload, &[])
        .code(1)
        .stderr_has("s3::upload: cannot read no/such/file.bin");
    // A dry run plans it: an earlier planned command may write the file.
    run(&upload, &["--dry-run"])
        .code(0)
        .stderr_has("no/such/file.bin does not exist yet; planned anyway");
    run(
        &format!("s3::upload(\"{b}\", \"k\", \".\");\n"),
        &["--dry-run"],
    )
    .code(1)
    .stderr_has("it is not a regular file");
    run(
        &format!(
            "s3::create_bucket(\"{b}\");\ns3::put(\"{b}\", \"k\", \"x\");\ns3::download(\"{b}\", \"k\", \"no/such/dir/k\");\n"
        ),
        &[],
    )
    .code(1)
    .stderr_has("s3::download: cannot write no/such/dir/k");
}

#[test]
fn list_follows_every_page_sorted_by_key() {
    let b = bucket();
    run(
        &format!(
            r#"
            s3::create_bucket("{b}");
            for i in [7, 3, 5, 1, 6, 2, 4] {{
                let text = "";
                for n in 0..i {{ text += "x"; }}
                s3::put("{b}", `logs/${{i}}.log`, text);
            }}
            s3::put("{b}", "other/a", "a");
            s3::put("{b}", "top", "t");
            let logs = s3::list("{b}", #{{ prefix: "logs/", page_size: 2 }});
            print(logs.map(|o| `${{o.key}}=${{o.size}}`));
            print(logs[0].modified);
            print(s3::list("{b}", #{{ page_size: 1 }}).len());
            print(s3::list("{b}").len());
            "#
        ),
        &["-v"],
    )
    .code(0)
    // 7 keys at 2 a page, 9 at 1 a page, then 9 in S3's default page.
    .stderr_has("objects=7 pages=4\n")
    .stderr_has("objects=9 pages=9\n")
    .stderr_has("objects=9 pages=1\n")
    .stdout_has(
        "[\"logs/1.log=1\", \"logs/2.log=2\", \"logs/3.log=3\", \"logs/4.log=4\", \"logs/5.log=5\", \"logs/6.log=6\", \"logs/7.log=7\"]\n",
    )
    .stdout_has("Z\n9\n9\n");
}

#[test]
fn exists_is_true_or_false() {
    let b = bucket();
    run(
        &format!(
            r#"
            s3::create_bucket("{b}");
            s3::put("{b}", "here", "1");
            print(s3::exists("{b}", "here"));
            print(s3::exists("{b}", "not-here"));
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is("true\nfalse\n");
}

#[test]
fn delete_asks_first_and_without_an_answer_nothing_is_deleted() {
    let b = bucket();
    run(
        &format!("s3::create_bucket(\"{b}\");\ns3::put(\"{b}\", \"precious\", \"1\");\n"),
        &[],
    )
    .code(0);
    run(&format!("s3::delete(\"{b}\", \"precious\");\n"), &[])
        .code(3)
        .stderr_has(&format!("s3://{b}/precious"))
        .stderr_has("--var confirm_delete=yes");
    run(&format!("print(s3::exists(\"{b}\", \"precious\"));\n"), &[])
        .code(0)
        .stdout_is("true\n");
    run(
        &format!("s3::delete(\"{b}\", \"precious\");\nprint(s3::exists(\"{b}\", \"precious\"));\n"),
        &["--yes"],
    )
    .code(0)
    .stdout_is("false\n");
}

#[test]
fn delete_of_an_array_removes_exactly_those_keys() {
    let b = bucket();
    run(
        &format!(
            r#"
            s3::create_bucket("{b}");
            for k in ["a", "b", "c", "d"] {{ s3::put("{b}", k, k); }}
            s3::delete("{b}", ["a", "c", "missing"]);
            print(s3::list("{b}").map(|o| o.key));
            s3::delete("{b}", []);
            "#
        ),
        &["--yes"],
    )
    .code(0)
    .stdout_is("[\"b\", \"d\"]\n")
    .stderr_has(&format!("s3://{b}/a"))
    .stderr_has(&format!("s3://{b}/missing"));
}

#[test]
fn a_presigned_url_fetches_the_object_over_plain_http() {
    let b = bucket();
    run(
        &format!(
            r#"
            s3::create_bucket("{b}");
            s3::put("{b}", "dir/file name.txt", "fetched by curl");
            let url = s3::presign("{b}", "dir/file name.txt", 300);
            print(local::run(`curl -fsS ${{quote(url)}}`, #{{ quiet: true }}).stdout);
            "#
        ),
        &[],
    )
    .code(0)
    .stdout_is("fetched by curl\n");
}

#[test]
fn dry_run_writes_nothing() {
    let b = bucket();
    run(&format!("s3::create_bucket(\"{b}\");\n"), &[]).code(0);
    let out = Test::new()
        .lab()
        .file("local.txt", "some bytes")
        .file(
            "r.rhai",
            &format!(
                r#"
                s3::create_bucket("{b}-new");
                s3::put("{b}", "k", "value");
                print(s3::upload("{b}", "up/", "local.txt"));
                s3::delete("{b}", ["x", "y"]);
                // The plan's writes are what a later read sees.
                print(s3::list("{b}").len());
                "#
            ),
        )
        .args(&["run", "r.rhai", "--dry-run"])
        .run();
    out.code(0)
        .stdout_has("up/local.txt\n2\n")
        .stdout_has(&format!(
            "Plan (dry run, nothing was changed): 5 action(s)\n  \
             1. s3::create_bucket s3://{b}-new\n  \
             2. s3::put s3://{b}/k {{\"bytes\":5}}\n  \
             3. s3::upload s3://{b}/up/local.txt {{\"path\":\"local.txt\",\"bytes\":10}}\n  \
             4. confirm delete 2 resources?\n  \
             5. s3::delete s3://{b} {{\"keys\":[\"x\",\"y\"]}}\n"
        ));
    run(
        &format!(
            "print(s3::exists(\"{b}\", \"k\"));\nprint(s3::buckets().contains(\"{b}-new\"));\n"
        ),
        &[],
    )
    .code(0)
    .stdout_is("false\nfalse\n");
}

/// The parts moto holds of unfinished multipart uploads to `bucket`.
fn parts_stored(bucket: &str) -> usize {
    boto3(&format!(
        "print(sum(len(s3.list_parts(Bucket='{bucket}', Key=u['Key'], UploadId=u['UploadId']).get('Parts', [])) \
         for u in s3.list_multipart_uploads(Bucket='{bucket}').get('Uploads', [])))"
    ))
    .trim()
    .parse()
    .expect("a count of parts")
}

#[test]
fn ctrl_c_during_a_multipart_upload_aborts_it() {
    let b = bucket();
    run(&format!("s3::create_bucket(\"{b}\");\n"), &[]).code(0);
    let test = Test::new().lab().file(
        "r.rhai",
        &format!(
            "s3::upload(\"{b}\", \"huge.bin\", \"huge.bin\", #{{ part_size: 5 * 1024 * 1024 }});\n"
        ),
    );
    // Sparse: 4 GiB of zeros that take no disk and cannot upload in time.
    std::fs::File::create(test.path().join("huge.bin"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let mut opsh = test.args(&["run", "r.rhai", "-v"]).spawn();
    // Ctrl-C once moto holds a part: there is an upload to abort.
    opsh.wait_until("a part of the upload stored on moto", |_| {
        parts_stored(&b) > 0
    });
    opsh.interrupt();
    let out = opsh.finish();
    out.code(130).stderr_has("multipart upload aborted");
    // Nothing of the upload is left: no object, no pending parts.
    let left = boto3(&format!(
        "print(len(s3.list_multipart_uploads(Bucket='{b}').get('Uploads', [])), \
         s3.list_objects_v2(Bucket='{b}')['KeyCount'])"
    ));
    assert_eq!(left, "0 0\n");
}

#[test]
fn doc_lists_every_s3_function() {
    let out = Test::new().args(&["doc", "s3::"]).run();
    out.code(0);
    for name in [
        "buckets",
        "create_bucket",
        "put",
        "get",
        "get_blob",
        "upload",
        "download",
        "exists",
        "list",
        "delete",
        "presign",
    ] {
        out.stdout_has(&format!("s3::{name}("));
    }
}
