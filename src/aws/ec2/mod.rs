//! The `ec2::` module: every function a runbook calls, with its signature
//! and documentation. The work is done in instances, images, network and
//! storage; call holds what they share.

pub mod call;
pub mod dependents;
pub mod group_removal;
pub mod images;
pub mod instances;
pub mod network;
pub mod plan;
pub mod rule;
pub mod rules;
pub mod storage;
pub mod types;

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map};

use crate::aws::ec2::group_removal::DELETE_GROUP_OPTIONS;
use crate::aws::ec2::images::{CREATE_IMAGE_OPTIONS, IMAGES_OPTIONS};
use crate::aws::ec2::instances::{Change, INSTANCES_OPTIONS, LAUNCH_OPTIONS, WAIT_OPTIONS};
use crate::aws::ec2::network::{ADDRESSES_OPTIONS, ALLOCATE_OPTIONS, ENSURE_GROUP_OPTIONS};
use crate::aws::ec2::rules::RULE_KEYS;
use crate::aws::ec2::storage::{
    CREATE_VOLUME_OPTIONS, SNAPSHOT_OPTIONS, SNAPSHOTS_OPTIONS, VOLUMES_OPTIONS,
};
use crate::core::api::{self, Functions};
use crate::core::context::Context;
use crate::core::options::Options;

/// `ec2::` and its types, which are records and (instances) machines.
pub fn register(engine: &mut Engine, ctx: &Arc<Context>) {
    types::register(engine, ctx);
    api::module(engine, ctx, "ec2", |ec2| {
        register_instances(ec2);
        register_images(ec2);
        register_network(ec2);
        register_storage(ec2);
    });
}

fn register_instances(ec2: &mut Functions) {
    ec2.add(
        "launch",
        &["Array"],
        "Launch instances; returns [Instance]. With `name`, a live instance of that Name (and `role` tag) is reused.\n\
         Options: image (required: Image or AMI id), type (t3.micro), count (1), name (the Name tag),\n\
         tags, key_name, security_groups (names or ids), subnet, zone, user_data (text, base64-encoded for you),\n\
         volume_size (root volume GiB), iam_profile (name or ARN). Tags go on the instance and its volumes.\n\
         Example: let web = ec2::launch(#{ image: ec2::find_image(#{ tags: #{ role: \"web\" } }), name: \"web-1\", tags: #{ role: \"web\" } });",
    )
    .required_options(LAUNCH_OPTIONS, instances::launch);

    ec2.add(
        "instances",
        &["Array"],
        "Instances matching the options, oldest launch first; terminated ones only when asked.\n\
         Options: tags (#{ role: \"web\" }; an array value matches any, () only needs the tag),\n\
         state (\"running\", [\"running\", \"stopped\"], or \"all\"; default every state but terminated), ids.\n\
         Example: for i in ec2::instances(#{ tags: #{ role: \"db\" }, state: \"running\" }) { print(i); }",
    )
    .options(INSTANCES_OPTIONS, instances::instances);

    ec2.add(
        "instance",
        &["id: String", "Instance"],
        "The instance with this id (or a fresh copy of an Instance); an error names the id and region if there is none.",
    )
    .native(|c: &Context, x: Dynamic| instances::instance(c, &x));

    ec2.add(
        "wait_until",
        &[
            "instances: Instance|String|Array",
            "state: String",
            "Instance|Array",
        ],
        "Wait until the instance(s) reach `state` (pending, running, stopping, stopped, terminated);\n\
        returns them refreshed, one for one and an array for an array. Polls with backoff and shows a spinner\n\
        at a terminal. Fails at once if one can no longer get there (e.g. terminated while waiting for running).\n\
        In a dry run a state the plan causes (running after a planned launch) is reached at once, as a plan step.\n\
        Options: timeout (seconds, default 300).\n\
        Example: let web = ec2::wait_until(ec2::launch(#{ image: ami, name: \"web-1\" }), \"running\");",
    )
    .options(
        WAIT_OPTIONS,
        |c: &Context, x: Dynamic, state: &str, opts: Options| {
            instances::wait_until(c, &x, state, opts)
        },
    );

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
        ec2.add(name, &["instances: Instance|String|Array", "()"], doc)
            .native(move |c: &Context, x: Dynamic| instances::change(c, &x, change));
    }

    ec2.add(
        "tag",
        &["resources: Dynamic", "tags: Map", "()"],
        "Set tags on EC2 resources (instances, volumes, snapshots, images, groups, addresses, or their ids).\n\
         Example: ec2::tag(web, #{ deployed: \"2024-05-01\" });",
    )
    .native(|c: &Context, x: Dynamic, tags: Map| instances::tag(c, &x, &tags));
    ec2.add(
        "untag",
        &["resources: Dynamic", "keys: Array", "()"],
        "Remove the tags with these keys from EC2 resources. Example: ec2::untag(web, [\"maintenance\"]);",
    )
    .native(|c: &Context, x: Dynamic, keys: Array| instances::untag(c, &x, &keys));

    ec2.add(
        "user_data",
        &["instance: Instance|String", "String"],
        "The user data (e.g. cloud-init) an instance was launched with, decoded.",
    )
    .native(|c: &Context, x: Dynamic| instances::launch_user_data(c, &x));
}

fn register_images(ec2: &mut Functions) {
    let query = "Options: owners (default \"self\"; e.g. [\"amazon\"] or an account id), tags (#{ role: \"db\" }),\n\
        name (a pattern, * and ? allowed).";
    ec2.add(
        "images",
        &["Array"],
        &format!("Images matching the options, newest first.\n{query}"),
    )
    .options(IMAGES_OPTIONS, images::images);
    ec2.add(
        "find_image",
        &["Image"],
        &format!(
            "The newest available image matching the options; an error if there is none.\n{query}\n\
            Example: let ami = ec2::find_image(#{{ tags: #{{ role: \"db\" }} }});"
        ),
    )
    .options(IMAGES_OPTIONS, images::find_image);
    ec2.add(
        "create_image",
        &["instance: Instance|String", "Image"],
        "Create an image from an instance; returns the Image.\n\
         Options: name (default: the instance's Name and the time), tags (on the image),\n\
         description, no_reboot.",
    )
    .options(
        CREATE_IMAGE_OPTIONS,
        |c: &Context, x: Dynamic, opts: Options| images::create_image(c, &x, opts),
    );
    ec2.add(
        "import_key_pair",
        &["name: String", "public_key: String", "KeyPair"],
        "Import an OpenSSH public key (its text, or the path of a .pub file) as key pair `name`;\n\
         an existing key pair of that name is kept. Example: ec2::import_key_pair(\"deploy\", \"~/.ssh/id_ed25519.pub\");",
    )
    .native(images::import_key_pair);
    ec2.add(
        "deregister_image",
        &["images: Image|String|Array", "()"],
        "Deregister image(s), after a confirmation that names each one; their snapshots stay (ec2::delete_snapshot).",
    )
    .native(|c: &Context, x: Dynamic| images::deregister_image(c, &x));
    ec2.add(
        "delete_key_pair",
        &["name: String", "()"],
        "Delete a key pair (by name or key- id), after a confirmation.",
    )
    .native(images::delete_key_pair);
    ec2.add(
        "key_pairs",
        &["Array"],
        "Every key pair in the region, by name: [KeyPair {name, fingerprint, id}].",
    )
    .native(images::key_pairs);
}

fn register_network(ec2: &mut Functions) {
    ec2.add(
        "security_group",
        &["name: String", "SecurityGroup"],
        "The security group with this name or id (sg-...), or () if there is none.",
    )
    .native(network::security_group);

    ec2.add(
        "ensure_security_group",
        &["name: String", "SecurityGroup"],
        "Create the group if missing and add the rules it lacks; returns it. Running it again changes nothing.\n\
         Options: description, vpc, rules, prune (true: also revoke rules not listed, after a confirmation).\n\
         A rule: #{ protocol: \"tcp\" (default), port: 80 | from_port/to_port, cidr: \"0.0.0.0/0\" | source_group: name or id }.\n\
         Example: ec2::ensure_security_group(\"db\", #{ rules: [#{ port: 5432, source_group: \"app\" }] });",
    )
    .options(ENSURE_GROUP_OPTIONS, network::ensure_security_group);

    ec2.add(
        "authorize",
        &["group: SecurityGroup|String", "rule: Map", "SecurityGroup"],
        "Allow one inbound rule (if not already allowed); returns the group.\n\
         Example: ec2::authorize(\"web\", #{ port: 443, cidr: \"0.0.0.0/0\" });",
    )
    .keys("rule", RULE_KEYS)
    .native(|c: &Context, sg: Dynamic, rule: Dynamic| network::authorize(c, &sg, &rule));
    ec2.add(
        "revoke",
        &["group: SecurityGroup|String", "rule: Map", "SecurityGroup"],
        "Remove one inbound rule, after a confirmation; returns the group.",
    )
    .keys("rule", RULE_KEYS)
    .native(|c: &Context, sg: Dynamic, rule: Dynamic| network::revoke(c, &sg, &rule));

    ec2.add(
        "delete_security_group",
        &["group: SecurityGroup|String", "()"],
        "Delete a security group (object, id or name), after a confirmation that names it and the rules\n\
         of other groups that name it as a source: those rules are revoked first. While instances that use it\n\
         are shutting down it waits until they are terminated (AWS refuses the delete until then); it refuses\n\
         at once, naming them, while running or stopped instances or other network interfaces use it.\n\
         Options: timeout (seconds to wait for the group to be free, default 300).\n\
         Example: ec2::terminate(web); ec2::delete_security_group(\"web\");",
    )
    .options(
        DELETE_GROUP_OPTIONS,
        |c: &Context, sg: Dynamic, opts: Options| group_removal::delete_security_group(c, &sg, opts),
    );

    ec2.add(
        "allocate_address",
        &["Address"],
        "Allocate an elastic IP; returns the Address {ip, allocation_id, instance, tags}. Options: tags.",
    )
    .options(ALLOCATE_OPTIONS, network::allocate_address);
    ec2.add(
        "addresses",
        &["Array"],
        "Elastic IPs, by IP. Options: tags, instance (the one it is associated with).",
    )
    .options(ADDRESSES_OPTIONS, network::addresses);
    ec2.add(
        "associate_address",
        &["address: Address|String", "instance: Instance|String", "Address"],
        "Point an elastic IP (Address, allocation id or IP) at an instance, moving it if it is elsewhere;\n\
         returns the Address.",
    )
    .native(|c: &Context, addr: Dynamic, instance: Dynamic| {
        network::associate_address(c, &addr, &instance)
    });
    ec2.add(
        "release_address",
        &["address: Address|String|Array", "()"],
        "Release elastic IP(s), detaching them first, after a confirmation that names each one.",
    )
    .native(|c: &Context, addr: Dynamic| network::release_address(c, &addr));
}

fn register_storage(ec2: &mut Functions) {
    ec2.add(
        "create_volume",
        &["Volume"],
        "Create an EBS volume and return it once available.\n\
         Options: size (GiB; default 8, or the snapshot's), zone (default the region's first), type (gp3),\n\
         snapshot (Snapshot or id to restore), tags.",
    )
    .options(CREATE_VOLUME_OPTIONS, storage::create_volume);
    ec2.add(
        "volumes",
        &["Array"],
        "EBS volumes, oldest first. Options: tags, instance (attached to).",
    )
    .options(VOLUMES_OPTIONS, storage::volumes);
    ec2.add(
        "attach_volume",
        &[
            "volume: Volume|String",
            "instance: Instance|String",
            "device: String",
            "Volume",
        ],
        "Attach a volume as `device` (e.g. \"/dev/sdf\") and return it once attached.",
    )
    .native(|c: &Context, v: Dynamic, i: Dynamic, device: &str| {
        storage::attach_volume(c, &v, &i, device)
    });
    ec2.add(
        "detach_volume",
        &["volume: Volume|String", "Volume"],
        "Detach a volume and return it once available.",
    )
    .native(|c: &Context, v: Dynamic| storage::detach_volume(c, &v));
    ec2.add(
        "delete_volume",
        &["volumes: Volume|String|Array", "()"],
        "Delete volume(s), after a confirmation that names each one and the instance it is attached to:\n\
         an attached volume is detached first and deleted once available (AWS refuses to delete it before).",
    )
    .native(|c: &Context, v: Dynamic| storage::delete_volume(c, &v));

    ec2.add(
        "snapshot",
        &["volume: Volume|String", "Snapshot"],
        "Start a snapshot of a volume; returns the Snapshot. Options: description, tags.",
    )
    .options(
        SNAPSHOT_OPTIONS,
        |c: &Context, v: Dynamic, opts: Options| storage::snapshot(c, &v, opts),
    );
    ec2.add(
        "snapshots",
        &["Array"],
        "This account's snapshots, newest first. Options: tags, volume.",
    )
    .options(SNAPSHOTS_OPTIONS, storage::snapshots);
    ec2.add(
        "delete_snapshot",
        &["snapshots: Snapshot|String|Array", "()"],
        "Delete snapshot(s), after a confirmation that names each one. A snapshot behind a registered image\n\
         is refused before anything is deleted, naming the image (ec2::deregister_image first).",
    )
    .native(|c: &Context, s: Dynamic| storage::delete_snapshot(c, &s));
}
