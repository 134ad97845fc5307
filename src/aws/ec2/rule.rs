//! A security group rule as EC2 stores it (IpPermission) and as runbooks
//! read it back (`#{ protocol, port, from_port, to_port, cidr,
//! source_group }`). One Rule is one protocol, port range and source, so
//! rule sets compare and diff exactly.

use std::fmt;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, UserIdGroupPair};
use rhai::{Dynamic, Map};
use serde::Serialize;

use crate::core::options::{RhaiResult, runtime_error};
use crate::core::record::ToScript;

/// EC2's name for "every protocol".
pub const ALL: &str = "-1";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(String),
    Cidr6(String),
    /// A security group id.
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp`, `-1` (all) or a protocol number.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
}

pub fn protocol_name(protocol: &str) -> RhaiResult<String> {
    Ok(match protocol.trim().to_lowercase().as_str() {
        "tcp" | "6" => "tcp".into(),
        "udp" | "17" => "udp".into(),
        "icmp" | "1" => "icmp".into(),
        "icmpv6" | "58" => "icmpv6".into(),
        "all" | "-1" => ALL.into(),
        other if other.parse::<u8>().is_ok() => other.into(),
        other => {
            return Err(runtime_error(format!(
                "unknown protocol `{other}`: use tcp, udp, icmp, all or a protocol number"
            )));
        }
    })
}

/// What a rule looks like to a runbook and in JSON: the keys it is
/// written with, every one present (`()` / null when it does not apply) so
/// `rule.source_group` reads on any rule.
#[derive(Serialize)]
struct RuleView<'a> {
    protocol: &'a str,
    /// The port when the range is one port.
    port: Option<i32>,
    from_port: Option<i32>,
    to_port: Option<i32>,
    cidr: Option<&'a str>,
    source_group: Option<&'a str>,
}

impl Rule {
    /// Every rule an IpPermission holds: one per source.
    pub fn expand(p: &IpPermission) -> Vec<Rule> {
        let protocol = protocol_name(p.ip_protocol().unwrap_or(ALL))
            .unwrap_or_else(|_| p.ip_protocol().unwrap_or(ALL).to_string());
        let (from_port, to_port) = if protocol == ALL {
            (None, None)
        } else {
            (p.from_port(), p.to_port())
        };
        let rule = |source| Rule {
            protocol: protocol.clone(),
            from_port,
            to_port,
            source,
        };
        let cidrs = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .map(|c| rule(Source::Cidr(c.to_string())));
        let cidrs6 = p
            .ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6())
            .map(|c| rule(Source::Cidr6(c.to_string())));
        let groups = p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id())
            .map(|g| rule(Source::Group(g.to_string())));
        cidrs.chain(cidrs6).chain(groups).collect()
    }

    pub fn to_permission(&self) -> IpPermission {
        let mut p = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .set_from_port(self.from_port)
            .set_to_port(self.to_port);
        p = match &self.source {
            Source::Cidr(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).build()),
            Source::Cidr6(c) => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
            Source::Group(g) => {
                p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build())
            }
        };
        p.build()
    }

    fn view(&self) -> RuleView<'_> {
        let single = (self.from_port == self.to_port)
            .then_some(self.from_port)
            .flatten();
        RuleView {
            protocol: if self.protocol == ALL {
                "all"
            } else {
                &self.protocol
            },
            port: single,
            from_port: self.from_port,
            to_port: self.to_port,
            cidr: match &self.source {
                Source::Cidr(c) | Source::Cidr6(c) => Some(c),
                Source::Group(_) => None,
            },
            source_group: match &self.source {
                Source::Group(g) => Some(g),
                _ => None,
            },
        }
    }

    /// The rule as a runbook map, e.g. `#{ protocol: "tcp", port: 22, cidr: "10.0.0.0/8" }`.
    pub fn to_map(&self) -> Map {
        let v = self.view();
        let mut map = Map::new();
        map.insert("protocol".into(), v.protocol.into());
        let ports = [
            ("port", v.port),
            ("from_port", v.from_port),
            ("to_port", v.to_port),
        ];
        for (key, value) in ports {
            let value = value.map_or(Dynamic::UNIT, |n| Dynamic::from(rhai::INT::from(n)));
            map.insert(key.into(), value);
        }
        let text = |t: Option<&str>| t.map_or(Dynamic::UNIT, |t| Dynamic::from(t.to_string()));
        map.insert("cidr".into(), text(v.cidr));
        map.insert("source_group".into(), text(v.source_group));
        map
    }
}

/// A rule reads in a script as the map it is written as.
impl ToScript for Rule {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(self.to_map())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(s)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.view();
        write!(f, "{}", v.protocol)?;
        match (v.port, v.from_port, v.to_port) {
            (Some(-1), _, _) => {}
            (Some(p), _, _) => write!(f, " {p}")?,
            (None, Some(a), Some(b)) => write!(f, " {a}-{b}")?,
            _ => {}
        }
        match &self.source {
            Source::Cidr(c) | Source::Cidr6(c) | Source::Group(c) => write!(f, " from {c}"),
        }
    }
}
