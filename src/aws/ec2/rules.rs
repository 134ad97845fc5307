//! Security group rules as runbooks write them —
//! `#{ protocol: "tcp", port: 80, cidr: "0.0.0.0/0" }` or
//! `#{ from_port: 8000, to_port: 8100, source_group: "app" }` — checked,
//! then turned into Rules (see rule.rs) once a source group is resolved.

use rhai::{Dynamic, Map};

use crate::aws::ec2::rule::{ALL, Rule, Source, protocol_name};
use crate::core::failure::describe;
use crate::core::options::{Options, RhaiResult, runtime_error};

pub const RULE_KEYS: &[&str] = &[
    "protocol",
    "port",
    "from_port",
    "to_port",
    "cidr",
    "source_group",
];

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
            .map_err(|e| runtime_error(format!("{func}: {}", describe(&e))))?;
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
        let err = |s| describe(&spec(s).unwrap_err());
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
