//! Which address of a machine (see core/machine) to dial, and the words
//! ssh is given, refused when ssh would read them as options.

use crate::core::machine::Addresses;
use crate::core::options::RhaiResult;
use crate::core::options::runtime_error;

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

/// The address of `machine` to dial and the name to show for it (its id,
/// if it has one).
pub fn pick(machine: &Addresses, prefer: Prefer) -> RhaiResult<(String, String)> {
    let public = machine
        .public_ip
        .clone()
        .or_else(|| machine.public_dns.clone());
    let private = machine
        .private_ip
        .clone()
        .or_else(|| machine.private_dns.clone());
    let address = match prefer {
        Prefer::Any => public.or(private),
        Prefer::Public => public,
        Prefer::Private => private,
    };
    let what = machine.id.as_deref().unwrap_or("the target");
    let address = address.ok_or_else(|| {
        runtime_error(match prefer {
            Prefer::Any => format!("{what} has no address (no public_ip/public_dns/private_ip/private_dns): is it running?"),
            Prefer::Public => format!("{what} has no public address; pass #{{ address: \"private\" }} to use its private one"),
            Prefer::Private => format!("{what} has no private address"),
        })
    })?;
    let name = machine.id.clone().unwrap_or_else(|| address.clone());
    Ok((address, name))
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
        use crate::core::machine::Machines;
        use rhai::{Dynamic, Map};
        let mut map = Map::new();
        map.insert("id".into(), Dynamic::from("i-123"));
        map.insert("public_ip".into(), Dynamic::UNIT);
        map.insert("private_ip".into(), Dynamic::from("10.0.0.5"));
        let machines = Machines::default();
        let addrs = machines.addresses(&Dynamic::from(map)).unwrap();
        assert_eq!(
            pick(&addrs, Prefer::Any).unwrap(),
            ("10.0.0.5".to_string(), "i-123".to_string())
        );
        assert!(pick(&addrs, Prefer::Public).is_err());
        assert!(machines.addresses(&Dynamic::from("web-1")).is_none());
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
