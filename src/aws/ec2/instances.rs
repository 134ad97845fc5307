//! Instances: launch (idempotent by name), list, start/stop/reboot/
//! terminate, wait for a state, tags and user data.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesError;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, IamInstanceProfileSpecification,
    InstanceAttributeName, InstanceType, Placement, ResourceType, Tag,
};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use rhai::{Array, Dynamic, Map};
use serde_json::Value;

use crate::aws::ec2::call::{
    Backoff, Ec2, Kind, array, describe_all, filter, not_yet_visible, nothing, outcome, planned_id,
    refs, retry_not_found, shaped, tag_list, tag_search, tag_spec, tags_from_map, tags_option,
};
use crate::aws::ec2::plan::settles;
use crate::aws::ec2::types::{Instance, Tags, label, labelled, now};
use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::{Lookup, is_planned};
use crate::core::prompt;

pub const LAUNCH_OPTIONS: &[&str] = &[
    "image",
    "type",
    "count",
    "key_name",
    "security_groups",
    "subnet",
    "zone",
    "user_data",
    "tags",
    "volume_size",
    "iam_profile",
    "name",
];
pub const INSTANCES_OPTIONS: &[&str] = &["tags", "state", "ids"];
pub const WAIT_OPTIONS: &[&str] = &["timeout"];

const DEFAULT_TYPE: &str = "t3.micro";
const STATES: &[&str] = &[
    "pending",
    "running",
    "stopping",
    "stopped",
    "shutting-down",
    "terminated",
];
/// Instances that exist for practical purposes: what `instances()` lists
/// by default and what an idempotent launch reuses.
const LIVE: &[&str] = &["pending", "running", "stopping", "stopped"];
const WAIT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a wait treats "no such instance" as "not visible yet".
const VISIBILITY_GRACE: Duration = Duration::from_secs(30);

/// Every instance matching `ids` and `filters`, all pages, by launch time
/// then id.
pub async fn fetch_instances(
    client: &Client,
    ids: &[String],
    filters: Vec<Filter>,
) -> Result<Vec<Instance>, SdkError<DescribeInstancesError>> {
    let reservations: Vec<_> =
        describe_all!(client.describe_instances(), set_instance_ids(ids), filters)?;
    let mut instances: Vec<Instance> = reservations
        .iter()
        .flat_map(|r| r.instances())
        .map(Instance::from)
        .collect();
    instances.sort_by(|a, b| (&a.launch_time, &a.id).cmp(&(&b.launch_time, &b.id)));
    Ok(instances)
}

/// The instances `ids` names as they are, or as a dry run leaves them;
/// an id nothing is known of is left out.
async fn current(ec2: &Ec2<'_>, call: &str, ids: &[String]) -> RhaiResult<Vec<Instance>> {
    let world = &ec2.ctx.planned;
    let mut known = Vec::new();
    let mut ask = Vec::new();
    for id in ids {
        match world.lookup::<Instance>(id) {
            Lookup::Planned(i) => known.push(i),
            Lookup::Unknown if !is_planned(id) => ask.push(id.clone()),
            Lookup::Unknown | Lookup::Removed => {}
        }
    }
    if !ask.is_empty() {
        let found = fetch_instances(ec2.client(), &ask, Vec::new())
            .await
            .map_err(|e| ec2.fail(call, &ask.join(", "), e))?;
        known.extend(found.into_iter().filter_map(|i| world.patch(i)));
    }
    Ok(known)
}

pub fn instances(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::instances";
    let (query, mut filters) = tag_search(&opts)?;
    let states = opts.strings("state")?;
    // The states asked for, or `None` for every state.
    let states: Option<Vec<String>> = match states.as_slice() {
        [] => Some(LIVE.iter().map(|s| s.to_string()).collect()),
        [all] if all == "all" || all == "any" => None,
        _ => {
            if let Some(bad) = states.iter().find(|s| !STATES.contains(&s.as_str())) {
                return Err(runtime_error(format!(
                    "{CALL}: unknown state `{bad}`; expected one of: {}, or \"all\"",
                    STATES.join(", ")
                )));
            }
            Some(states)
        }
    };
    if let Some(states) = &states {
        filters.push(filter("instance-state-name", states.clone()));
    }
    let ids = opts.strings("ids")?;
    let wanted = |i: &Instance| {
        states.as_ref().is_none_or(|s| s.contains(&i.state))
            && query.matches(&i.tags)
            && (ids.is_empty() || ids.contains(&i.id))
    };
    // Placeholders are the plan's alone: AWS is asked only of real ids.
    let real: Vec<String> = ids.iter().filter(|id| !is_planned(id)).cloned().collect();
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let found = if ids.is_empty() || !real.is_empty() {
            fetch_instances(ec2.client(), &real, filters)
                .await
                .map_err(|e| ec2.fail(CALL, &ids.join(", "), e))?
        } else {
            Vec::new()
        };
        let client = ec2.client();
        let fetch =
            |ids: Vec<String>| async move { fetch_instances(client, &ids, Vec::new()).await };
        let listed = ec2.planned_listing(CALL, found, fetch, wanted).await?;
        Ok(array(listed))
    })
}

pub fn instance(ctx: &Context, x: &Dynamic) -> RhaiResult<Instance> {
    const CALL: &str = "ec2::instance";
    let r = refs(CALL, x, Kind::Instance)?;
    let [id] = r.ids.as_slice() else {
        return Err(runtime_error(format!(
            "{CALL}: takes one instance; use ec2::instances(#{{ ids: [...] }}) for several"
        )));
    };
    match ctx.planned.lookup::<Instance>(id) {
        Lookup::Planned(i) => return Ok(i),
        Lookup::Removed => return Err(no_instance(id, "the plan")),
        Lookup::Unknown if is_planned(id) => return Err(no_instance(id, "the plan")),
        Lookup::Unknown => {}
    }
    let ec2 = Ec2::new(ctx)?;
    let ids = std::slice::from_ref(id);
    ec2.run(async {
        match fetch_instances(ec2.client(), ids, Vec::new()).await {
            Ok(mut found) if !found.is_empty() => ctx
                .planned
                .patch(found.remove(0))
                .ok_or_else(|| no_instance(id, "the plan")),
            Ok(_) => Err(no_instance(id, ec2.region())),
            Err(e) if not_yet_visible(&e) => Err(no_instance(id, ec2.region())),
            Err(e) => Err(ec2.fail(CALL, id, e)),
        }
    })
}

/// `region` names where it was looked for: a region, or "the plan".
fn no_instance(id: &str, region: &str) -> Box<rhai::EvalAltResult> {
    Failure::new(format!("ec2::instance: no instance {id} in {region}"))
        .hint("check the id and --region; ec2::instances(#{ tags: ... }) finds instances by tag")
        .into()
}

/// The `name` option and the `role` tag identify an instance for an
/// idempotent launch.
fn identity_filters(name: &str, tags: &Tags) -> Vec<Filter> {
    let mut filters = vec![filter("tag:Name", [name])];
    if let Some(role) = tags.get("role") {
        filters.push(filter("tag:role", [role.as_str()]));
    }
    filters
}

/// A ClientToken from the name and the request, so a launch repeated after
/// a crash (same name, same day, same earlier instances) is the same
/// request to AWS. The ids of earlier, terminated instances of that name
/// keep a relaunch after a teardown from being taken for the old request.
fn client_token(name: &str, request: &str, gone: &[Instance]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    name.hash(&mut hasher);
    request.hash(&mut hasher);
    for instance in gone {
        instance.id.hash(&mut hasher);
    }
    let day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or_default();
    day.hash(&mut hasher);
    let short: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    format!("opsh-{short}-{:016x}", hasher.finish())
}

fn user_data(opts: &Options) -> RhaiResult<Option<String>> {
    let Some(value) = opts.value("user_data") else {
        return Ok(None);
    };
    let bytes = if value.is_string() {
        value.to_string().into_bytes()
    } else if let Some(blob) = value.read_lock::<rhai::Blob>() {
        blob.clone()
    } else {
        return Err(runtime_error(format!(
            "ec2::launch: option `user_data` must be a string or a blob, not {}",
            value.type_name()
        )));
    };
    Ok(Some(BASE64_STANDARD.encode(bytes)))
}

pub fn launch(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::launch";
    let image = match opts.value("image") {
        Some(v) => refs(CALL, v, Kind::Image)?.ids,
        None => Vec::new(),
    };
    let [image] = image.as_slice() else {
        return Err(runtime_error(format!(
            "{CALL}: `image` is required: one Image or AMI id, e.g. image: ec2::find_image(#{{ tags: #{{ role: \"web\" }} }})"
        )));
    };
    let instance_type = opts.string("type")?.unwrap_or_else(|| DEFAULT_TYPE.into());
    let count = opts.int("count")?.unwrap_or(1);
    let count = i32::try_from(count)
        .ok()
        .filter(|c| (1..=1000).contains(c))
        .ok_or_else(|| {
            runtime_error(format!(
                "{CALL}: `count` must be from 1 to 1000, not {count}"
            ))
        })?;
    let groups = match opts.value("security_groups") {
        Some(v) => refs(CALL, v, Kind::SecurityGroup)?.ids,
        None => Vec::new(),
    };
    let name = opts.string("name")?;
    let mut tags = tags_option(&opts)?;
    if let Some(name) = &name {
        tags.insert("Name".into(), name.clone());
    }
    let volume_size = opts
        .int("volume_size")?
        .map(|gib| {
            i32::try_from(gib).ok().filter(|g| *g > 0).ok_or_else(|| {
                runtime_error(format!(
                    "{CALL}: `volume_size` must be a positive number of GiB, not {gib}"
                ))
            })
        })
        .transpose()?;
    let key_name = opts.string("key_name")?;
    let subnet = opts.string("subnet")?;
    let zone = opts.string("zone")?;
    let iam_profile = opts.string("iam_profile")?.map(|p| {
        let spec = IamInstanceProfileSpecification::builder();
        if p.starts_with("arn:") {
            spec.arn(p).build()
        } else {
            spec.name(p).build()
        }
    });
    let user_data = user_data(&opts)?;
    let user_data_len = user_data.as_ref().map(|d| d.len());

    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let mut gone = Vec::new();
        if let Some(name) = &name {
            let found = fetch_instances(ec2.client(), &[], identity_filters(name, &tags))
                .await
                .map_err(|e| ec2.fail(CALL, name, e))?;
            // An instance this dry run already plans under the name is reused too.
            let same = ctx.planned.list(found, Vec::new(), |i| {
                i.tags.get("Name") == Some(name)
                    && tags
                        .get("role")
                        .is_none_or(|role| i.tags.get("role") == Some(role))
            });
            let (live, old): (Vec<Instance>, Vec<Instance>) = same
                .into_iter()
                .partition(|i| LIVE.contains(&i.state.as_str()));
            if !live.is_empty() {
                let names: Vec<String> = live
                    .iter()
                    .map(|i| format!("{} ({})", i.id, i.state))
                    .collect();
                ctx.output.info(&format!(
                    "reused {}: an instance named {name} already exists",
                    names.join(", ")
                ));
                return Ok(array(live));
            }
            gone = old;
        }
        let group_ids = crate::aws::ec2::network::group_ids(&ec2, CALL, &groups).await?;
        let block_devices = match volume_size {
            Some(size) => Some(vec![root_volume(&ec2, image, size).await?]),
            None => None,
        };
        let target = name.clone().unwrap_or_else(|| format!("from {image}"));
        let args = serde_json::json!({
            "image": image,
            "type": instance_type,
            "count": count,
            "tags": tags,
            "security_groups": group_ids,
            "key_name": key_name,
            "subnet": subnet,
            "zone": zone,
            "volume_size": volume_size,
            "user_data_bytes": user_data_len,
        });
        let token = name
            .as_ref()
            .map(|n| client_token(n, &args.to_string(), &gone));
        let launched = ec2
            .mutate(
                CALL,
                &target,
                args.clone(),
                |dry_run| {
                    ec2.client()
                        .run_instances()
                        .image_id(image)
                        .instance_type(InstanceType::from(instance_type.as_str()))
                        .min_count(count)
                        .max_count(count)
                        .set_key_name(key_name.clone())
                        .set_security_group_ids((!group_ids.is_empty()).then(|| group_ids.clone()))
                        .set_subnet_id(subnet.clone())
                        .set_placement(
                            zone.as_ref()
                                .map(|z| Placement::builder().availability_zone(z).build()),
                        )
                        .set_user_data(user_data.clone())
                        .set_tag_specifications(Some(
                            [ResourceType::Instance, ResourceType::Volume]
                                .into_iter()
                                .filter_map(|r| tag_spec(r, &tags))
                                .collect(),
                        ))
                        .set_block_device_mappings(block_devices.clone())
                        .set_iam_instance_profile(iam_profile.clone())
                        .set_client_token(token.clone())
                        .dry_run(dry_run)
                        .send()
                },
                |out| {
                    let ids: Vec<String> = out
                        .instances()
                        .iter()
                        .filter_map(|i| i.instance_id().map(str::to_string))
                        .collect();
                    outcome("created", "instance", &ids)
                },
            )
            .await?;
        let Some(out) = launched else {
            let planned: Vec<Instance> = (0..count)
                .map(|_| Instance {
                    id: planned_id("i"),
                    state: "pending".into(),
                    instance_type: instance_type.clone(),
                    image: image.clone(),
                    public_ip: None,
                    private_ip: None,
                    public_dns: None,
                    private_dns: None,
                    zone: zone.clone(),
                    key_name: key_name.clone(),
                    launch_time: Some(now()),
                    tags: tags.clone(),
                    security_groups: group_ids.clone(),
                })
                .collect();
            for instance in &planned {
                ctx.planned.put(instance.clone());
            }
            return Ok(array(planned));
        };
        let ids: Vec<String> = out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        // A fresh instance may be unknown to DescribeInstances for a moment.
        let mut launched = retry_not_found(|| fetch_instances(ec2.client(), &ids, Vec::new()))
            .await
            .map_err(|e| ec2.fail(CALL, &ids.join(", "), e))?;
        if launched.is_empty() {
            launched = out.instances().iter().map(Instance::from).collect();
        }
        let names: Vec<String> = launched.iter().map(|i| label(&i.id, &i.tags)).collect();
        ctx.output.info(&format!("launched {}", names.join(", ")));
        Ok(array(launched))
    })
}

/// The image's root device with `size` GiB.
async fn root_volume(ec2: &Ec2<'_>, image: &str, size: i32) -> RhaiResult<BlockDeviceMapping> {
    const CALL: &str = "ec2::launch";
    let out = ec2
        .client()
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .map_err(|e| ec2.fail(CALL, image, e))?;
    let root = out
        .images()
        .first()
        .and_then(|i| i.root_device_name())
        .ok_or_else(|| {
            runtime_error(format!(
                "{CALL}: image {image} in {} has no root device to size",
                ec2.region()
            ))
        })?;
    Ok(BlockDeviceMapping::builder()
        .device_name(root)
        .ebs(EbsBlockDevice::builder().volume_size(size).build())
        .build())
}

#[derive(Debug, Clone, Copy)]
pub enum Change {
    Start,
    Stop,
    Reboot,
    Terminate,
}

impl Change {
    fn call(self) -> &'static str {
        match self {
            Change::Start => "ec2::start",
            Change::Stop => "ec2::stop",
            Change::Reboot => "ec2::reboot",
            Change::Terminate => "ec2::terminate",
        }
    }

    /// The state the change leaves an instance in at once, as reads see it.
    fn leaves(self) -> Option<&'static str> {
        match self {
            Change::Start => Some("pending"),
            Change::Stop => Some("stopping"),
            Change::Reboot => None,
            Change::Terminate => Some("shutting-down"),
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Change::Start => "starting",
            Change::Stop => "stopping",
            Change::Reboot => "rebooting",
            Change::Terminate => "terminating",
        }
    }
}

pub fn change(ctx: &Context, x: &Dynamic, change: Change) -> RhaiResult<()> {
    let call = change.call();
    let ids = refs(call, x, Kind::Instance)?.ids;
    if ids.is_empty() {
        return Ok(());
    }
    let ec2 = Ec2::new(ctx)?;
    let before = ec2.run(current(&ec2, call, &ids))?;
    let names = labelled(&ids, &before, |i| (&i.id, &i.tags));
    if matches!(change, Change::Terminate) {
        prompt::confirm_destructive(ctx, "terminate", &names)?;
    }
    let target = names.join(", ");
    let done = ec2.run(async {
        let c = ec2.client();
        let set = Some(ids.clone());
        // The four calls differ only in their request and what terminate removes.
        macro_rules! send {
            ($request:ident, $outcome:expr) => {
                ec2.mutate(
                    call,
                    &target,
                    Value::Null,
                    |d| c.$request().set_instance_ids(set).dry_run(d).send(),
                    $outcome,
                )
                .await?
                .is_some()
            };
        }
        Ok(match change {
            Change::Start => send!(start_instances, nothing),
            Change::Stop => send!(stop_instances, nothing),
            Change::Reboot => send!(reboot_instances, nothing),
            Change::Terminate => send!(terminate_instances, |_| outcome(
                "removed", "instance", &ids
            )),
        })
    })?;
    if done {
        ctx.output.info(&format!("{} {target}", change.doing()));
    } else if let Some(state) = change.leaves() {
        for mut instance in before {
            instance.state = state.to_string();
            ctx.planned.put(instance);
        }
    }
    Ok(())
}

/// States from which an instance never reaches `target` by itself.
fn hopeless(target: &str, state: &str) -> bool {
    match target {
        "terminated" => false,
        "shutting-down" => state == "terminated",
        _ => state == "shutting-down" || state == "terminated",
    }
}

/// The instances a script passed as objects, by id.
fn given_instances(x: &Dynamic) -> HashMap<String, Instance> {
    let mut given = HashMap::new();
    let mut add = |item: &Dynamic| {
        if let Some(i) = item.read_lock::<Instance>() {
            given.insert(i.id.clone(), i.clone());
        }
    };
    match x.read_lock::<Array>() {
        Some(items) => items.iter().for_each(&mut add),
        None => add(x),
    }
    given
}

pub fn wait_until(ctx: &Context, x: &Dynamic, state: &str, opts: Options) -> RhaiResult<Dynamic> {
    const CALL: &str = "ec2::wait_until";
    if !STATES.contains(&state) {
        return Err(runtime_error(format!(
            "{CALL}: unknown state `{state}`; expected one of: {}",
            STATES.join(", ")
        )));
    }
    let timeout = opts.seconds("timeout")?.unwrap_or(WAIT_TIMEOUT);
    let r = refs(CALL, x, Kind::Instance)?;
    let out = wait_for(ctx, &r.ids, &given_instances(x), state, timeout)?;
    Ok(shaped(r.many, out))
}

/// Wait until the instances `ids` are in `state` (a known one), for up to
/// `timeout`; `given` holds those the script passed as objects. In a dry
/// run a state the plan causes is reached at once, as a step of the plan.
pub fn wait_for(
    ctx: &Context,
    ids: &[String],
    given: &HashMap<String, Instance>,
    state: &str,
    timeout: Duration,
) -> RhaiResult<Vec<Instance>> {
    const CALL: &str = "ec2::wait_until";
    let mut current: HashMap<String, Instance> = HashMap::new();
    let mut real: Vec<String> = Vec::new();
    for id in ids {
        match ctx.planned.lookup::<Instance>(id) {
            Lookup::Planned(mut i) => {
                if i.state == state || settles(&i.state) == Some(state) {
                    i.state = state.to_string();
                    ctx.planned.put(i.clone());
                    current.insert(id.clone(), i);
                } else if is_planned(id) || hopeless(state, &i.state) {
                    return Err(runtime_error(format!(
                        "{CALL}: {} is {} in the plan: nothing planned makes it {state}",
                        label(&i.id, &i.tags),
                        i.state
                    )));
                } else {
                    real.push(id.clone());
                }
            }
            Lookup::Removed => return Err(no_instance(id, "the plan")),
            Lookup::Unknown if is_planned(id) => {
                let mut i = given.get(id).cloned().unwrap_or_else(|| bare_instance(id));
                i.state = state.to_string();
                current.insert(id.clone(), i);
            }
            Lookup::Unknown => real.push(id.clone()),
        }
    }
    if !current.is_empty() && ctx.settings.dry_run {
        plan_wait(ctx, ids, &current, state)?;
    }
    if !real.is_empty() {
        let ec2 = Ec2::new(ctx)?;
        let spinner = Spinner::new();
        let result = ec2.run(poll_states(&ec2, &real, state, timeout, &spinner));
        spinner.finish();
        current.extend(result?.into_iter().map(|i| (i.id.clone(), i)));
    }
    Ok(ids.iter().filter_map(|id| current.remove(id)).collect())
}

/// A wait the plan satisfies, as a step of the plan.
fn plan_wait(
    ctx: &Context,
    ids: &[String],
    satisfied: &HashMap<String, Instance>,
    state: &str,
) -> RhaiResult<()> {
    let shown: Vec<String> = ids
        .iter()
        .filter_map(|id| satisfied.get(id))
        .map(|i| label(&i.id, &i.tags))
        .collect();
    let verb = if shown.len() == 1 { "is" } else { "are" };
    let target = format!("{} {verb} {state}", shown.join(", "));
    ctx.output
        .info(&format!("dry run: would wait until {target}"));
    ctx.act("ec2::wait_until", &target, Value::Null)?;
    Ok(())
}

/// A planned instance the script named only by id.
fn bare_instance(id: &str) -> Instance {
    Instance {
        id: id.to_string(),
        ..Instance::default()
    }
}

async fn poll_states(
    ec2: &Ec2<'_>,
    ids: &[String],
    state: &str,
    timeout: Duration,
    spinner: &Spinner,
) -> RhaiResult<Vec<Instance>> {
    const CALL: &str = "ec2::wait_until";
    let started = tokio::time::Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        let found = match fetch_instances(ec2.client(), ids, Vec::new()).await {
            Ok(found) => found,
            Err(e) if not_yet_visible(&e) && started.elapsed() < VISIBILITY_GRACE => Vec::new(),
            Err(e) => return Err(ec2.fail(CALL, &ids.join(", "), e)),
        };
        let status: Vec<String> = ids
            .iter()
            .map(|id| match found.iter().find(|i| &i.id == id) {
                Some(i) => format!("{} {}", label(&i.id, &i.tags), i.state),
                None => format!("{id} not visible yet"),
            })
            .collect();
        spinner.show(&format!("waiting for {state}: {}", status.join(", ")));
        if found.len() == ids.len() && found.iter().all(|i| i.state == state) {
            return Ok(found);
        }
        if let Some(bad) = found.iter().find(|i| hopeless(state, &i.state)) {
            return Err(runtime_error(format!(
                "{CALL}: {} is {}: it will not become {state}",
                label(&bad.id, &bad.tags),
                bad.state
            )));
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(Failure::new(format!(
                "{CALL}: timed out after {}s waiting for {state}: {}",
                timeout.as_secs(),
                status.join(", ")
            ))
            .hint("raise the limit with #{ timeout: seconds }")
            .into());
        }
        tokio::time::sleep(backoff.next_delay().min(timeout - elapsed)).await;
    }
}

/// A spinner on stderr with the instances' current states, shown only to
/// a person at a terminal.
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn new() -> Self {
        Self(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    fn show(&self, message: &str) {
        match &self.0 {
            Some(bar) => bar.set_message(message.to_string()),
            None => tracing::debug!("{message}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

pub fn tag(ctx: &Context, x: &Dynamic, tags: &Map) -> RhaiResult<()> {
    const CALL: &str = "ec2::tag";
    let ids = refs(CALL, x, Kind::Any)?.ids;
    let tags = tags_from_map(CALL, tags)?;
    if ids.is_empty() || tags.is_empty() {
        return Ok(());
    }
    let ec2 = Ec2::new(ctx)?;
    let request = ec2
        .client()
        .create_tags()
        .set_resources(Some(ids.clone()))
        .set_tags(Some(tag_list(&tags)));
    retag(
        &ec2,
        CALL,
        &ids,
        serde_json::json!({ "tags": tags }),
        |d| request.dry_run(d).send(),
        || ctx.planned.tag(&ids, &tags),
    )
}

pub fn untag(ctx: &Context, x: &Dynamic, keys: &Array) -> RhaiResult<()> {
    const CALL: &str = "ec2::untag";
    let ids = refs(CALL, x, Kind::Any)?.ids;
    let keys: Vec<String> = keys.iter().map(Dynamic::to_string).collect();
    if ids.is_empty() || keys.is_empty() {
        return Ok(());
    }
    let ec2 = Ec2::new(ctx)?;
    let request = ec2
        .client()
        .delete_tags()
        .set_resources(Some(ids.clone()))
        .set_tags(Some(
            keys.iter().map(|k| Tag::builder().key(k).build()).collect(),
        ));
    retag(
        &ec2,
        CALL,
        &ids,
        serde_json::json!({ "keys": keys }),
        |d| request.dry_run(d).send(),
        || ctx.planned.untag(&ids, &keys),
    )
}

/// Change the tags of `ids` with `send`; a dry run plans it instead.
fn retag<O, E, Fut>(
    ec2: &Ec2<'_>,
    call: &str,
    ids: &[String],
    args: Value,
    send: impl FnOnce(bool) -> Fut,
    plan: impl FnOnce(),
) -> RhaiResult<()>
where
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ec2.run(async {
        let sent = ec2
            .mutate(call, &ids.join(", "), args, send, nothing)
            .await?;
        if sent.is_none() {
            plan();
        }
        Ok(())
    })
}

/// The user data an instance was launched with, decoded.
pub fn launch_user_data(ctx: &Context, x: &Dynamic) -> RhaiResult<String> {
    const CALL: &str = "ec2::user_data";
    let r = refs(CALL, x, Kind::Instance)?;
    let [id] = r.ids.as_slice() else {
        return Err(runtime_error(format!("{CALL}: takes one instance")));
    };
    let ec2 = Ec2::new(ctx)?;
    let encoded = ec2.run(async {
        let out = ec2
            .client()
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| ec2.fail(CALL, id, e))?;
        Ok(out
            .user_data()
            .and_then(|v| v.value())
            .unwrap_or_default()
            .to_string())
    })?;
    let bytes = BASE64_STANDARD
        .decode(encoded.trim())
        .map_err(|e| runtime_error(format!("{CALL}: the user data of {id} is not base64: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance as SdkInstance, Reservation};
    use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};

    const THROTTLED: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
        <Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

    /// A throttled DescribeInstances is retried by the SDK (standard retry
    /// mode, as opsh configures it) and the listing succeeds.
    #[tokio::test]
    async fn throttled_describe_instances_is_retried() {
        let rule = mock!(aws_sdk_ec2::Client::describe_instances)
            .sequence()
            .http_status(503, Some(THROTTLED.into()))
            .times(2)
            .output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(SdkInstance::builder().instance_id("i-2").build())
                            .instances(SdkInstance::builder().instance_id("i-1").build())
                            .build(),
                    )
                    .build()
            })
            .build();
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(
                aws_sdk_ec2::config::retry::RetryConfig::standard()
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(&rule),
            )
            .build();
        let client = Client::from_conf(config);
        let found = fetch_instances(&client, &[], Vec::new()).await.unwrap();
        let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["i-1", "i-2"]);
        assert_eq!(rule.num_calls(), 3);
    }

    #[test]
    fn client_tokens_follow_the_name_and_earlier_instances() {
        let a = client_token("db-1", "1 × t3.micro", &[]);
        assert_eq!(a, client_token("db-1", "1 × t3.micro", &[]));
        assert!(a.starts_with("opsh-db-1-") && a.len() <= 64);
        assert_ne!(a, client_token("db-2", "1 × t3.micro", &[]));
        assert_ne!(
            a,
            client_token("db-1", "1 × t3.micro", &[bare_instance("i-old")])
        );
        assert!(client_token(&"x".repeat(200), "r", &[]).len() <= 64);
    }

    #[test]
    fn hopeless_states() {
        assert!(hopeless("running", "terminated"));
        assert!(!hopeless("running", "pending"));
        assert!(!hopeless("terminated", "shutting-down"));
    }
}
