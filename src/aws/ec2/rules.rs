//! Security group rules as runbooks write them —
//! `#{ protocol: "tcp", port: 80, cidr: "0.0.0.0/0" }` or
//! `#{ from_port: 8000, to_port: 8100, source_group: "app" }` — and as EC2
//! stores them (IpPermission). One Rule is one protocol, port range and
//! source, so rule sets compare and diff exactly.

use std::fmt;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, UserIdGroupPair};
use rhai::{Dynamic, Map};
use serde::Serialize;

use crate::core::options::{Options, RhaiResult, runtime_error};

pub const RULE_KEYS: &[&str] = &[
    "protocol",
    "port",
    "from_port",
    "to_port",
    "cidr",
    "source_group",
];

/// EC2's name for "every protocol".
const ALL: &str = "-1";

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

/// A rule as written in a runbook, before a `source_group` name is
/// resolved to its id.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: Option<String>,
    pub source_group: Option<String>,
}

fn protocol_name(protocol: &str) -> RhaiResult<String> {
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

fn port(func: &str, value: Option<&Dynamic>, key: &str) -> RhaiResult<Option<i32>> {
    value
        .map(|v| {
            v.as_int()
                .ok()
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| (-1..=65535).contains(n))
                .ok_or_else(|| {
                    runtime_error(format!(
                        "{func}: rule `{key}` must be a port number from 0 to 65535, not {v}"
                    ))
                })
        })
        .transpose()
}

impl RuleSpec {
    pub fn parse(func: &str, value: &Dynamic) -> RhaiResult<Self> {
        let map = value.read_lock::<Map>().ok_or_else(|| {
            runtime_error(format!(
                "{func}: a rule is a map such as #{{ port: 22, cidr: \"10.0.0.0/8\" }}, not {}",
                value.type_name()
            ))
        })?;
        let opts = Options::new(func, map.clone(), RULE_KEYS)?;
        let protocol = protocol_name(&opts.string("protocol")?.unwrap_or_else(|| "tcp".into()))
            .map_err(|e| runtime_error(format!("{func}: {}", e)))?;
        let single = port(func, opts.value("port"), "port")?;
        let from = port(func, opts.value("from_port"), "from_port")?;
        let to = port(func, opts.value("to_port"), "to_port")?;
        let (from_port, to_port) = match (single, from, to) {
            (Some(p), None, None) => (Some(p), Some(p)),
            (None, Some(f), Some(t)) if f <= t => (Some(f), Some(t)),
            (None, Some(f), None) => (Some(f), Some(f)),
            (None, None, None) if protocol == ALL => (None, None),
            (None, None, None) if protocol.starts_with("icmp") => (Some(-1), Some(-1)),
            (None, None, None) => {
                return Err(runtime_error(format!(
                    "{func}: a {protocol} rule needs `port` or `from_port`/`to_port`"
                )));
            }
            _ => {
                return Err(runtime_error(format!(
                    "{func}: give either `port`, or `from_port` and `to_port` with from_port <= to_port"
                )));
            }
        };
        let (from_port, to_port) = if protocol == ALL {
            (None, None)
        } else {
            (from_port, to_port)
        };
        let cidr = opts.string("cidr")?;
        let source_group = opts
            .value("source_group")
            .map(|v| crate::aws::ec2::call::object_id(v).unwrap_or_else(|| v.to_string()));
        if cidr.is_some() == source_group.is_some() {
            return Err(runtime_error(format!(
                "{func}: a rule needs exactly one of `cidr` (e.g. \"0.0.0.0/0\") or `source_group` (a name or sg- id)"
            )));
        }
        Ok(Self {
            protocol,
            from_port,
            to_port,
            cidr,
            source_group,
        })
    }

    /// The rule, with the source group resolved to `group_id`.
    pub fn to_rule(&self, group_id: Option<String>) -> Rule {
        let source = match (&self.cidr, group_id) {
            (Some(cidr), _) if cidr.contains(':') => Source::Cidr6(cidr.clone()),
            (Some(cidr), _) => Source::Cidr(cidr.clone()),
            (None, Some(id)) => Source::Group(id),
            (None, None) => Source::Group(self.source_group.clone().unwrap_or_default()),
        };
        Rule {
            protocol: self.protocol.clone(),
            from_port: self.from_port,
            to_port: self.to_port,
            source,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> RhaiResult<RuleSpec> {
        let map: Map = rhai::Engine::new().eval(script).unwrap();
        RuleSpec::parse("test", &Dynamic::from(map))
    }

    #[test]
    fn rules_parse_with_defaults() {
        let r = spec(r#"#{ port: 80, cidr: "0.0.0.0/0" }"#)
            .unwrap()
            .to_rule(None);
        assert_eq!(r.to_string(), "tcp 80 from 0.0.0.0/0");
        let r =
            spec(r#"#{ protocol: "UDP", from_port: 60000, to_port: 61000, source_group: "sg-1" }"#)
                .unwrap()
                .to_rule(Some("sg-1".into()));
        assert_eq!(r.to_string(), "udp 60000-61000 from sg-1");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"protocol": "udp", "port": null, "from_port": 60000, "to_port": 61000, "cidr": null, "source_group": "sg-1"})
        );
        let r = spec(r#"#{ protocol: "all", cidr: "10.0.0.0/8" }"#)
            .unwrap()
            .to_rule(None);
        assert_eq!(r.to_string(), "all from 10.0.0.0/8");
    }

    #[test]
    fn bad_rules_are_explained() {
        let err = |s| spec(s).unwrap_err().to_string();
        assert!(err(r#"#{ cidr: "0.0.0.0/0" }"#).contains("needs `port`"));
        assert!(err(r#"#{ port: 22 }"#).contains("exactly one of"));
        assert!(err(r#"#{ port: 70000, cidr: "0.0.0.0/0" }"#).contains("0 to 65535"));
        assert!(err(r#"#{ prot: "tcp", port: 1, cidr: "x" }"#).contains("unknown option `prot`"));
    }

    #[test]
    fn permissions_round_trip() {
        let rule = spec(r#"#{ port: 5432, source_group: "sg-9" }"#)
            .unwrap()
            .to_rule(Some("sg-9".into()));
        assert_eq!(Rule::expand(&rule.to_permission()), vec![rule]);
    }
}
