//! What a dry run plans in S3: the buckets it creates and what it writes
//! to or deletes from each key, read back by the same run's s3:: reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::core::context::Context;

/// `work` on what this run plans in S3.
pub fn planned<R>(ctx: &Context, work: impl FnOnce(&mut PlannedObjects) -> R) -> R {
    ctx.planned.with(work)
}

/// What the plan writes to an S3 object.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Bytes(Vec<u8>),
    /// Uploaded from this local file, `size` bytes when planned.
    File {
        path: PathBuf,
        size: u64,
    },
    Deleted,
}

impl Object {
    pub fn size(&self) -> Option<u64> {
        match self {
            Object::Bytes(b) => u64::try_from(b.len()).ok(),
            Object::File { size, .. } => Some(*size),
            Object::Deleted => None,
        }
    }
}

/// The plan's buckets and objects, kept in the dry run's plan (core/planned).
#[derive(Default)]
pub struct PlannedObjects {
    buckets: Vec<String>,
    objects: BTreeMap<(String, String), Object>,
}

impl PlannedObjects {
    pub fn create_bucket(&mut self, name: &str) {
        if !self.buckets.iter().any(|b| b == name) {
            self.buckets.push(name.to_string());
        }
    }

    /// The plan creates this bucket.
    pub fn has_bucket(&self, name: &str) -> bool {
        self.buckets.iter().any(|b| b == name)
    }

    pub fn buckets(&self) -> Vec<String> {
        self.buckets.clone()
    }

    pub fn write(&mut self, bucket: &str, key: &str, object: Object) {
        self.objects
            .insert((bucket.to_string(), key.to_string()), object);
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<Object> {
        self.objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    /// What the plan writes or deletes in `bucket` under `prefix`, by key.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, Object)> {
        self.objects
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), o)| (k.clone(), o.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_objects() {
        let mut world = PlannedObjects::default();
        world.create_bucket("b");
        world.create_bucket("b");
        assert_eq!(world.buckets(), ["b"]);
        assert!(world.has_bucket("b") && !world.has_bucket("c"));
        world.write("b", "x/1", Object::Bytes(b"hi".to_vec()));
        world.write("b", "y/1", Object::Deleted);
        let under_x = world.objects("b", "x/");
        assert_eq!(under_x.len(), 1);
        assert_eq!(under_x[0].1.size(), Some(2));
        assert_eq!(world.object("b", "y/1"), Some(Object::Deleted));
        assert_eq!(world.object("c", "x/1"), None);
    }
}
