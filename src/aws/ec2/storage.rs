//! EBS volumes (created, attached and detached, each call returning once
//! the volume got there) and snapshots (newest first).

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsError;
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesError;
use aws_sdk_ec2::types::{Filter, ResourceType, VolumeType};
use rhai::{Array, Dynamic};
use serde_json::Value;

use crate::aws::ec2::call::{
    Backoff, Ec2, Kind, Link, among, describe_all, filter, linked, not_yet_visible, nothing,
    outcome, planned_id, refs, tag_search, tag_spec, tags_option,
};
use crate::aws::ec2::dependents::{images_behind, snapshot_refusal};
use crate::aws::ec2::types::{Snapshot, Volume, label, labelled, now, timestamp};
use crate::core::context::Context;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::{Lookup, is_planned};
use crate::core::prompt;

pub const CREATE_VOLUME_OPTIONS: &[&str] = &["size", "zone", "type", "snapshot", "tags"];
pub const VOLUMES_OPTIONS: &[&str] = &["tags", "instance"];
pub const SNAPSHOT_OPTIONS: &[&str] = &["description", "tags"];
pub const SNAPSHOTS_OPTIONS: &[&str] = &["tags", "volume"];

const DEFAULT_SIZE_GIB: i32 = 8;
const DEFAULT_VOLUME_TYPE: &str = "gp3";
const VOLUME_WAIT: Duration = Duration::from_secs(300);

pub async fn fetch_volumes(
    client: &Client,
    ids: &[String],
    filters: Vec<Filter>,
) -> Result<Vec<Volume>, SdkError<DescribeVolumesError>> {
    let volumes: Vec<_> = describe_all!(client.describe_volumes(), set_volume_ids(ids), filters)?;
    let mut volumes: Vec<Volume> = volumes.iter().map(Volume::from).collect();
    volumes.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    Ok(volumes)
}

/// Snapshots this account owns, newest first.
pub async fn fetch_snapshots(
    client: &Client,
    ids: &[String],
    filters: Vec<Filter>,
) -> Result<Vec<Snapshot>, SdkError<DescribeSnapshotsError>> {
    let snapshots: Vec<_> = describe_all!(
        client.describe_snapshots().owner_ids("self"),
        set_snapshot_ids(ids),
        filters
    )?;
    let mut snapshots: Vec<Snapshot> = snapshots.iter().map(Snapshot::from).collect();
    snapshots.sort_by(|a, b| (&b.started, &b.id).cmp(&(&a.started, &a.id)));
    Ok(snapshots)
}

/// Poll volume `id` until `done` holds, for up to five minutes.
async fn wait_volume(
    ec2: &Ec2<'_>,
    call: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Volume) -> bool,
) -> RhaiResult<Volume> {
    let started = tokio::time::Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let ids = [id.to_string()];
    loop {
        let state = match fetch_volumes(ec2.client(), &ids, Vec::new()).await {
            Ok(mut found) => match found.pop() {
                Some(v) if done(&v) => return Ok(v),
                Some(v) => v.state,
                None => "not visible yet".into(),
            },
            Err(e) if not_yet_visible(&e) => "not visible yet".into(),
            Err(e) => return Err(ec2.fail(call, id, e)),
        };
        if started.elapsed() >= VOLUME_WAIT {
            return Err(runtime_error(format!(
                "{call}: {id} is still {state} after {}s (waiting for it to be {what})",
                VOLUME_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

fn one(call: &str, x: &Dynamic, kind: Kind) -> RhaiResult<String> {
    let mut ids = refs(call, x, kind)?.ids;
    match ids.len() {
        1 => Ok(ids.remove(0)),
        _ => Err(runtime_error(format!(
            "{call}: takes one {}",
            match kind {
                Kind::Volume => "volume",
                Kind::Instance => "instance",
                _ => "resource",
            }
        ))),
    }
}

/// The first availability zone of the region, for volumes given no zone.
async fn default_zone(ec2: &Ec2<'_>, call: &str) -> RhaiResult<String> {
    let out = ec2
        .client()
        .describe_availability_zones()
        .filters(filter("state", ["available"]))
        .send()
        .await
        .map_err(|e| ec2.fail(call, "availability zones", e))?;
    let mut zones: Vec<&str> = out
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    zones.sort_unstable();
    zones
        .first()
        .map(|z| z.to_string())
        .ok_or_else(|| runtime_error(format!("{call}: no availability zone in {}", ec2.region())))
}

pub fn create_volume(ctx: &Context, opts: Options) -> RhaiResult<Volume> {
    const CALL: &str = "ec2::create_volume";
    let snapshot = match opts.value("snapshot") {
        Some(x) => Some(one(CALL, x, Kind::Snapshot)?),
        None => None,
    };
    let size = match opts.int("size")? {
        Some(gib) => Some(i32::try_from(gib).ok().filter(|g| *g > 0).ok_or_else(|| {
            runtime_error(format!(
                "{CALL}: `size` must be a positive number of GiB, not {gib}"
            ))
        })?),
        // A volume from a snapshot takes the snapshot's size.
        None if snapshot.is_some() => None,
        None => Some(DEFAULT_SIZE_GIB),
    };
    let volume_type = opts
        .string("type")?
        .unwrap_or_else(|| DEFAULT_VOLUME_TYPE.into());
    let tags = tags_option(&opts)?;
    let zone = opts.string("zone")?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let zone = match zone {
            Some(zone) => zone,
            None => default_zone(&ec2, CALL).await?,
        };
        let target = tags.get("Name").cloned().unwrap_or_else(|| zone.clone());
        let args = serde_json::json!({
            "size": size, "zone": zone, "type": volume_type, "snapshot": snapshot, "tags": tags,
        });
        let out = ec2
            .mutate(
                CALL,
                &target,
                args,
                |d| {
                    ec2.client()
                        .create_volume()
                        .availability_zone(&zone)
                        .set_size(size)
                        .volume_type(VolumeType::from(volume_type.as_str()))
                        .set_snapshot_id(snapshot.clone())
                        .set_tag_specifications(
                            tag_spec(ResourceType::Volume, &tags).map(|t| vec![t]),
                        )
                        .dry_run(d)
                        .send()
                },
                |out| {
                    let ids: Vec<String> =
                        out.volume_id().map(str::to_string).into_iter().collect();
                    outcome("created", "volume", &ids)
                },
            )
            .await?;
        let Some(id) = out.and_then(|o| o.volume_id().map(str::to_string)) else {
            let planned = Volume {
                id: planned_id("vol"),
                size: i64::from(size.unwrap_or_default()),
                zone: Some(zone),
                state: "available".into(),
                instance: None,
                device: None,
                tags,
                created: Some(now()),
                attachment_state: None,
            };
            ctx.planned.put(planned.clone());
            return Ok(planned);
        };
        let volume = wait_volume(&ec2, CALL, &id, "available", |v| v.state == "available").await?;
        ctx.output.info(&format!("created {volume}"));
        Ok(volume)
    })
}

/// `instance: ...`: the volumes attached to it.
const ATTACHED: Link = Link {
    key: "instance",
    kind: Kind::Instance,
    filter: "attachment.instance-id",
};

pub fn volumes(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::volumes";
    let (query, mut filters) = tag_search(&opts)?;
    let on = linked(&opts, ATTACHED, &mut filters)?;
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    ec2.listing(
        CALL,
        fetch_volumes(client, &[], filters),
        |ids| async move { fetch_volumes(client, &ids, Vec::new()).await },
        |v| query.matches(&v.tags) && among(&on, &v.instance),
    )
}

/// The volume as the plan has it, or as the script passed it, for answers
/// in a dry run.
fn as_given(ctx: &Context, x: &Dynamic, id: &str) -> Volume {
    if let Lookup::Planned(v) = ctx.planned.lookup::<Volume>(id) {
        return v;
    }
    x.read_lock::<Volume>()
        .map(|v| v.clone())
        .unwrap_or(Volume {
            id: id.to_string(),
            ..Volume::default()
        })
}

pub fn attach_volume(
    ctx: &Context,
    volume: &Dynamic,
    instance: &Dynamic,
    device: &str,
) -> RhaiResult<Volume> {
    const CALL: &str = "ec2::attach_volume";
    let volume_id = one(CALL, volume, Kind::Volume)?;
    let instance_id = one(CALL, instance, Kind::Instance)?;
    let ec2 = Ec2::new(ctx)?;
    let target = format!("{volume_id} to {instance_id} as {device}");
    ec2.run(async {
        let args = serde_json::json!({ "instance": instance_id, "device": device });
        let done = ec2
            .mutate(
                CALL,
                &volume_id,
                args,
                |d| {
                    ec2.client()
                        .attach_volume()
                        .volume_id(&volume_id)
                        .instance_id(&instance_id)
                        .device(device)
                        .dry_run(d)
                        .send()
                },
                nothing,
            )
            .await?;
        if done.is_none() {
            let mut v = as_given(ctx, volume, &volume_id);
            v.state = "in-use".into();
            v.instance = Some(instance_id.clone());
            v.device = Some(device.to_string());
            v.attachment_state = Some("attached".into());
            ctx.planned.put(v.clone());
            return Ok(v);
        }
        let v = wait_volume(&ec2, CALL, &volume_id, "attached", |v| {
            v.instance.as_deref() == Some(instance_id.as_str())
                && v.attachment_state.as_deref() == Some("attached")
        })
        .await?;
        ctx.output.info(&format!("attached {target}"));
        Ok(v)
    })
}

pub fn detach_volume(ctx: &Context, volume: &Dynamic) -> RhaiResult<Volume> {
    const CALL: &str = "ec2::detach_volume";
    let volume_id = one(CALL, volume, Kind::Volume)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        // Naming the instance and device too is what some endpoints need.
        let attached = match ctx.planned.lookup::<Volume>(&volume_id) {
            Lookup::Planned(v) => v,
            _ if is_planned(&volume_id) => as_given(ctx, volume, &volume_id),
            _ => fetch_volumes(ec2.client(), std::slice::from_ref(&volume_id), Vec::new())
                .await
                .map_err(|e| ec2.fail(CALL, &volume_id, e))?
                .pop()
                .unwrap_or_else(|| as_given(ctx, volume, &volume_id)),
        };
        if attached.instance.is_none() && !is_planned(&volume_id) {
            ctx.output.info(&format!(
                "{} is not attached",
                label(&attached.id, &attached.tags)
            ));
            return Ok(attached);
        }
        detach(&ec2, &attached).await
    })
}

/// Detach `attached` (as it is now, with its instance and device) and
/// return it once available; a dry run plans it so.
async fn detach(ec2: &Ec2<'_>, attached: &Volume) -> RhaiResult<Volume> {
    const CALL: &str = "ec2::detach_volume";
    let volume_id = &attached.id;
    let shown = label(volume_id, &attached.tags);
    let args = serde_json::json!({ "instance": attached.instance, "device": attached.device });
    let done = ec2
        .mutate(
            CALL,
            &shown,
            args,
            |d| {
                ec2.client()
                    .detach_volume()
                    .volume_id(volume_id)
                    .set_instance_id(attached.instance.clone())
                    .set_device(attached.device.clone())
                    .dry_run(d)
                    .send()
            },
            nothing,
        )
        .await?;
    if done.is_none() {
        let mut v = attached.clone();
        v.state = "available".into();
        v.instance = None;
        v.device = None;
        v.attachment_state = None;
        ec2.ctx.planned.put(v.clone());
        return Ok(v);
    }
    ec2.ctx.output.info(&format!(
        "detaching {shown} from {}: waiting until it is available",
        attached.instance.as_deref().unwrap_or("its instance")
    ));
    let v = wait_volume(ec2, CALL, volume_id, "available", |v| {
        v.state == "available"
    })
    .await?;
    ec2.ctx.output.info(&format!("detached {shown}"));
    Ok(v)
}

/// How a volume is named in the confirmation of its removal: with the
/// instance it will be detached from first.
fn removal_name(v: &Volume) -> String {
    let name = label(&v.id, &v.tags);
    match (&v.instance, &v.device) {
        (Some(i), Some(d)) => format!("{name}, attached to {i} as {d} (detached first)"),
        (Some(i), None) => format!("{name}, attached to {i} (detached first)"),
        _ => name,
    }
}

pub fn delete_volume(ctx: &Context, x: &Dynamic) -> RhaiResult<()> {
    const CALL: &str = "ec2::delete_volume";
    let ids = refs(CALL, x, Kind::Volume)?.ids;
    if ids.is_empty() {
        return Ok(());
    }
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    let found = ec2.existing(CALL, &ids, |real| async move {
        fetch_volumes(client, &real, Vec::new()).await
    })?;
    // Each as the plan leaves it: attached or not, and to what.
    let volumes: Vec<Volume> = ids
        .iter()
        .map(|id| match ctx.planned.lookup::<Volume>(id) {
            Lookup::Planned(v) => v,
            _ => found
                .iter()
                .find(|v| &v.id == id)
                .cloned()
                .and_then(|v| ctx.planned.patch(v))
                .unwrap_or_else(|| as_given(ctx, x, id)),
        })
        .collect();
    let names: Vec<String> = volumes.iter().map(removal_name).collect();
    prompt::confirm_destructive(ctx, "delete", &names)?;
    ec2.run(async {
        for volume in &volumes {
            // AWS refuses to delete an attached volume (VolumeInUse).
            if volume.instance.is_some() {
                detach(&ec2, volume).await?;
            }
            let shown = label(&volume.id, &volume.tags);
            let sent = ec2
                .mutate(
                    CALL,
                    &shown,
                    Value::Null,
                    |d| {
                        client
                            .delete_volume()
                            .volume_id(&volume.id)
                            .dry_run(d)
                            .send()
                    },
                    |_| outcome("removed", "volume", std::slice::from_ref(&volume.id)),
                )
                .await?;
            if sent.is_some() {
                ctx.output.info(&format!("deleted {shown}"));
            } else {
                ctx.planned.remove::<Volume>(&volume.id);
            }
        }
        Ok(())
    })
}

pub fn snapshot(ctx: &Context, volume: &Dynamic, opts: Options) -> RhaiResult<Snapshot> {
    const CALL: &str = "ec2::snapshot";
    let volume_id = one(CALL, volume, Kind::Volume)?;
    let description = opts.string("description")?;
    let tags = tags_option(&opts)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let out = ec2
            .mutate(
                CALL,
                &volume_id,
                serde_json::json!({ "description": description, "tags": tags }),
                |d| {
                    ec2.client()
                        .create_snapshot()
                        .volume_id(&volume_id)
                        .set_description(description.clone())
                        .set_tag_specifications(
                            tag_spec(ResourceType::Snapshot, &tags).map(|t| vec![t]),
                        )
                        .dry_run(d)
                        .send()
                },
                |out| {
                    let ids: Vec<String> =
                        out.snapshot_id().map(str::to_string).into_iter().collect();
                    outcome("created", "snapshot", &ids)
                },
            )
            .await?;
        let snapshot = match out {
            Some(out) => Snapshot {
                id: out.snapshot_id().unwrap_or_default().to_string(),
                volume: Some(volume_id.clone()),
                state: out.state().map_or("pending", |s| s.as_str()).to_string(),
                started: timestamp(out.start_time()).or_else(|| Some(now())),
                description: description.clone(),
                tags: tags.clone(),
            },
            None => Snapshot {
                id: planned_id("snap"),
                volume: Some(volume_id.clone()),
                state: "pending".into(),
                started: Some(now()),
                description: description.clone(),
                tags: tags.clone(),
            },
        };
        if is_planned(&snapshot.id) {
            ctx.planned.put(snapshot.clone());
        } else {
            ctx.output.info(&format!("started {snapshot}"));
        }
        Ok(snapshot)
    })
}

/// `volume: ...`: the snapshots taken of it.
const SNAPSHOT_OF: Link = Link {
    key: "volume",
    kind: Kind::Volume,
    filter: "volume-id",
};

pub fn snapshots(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::snapshots";
    let (query, mut filters) = tag_search(&opts)?;
    let of = linked(&opts, SNAPSHOT_OF, &mut filters)?;
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    ec2.listing(
        CALL,
        fetch_snapshots(client, &[], filters),
        |ids| async move { fetch_snapshots(client, &ids, Vec::new()).await },
        |s| query.matches(&s.tags) && among(&of, &s.volume),
    )
}

pub fn delete_snapshot(ctx: &Context, x: &Dynamic) -> RhaiResult<()> {
    const CALL: &str = "ec2::delete_snapshot";
    let ids = refs(CALL, x, Kind::Snapshot)?.ids;
    if ids.is_empty() {
        return Ok(());
    }
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    let found = ec2.existing(CALL, &ids, |real| async move {
        fetch_snapshots(client, &real, Vec::new()).await
    })?;
    // AWS refuses to delete a snapshot behind a registered image: refused
    // before any is deleted, naming the images.
    let behind = ec2.run(images_behind(&ec2, CALL, &ids))?;
    if let Some(refusal) = snapshot_refusal(CALL, &behind) {
        return Err(refusal.into());
    }
    let names = labelled(&ids, &found, |s| (&s.id, &s.tags));
    ec2.remove_each::<Snapshot, _, _, _>(
        CALL,
        ("delete", "deleted"),
        "snapshot",
        &ids,
        &names,
        |id, d| client.delete_snapshot().snapshot_id(id).dry_run(d).send(),
    )
}
