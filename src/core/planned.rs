//! The world as a dry run plans it: every planned change lands here, and
//! every read lays it over what AWS answers, so a runbook that launches
//! and then reads back (or creates a bucket and then lists it) sees what
//! the real run would see. Planned resources keep their placeholder ids
//! (`i-planned-1`); real ones read with the plan's changes applied. It is
//! empty outside a dry run, where reads pass through untouched.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::aws::ec2::types::{Address, Image, Instance, SecurityGroup, Snapshot, Tags, Volume};

/// Marks the ids of placeholder resources a dry run hands back.
pub const PLANNED: &str = "-planned-";

/// A placeholder id such as `i-planned-1`: the plan's alone, unknown to AWS.
pub fn is_planned(id: &str) -> bool {
    id.contains(PLANNED)
}

/// A resource the plan can create, change or remove.
pub trait Resource: Clone {
    /// What real ids of this kind start with.
    const PREFIX: &'static str;
    fn id(&self) -> &str;
    fn tags_mut(&mut self) -> &mut Tags;
    fn layer(state: &State) -> &Layer<Self>;
    fn layer_mut(state: &mut State) -> &mut Layer<Self>;
}

macro_rules! resource {
    ($type:ty, $prefix:literal, $field:ident, $id:ident) => {
        impl Resource for $type {
            const PREFIX: &'static str = $prefix;
            fn id(&self) -> &str {
                &self.$id
            }
            fn tags_mut(&mut self) -> &mut Tags {
                &mut self.tags
            }
            fn layer(state: &State) -> &Layer<Self> {
                &state.$field
            }
            fn layer_mut(state: &mut State) -> &mut Layer<Self> {
                &mut state.$field
            }
        }
    };
}

resource!(Instance, "i-", instances, id);
resource!(SecurityGroup, "sg-", groups, id);
resource!(Address, "eipalloc-", addresses, allocation_id);
resource!(Volume, "vol-", volumes, id);
resource!(Snapshot, "snap-", snapshots, id);
resource!(Image, "ami-", images, id);

/// The planned resources of one kind, in the order they were planned:
/// each as the plan leaves it, or `None` once the plan removes it.
pub struct Layer<T> {
    entries: Vec<(String, Option<T>)>,
}

impl<T> Default for Layer<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T: Resource> Layer<T> {
    fn entry(&self, id: &str) -> Option<&Option<T>> {
        self.entries.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }

    fn set(&mut self, id: &str, value: Option<T>) {
        match self.entries.iter_mut().find(|(k, _)| k == id) {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((id.to_string(), value)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TagChange {
    Set(Tags),
    Remove(Vec<String>),
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

#[derive(Default)]
pub struct State {
    instances: Layer<Instance>,
    groups: Layer<SecurityGroup>,
    addresses: Layer<Address>,
    volumes: Layer<Volume>,
    snapshots: Layer<Snapshot>,
    images: Layer<Image>,
    /// Tag changes by resource id, in order, for resources of any kind.
    tags: Vec<(String, TagChange)>,
    buckets: Vec<String>,
    objects: BTreeMap<(String, String), Object>,
}

impl State {
    fn retag<T: Resource>(&self, mut item: T) -> T {
        for (id, change) in &self.tags {
            if id != item.id() {
                continue;
            }
            let tags = item.tags_mut();
            match change {
                TagChange::Set(set) => tags.extend(set.clone()),
                TagChange::Remove(keys) => keys.iter().for_each(|k| {
                    tags.remove(k);
                }),
            }
        }
        item
    }

    /// `item` as the plan leaves it: `None` if the plan removes it.
    fn patched<T: Resource>(&self, item: T) -> Option<T> {
        match T::layer(self).entry(item.id()) {
            Some(planned) => planned.clone().map(|p| self.retag(p)),
            None => Some(self.retag(item)),
        }
    }

    fn touched(&self, id: &str) -> bool {
        self.tags.iter().any(|(k, _)| k == id)
    }
}

/// What the plan knows of one resource.
#[derive(Debug, Clone)]
pub enum Lookup<T> {
    /// Planned, or real with planned changes: as the plan leaves it.
    Planned(T),
    /// The plan removes it.
    Removed,
    /// The plan does not touch it: ask AWS.
    Unknown,
}

#[derive(Default)]
pub struct World {
    state: Mutex<State>,
}

impl World {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `item` as the plan leaves it (created or changed).
    pub fn put<T: Resource>(&self, item: T) {
        let id = item.id().to_string();
        T::layer_mut(&mut self.lock()).set(&id, Some(item));
    }

    pub fn remove<T: Resource>(&self, id: &str) {
        T::layer_mut(&mut self.lock()).set(id, None);
    }

    pub fn tag(&self, ids: &[String], tags: &Tags) {
        let mut state = self.lock();
        for id in ids {
            state.tags.push((id.clone(), TagChange::Set(tags.clone())));
        }
    }

    pub fn untag(&self, ids: &[String], keys: &[String]) {
        let mut state = self.lock();
        for id in ids {
            state
                .tags
                .push((id.clone(), TagChange::Remove(keys.to_vec())));
        }
    }

    pub fn lookup<T: Resource>(&self, id: &str) -> Lookup<T> {
        let state = self.lock();
        match T::layer(&state).entry(id) {
            Some(Some(item)) => Lookup::Planned(state.retag(item.clone())),
            Some(None) => Lookup::Removed,
            None => Lookup::Unknown,
        }
    }

    /// A real resource as read from AWS, with the plan's changes applied.
    pub fn patch<T: Resource>(&self, item: T) -> Option<T> {
        self.lock().patched(item)
    }

    /// The first resource the plan holds that `matches` (tags applied).
    pub fn find<T: Resource>(&self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let state = self.lock();
        T::layer(&state)
            .entries
            .iter()
            .filter_map(|(_, item)| item.clone().map(|i| state.retag(i)))
            .find(|i| matches(i))
    }

    /// Real ids of this kind whose tags the plan changes and that it holds
    /// no copy of: a listing fetches them too, since the query AWS answers
    /// matches their tags as they are, not as planned.
    pub fn retagged<T: Resource>(&self) -> Vec<String> {
        let state = self.lock();
        let layer = T::layer(&state);
        let mut ids: Vec<String> = Vec::new();
        for (id, _) in &state.tags {
            if id.starts_with(T::PREFIX)
                && !is_planned(id)
                && layer.entry(id).is_none()
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// A listing as the plan leaves it. `found` is what AWS answered to the
    /// query, `extra` the real resources named by `retagged`; `keep` is the
    /// query itself, asked of everything the plan changed or created (what
    /// it did not touch, AWS already matched).
    pub fn list<T: Resource>(
        &self,
        found: Vec<T>,
        extra: Vec<T>,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let state = self.lock();
        let mut out: Vec<T> = Vec::new();
        for item in found {
            let changed = T::layer(&state).entry(item.id()).is_some() || state.touched(item.id());
            match state.patched(item) {
                Some(item) if !changed || keep(&item) => out.push(item),
                _ => {}
            }
        }
        let planned = T::layer(&state)
            .entries
            .iter()
            .filter_map(|(_, item)| item.clone());
        for item in extra.into_iter().chain(planned) {
            if out.iter().any(|o| o.id() == item.id()) {
                continue;
            }
            if let Some(item) = state.patched(item).filter(|i| keep(i)) {
                out.push(item);
            }
        }
        out
    }

    pub fn create_bucket(&self, name: &str) {
        let mut state = self.lock();
        if !state.buckets.iter().any(|b| b == name) {
            state.buckets.push(name.to_string());
        }
    }

    /// The plan creates this bucket.
    pub fn has_bucket(&self, name: &str) -> bool {
        self.lock().buckets.iter().any(|b| b == name)
    }

    pub fn buckets(&self) -> Vec<String> {
        self.lock().buckets.clone()
    }

    pub fn write(&self, bucket: &str, key: &str, object: Object) {
        self.lock()
            .objects
            .insert((bucket.to_string(), key.to_string()), object);
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<Object> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    /// What the plan writes or deletes in `bucket` under `prefix`, by key.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, Object)> {
        self.lock()
            .objects
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), o)| (k.clone(), o.clone()))
            .collect()
    }
}

/// Where an instance state leads by itself: a wait for the later state is
/// explained by a plan that left the instance in the earlier one.
pub fn settles(state: &str) -> Option<&'static str> {
    match state {
        "pending" => Some("running"),
        "stopping" => Some("stopped"),
        "shutting-down" => Some("terminated"),
        _ => None,
    }
}

/// EC2's filter value wildcards: `*` any run, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // matched[j]: the pattern so far matches the first j characters.
    let mut matched = vec![false; t.len() + 1];
    matched[0] = true;
    for c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && t[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[t.len()]
}

/// A tag query (`tags: #{ role: "db", env: ["a", "b"], backup: () }`) asked
/// of planned resources: a value matches as EC2 matches it (exactly, or
/// with `*` and `?` wildcards), several match any, none only asks that the
/// tag exists.
#[derive(Debug, Clone, Default)]
pub struct TagQuery(pub Vec<(String, Option<Vec<String>>)>);

impl TagQuery {
    pub fn matches(&self, tags: &Tags) -> bool {
        self.0
            .iter()
            .all(|(key, values)| match (tags.get(key), values) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(values)) => values.iter().any(|pattern| glob(pattern, v)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, state: &str, role: &str) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            instance_type: "t3.micro".into(),
            image: "ami-1".into(),
            public_ip: None,
            private_ip: None,
            public_dns: None,
            private_dns: None,
            zone: None,
            key_name: None,
            launch_time: None,
            tags: [("role".to_string(), role.to_string())].into(),
            security_groups: Vec::new(),
        }
    }

    fn ids(items: &[Instance]) -> Vec<&str> {
        items.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn planned_instances_join_listings_that_match() {
        let world = World::default();
        world.put(instance("i-planned-1", "pending", "db"));
        world.put(instance("i-planned-2", "pending", "web"));
        let db = TagQuery(vec![("role".into(), Some(vec!["db".into()]))]);
        let found = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |i| {
            db.matches(&i.tags)
        });
        assert_eq!(ids(&found), ["i-1", "i-planned-1"]);
    }

    #[test]
    fn a_changed_real_instance_reads_as_planned_and_is_asked_the_query_again() {
        let world = World::default();
        world.put(instance("i-1", "shutting-down", "db"));
        let live = |i: &Instance| i.state == "running";
        let found = world.list(
            vec![
                instance("i-1", "running", "db"),
                instance("i-2", "running", "db"),
            ],
            Vec::new(),
            live,
        );
        assert_eq!(ids(&found), ["i-2"]);
        let all = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |_| true);
        assert_eq!(all[0].state, "shutting-down");
    }

    #[test]
    fn tags_apply_to_real_and_planned_resources() {
        let world = World::default();
        world.put(instance("i-planned-1", "pending", "db"));
        world.tag(
            &["i-planned-1".into(), "i-9".into()],
            &[("backup".to_string(), "yes".to_string())].into(),
        );
        world.untag(&["i-planned-1".into()], &["role".into()]);
        let Lookup::Planned(planned) = world.lookup::<Instance>("i-planned-1") else {
            panic!("the planned instance is known");
        };
        assert_eq!(planned.tags.get("backup").map(String::as_str), Some("yes"));
        assert!(!planned.tags.contains_key("role"));
        assert_eq!(world.retagged::<Instance>(), ["i-9"]);
        assert!(world.retagged::<Volume>().is_empty());
        let real = world.patch(instance("i-9", "running", "db"));
        assert_eq!(real.map(|i| i.tags.len()), Some(2));
        assert!(matches!(world.lookup::<Instance>("i-9"), Lookup::Unknown));
    }

    #[test]
    fn removed_resources_vanish_from_reads() {
        let world = World::default();
        world.remove::<Instance>("i-1");
        assert!(matches!(world.lookup::<Instance>("i-1"), Lookup::Removed));
        assert!(world.patch(instance("i-1", "running", "db")).is_none());
        let found = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |_| true);
        assert!(found.is_empty());
    }

    #[test]
    fn buckets_and_objects() {
        let world = World::default();
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

    #[test]
    fn states_settle_where_they_lead() {
        assert_eq!(settles("pending"), Some("running"));
        assert_eq!(settles("shutting-down"), Some("terminated"));
        assert_eq!(settles("running"), None);
    }

    #[test]
    fn tag_queries_match_exactly_any_or_existence() {
        let tags: Tags = [("role".to_string(), "db".to_string())].into();
        let q = |v: Option<Vec<&str>>| {
            TagQuery(vec![(
                "role".into(),
                v.map(|v| v.into_iter().map(String::from).collect()),
            )])
        };
        assert!(q(Some(vec!["web", "db"])).matches(&tags));
        assert!(!q(Some(vec!["web"])).matches(&tags));
        assert!(q(None).matches(&tags));
        assert!(!q(None).matches(&Tags::new()));
        assert!(TagQuery::default().matches(&Tags::new()));
        assert!(q(Some(vec!["d*"])).matches(&tags));
        assert!(q(Some(vec!["?b"])).matches(&tags));
        assert!(!q(Some(vec!["d"])).matches(&tags));
    }

    #[test]
    fn name_patterns_match_as_ec2_matches_them() {
        assert!(glob("amzn*", "amzn2-ami-hvm"));
        assert!(glob("web-?", "web-1"));
        assert!(!glob("web-?", "web-10"));
        assert!(glob("*", ""));
        assert!(!glob("db", "db-1"));
    }
}
