//! What a runbook may hand to `ssh::connect` / `ssh::group` as a target: a
//! name (an address or an ssh_config alias), a Host, or anything with
//! addresses, such as an EC2 instance or a map with the same fields.

use rhai::{Dynamic, Map};

use crate::core::options::RhaiResult;
use crate::core::options::runtime_error;

/// The addresses of a machine, as an EC2 instance describes them.
#[derive(Debug, Default, Clone)]
pub struct Addresses {
    pub id: Option<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub public_dns: Option<String>,
    pub private_dns: Option<String>,
}

/// Which of a machine's addresses to dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// Public if it has one, else private.
    Any,
    Public,
    Private,
}

impl Prefer {
    pub fn parse(value: Option<&str>) -> RhaiResult<Self> {
        match value {
            None => Ok(Self::Any),
            Some("public") => Ok(Self::Public),
            Some("private") => Ok(Self::Private),
            Some(other) => Err(runtime_error(format!(
                "option `address` must be \"public\" or \"private\", not {other:?}"
            ))),
        }
    }
}

impl Addresses {
    /// The address to dial and the name to show for it (the id, if any).
    pub fn pick(&self, prefer: Prefer) -> RhaiResult<(String, String)> {
        let public = self.public_ip.clone().or_else(|| self.public_dns.clone());
        let private = self.private_ip.clone().or_else(|| self.private_dns.clone());
        let address = match prefer {
            Prefer::Any => public.or(private),
            Prefer::Public => public,
            Prefer::Private => private,
        };
        let what = self.id.as_deref().unwrap_or("the target");
        let address = address.ok_or_else(|| {
            runtime_error(match prefer {
                Prefer::Any => format!("{what} has no address (no public_ip/public_dns/private_ip/private_dns): is it running?"),
                Prefer::Public => format!("{what} has no public address; pass #{{ address: \"private\" }} to use its private one"),
                Prefer::Private => format!("{what} has no private address"),
            })
        })?;
        let name = self.id.clone().unwrap_or_else(|| address.clone());
        Ok((address, name))
    }
}

/// A type defined elsewhere (an EC2 instance) that can be an SSH target.
pub trait SshTarget {
    fn addresses(&self) -> Addresses;
}

impl SshTarget for Map {
    fn addresses(&self) -> Addresses {
        let field = |key: &str| {
            self.get(key)
                .filter(|v| !v.is_unit())
                .map(ToString::to_string)
                .filter(|s| !s.is_empty())
        };
        Addresses {
            id: field("id"),
            public_ip: field("public_ip"),
            private_ip: field("private_ip"),
            public_dns: field("public_dns"),
            private_dns: field("private_dns"),
        }
    }
}

impl SshTarget for crate::aws::ec2::types::Instance {
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

fn from_type<T: SshTarget + Clone + Send + Sync + 'static>(value: &Dynamic) -> Option<Addresses> {
    value.read_lock::<T>().map(|t| t.addresses())
}

/// Every type that can be an SSH target by its addresses; a new type adds
/// its line here.
const TARGET_TYPES: &[fn(&Dynamic) -> Option<Addresses>] = &[
    from_type::<Map>,
    from_type::<crate::aws::ec2::types::Instance>,
];

/// The addresses of `value`, if it is a machine-like value.
pub fn ssh_target(value: &Dynamic) -> Option<Addresses> {
    TARGET_TYPES.iter().find_map(|get| get(value))
}

/// A destination, user, jump host or key path that ssh would take as an
/// option or split into words is refused before it reaches ssh.
pub fn check_word(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.starts_with('-') {
        return Err(format!(
            "{what} {value:?} begins with `-`, which ssh would read as an option"
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} {value:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_with_instance_fields_are_targets() {
        let mut map = Map::new();
        map.insert("id".into(), Dynamic::from("i-123"));
        map.insert("public_ip".into(), Dynamic::UNIT);
        map.insert("private_ip".into(), Dynamic::from("10.0.0.5"));
        let addrs = ssh_target(&Dynamic::from(map)).unwrap();
        assert_eq!(
            addrs.pick(Prefer::Any).unwrap(),
            ("10.0.0.5".to_string(), "i-123".to_string())
        );
        assert!(addrs.pick(Prefer::Public).is_err());
        assert!(ssh_target(&Dynamic::from("web-1")).is_none());
    }

    #[test]
    fn option_like_and_spaced_words_are_refused() {
        assert!(check_word("destination", "-oProxyCommand=x").is_err());
        assert!(check_word("destination", "a b").is_err());
        assert!(check_word("destination", "a\nb").is_err());
        assert!(check_word("destination", "").is_err());
        assert!(check_word("destination", "deploy@web-1.example.com").is_ok());
    }
}
