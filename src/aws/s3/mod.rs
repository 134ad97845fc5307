//! `s3::`: buckets and objects. Text and blobs go through memory; files
//! stream from and to disk (see transfer.rs). Writes honour --dry-run and
//! deletes ask first.

pub mod plan;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
};
use rhai::{Array, Blob, Dynamic, Engine, INT, Map};

use crate::aws::s3::plan::{Object, planned};
use crate::aws::s3::transfer::{DEFAULT_PART_SIZE, MAX_OBJECT_SIZE, MIB, MIN_PART_SIZE, Upload};
use crate::aws::{Aws, call_error, clients, error_code, transfer_error};
use crate::core::api;
use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::journal::now;
use crate::core::options::{Options, RhaiResult, runtime_error};

const PUT_OPTIONS: &[&str] = &["content_type"];
const UPLOAD_OPTIONS: &[&str] = &["content_type", "part_size"];
const LIST_OPTIONS: &[&str] = &["prefix", "page_size"];
/// The longest key S3 takes, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;
/// DeleteObjects takes at most this many keys per request.
const DELETE_BATCH: usize = 1000;
/// The longest a SigV4 presigned URL may live: 7 days.
const MAX_PRESIGN_SECONDS: INT = 7 * 24 * 3600;

/// `s3::`.
pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    api::module(engine, ctx, "s3", |s3| {
        s3.add(
            "buckets",
            &["Array"],
            "The names of the buckets these credentials own, sorted.\n\
             Example: if !s3::buckets().contains(\"backups\") { s3::create_bucket(\"backups\"); }",
        )
        .native(buckets);

        s3.add(
            "create_bucket",
            &["name: String", "String"],
            "Create a bucket in the current region; a bucket you already own is fine. Returns the name.\n\
             Example: s3::create_bucket(\"acme-backups\");",
        )
        .native(create_bucket);

        s3.add(
            "put",
            &["bucket: String", "key: String", "data: String | Blob", "()"],
            "Store text or a blob as an object (in memory: for files use s3::upload).\n\
            Options: content_type.\n\
            Example: s3::put(\"acme-backups\", \"latest.txt\", timestamp);",
        )
        .options(PUT_OPTIONS, put);

        s3.add(
            "get",
            &["bucket: String", "key: String", "String"],
            "An object as text; an error if it is not UTF-8 (use s3::get_blob for binary data).\n\
             Example: let version = s3::get(\"acme-releases\", \"current\");",
        )
        .native(get_text);

        s3.add(
            "get_blob",
            &["bucket: String", "key: String", "Blob"],
            "An object's bytes as a blob (in memory: for large objects use s3::download).\n\
             Example: let key = s3::get_blob(\"acme-secrets\", \"tls.der\");",
        )
        .native(|c: &Context, bucket: &str, key: &str| get_bytes(c, "s3::get_blob", bucket, key));

        s3.add(
            "upload",
            &[
                "bucket: String",
                "key: String",
                "local_path: String",
                "String",
            ],
            "Upload a local file (relative to the current directory), streamed from disk.\n\
            Files above the part size go up in parallel parts; an unfinished upload is aborted.\n\
            A key ending in `/` gets the file's name appended. Returns the key.\n\
            Options: content_type, part_size (bytes, at least 5 MiB; default 16 MiB).\n\
            Example: s3::upload(\"acme-backups\", `db/${date}.sql.gz`, \"/tmp/dump.sql.gz\");",
        )
        .options(UPLOAD_OPTIONS, upload);

        s3.add(
            "download",
            &["bucket: String", "key: String", "local_path: String", "String"],
            "Download an object to a local file, streamed to disk.\n\
             The path is relative to the current directory; a directory gets the key's last part as file name.\n\
             The file is replaced only once the download is complete.\n\
             Returns the path written.\n\
             Example: s3::download(\"acme-backups\", \"db/latest.sql.gz\", \"restore.sql.gz\");",
        )
        .native(download);

        s3.add(
            "exists",
            &["bucket: String", "key: String", "bool"],
            "Whether the object exists (an error if the bucket does not, or access is denied).\n\
             Example: if !s3::exists(\"acme-backups\", marker) { ... }",
        )
        .native(exists);

        s3.add(
            "list",
            &["bucket: String", "Array"],
            "The objects (under `prefix`) as [#{ key, size, modified }], all pages, sorted by key.\n\
            `modified` is ISO 8601 in UTC.\n\
            Options: prefix, page_size (keys per request, 1 to 1000).\n\
            Example: for o in s3::list(\"acme-backups\", #{ prefix: \"db/\" }) { print(o.key); }",
        )
        .options(LIST_OPTIONS, list);

        s3.add(
            "delete",
            &["bucket: String", "key_or_keys: String | Array", "()"],
            "Delete an object, or an array of objects, after a confirmation.\n\
             --yes or --var confirm_delete=yes answers it; keys that do not exist are not an error.\n\
             Example: s3::delete(\"acme-backups\", old.map(|o| o.key));",
        )
        .native(delete);

        s3.add(
            "presign",
            &["bucket: String", "key: String", "seconds: int", "String"],
            "A URL that fetches the object with a plain HTTP GET for `seconds` (at most 7 days).\n\
             Example: let url = s3::presign(\"acme-releases\", \"app.tar.gz\", 600);",
        )
        .native(presign);
    });
}

/// `s3://bucket/key` for messages, after checking neither part is empty.
fn object_uri(call: &str, bucket: &str, key: &str) -> RhaiResult<String> {
    if bucket.is_empty() {
        return Err(runtime_error(format!("{call}: the bucket name is empty")));
    }
    if key.is_empty() {
        return Err(runtime_error(format!(
            "{call}: the key is empty (s3://{bucket}/)"
        )));
    }
    key_fits(call, "key", key)?;
    Ok(format!("s3://{bucket}/{key}"))
}

/// S3 refuses keys over 1024 bytes; the SDK, given one too long for a URL,
/// panics instead of sending it.
fn key_fits(call: &str, what: &str, key: &str) -> RhaiResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(runtime_error(format!(
            "{call}: the {what} is {} bytes; S3 keys are at most {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    Ok(())
}

fn bucket_uri(call: &str, bucket: &str) -> RhaiResult<String> {
    if bucket.is_empty() {
        return Err(runtime_error(format!("{call}: the bucket name is empty")));
    }
    Ok(format!("s3://{bucket}"))
}

fn buckets(ctx: &Context) -> RhaiResult<Array> {
    let aws = clients(ctx)?;
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .runtime
            .block_on(async {
                aws.s3
                    .list_buckets()
                    .set_continuation_token(token.clone())
                    .send()
                    .await
            })?
            .map_err(|e| call_error("s3::buckets", "", &aws, e))?;
        names.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .map(str::to_string),
        );
        token = page.continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for planned in planned(ctx, |p| p.buckets()) {
        if !names.contains(&planned) {
            names.push(planned);
        }
    }
    names.sort();
    Ok(names.into_iter().map(Dynamic::from).collect())
}

fn create_bucket(ctx: &Context, name: &str) -> RhaiResult<String> {
    let uri = bucket_uri("s3::create_bucket", name)?;
    let act = ctx.act("s3::create_bucket", &uri, serde_json::Value::Null)?;
    let aws = clients(ctx)?;
    // us-east-1 answers a repeated create with success, other regions with
    // BucketAlreadyOwnedByYou: look first so both say the same.
    let head = ctx
        .runtime
        .block_on(async { aws.s3.head_bucket().bucket(name).send().await })?;
    if act.dry_run() {
        // Only a bucket that does not exist yet is the plan's to answer for;
        // any other failure (refused, unreachable, no credentials) is the
        // run's, as it would be for real.
        return match head {
            Ok(_) => Ok(name.to_string()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                planned(ctx, |p| p.create_bucket(name));
                Ok(name.to_string())
            }
            Err(e) => Err(call_error("s3::create_bucket", &uri, &aws, e)),
        };
    }
    if head.is_ok() {
        ctx.output
            .info(&format!("bucket {uri} already exists; using it"));
        act.done(serde_json::json!({ "existed": true }));
        return Ok(name.to_string());
    }
    // us-east-1 is the default location and rejects being named as one.
    let config = (aws.region != "us-east-1").then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
            .build()
    });
    tracing::info!(bucket = name, region = aws.region, "s3::create_bucket");
    let result = ctx.runtime.block_on(async {
        aws.s3
            .create_bucket()
            .bucket(name)
            .set_create_bucket_configuration(config)
            .send()
            .await
    })?;
    match result {
        Ok(_) => {
            act.done(serde_json::json!({ "created": [{ "type": "bucket", "id": name }] }));
            Ok(name.to_string())
        }
        Err(e) if error_code(&e) == Some("BucketAlreadyOwnedByYou") => {
            ctx.output
                .info(&format!("bucket {uri} already exists; using it"));
            act.done(serde_json::json!({ "existed": true }));
            Ok(name.to_string())
        }
        Err(e) if error_code(&e) == Some("BucketAlreadyExists") => Err(Failure::new(format!(
            "s3::create_bucket ({uri}) failed: BucketAlreadyExists: another AWS account owns this name"
        ))
        .hint("bucket names are global across all accounts: pick another, e.g. with your company or account as a prefix")
        .into()),
        Err(e) => Err(call_error("s3::create_bucket", &uri, &aws, e)),
    }
}

fn put(ctx: &Context, bucket: &str, key: &str, data: Dynamic, opts: Options) -> RhaiResult<()> {
    let uri = object_uri("s3::put", bucket, key)?;
    let content_type = opts.string("content_type")?;
    let bytes: Vec<u8> = if data.is_string() {
        data.to_string().into_bytes()
    } else if data.is_blob() {
        data.cast::<Blob>()
    } else {
        return Err(runtime_error(format!(
            "s3::put ({uri}): the data must be a string or a blob, not {}",
            data.type_name()
        )));
    };
    let act = ctx.act("s3::put", &uri, serde_json::json!({ "bytes": bytes.len() }))?;
    if act.dry_run() {
        planned(ctx, |p| p.write(bucket, key, Object::Bytes(bytes)));
        return Ok(());
    }
    let aws = clients(ctx)?;
    tracing::info!(uri, bytes = bytes.len(), "s3::put");
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    ctx.runtime
        .block_on(async {
            aws.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .set_content_type(content_type)
                .body(ByteStream::from(bytes))
                .customize()
                .config_override(aws.transfer_timeouts(size))
                .send()
                .await
        })?
        .map_err(|e| transfer_error("s3::put", &uri, &aws, e, size))?;
    act.done(created_object(bucket, key));
    Ok(())
}

/// How an action reports the object it wrote, for the journal's teardown.
fn created_object(bucket: &str, key: &str) -> serde_json::Value {
    serde_json::json!({ "created": [{ "type": "object", "id": key, "bucket": bucket }] })
}

fn get_bytes(ctx: &Context, call: &str, bucket: &str, key: &str) -> RhaiResult<Vec<u8>> {
    let uri = object_uri(call, bucket, key)?;
    match planned(ctx, |p| p.object(bucket, key)) {
        Some(Object::Bytes(bytes)) => return Ok(bytes),
        Some(Object::File { path, .. }) => {
            return std::fs::read(&path).map_err(|e| transfer::local_error(call, "read", &path, e));
        }
        Some(Object::Deleted) => return Err(no_planned_key(call, &uri)),
        None if planned(ctx, |p| p.has_bucket(bucket)) => return Err(no_planned_key(call, &uri)),
        None => {}
    }
    let aws = clients(ctx)?;
    ctx.runtime.block_on(async {
        let response = transfer::get_object(&aws, call, bucket, key, &uri).await?;
        let body = response.body.collect().await.map_err(|e| {
            runtime_error(format!(
                "{call} ({uri}): the transfer broke off: {}",
                crate::aws::error_chain(&e)
            ))
        })?;
        Ok(body.to_vec())
    })?
}

/// A read of an object the dry run's plan deletes, or never writes to a
/// bucket it creates.
fn no_planned_key(call: &str, uri: &str) -> Box<rhai::EvalAltResult> {
    runtime_error(format!(
        "{call} ({uri}) failed: NoSuchKey: the plan leaves no such object"
    ))
}

fn get_text(ctx: &Context, bucket: &str, key: &str) -> RhaiResult<String> {
    let bytes = get_bytes(ctx, "s3::get", bucket, key)?;
    String::from_utf8(bytes).map_err(|e| {
        Failure::new(format!(
            "s3::get (s3://{bucket}/{key}): the object is not UTF-8 text ({} bytes, the first invalid byte at offset {})",
            e.as_bytes().len(),
            e.utf8_error().valid_up_to()
        ))
        .hint("read binary data with s3::get_blob(bucket, key), or save it with s3::download(bucket, key, path)")
        .into()
    })
}

fn upload(
    ctx: &Context,
    bucket: &str,
    key: &str,
    local: &str,
    opts: Options,
) -> RhaiResult<String> {
    let path = Path::new(local);
    let key = match (key.ends_with('/'), path.file_name()) {
        (true, Some(name)) => format!("{key}{}", name.to_string_lossy()),
        _ => key.to_string(),
    };
    let uri = object_uri("s3::upload", bucket, &key)?;
    let content_type = opts.string("content_type")?;
    let part_size = match opts.value("part_size") {
        None => DEFAULT_PART_SIZE,
        Some(v) => {
            let n = v.as_int().map_err(|_| {
                runtime_error(format!(
                    "s3::upload: option `part_size` must be a number of bytes, not {}",
                    v.type_name()
                ))
            })?;
            u64::try_from(n).ok().filter(|n| *n >= MIN_PART_SIZE).ok_or_else(|| {
                runtime_error(format!(
                    "s3::upload: option `part_size` must be at least {} ({} MiB), S3's smallest part",
                    MIN_PART_SIZE,
                    MIN_PART_SIZE / MIB
                ))
            })?
        }
    };
    // Looked at now so a dry run also catches an unreadable file; a missing
    // one may be what an earlier planned command would write.
    let size = match local_file_size(path) {
        Ok(size) => Some(size),
        Err(_) if ctx.settings.dry_run && !path.exists() => {
            ctx.output.warn(&format!(
                "s3::upload ({uri}): {} does not exist yet; planned anyway, as an earlier planned step may write it",
                path.display()
            ));
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(size) = size.filter(|size| *size > MAX_OBJECT_SIZE) {
        return Err(runtime_error(format!(
            "s3::upload ({uri}): {} is {size} bytes, more than S3's 5 TiB object limit",
            path.display()
        )));
    }
    let act = ctx.act(
        "s3::upload",
        &uri,
        serde_json::json!({ "path": path.display().to_string(), "bytes": size }),
    )?;
    if act.dry_run() {
        let file = Object::File {
            path: path.to_path_buf(),
            size: size.unwrap_or(0),
        };
        planned(ctx, |p| p.write(bucket, &key, file));
        return Ok(key);
    }
    // Only a dry run goes on without the file.
    let size = size.unwrap_or_default();
    let aws = clients(ctx)?;
    tracing::info!(uri, path = %path.display(), size, "s3::upload");
    transfer::upload(
        ctx,
        &aws,
        &Upload {
            bucket,
            key: &key,
            path,
            size,
            part_size,
            content_type,
        },
    )?;
    act.done(created_object(bucket, &key));
    Ok(key)
}

/// The size of the regular file at `path`, or why it cannot be uploaded.
fn local_file_size(path: &Path) -> RhaiResult<u64> {
    let meta = std::fs::File::open(path)
        .and_then(|file| file.metadata())
        .map_err(|e| transfer::local_error("s3::upload", "read", path, e))?;
    if !meta.is_file() {
        return Err(transfer::local_error(
            "s3::upload",
            "upload",
            path,
            "it is not a regular file",
        ));
    }
    Ok(meta.len())
}

fn download(ctx: &Context, bucket: &str, key: &str, local: &str) -> RhaiResult<String> {
    let uri = object_uri("s3::download", bucket, key)?;
    let mut dest = PathBuf::from(local);
    if dest.is_dir() {
        let name = key.rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(|| {
            runtime_error(format!(
                "s3::download ({uri}): {} is a directory and the key ends in `/`: give a file path",
                dest.display()
            ))
        })?;
        dest.push(name);
    }
    let aws = clients(ctx)?;
    tracing::info!(uri, path = %dest.display(), "s3::download");
    transfer::download(ctx, &aws, bucket, key, &dest)?;
    Ok(dest.display().to_string())
}

fn exists(ctx: &Context, bucket: &str, key: &str) -> RhaiResult<bool> {
    let uri = object_uri("s3::exists", bucket, key)?;
    match planned(ctx, |p| p.object(bucket, key)) {
        Some(object) => return Ok(object != Object::Deleted),
        None if planned(ctx, |p| p.has_bucket(bucket)) => return Ok(false),
        None => {}
    }
    let aws = clients(ctx)?;
    let head = ctx
        .runtime
        .block_on(async { aws.s3.head_object().bucket(bucket).key(key).send().await })?;
    match head {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            // A HEAD answers 404 for a missing bucket too: tell them apart,
            // so a misspelled bucket is an error, not "no such object".
            bucket_exists(ctx, &aws, "s3::exists", bucket)?;
            Ok(false)
        }
        Err(e) => Err(call_error("s3::exists", &uri, &aws, e)),
    }
}

fn bucket_exists(ctx: &Context, aws: &Aws, call: &str, bucket: &str) -> RhaiResult<()> {
    if planned(ctx, |p| p.has_bucket(bucket)) {
        return Ok(());
    }
    let head = ctx
        .runtime
        .block_on(async { aws.s3.head_bucket().bucket(bucket).send().await })?;
    match head {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Err(Failure::new(
            format!("{call} (s3://{bucket}) failed: NoSuchBucket: the bucket does not exist"),
        )
        .hint(format!(
            "check the name and --region (now {}); s3::buckets() lists yours",
            aws.region
        ))
        .into()),
        Err(e) => Err(call_error(call, &format!("s3://{bucket}"), aws, e)),
    }
}

fn list(ctx: &Context, bucket: &str, opts: Options) -> RhaiResult<Array> {
    let uri = bucket_uri("s3::list", bucket)?;
    let prefix = opts.string("prefix")?;
    if let Some(prefix) = &prefix {
        key_fits("s3::list", "prefix", prefix)?;
    }
    let page_size = match opts.value("page_size") {
        None => None,
        Some(v) => Some(
            v.as_int()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    runtime_error("s3::list: option `page_size` must be a number from 1 to 1000")
                })?,
        ),
    };
    let aws = clients(ctx)?;
    let target = match &prefix {
        Some(p) => format!("{uri}/{p}"),
        None => uri,
    };
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    // A bucket the plan creates has only what the plan writes.
    let mut more = !planned(ctx, |p| p.has_bucket(bucket));
    while more {
        pages += 1;
        let page = ctx
            .runtime
            .block_on(async {
                aws.s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .set_prefix(prefix.clone())
                    .set_max_keys(page_size)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
            })?
            .map_err(|e| call_error("s3::list", &target, &aws, e))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let modified = object
                .last_modified()
                .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
                .unwrap_or_default();
            objects.push((key.to_string(), object.size().unwrap_or(0), modified));
        }
        token = page
            .next_continuation_token()
            .filter(|_| page.is_truncated() == Some(true))
            .map(str::to_string);
        more = token.is_some();
    }
    for (key, object) in planned(ctx, |p| {
        p.objects(bucket, prefix.as_deref().unwrap_or_default())
    }) {
        objects.retain(|o| o.0 != key);
        if let Some(size) = object.size() {
            objects.push((key, i64::try_from(size).unwrap_or(i64::MAX), now()));
        }
    }
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    tracing::info!(target, objects = objects.len(), pages, "s3::list");
    Ok(objects
        .into_iter()
        .map(|(key, size, modified)| {
            let mut map = Map::new();
            map.insert("key".into(), Dynamic::from(key));
            map.insert("size".into(), Dynamic::from(size as INT));
            map.insert("modified".into(), Dynamic::from(modified));
            Dynamic::from(map)
        })
        .collect())
}

fn delete(ctx: &Context, bucket: &str, keys: Dynamic) -> RhaiResult<()> {
    bucket_uri("s3::delete", bucket)?;
    let mut keys: Vec<String> = if keys.is_string() {
        vec![keys.to_string()]
    } else if let Some(array) = keys.read_lock::<Array>() {
        array
            .iter()
            .map(|k| {
                if k.is_string() {
                    Ok(k.to_string())
                } else {
                    Err(runtime_error(format!(
                        "s3::delete (s3://{bucket}): keys must be strings, not {}",
                        k.type_name()
                    )))
                }
            })
            .collect::<RhaiResult<_>>()?
    } else {
        return Err(runtime_error(format!(
            "s3::delete (s3://{bucket}): give a key or an array of keys, not {}",
            keys.type_name()
        )));
    };
    keys.sort();
    keys.dedup();
    let targets = keys
        .iter()
        .map(|k| object_uri("s3::delete", bucket, k))
        .collect::<RhaiResult<Vec<_>>>()?;
    if targets.is_empty() {
        return Ok(());
    }
    crate::core::prompt::confirm_destructive(ctx, "delete", &targets)?;
    let act = ctx.act(
        "s3::delete",
        &format!("s3://{bucket}"),
        serde_json::json!({ "keys": keys }),
    )?;
    if act.dry_run() {
        for key in &keys {
            planned(ctx, |p| p.write(bucket, key, Object::Deleted));
        }
        return Ok(());
    }
    let removed = serde_json::json!({
        "removed": keys.iter().map(|k| serde_json::json!({ "type": "object", "id": k, "bucket": bucket })).collect::<Vec<_>>(),
    });
    let aws = clients(ctx)?;
    if let [key] = keys.as_slice() {
        tracing::info!(uri = targets[0], "s3::delete");
        ctx.runtime
            .block_on(async { aws.s3.delete_object().bucket(bucket).key(key).send().await })?
            .map_err(|e| call_error("s3::delete", &targets[0], &aws, e))?;
        act.done(removed);
        return Ok(());
    }
    for batch in keys.chunks(DELETE_BATCH) {
        delete_batch(ctx, &aws, bucket, batch)?;
    }
    act.done(removed);
    Ok(())
}

fn delete_batch(ctx: &Context, aws: &Aws, bucket: &str, keys: &[String]) -> RhaiResult<()> {
    let place = format!("s3://{bucket}, {} keys from {}", keys.len(), keys[0]);
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| runtime_error(format!("s3::delete ({place}): {e}")))?;
    // Quiet: S3 answers with the failures only.
    let request = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| runtime_error(format!("s3::delete ({place}): {e}")))?;
    tracing::info!(bucket, keys = keys.len(), "s3::delete");
    let output = ctx
        .runtime
        .block_on(async {
            aws.s3
                .delete_objects()
                .bucket(bucket)
                .delete(request)
                .send()
                .await
        })?
        .map_err(|e| call_error("s3::delete", &place, aws, e))?;
    let failures: Vec<String> = output
        .errors()
        .iter()
        .map(|e| {
            format!(
                "s3://{bucket}/{}: {}: {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("Unknown"),
                e.message().unwrap_or_default()
            )
        })
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    let shown = failures
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    let more = failures.len().saturating_sub(10);
    Err(runtime_error(format!(
        "s3::delete failed for {} of {} objects:\n  {shown}{}",
        failures.len(),
        keys.len(),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        }
    )))
}

fn presign(ctx: &Context, bucket: &str, key: &str, seconds: INT) -> RhaiResult<String> {
    let uri = object_uri("s3::presign", bucket, key)?;
    if !(1..=MAX_PRESIGN_SECONDS).contains(&seconds) {
        return Err(runtime_error(format!(
            "s3::presign ({uri}): `seconds` must be from 1 to {MAX_PRESIGN_SECONDS} (7 days), not {seconds}"
        )));
    }
    let config = PresigningConfig::expires_in(Duration::from_secs(seconds.unsigned_abs()))
        .map_err(|e| runtime_error(format!("s3::presign ({uri}): {e}")))?;
    let aws = clients(ctx)?;
    let request = ctx
        .runtime
        .block_on(async {
            aws.s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .presigned(config)
                .await
        })?
        .map_err(|e| call_error("s3::presign", &uri, &aws, e))?;
    Ok(request.uri().to_string())
}
