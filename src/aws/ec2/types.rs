//! The EC2 values runbooks hold: Instance, Image, SecurityGroup, Address,
//! Volume, Snapshot, KeyPair. Read-only fields, a readable `to_string`, a
//! table row and JSON each; built from the SDK's types here and only here.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::types as sdk;
use rhai::{Array, Dynamic, Engine, Map};
use serde::Serialize;

use crate::aws::ec2::rule::Rule;
use crate::core::context::Context;
use crate::core::machine::{Addresses, Machine};
use crate::core::output::Record;

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub state: String,
    #[serde(rename = "type")]
    pub instance_type: String,
    pub image: String,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub public_dns: Option<String>,
    pub private_dns: Option<String>,
    pub zone: Option<String>,
    pub key_name: Option<String>,
    pub launch_time: Option<String>,
    pub tags: Tags,
    /// Group ids: they resolve anywhere a security group is expected.
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub state: String,
    pub created: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub vpc: Option<String>,
    /// Ingress rules, one per protocol, port range and source.
    pub rules: Vec<Rule>,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
pub struct Address {
    pub ip: String,
    pub allocation_id: String,
    pub instance: Option<String>,
    pub tags: Tags,
    /// Needed to detach the address before releasing it.
    #[serde(skip)]
    pub association_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub id: String,
    pub size: i64,
    pub zone: Option<String>,
    pub state: String,
    pub instance: Option<String>,
    pub device: Option<String>,
    pub tags: Tags,
    #[serde(skip)]
    pub created: Option<String>,
    /// `attaching`, `attached`...: the volume's state alone says `in-use`
    /// before the attachment is done.
    #[serde(skip)]
    pub attachment_state: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub volume: Option<String>,
    pub state: String,
    pub started: Option<String>,
    pub description: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyPair {
    pub name: String,
    pub fingerprint: Option<String>,
    pub id: Option<String>,
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

fn opt(value: &Option<String>) -> Dynamic {
    value.clone().map_or(Dynamic::UNIT, Dynamic::from)
}

fn map_of(tags: &Tags) -> Map {
    tags.iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
        .collect()
}

fn strings(items: &[String]) -> Array {
    items.iter().cloned().map(Dynamic::from).collect()
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// Register every EC2 type with its read-only fields, as a record; an
/// Instance is a machine too (an SSH target).
pub fn register(engine: &mut Engine, ctx: &Context) {
    ctx.output.add_record::<Instance>();
    ctx.output.add_record::<Image>();
    ctx.output.add_record::<SecurityGroup>();
    ctx.output.add_record::<Address>();
    ctx.output.add_record::<Volume>();
    ctx.output.add_record::<Snapshot>();
    ctx.output.add_record::<KeyPair>();
    ctx.machines.add::<Instance>();
    engine
        .register_type_with_name::<Instance>("Instance")
        .register_get("id", |i: &mut Instance| i.id.clone())
        .register_get("state", |i: &mut Instance| i.state.clone())
        .register_get("type", |i: &mut Instance| i.instance_type.clone())
        .register_get("image", |i: &mut Instance| i.image.clone())
        .register_get("public_ip", |i: &mut Instance| opt(&i.public_ip))
        .register_get("private_ip", |i: &mut Instance| opt(&i.private_ip))
        .register_get("public_dns", |i: &mut Instance| opt(&i.public_dns))
        .register_get("private_dns", |i: &mut Instance| opt(&i.private_dns))
        .register_get("zone", |i: &mut Instance| opt(&i.zone))
        .register_get("key_name", |i: &mut Instance| opt(&i.key_name))
        .register_get("launch_time", |i: &mut Instance| opt(&i.launch_time))
        .register_get("tags", |i: &mut Instance| map_of(&i.tags))
        .register_get("security_groups", |i: &mut Instance| {
            strings(&i.security_groups)
        })
        .register_fn("to_string", |i: &mut Instance| i.to_string())
        .register_fn("to_debug", |i: &mut Instance| i.to_string());

    engine
        .register_type_with_name::<Image>("Image")
        .register_get("id", |i: &mut Image| i.id.clone())
        .register_get("name", |i: &mut Image| opt(&i.name))
        .register_get("state", |i: &mut Image| i.state.clone())
        .register_get("created", |i: &mut Image| opt(&i.created))
        .register_get("tags", |i: &mut Image| map_of(&i.tags))
        .register_fn("to_string", |i: &mut Image| i.to_string())
        .register_fn("to_debug", |i: &mut Image| i.to_string());

    engine
        .register_type_with_name::<SecurityGroup>("SecurityGroup")
        .register_get("id", |g: &mut SecurityGroup| g.id.clone())
        .register_get("name", |g: &mut SecurityGroup| g.name.clone())
        .register_get("description", |g: &mut SecurityGroup| opt(&g.description))
        .register_get("vpc", |g: &mut SecurityGroup| opt(&g.vpc))
        .register_get("rules", |g: &mut SecurityGroup| -> Array {
            g.rules.iter().map(|r| Dynamic::from(r.to_map())).collect()
        })
        .register_get("tags", |g: &mut SecurityGroup| map_of(&g.tags))
        .register_fn("to_string", |g: &mut SecurityGroup| g.to_string())
        .register_fn("to_debug", |g: &mut SecurityGroup| g.to_string());

    engine
        .register_type_with_name::<Address>("Address")
        .register_get("ip", |a: &mut Address| a.ip.clone())
        .register_get("allocation_id", |a: &mut Address| a.allocation_id.clone())
        .register_get("instance", |a: &mut Address| opt(&a.instance))
        .register_get("tags", |a: &mut Address| map_of(&a.tags))
        .register_fn("to_string", |a: &mut Address| a.to_string())
        .register_fn("to_debug", |a: &mut Address| a.to_string());

    engine
        .register_type_with_name::<Volume>("Volume")
        .register_get("id", |v: &mut Volume| v.id.clone())
        .register_get("size", |v: &mut Volume| v.size)
        .register_get("zone", |v: &mut Volume| opt(&v.zone))
        .register_get("state", |v: &mut Volume| v.state.clone())
        .register_get("instance", |v: &mut Volume| opt(&v.instance))
        .register_get("device", |v: &mut Volume| opt(&v.device))
        .register_get("tags", |v: &mut Volume| map_of(&v.tags))
        .register_fn("to_string", |v: &mut Volume| v.to_string())
        .register_fn("to_debug", |v: &mut Volume| v.to_string());

    engine
        .register_type_with_name::<Snapshot>("Snapshot")
        .register_get("id", |s: &mut Snapshot| s.id.clone())
        .register_get("volume", |s: &mut Snapshot| opt(&s.volume))
        .register_get("state", |s: &mut Snapshot| s.state.clone())
        .register_get("started", |s: &mut Snapshot| opt(&s.started))
        .register_get("description", |s: &mut Snapshot| opt(&s.description))
        .register_get("tags", |s: &mut Snapshot| map_of(&s.tags))
        .register_fn("to_string", |s: &mut Snapshot| s.to_string())
        .register_fn("to_debug", |s: &mut Snapshot| s.to_string());

    engine
        .register_type_with_name::<KeyPair>("KeyPair")
        .register_get("name", |k: &mut KeyPair| k.name.clone())
        .register_get("fingerprint", |k: &mut KeyPair| opt(&k.fingerprint))
        .register_get("id", |k: &mut KeyPair| opt(&k.id))
        .register_fn("to_string", |k: &mut KeyPair| k.to_string())
        .register_fn("to_debug", |k: &mut KeyPair| k.to_string());
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
        }
    }
}

impl Record for Instance {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", self.tags.get("Name").cloned().unwrap_or_default()),
            ("state", self.state.clone()),
            ("type", self.instance_type.clone()),
            ("zone", or_dash(&self.zone)),
            ("public_ip", or_dash(&self.public_ip)),
            ("private_ip", or_dash(&self.private_ip)),
        ]
    }
}

impl Record for Image {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", or_dash(&self.name)),
            ("state", self.state.clone()),
            ("created", or_dash(&self.created)),
        ]
    }
}

impl Record for SecurityGroup {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", self.name.clone()),
            ("vpc", or_dash(&self.vpc)),
            ("rules", self.rules.len().to_string()),
        ]
    }
}

impl Record for Address {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ip", self.ip.clone()),
            ("allocation_id", self.allocation_id.clone()),
            ("instance", or_dash(&self.instance)),
            ("name", self.tags.get("Name").cloned().unwrap_or_default()),
        ]
    }
}

impl Record for Volume {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", self.tags.get("Name").cloned().unwrap_or_default()),
            ("size", format!("{} GiB", self.size)),
            ("state", self.state.clone()),
            ("zone", or_dash(&self.zone)),
            ("instance", or_dash(&self.instance)),
            ("device", or_dash(&self.device)),
        ]
    }
}

impl Record for Snapshot {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("volume", or_dash(&self.volume)),
            ("state", self.state.clone()),
            ("started", or_dash(&self.started)),
            ("description", or_dash(&self.description)),
        ]
    }
}

impl Record for KeyPair {
    fn row(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", self.name.clone()),
            ("id", or_dash(&self.id)),
            ("fingerprint", or_dash(&self.fingerprint)),
        ]
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
