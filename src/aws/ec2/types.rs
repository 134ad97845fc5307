//! The EC2 values runbooks hold: Instance, Image, SecurityGroup, Address,
//! Volume, Snapshot, KeyPair, each declared once (fields, table row) with a
//! readable `to_string`; built from the SDK's types here and only here.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::types as sdk;
use rhai::Engine;

use crate::aws::ec2::rule::Rule;
use crate::core::context::Context;
use crate::core::machine::{Addresses, Machine};
use crate::core::record::record;

pub type Tags = BTreeMap<String, String>;

record! {
    /// An EC2 instance, as EC2 described it when it was read.
    #[derive(Default)]
    pub struct Instance as "Instance" {
        /// The instance id (`i-0abc…`).
        pub id: String,
        /// pending, running, stopping, stopped, shutting-down or terminated.
        pub state: String,
        /// The instance type (`t3.micro`).
        pub instance_type: String as "type",
        /// The id of the AMI it was launched from.
        pub image: String,
        /// Its public IPv4 address (an elastic IP when one is associated), () without one.
        pub public_ip: Option<String>,
        /// Its private IPv4 address in the VPC.
        pub private_ip: Option<String>,
        /// Its public DNS name, () without one.
        pub public_dns: Option<String>,
        /// Its private DNS name.
        pub private_dns: Option<String>,
        /// The availability zone (`us-east-1a`).
        pub zone: Option<String>,
        /// The key pair it was launched with, () without one.
        pub key_name: Option<String>,
        /// When it was launched, RFC 3339 (`2026-05-01T12:00:00Z`).
        pub launch_time: Option<String>,
        /// Its tags, key to value (`Name`, `role`…).
        pub tags: Tags,
        /// The ids of its security groups: they resolve anywhere a security group is expected.
        pub security_groups: Vec<String>,
    }
    row(i) [
        "id" => i.id.clone(),
        "name" => i.tags.get("Name").cloned().unwrap_or_default(),
        "state" => i.state.clone(),
        "type" => i.instance_type.clone(),
        "zone" => or_dash(&i.zone),
        "public_ip" => or_dash(&i.public_ip),
        "private_ip" => or_dash(&i.private_ip),
    ]
}

record! {
    /// An AMI (machine image) of this account.
    pub struct Image as "Image" {
        /// The image id (`ami-0abc…`).
        pub id: String,
        /// The image's name, () without one.
        pub name: Option<String>,
        /// pending, available or failed.
        pub state: String,
        /// When it was created, RFC 3339.
        pub created: Option<String>,
        /// Its tags, key to value.
        pub tags: Tags,
    }
    row(i) [
        "id" => i.id.clone(),
        "name" => or_dash(&i.name),
        "state" => i.state.clone(),
        "created" => or_dash(&i.created),
    ]
}

record! {
    /// A VPC security group and its ingress rules.
    pub struct SecurityGroup as "SecurityGroup" {
        /// The group id (`sg-0abc…`).
        pub id: String,
        /// The group's name, unique in its VPC.
        pub name: String,
        /// What the group is for, as given at creation.
        pub description: Option<String>,
        /// The id of its VPC.
        pub vpc: Option<String>,
        /// Ingress rules, one per protocol, port range and source (a CIDR or another group).
        pub rules: Vec<Rule>,
        /// Its tags, key to value.
        pub tags: Tags,
    }
    row(g) [
        "id" => g.id.clone(),
        "name" => g.name.clone(),
        "vpc" => or_dash(&g.vpc),
        "rules" => g.rules.len().to_string(),
    ]
}

record! {
    /// An elastic IP address of this account.
    pub struct Address as "Address" {
        /// The public IPv4 address.
        pub ip: String,
        /// Its allocation id (`eipalloc-…`), which release and associate use.
        pub allocation_id: String,
        /// The instance it is associated with, () when free.
        pub instance: Option<String>,
        /// Its tags, key to value.
        pub tags: Tags,
    }
    hidden {
        /// Needed to detach the address before releasing it.
        pub association_id: Option<String>,
    }
    row(a) [
        "ip" => a.ip.clone(),
        "allocation_id" => a.allocation_id.clone(),
        "instance" => or_dash(&a.instance),
        "name" => a.tags.get("Name").cloned().unwrap_or_default(),
    ]
}

record! {
    /// An EBS volume.
    #[derive(Default)]
    pub struct Volume as "Volume" {
        /// The volume id (`vol-0abc…`).
        pub id: String,
        /// Its size in GiB.
        pub size: i64,
        /// The availability zone it lives in (it attaches only to instances there).
        pub zone: Option<String>,
        /// creating, available, in-use, deleting or error.
        pub state: String,
        /// The instance it is attached to, () when detached.
        pub instance: Option<String>,
        /// The device name it is attached as (`/dev/sdf`), () when detached.
        pub device: Option<String>,
        /// Its tags, key to value.
        pub tags: Tags,
    }
    hidden {
        pub created: Option<String>,
        /// `attaching`, `attached`...: the volume's state alone says `in-use`
        /// before the attachment is done.
        pub attachment_state: Option<String>,
    }
    row(v) [
        "id" => v.id.clone(),
        "name" => v.tags.get("Name").cloned().unwrap_or_default(),
        "size" => format!("{} GiB", v.size),
        "state" => v.state.clone(),
        "zone" => or_dash(&v.zone),
        "instance" => or_dash(&v.instance),
        "device" => or_dash(&v.device),
    ]
}

record! {
    /// An EBS snapshot of this account.
    pub struct Snapshot as "Snapshot" {
        /// The snapshot id (`snap-0abc…`).
        pub id: String,
        /// The volume it was taken from, () when that is unknown.
        pub volume: Option<String>,
        /// pending, completed or error.
        pub state: String,
        /// When it was started, RFC 3339.
        pub started: Option<String>,
        /// Its description, () without one.
        pub description: Option<String>,
        /// Its tags, key to value.
        pub tags: Tags,
    }
    row(s) [
        "id" => s.id.clone(),
        "volume" => or_dash(&s.volume),
        "state" => s.state.clone(),
        "started" => or_dash(&s.started),
        "description" => or_dash(&s.description),
    ]
}

record! {
    /// An EC2 key pair (its public half: the private key is never read back).
    pub struct KeyPair as "KeyPair" {
        /// The key pair's name, as launch's key option takes it.
        pub name: String,
        /// Its fingerprint, as EC2 reports it.
        pub fingerprint: Option<String>,
        /// Its id (`key-0abc…`).
        pub id: Option<String>,
    }
    row(k) [
        "name" => k.name.clone(),
        "id" => or_dash(&k.id),
        "fingerprint" => or_dash(&k.fingerprint),
    ]
}
/// A text value AWS may leave out or send empty.
fn text(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

/// A timestamp as RFC 3339 (`2024-05-01T12:00:00Z`), which also sorts.
pub fn timestamp(value: Option<&DateTime>) -> Option<String> {
    value.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

pub fn now() -> String {
    timestamp(Some(&DateTime::from(std::time::SystemTime::now()))).unwrap_or_default()
}

pub fn tags_of(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// How a resource is named to a person: `i-0abc (web-1)`, or its id alone.
pub fn label(id: &str, tags: &Tags) -> String {
    match tags.get("Name").filter(|n| !n.is_empty()) {
        Some(name) => format!("{id} ({name})"),
        None => id.to_string(),
    }
}

/// `ids` as `id (Name)` labels from the resources found for them; an id
/// with nothing found (a planned one, from a dry run) is named as it is.
pub fn labelled<T>(ids: &[String], found: &[T], key: impl Fn(&T) -> (&str, &Tags)) -> Vec<String> {
    ids.iter()
        .map(|id| {
            found
                .iter()
                .map(&key)
                .find(|(found_id, _)| found_id == id)
                .map_or_else(|| id.clone(), |(found_id, tags)| label(found_id, tags))
        })
        .collect()
}

impl From<&sdk::Instance> for Instance {
    fn from(i: &sdk::Instance) -> Self {
        Self {
            id: i.instance_id().unwrap_or_default().to_string(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map_or("unknown", |n| n.as_str())
                .to_string(),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            image: i.image_id().unwrap_or_default().to_string(),
            public_ip: text(i.public_ip_address()),
            private_ip: text(i.private_ip_address()),
            public_dns: text(i.public_dns_name()),
            private_dns: text(i.private_dns_name()),
            zone: text(i.placement().and_then(|p| p.availability_zone())),
            key_name: text(i.key_name()),
            launch_time: timestamp(i.launch_time()),
            tags: tags_of(i.tags()),
            security_groups: i
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
        }
    }
}

impl From<&sdk::Image> for Image {
    fn from(i: &sdk::Image) -> Self {
        Self {
            id: i.image_id().unwrap_or_default().to_string(),
            name: text(i.name()),
            state: i.state().map_or("unknown", |s| s.as_str()).to_string(),
            created: text(i.creation_date()),
            tags: tags_of(i.tags()),
        }
    }
}

impl From<&sdk::SecurityGroup> for SecurityGroup {
    fn from(g: &sdk::SecurityGroup) -> Self {
        let mut rules: Vec<Rule> = g.ip_permissions().iter().flat_map(Rule::expand).collect();
        rules.sort();
        rules.dedup();
        Self {
            id: g.group_id().unwrap_or_default().to_string(),
            name: g.group_name().unwrap_or_default().to_string(),
            description: text(g.description()),
            vpc: text(g.vpc_id()),
            rules,
            tags: tags_of(g.tags()),
        }
    }
}

impl From<&sdk::Address> for Address {
    fn from(a: &sdk::Address) -> Self {
        Self {
            ip: a.public_ip().unwrap_or_default().to_string(),
            allocation_id: a.allocation_id().unwrap_or_default().to_string(),
            instance: text(a.instance_id()),
            tags: tags_of(a.tags()),
            association_id: text(a.association_id()),
        }
    }
}

impl From<&sdk::Volume> for Volume {
    fn from(v: &sdk::Volume) -> Self {
        let attachment = v.attachments().first();
        Self {
            id: v.volume_id().unwrap_or_default().to_string(),
            size: i64::from(v.size().unwrap_or_default()),
            zone: text(v.availability_zone()),
            state: v.state().map_or("unknown", |s| s.as_str()).to_string(),
            instance: text(attachment.and_then(|a| a.instance_id())),
            device: text(attachment.and_then(|a| a.device())),
            tags: tags_of(v.tags()),
            created: timestamp(v.create_time()),
            attachment_state: attachment
                .and_then(|a| a.state())
                .map(|s| s.as_str().to_string()),
        }
    }
}

impl From<&sdk::Snapshot> for Snapshot {
    fn from(s: &sdk::Snapshot) -> Self {
        Self {
            id: s.snapshot_id().unwrap_or_default().to_string(),
            volume: text(s.volume_id()),
            state: s.state().map_or("unknown", |s| s.as_str()).to_string(),
            started: timestamp(s.start_time()),
            description: text(s.description()),
            tags: tags_of(s.tags()),
        }
    }
}

impl From<&sdk::KeyPairInfo> for KeyPair {
    fn from(k: &sdk::KeyPairInfo) -> Self {
        Self {
            name: k.key_name().unwrap_or_default().to_string(),
            fingerprint: text(k.key_fingerprint()),
            id: text(k.key_pair_id()),
        }
    }
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// Register every EC2 type with its read-only properties, as a record; an
/// Instance is a machine too (an SSH target).
pub fn register(engine: &mut Engine, ctx: &Context) {
    ctx.add_record::<Instance>(engine);
    ctx.add_record::<Image>(engine);
    ctx.add_record::<SecurityGroup>(engine);
    ctx.add_record::<Address>(engine);
    ctx.add_record::<Volume>(engine);
    ctx.add_record::<Snapshot>(engine);
    ctx.add_record::<KeyPair>(engine);
    ctx.machines.add::<Instance>();
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, {}",
            label(&self.id, &self.tags),
            self.state,
            self.instance_type
        )?;
        if let Some(zone) = &self.zone {
            write!(f, " in {zone}")?;
        }
        if let Some(ip) = &self.public_ip {
            write!(f, ", public {ip}")?;
        }
        if let Some(ip) = &self.private_ip {
            write!(f, ", private {ip}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " ({name})")?;
        }
        write!(f, ": {}", self.state)?;
        if let Some(created) = &self.created {
            write!(f, ", created {created}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SecurityGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.name)?;
        if let Some(vpc) = &self.vpc {
            write!(f, " in {vpc}")?;
        }
        if self.rules.is_empty() {
            return write!(f, ": no inbound rules");
        }
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        write!(f, ": {}", rules.join("; "))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.ip,
            label(&self.allocation_id, &self.tags)
        )?;
        match &self.instance {
            Some(instance) => write!(f, " → {instance}"),
            None => write!(f, ", not associated"),
        }
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} GiB, {}",
            label(&self.id, &self.tags),
            self.size,
            self.state
        )?;
        if let Some(zone) = &self.zone {
            write!(f, " in {zone}")?;
        }
        if let Some(instance) = &self.instance {
            write!(f, ", on {instance}")?;
            if let Some(device) = &self.device {
                write!(f, " as {device}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", label(&self.id, &self.tags))?;
        if let Some(volume) = &self.volume {
            write!(f, " of {volume}")?;
        }
        write!(f, ": {}", self.state)?;
        if let Some(started) = &self.started {
            write!(f, ", started {started}")?;
        }
        if let Some(description) = &self.description {
            write!(f, ", \"{description}\"")?;
        }
        Ok(())
    }
}

impl fmt::Display for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(fingerprint) = &self.fingerprint {
            write!(f, " ({fingerprint})")?;
        }
        Ok(())
    }
}

impl Machine for Instance {
    fn addresses(&self) -> Addresses {
        // An address the emulator or EC2 left empty is no address.
        let field = |value: &Option<String>| value.clone().filter(|s| !s.is_empty());
        Addresses {
            id: Some(self.id.clone()),
            public_ip: field(&self.public_ip),
            private_ip: field(&self.private_ip),
            public_dns: field(&self.public_dns),
            private_dns: field(&self.private_dns),
            label: self.tags.get("Name").cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_read_from_the_sdk_with_absent_values_left_out() {
        let sdk = sdk::Instance::builder()
            .instance_id("i-1")
            .state(
                sdk::InstanceState::builder()
                    .name(sdk::InstanceStateName::Running)
                    .build(),
            )
            .instance_type(sdk::InstanceType::T3Micro)
            .public_dns_name("")
            .tags(sdk::Tag::builder().key("Name").value("web-1").build())
            .build();
        let i = Instance::from(&sdk);
        assert_eq!(i.state, "running");
        assert_eq!(i.instance_type, "t3.micro");
        assert_eq!(i.public_dns, None);
        assert_eq!(i.to_string(), "i-1 (web-1): running, t3.micro");
        assert_eq!(
            serde_json::to_value(&i).unwrap()["type"],
            serde_json::json!("t3.micro")
        );
    }
}
