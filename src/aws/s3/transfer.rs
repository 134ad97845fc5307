//! Files between disk and S3 without holding them in memory: uploads read
//! from the file (in parallel parts above the part size), downloads stream
//! into a temporary file that replaces the destination only when complete.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::aws::{Aws, call_error, error_chain, transfer_error};
use crate::core::context::Context;
use crate::core::options::{RhaiResult, runtime_error};
use crate::core::quote::check_no_nul;

pub const MIB: u64 = 1024 * 1024;
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;
/// S3's limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most
/// 10,000 parts, objects up to 5 TiB.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
const MAX_PARTS: u64 = 10_000;
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * MIB;
/// Parts in flight at once: enough to fill a link, few enough to be polite.
const PARALLEL_PARTS: usize = 4;
const ABORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Smaller transfers finish before a bar is worth drawing.
const PROGRESS_MIN_BYTES: u64 = MIB;

pub struct Upload<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub path: &'a Path,
    pub size: u64,
    pub part_size: u64,
    pub content_type: Option<String>,
}

impl Upload<'_> {
    fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A local file that cannot be read or written, named by its path. A path
/// with a NUL byte (which no file has) is told as such, not printed.
pub fn local_error(
    call: &str,
    doing: &str,
    path: &Path,
    err: impl std::fmt::Display,
) -> Box<rhai::EvalAltResult> {
    let text = path.to_string_lossy();
    match check_no_nul(&format!("{call}: the local path"), &text) {
        Err(nul) => runtime_error(nul),
        Ok(()) => runtime_error(format!("{call}: cannot {doing} {text}: {err}")),
    }
}

/// Bytes and rate on stderr while a transfer runs, only for a person at a
/// terminal; cleared when done or dropped.
fn progress(total: u64, label: &str) -> ProgressBar {
    if total < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(label.to_string())
        .with_finish(ProgressFinish::AndClear)
}

/// The part size for a file: the requested size, grown when the file would
/// need more than S3's 10,000 parts.
fn part_size_for(size: u64, requested: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    requested.max(needed).min(MAX_PART_SIZE)
}

pub fn upload(ctx: &Context, aws: &Arc<Aws>, job: &Upload) -> RhaiResult<()> {
    let uri = job.uri();
    let bar = progress(job.size, &format!("upload {uri}"));
    // A multipart upload started and not completed. Whatever ends the
    // upload early (an error, Ctrl-C) it is aborted below, so no parts
    // stay stored (and billed) in the bucket.
    let pending = Mutex::new(None::<String>);
    let result = ctx
        .runtime
        .block_on(async {
            if job.size <= job.part_size {
                put_file(aws, job, &uri, &bar).await
            } else {
                multipart(aws, job, &uri, &bar, &pending).await
            }
        })
        .and_then(|done| done);
    bar.finish_and_clear();
    if let Some(id) = pending.into_inner().unwrap_or_else(|p| p.into_inner()) {
        abort(ctx, aws, job, &id);
    }
    result
}

async fn put_file(aws: &Aws, job: &Upload<'_>, uri: &str, bar: &ProgressBar) -> RhaiResult<()> {
    let body = ByteStream::read_from()
        .path(job.path)
        .length(Length::Exact(job.size))
        .build()
        .await
        .map_err(|e| local_error("s3::upload", "read", job.path, e))?;
    aws.s3
        .put_object()
        .bucket(job.bucket)
        .key(job.key)
        .set_content_type(job.content_type.clone())
        .body(body)
        .customize()
        .config_override(aws.transfer_timeouts(job.size))
        .send()
        .await
        .map_err(|e| transfer_error("s3::upload", uri, aws, e, job.size))?;
    bar.inc(job.size);
    Ok(())
}

async fn multipart(
    aws: &Arc<Aws>,
    job: &Upload<'_>,
    uri: &str,
    bar: &ProgressBar,
    pending: &Mutex<Option<String>>,
) -> RhaiResult<()> {
    let created = aws
        .s3
        .create_multipart_upload()
        .bucket(job.bucket)
        .key(job.key)
        .set_content_type(job.content_type.clone())
        // A whole-object CRC32 (not one of part checksums) is what lets a
        // later download be verified end to end.
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .map_err(|e| call_error("s3::upload", uri, aws, e))?;
    let id = created
        .upload_id()
        .ok_or_else(|| runtime_error(format!("s3::upload ({uri}): S3 gave no upload id")))?
        .to_string();
    *pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());

    let part_size = part_size_for(job.size, job.part_size);
    let count = job.size.div_ceil(part_size);
    // Dropping the set (on an error or Ctrl-C) cancels the parts in flight.
    let mut running = JoinSet::new();
    let mut completed = Vec::new();
    let mut next = 0;
    loop {
        while running.len() < PARALLEL_PARTS && next < count {
            let offset = next * part_size;
            next += 1;
            let len = part_size.min(job.size - offset);
            running.spawn(upload_part(Part {
                aws: aws.clone(),
                timeouts: aws.transfer_timeouts(len),
                bucket: job.bucket.to_string(),
                key: job.key.to_string(),
                upload_id: id.clone(),
                path: job.path.to_path_buf(),
                number: next,
                offset,
                len,
            }));
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (part, len) = joined.map_err(|e| {
            runtime_error(format!("s3::upload ({uri}): a part upload stopped: {e}"))
        })??;
        bar.inc(len);
        completed.push(part);
    }
    completed.sort_by_key(|p| p.part_number());
    aws.s3
        .complete_multipart_upload()
        .bucket(job.bucket)
        .key(job.key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        // S3 may take minutes to assemble a large object.
        .customize()
        .config_override(aws.transfer_timeouts(job.size))
        .send()
        .await
        .map_err(|e| transfer_error("s3::upload", uri, aws, e, job.size))?;
    *pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
    tracing::info!(uri, parts = count, part_size, "multipart upload complete");
    Ok(())
}

/// One part of a multipart upload, owned so it can run as its own task.
struct Part {
    aws: Arc<Aws>,
    timeouts: aws_sdk_s3::config::Builder,
    bucket: String,
    key: String,
    upload_id: String,
    path: PathBuf,
    number: u64,
    offset: u64,
    len: u64,
}

async fn upload_part(part: Part) -> RhaiResult<(CompletedPart, u64)> {
    let uri = format!("s3://{}/{}", part.bucket, part.key);
    let number = i32::try_from(part.number)
        .map_err(|_| runtime_error(format!("s3::upload ({uri}): too many parts")))?;
    // Each part reads its own byte range from disk (and again on a retry).
    let body = ByteStream::read_from()
        .path(&part.path)
        .offset(part.offset)
        .length(Length::Exact(part.len))
        .build()
        .await
        .map_err(|e| local_error("s3::upload", "read", &part.path, e))?;
    let done = part
        .aws
        .s3
        .upload_part()
        .bucket(&part.bucket)
        .key(&part.key)
        .upload_id(&part.upload_id)
        .part_number(number)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(body)
        .customize()
        .config_override(part.timeouts)
        .send()
        .await
        .map_err(|e| {
            transfer_error(
                "s3::upload",
                &format!("{uri}, part {number}"),
                &part.aws,
                e,
                part.len,
            )
        })?;
    let completed = CompletedPart::builder()
        .part_number(number)
        .set_e_tag(done.e_tag().map(str::to_string))
        .set_checksum_crc32(done.checksum_crc32().map(str::to_string))
        .build();
    Ok((completed, part.len))
}

/// Abort an unfinished multipart upload, also after Ctrl-C; a failure here
/// is a warning that says how to clean up by hand.
fn abort(ctx: &Context, aws: &Aws, job: &Upload, id: &str) {
    let uri = job.uri();
    let request = aws
        .s3
        .abort_multipart_upload()
        .bucket(job.bucket)
        .key(job.key)
        .upload_id(id);
    let outcome = ctx
        .runtime
        .cleanup(async move { tokio::time::timeout(ABORT_TIMEOUT, request.send()).await });
    let problem = match outcome {
        Ok(Ok(_)) => {
            tracing::info!(uri, upload_id = id, "multipart upload aborted");
            return;
        }
        Ok(Err(e)) => error_chain(&e),
        Err(_) => format!("no answer within {}s", ABORT_TIMEOUT.as_secs()),
    };
    ctx.output.warn(&format!(
        "the unfinished multipart upload to {uri} could not be aborted ({problem}); its parts stay stored until it is: \
         aws s3api abort-multipart-upload --bucket {} --key {} --upload-id {id}",
        job.bucket, job.key
    ));
}

/// Stream `s3://bucket/key` into `dest`. The bytes go to a temporary file
/// beside it, renamed over `dest` only once complete: a failed or
/// interrupted download leaves `dest` as it was.
pub fn download(ctx: &Context, aws: &Aws, bucket: &str, key: &str, dest: &Path) -> RhaiResult<()> {
    let uri = format!("s3://{bucket}/{key}");
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| local_error("s3::download", "write", dest, "not a file name"))?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        // As a new file would be created (the umask still applies), not
        // the owner-only mode of a temporary file.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| local_error("s3::download", "write", dest, e))?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|e| local_error("s3::download", "write", dest, e))?;
    ctx.runtime
        .block_on(async { fetch(aws, bucket, key, &uri, dest, file).await })??;
    temp.persist(dest)
        .map_err(|e| local_error("s3::download", "write", dest, e.error))?;
    Ok(())
}

/// GetObject of `s3://bucket/key` (`uri`) for `call`: the answer, its body
/// still to be read.
pub async fn get_object(
    aws: &Aws,
    call: &str,
    bucket: &str,
    key: &str,
    uri: &str,
) -> RhaiResult<GetObjectOutput> {
    aws.s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| call_error(call, uri, aws, e))
}

async fn fetch(
    aws: &Aws,
    bucket: &str,
    key: &str,
    uri: &str,
    dest: &Path,
    file: std::fs::File,
) -> RhaiResult<()> {
    let response = get_object(aws, "s3::download", bucket, key, uri).await?;
    let expected = response
        .content_length()
        .and_then(|n| u64::try_from(n).ok());
    let bar = progress(expected.unwrap_or(0), &format!("download {uri}"));
    let mut out = tokio::fs::File::from_std(file);
    let mut body = response.body;
    let mut written: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            runtime_error(format!(
                "s3::download ({uri}): the transfer broke off after {written} bytes: {}",
                error_chain(&e)
            ))
        })?;
        out.write_all(&chunk)
            .await
            .map_err(|e| local_error("s3::download", "write", dest, e))?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    out.flush()
        .await
        .map_err(|e| local_error("s3::download", "write", dest, e))?;
    out.sync_all()
        .await
        .map_err(|e| local_error("s3::download", "write", dest, e))?;
    if let Some(expected) = expected.filter(|n| *n != written) {
        return Err(runtime_error(format!(
            "s3::download ({uri}): got {written} of {expected} bytes; {} was left unchanged",
            dest.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_to_stay_within_10000_parts() {
        assert_eq!(
            part_size_for(100 * MIB, DEFAULT_PART_SIZE),
            DEFAULT_PART_SIZE
        );
        let huge = 1024 * 1024 * MIB; // 1 TiB
        let size = part_size_for(huge, DEFAULT_PART_SIZE);
        assert!(huge.div_ceil(size) <= MAX_PARTS);
        assert_eq!(size % MIB, 0);
        assert_eq!(part_size_for(MAX_OBJECT_SIZE, MIN_PART_SIZE), 525 * MIB);
    }
}
