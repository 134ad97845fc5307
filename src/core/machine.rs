//! Where EC2 and SSH meet: a value with the addresses of a machine (an EC2
//! Instance, a map with the same fields) can be an SSH target. Each domain
//! whose values are machines adds its types to the Context's `machines`;
//! SSH asks it, and names no domain.

use std::sync::RwLock;

use rhai::{Dynamic, Map};

/// The addresses of a machine, as an EC2 instance describes them.
#[derive(Debug, Default, Clone)]
pub struct Addresses {
    pub id: Option<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub public_dns: Option<String>,
    pub private_dns: Option<String>,
    /// What people call it (an instance's Name tag): `--limit` matches it.
    pub label: Option<String>,
}

/// A value that describes a machine one can connect to.
pub trait Machine {
    fn addresses(&self) -> Addresses;
}

impl Machine for Map {
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
            label: self.get("tags").and_then(|t| {
                t.read_lock::<Map>()
                    .and_then(|t| t.get("Name").map(ToString::to_string))
            }),
        }
    }
}

type Reader = fn(&Dynamic) -> Option<Addresses>;

fn read<T: Machine + Clone + Send + Sync + 'static>(value: &Dynamic) -> Option<Addresses> {
    value.read_lock::<T>().map(|t| t.addresses())
}

/// The script types that are machines: maps, and what the domains add.
pub struct Machines {
    readers: RwLock<Vec<Reader>>,
}

impl Default for Machines {
    fn default() -> Self {
        Self {
            readers: RwLock::new(vec![read::<Map>]),
        }
    }
}

impl Machines {
    pub fn add<T: Machine + Clone + Send + Sync + 'static>(&self) {
        self.readers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(read::<T>);
    }

    /// The addresses of `value`, if it is a machine.
    pub fn addresses(&self, value: &Dynamic) -> Option<Addresses> {
        self.readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(|read| read(value))
    }
}
