//! The `ec2::` module: every function a runbook calls, with its signature
//! and documentation. The work is done in instances, images, network and
//! storage; call holds what they share.

pub mod call;
pub mod images;
pub mod instances;
pub mod network;
pub mod plan;
pub mod rule;
pub mod rules;
pub mod storage;
pub mod types;

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::aws::ec2::images::{CREATE_IMAGE_OPTIONS, IMAGES_OPTIONS};
use crate::aws::ec2::instances::{Change, INSTANCES_OPTIONS, LAUNCH_OPTIONS, WAIT_OPTIONS};
use crate::aws::ec2::network::{ADDRESSES_OPTIONS, ALLOCATE_OPTIONS, ENSURE_GROUP_OPTIONS};
use crate::aws::ec2::rules::RULE_KEYS;
use crate::aws::ec2::storage::{
    CREATE_VOLUME_OPTIONS, SNAPSHOT_OPTIONS, SNAPSHOTS_OPTIONS, VOLUMES_OPTIONS,
};
use crate::core::api::{func, func_with_options};
use crate::core::context::Context;
use crate::core::options::Options;

/// Registers `name` twice: without options and with an options map
/// checked against `allowed`.
macro_rules! with_options {
    ($module:expr, $ctx:expr, $name:literal, [$($param:literal),*], $ret:literal, $doc:expr, $allowed:expr,
     |$c:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {{
        let $c = $ctx.clone();
        func($name, &[$($param,)* $ret], $doc).set_into_module(&mut $module, move |$($arg: $ty),*| {
            let opts = Options::empty(concat!("ec2::", $name));
            let $c = &$c;
            $body(opts)
        });
        let $c = $ctx.clone();
        func_with_options($name, &[$($param,)* "options: Map", $ret], $allowed, $doc).set_into_module(
            &mut $module,
            move |$($arg: $ty,)* map: Map| {
                let opts = Options::new(concat!("ec2::", $name), map, $allowed)?;
                let $c = &$c;
                $body(opts)
            },
        );
    }};
}

/// `ec2::` and its types, which are records and (instances) machines.
pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    types::register(engine, ctx);
    engine.register_static_module("ec2", module(ctx).into());
}

fn module(ctx: &Arc<Context>) -> Module {
    let mut module = Module::new();
    register_instances(&mut module, ctx);
    register_images(&mut module, ctx);
    register_network(&mut module, ctx);
    register_storage(&mut module, ctx);
    module
}

fn register_instances(module: &mut Module, ctx: &Arc<Context>) {
    let c = ctx.clone();
    func_with_options(
        "launch",
        &["options: Map", "Array"],
        LAUNCH_OPTIONS,
        "Launch instances; returns [Instance]. With `name`, a live instance of that Name (and `role` tag) is reused.\n\
         Options: image (required: Image or AMI id), type (t3.micro), count (1), name (the Name tag),\n\
         tags, key_name, security_groups (names or ids), subnet, zone, user_data (text, base64-encoded for you),\n\
         volume_size (root volume GiB), iam_profile (name or ARN). Tags go on the instance and its volumes.\n\
         Example: let web = ec2::launch(#{ image: ec2::find_image(#{ tags: #{ role: \"web\" } }), name: \"web-1\", tags: #{ role: \"web\" } });",
    )
    .set_into_module(module, move |map: Map| {
        instances::launch(&c, Options::new("ec2::launch", map, LAUNCH_OPTIONS)?)
    });

    with_options!(
        *module,
        ctx,
        "instances",
        [],
        "Array",
        "Instances matching the options, oldest launch first; terminated ones only when asked.\n\
         Options: tags (#{ role: \"web\" }; an array value matches any, () only needs the tag),\n\
         state (\"running\", [\"running\", \"stopped\"], or \"all\"; default every state but terminated), ids.\n\
         Example: for i in ec2::instances(#{ tags: #{ role: \"db\" }, state: \"running\" }) { print(i); }",
        INSTANCES_OPTIONS,
        |c| |opts| instances::instances(c, opts)
    );

    let c = ctx.clone();
    func(
        "instance",
        &["id: String", "Instance"],
        "The instance with this id (or a fresh copy of an Instance); an error names the id and region if there is none.",
    )
    .set_into_module(module, move |x: Dynamic| instances::instance(&c, &x));

    let wait_doc = "Wait until the instance(s) reach `state` (pending, running, stopping, stopped, terminated);\n\
        returns them refreshed, one for one and an array for an array. Polls with backoff and shows a spinner\n\
        at a terminal. Fails at once if one can no longer get there (e.g. terminated while waiting for running).\n\
        In a dry run a state the plan causes (running after a planned launch) is reached at once, as a plan step.\n\
        Options: timeout (seconds, default 300).\n\
        Example: let web = ec2::wait_until(ec2::launch(#{ image: ami, name: \"web-1\" }), \"running\");";
    let c = ctx.clone();
    func(
        "wait_until",
        &[
            "instances: Instance|String|Array",
            "state: String",
            "Instance|Array",
        ],
        wait_doc,
    )
    .set_into_module(module, move |x: Dynamic, state: &str| {
        instances::wait_until(&c, &x, state, Options::empty("ec2::wait_until"))
    });
    let c = ctx.clone();
    func_with_options(
        "wait_until",
        &[
            "instances: Instance|String|Array",
            "state: String",
            "options: Map",
            "Instance|Array",
        ],
        WAIT_OPTIONS,
        wait_doc,
    )
    .set_into_module(module, move |x: Dynamic, state: &str, map: Map| {
        let opts = Options::new("ec2::wait_until", map, WAIT_OPTIONS)?;
        instances::wait_until(&c, &x, state, opts)
    });

    let changes = [
        (
            Change::Start,
            "start",
            "Start stopped instance(s). Example: ec2::start(ec2::instances(#{ tags: #{ env: \"staging\" }, state: \"stopped\" }));",
        ),
        (
            Change::Stop,
            "stop",
            "Stop instance(s); wait with ec2::wait_until(x, \"stopped\").",
        ),
        (Change::Reboot, "reboot", "Reboot instance(s)."),
        (
            Change::Terminate,
            "terminate",
            "Terminate instance(s), after a confirmation that names each one (--yes answers it).",
        ),
    ];
    for (change, name, doc) in changes {
        let c = ctx.clone();
        func(name, &["instances: Instance|String|Array", "()"], doc)
            .set_into_module(module, move |x: Dynamic| instances::change(&c, &x, change));
    }

    let c = ctx.clone();
    func(
        "tag",
        &["resources: Dynamic", "tags: Map", "()"],
        "Set tags on EC2 resources (instances, volumes, snapshots, images, groups, addresses, or their ids).\n\
         Example: ec2::tag(web, #{ deployed: \"2024-05-01\" });",
    )
    .set_into_module(module, move |x: Dynamic, tags: Map| instances::tag(&c, &x, &tags));
    let c = ctx.clone();
    func(
        "untag",
        &["resources: Dynamic", "keys: Array", "()"],
        "Remove the tags with these keys from EC2 resources. Example: ec2::untag(web, [\"maintenance\"]);",
    )
    .set_into_module(module, move |x: Dynamic, keys: Array| instances::untag(&c, &x, &keys));

    let c = ctx.clone();
    func(
        "user_data",
        &["instance: Instance|String", "String"],
        "The user data (e.g. cloud-init) an instance was launched with, decoded.",
    )
    .set_into_module(module, move |x: Dynamic| {
        instances::launch_user_data(&c, &x)
    });
}

fn register_images(module: &mut Module, ctx: &Arc<Context>) {
    let query = "Options: owners (default \"self\"; e.g. [\"amazon\"] or an account id), tags (#{ role: \"db\" }),\n\
        name (a pattern, * and ? allowed).";
    with_options!(
        *module,
        ctx,
        "images",
        [],
        "Array",
        &format!("Images matching the options, newest first.\n{query}"),
        IMAGES_OPTIONS,
        |c| |opts| images::images(c, opts)
    );
    with_options!(
        *module,
        ctx,
        "find_image",
        [],
        "Image",
        &format!(
            "The newest available image matching the options; an error if there is none.\n{query}\n\
            Example: let ami = ec2::find_image(#{{ tags: #{{ role: \"db\" }} }});"
        ),
        IMAGES_OPTIONS,
        |c| |opts| images::find_image(c, opts)
    );
    with_options!(
        *module,
        ctx,
        "create_image",
        ["instance: Instance|String"],
        "Image",
        "Create an image from an instance; returns the Image.\n\
         Options: name (default: the instance's Name and the time), tags (on the image),\n\
         description, no_reboot.",
        CREATE_IMAGE_OPTIONS,
        |c, x: Dynamic| |opts| images::create_image(c, &x, opts)
    );
    let c = ctx.clone();
    func(
        "import_key_pair",
        &["name: String", "public_key: String", "KeyPair"],
        "Import an OpenSSH public key (its text, or the path of a .pub file) as key pair `name`;\n\
         an existing key pair of that name is kept. Example: ec2::import_key_pair(\"deploy\", \"~/.ssh/id_ed25519.pub\");",
    )
    .set_into_module(module, move |name: &str, key: &str| {
        images::import_key_pair(&c, name, key)
    });
    let c = ctx.clone();
    func(
        "deregister_image",
        &["images: Image|String|Array", "()"],
        "Deregister image(s), after a confirmation that names each one; their snapshots stay (ec2::delete_snapshot).",
    )
    .set_into_module(module, move |x: Dynamic| images::deregister_image(&c, &x));
    let c = ctx.clone();
    func(
        "delete_key_pair",
        &["name: String", "()"],
        "Delete a key pair (by name or key- id), after a confirmation.",
    )
    .set_into_module(module, move |name: &str| images::delete_key_pair(&c, name));
    let c = ctx.clone();
    func(
        "key_pairs",
        &["Array"],
        "Every key pair in the region, by name: [KeyPair {name, fingerprint, id}].",
    )
    .set_into_module(module, move || images::key_pairs(&c));
}

fn register_network(module: &mut Module, ctx: &Arc<Context>) {
    let c = ctx.clone();
    func(
        "security_group",
        &["name: String", "SecurityGroup"],
        "The security group with this name or id (sg-...), or () if there is none.",
    )
    .set_into_module(module, move |name: &str| network::security_group(&c, name));

    with_options!(
        *module,
        ctx,
        "ensure_security_group",
        ["name: String"],
        "SecurityGroup",
        "Create the group if missing and add the rules it lacks; returns it. Running it again changes nothing.\n\
         Options: description, vpc, rules, prune (true: also revoke rules not listed, after a confirmation).\n\
         A rule: #{ protocol: \"tcp\" (default), port: 80 | from_port/to_port, cidr: \"0.0.0.0/0\" | source_group: name or id }.\n\
         Example: ec2::ensure_security_group(\"db\", #{ rules: [#{ port: 5432, source_group: \"app\" }] });",
        ENSURE_GROUP_OPTIONS,
        |c, name: &str| |opts| network::ensure_security_group(c, name, opts)
    );

    let c = ctx.clone();
    func_with_options(
        "authorize",
        &["group: SecurityGroup|String", "rule: Map", "SecurityGroup"],
        RULE_KEYS,
        "Allow one inbound rule (if not already allowed); returns the group.\n\
         Example: ec2::authorize(\"web\", #{ port: 443, cidr: \"0.0.0.0/0\" });",
    )
    .set_into_module(module, move |sg: Dynamic, rule: Dynamic| {
        network::authorize(&c, &sg, &rule)
    });
    let c = ctx.clone();
    func_with_options(
        "revoke",
        &["group: SecurityGroup|String", "rule: Map", "SecurityGroup"],
        RULE_KEYS,
        "Remove one inbound rule, after a confirmation; returns the group.",
    )
    .set_into_module(module, move |sg: Dynamic, rule: Dynamic| {
        network::revoke(&c, &sg, &rule)
    });

    let c = ctx.clone();
    func(
        "delete_security_group",
        &["group: SecurityGroup|String", "()"],
        "Delete a security group (object, id or name), after a confirmation.",
    )
    .set_into_module(module, move |sg: Dynamic| {
        network::delete_security_group(&c, &sg)
    });

    with_options!(
        *module,
        ctx,
        "allocate_address",
        [],
        "Address",
        "Allocate an elastic IP; returns the Address {ip, allocation_id, instance, tags}. Options: tags.",
        ALLOCATE_OPTIONS,
        |c| |opts| network::allocate_address(c, opts)
    );
    with_options!(
        *module,
        ctx,
        "addresses",
        [],
        "Array",
        "Elastic IPs, by IP. Options: tags, instance (the one it is associated with).",
        ADDRESSES_OPTIONS,
        |c| |opts| network::addresses(c, opts)
    );
    let c = ctx.clone();
    func(
        "associate_address",
        &["address: Address|String", "instance: Instance|String", "Address"],
        "Point an elastic IP (Address, allocation id or IP) at an instance, moving it if it is elsewhere;\n\
         returns the Address.",
    )
    .set_into_module(module, move |addr: Dynamic, instance: Dynamic| {
        network::associate_address(&c, &addr, &instance)
    });
    let c = ctx.clone();
    func(
        "release_address",
        &["address: Address|String|Array", "()"],
        "Release elastic IP(s), detaching them first, after a confirmation that names each one.",
    )
    .set_into_module(module, move |addr: Dynamic| {
        network::release_address(&c, &addr)
    });
}

fn register_storage(module: &mut Module, ctx: &Arc<Context>) {
    with_options!(
        *module,
        ctx,
        "create_volume",
        [],
        "Volume",
        "Create an EBS volume and return it once available.\n\
         Options: size (GiB; default 8, or the snapshot's), zone (default the region's first), type (gp3),\n\
         snapshot (Snapshot or id to restore), tags.",
        CREATE_VOLUME_OPTIONS,
        |c| |opts| storage::create_volume(c, opts)
    );
    with_options!(
        *module,
        ctx,
        "volumes",
        [],
        "Array",
        "EBS volumes, oldest first. Options: tags, instance (attached to).",
        VOLUMES_OPTIONS,
        |c| |opts| storage::volumes(c, opts)
    );
    let c = ctx.clone();
    func(
        "attach_volume",
        &[
            "volume: Volume|String",
            "instance: Instance|String",
            "device: String",
            "Volume",
        ],
        "Attach a volume as `device` (e.g. \"/dev/sdf\") and return it once attached.",
    )
    .set_into_module(module, move |v: Dynamic, i: Dynamic, device: &str| {
        storage::attach_volume(&c, &v, &i, device)
    });
    let c = ctx.clone();
    func(
        "detach_volume",
        &["volume: Volume|String", "Volume"],
        "Detach a volume and return it once available.",
    )
    .set_into_module(module, move |v: Dynamic| storage::detach_volume(&c, &v));

    let c = ctx.clone();
    func(
        "delete_volume",
        &["volumes: Volume|String|Array", "()"],
        "Delete volume(s), after a confirmation that names each one.",
    )
    .set_into_module(module, move |v: Dynamic| storage::delete_volume(&c, &v));

    with_options!(
        *module,
        ctx,
        "snapshot",
        ["volume: Volume|String"],
        "Snapshot",
        "Start a snapshot of a volume; returns the Snapshot. Options: description, tags.",
        SNAPSHOT_OPTIONS,
        |c, v: Dynamic| |opts| storage::snapshot(c, &v, opts)
    );
    with_options!(
        *module,
        ctx,
        "snapshots",
        [],
        "Array",
        "This account's snapshots, newest first. Options: tags, volume.",
        SNAPSHOTS_OPTIONS,
        |c| |opts| storage::snapshots(c, opts)
    );
    let c = ctx.clone();
    func(
        "delete_snapshot",
        &["snapshots: Snapshot|String|Array", "()"],
        "Delete snapshot(s), after a confirmation that names each one.",
    )
    .set_into_module(module, move |s: Dynamic| storage::delete_snapshot(&c, &s));
}
