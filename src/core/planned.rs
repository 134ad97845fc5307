//! The world as a dry run plans it: every planned change lands here, and
//! every read lays it over what the cloud answers, so a runbook that
//! launches and then reads back (or creates a bucket and then lists it)
//! sees what the real run would see. Planned resources keep their
//! placeholder ids (`i-planned-1`); real ones read with the plan's changes
//! applied. It is empty outside a dry run, where reads pass through
//! untouched. The core knows no resource type: each domain's types are
//! Resources, and a domain may keep a plan of its own here (`with`).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

pub type Tags = BTreeMap<String, String>;

/// Marks the ids of placeholder resources a dry run hands back.
pub const PLANNED: &str = "-planned-";

/// A placeholder id such as `i-planned-1`: the plan's alone, unknown to the cloud.
pub fn is_planned(id: &str) -> bool {
    id.contains(PLANNED)
}

/// A resource the plan can create, change or remove.
pub trait Resource: Clone + Send + 'static {
    /// What real ids of this kind start with.
    const PREFIX: &'static str;
    fn id(&self) -> &str;
    fn tags_mut(&mut self) -> &mut Tags;
}

/// The planned resources of one kind, in the order they were planned:
/// each as the plan leaves it, or `None` once the plan removes it.
struct Layer<T> {
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

#[derive(Default)]
struct State {
    /// Each resource kind's Layer, and each domain's own plan, by type.
    parts: HashMap<TypeId, Box<dyn Any + Send>>,
    /// Tag changes by resource id, in order, for resources of any kind.
    tags: Vec<(String, TagChange)>,
}

impl State {
    fn part<P: Any>(&self) -> Option<&P> {
        self.parts.get(&TypeId::of::<P>())?.downcast_ref()
    }

    /// The part of type `P`, made empty on first use. `None` cannot happen:
    /// parts are kept under their own type.
    fn part_mut<P: Any + Send + Default>(&mut self) -> Option<&mut P> {
        self.parts
            .entry(TypeId::of::<P>())
            .or_insert_with(|| Box::new(P::default()))
            .downcast_mut()
    }

    fn layer<T: Resource>(&self) -> Option<&Layer<T>> {
        self.part::<Layer<T>>()
    }

    fn entry<T: Resource>(&self, id: &str) -> Option<&Option<T>> {
        self.layer::<T>()?.entry(id)
    }

    /// The resources of kind `T` the plan holds, as it leaves them.
    fn planned<T: Resource>(&self) -> Vec<T> {
        self.layer::<T>()
            .map(|layer| {
                layer
                    .entries
                    .iter()
                    .filter_map(|(_, item)| item.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set<T: Resource>(&mut self, id: &str, value: Option<T>) {
        if let Some(layer) = self.part_mut::<Layer<T>>() {
            layer.set(id, value);
        }
    }

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
        match self.entry::<T>(item.id()) {
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
    /// The plan does not touch it: ask the cloud.
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
        self.lock().set(&id, Some(item));
    }

    pub fn remove<T: Resource>(&self, id: &str) {
        self.lock().set::<T>(id, None);
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
        match state.entry::<T>(id) {
            Some(Some(item)) => Lookup::Planned(state.retag(item.clone())),
            Some(None) => Lookup::Removed,
            None => Lookup::Unknown,
        }
    }

    /// A real resource as read from the cloud, with the plan's changes applied.
    pub fn patch<T: Resource>(&self, item: T) -> Option<T> {
        self.lock().patched(item)
    }

    /// The first resource the plan holds that `matches` (tags applied).
    pub fn find<T: Resource>(&self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let state = self.lock();
        state
            .planned::<T>()
            .into_iter()
            .map(|i| state.retag(i))
            .find(|i| matches(i))
    }

    /// Real ids of this kind whose tags the plan changes and that it holds
    /// no copy of: a listing fetches them too, since the query the cloud
    /// answers matches their tags as they are, not as planned.
    pub fn retagged<T: Resource>(&self) -> Vec<String> {
        let state = self.lock();
        let mut ids: Vec<String> = Vec::new();
        for (id, _) in &state.tags {
            if id.starts_with(T::PREFIX)
                && !is_planned(id)
                && state.entry::<T>(id).is_none()
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// A listing as the plan leaves it. `found` is what the cloud answered
    /// to the query, `extra` the real resources named by `retagged`; `keep`
    /// is the query itself, asked of everything the plan changed or created
    /// (what it did not touch, the cloud already matched).
    pub fn list<T: Resource>(
        &self,
        found: Vec<T>,
        extra: Vec<T>,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let state = self.lock();
        let mut out: Vec<T> = Vec::new();
        for item in found {
            let changed = state.entry::<T>(item.id()).is_some() || state.touched(item.id());
            match state.patched(item) {
                Some(item) if !changed || keep(&item) => out.push(item),
                _ => {}
            }
        }
        for item in extra.into_iter().chain(state.planned::<T>()) {
            if out.iter().any(|o| o.id() == item.id()) {
                continue;
            }
            if let Some(item) = state.patched(item).filter(|i| keep(i)) {
                out.push(item);
            }
        }
        out
    }

    /// A domain's own part of the plan (what it plans beyond resources,
    /// such as S3 objects), empty until first used.
    pub fn with<P: Any + Send + Default, R>(&self, work: impl FnOnce(&mut P) -> R) -> R {
        let mut state = self.lock();
        match state.part_mut::<P>() {
            Some(part) => work(part),
            None => work(&mut P::default()),
        }
    }
}
