//! How every `ec2::` function talks to EC2: the client and region, errors
//! that name the call and resource, `--dry-run` through EC2's own DryRun
//! flag, resource arguments (an object, its id, or an array of either),
//! tag filters and polling with backoff.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use rhai::{Array, Dynamic, EvalAltResult, Map};
use serde_json::Value;

use crate::aws::ec2::plan::TagQuery;
use crate::aws::ec2::types::{
    Address, Image, Instance, KeyPair, SecurityGroup, Snapshot, Tags, Volume,
};
use crate::aws::{self, Aws};
use crate::core::context::Context;
use crate::core::failure::describe;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::core::planned::{PLANNED, Resource};
use crate::core::prompt;

/// Every page of the EC2 describe `request`, with its ids and filters set
/// only when there are any (an empty list would ask for none).
macro_rules! describe_all {
    ($request:expr, $set_ids:ident($ids:expr), $filters:expr) => {{
        let ids: &[String] = $ids;
        let filters: Vec<aws_sdk_ec2::types::Filter> = $filters;
        $request
            .$set_ids((!ids.is_empty()).then(|| ids.to_vec()))
            .set_filters((!filters.is_empty()).then_some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
    }};
}
pub(crate) use describe_all;

pub struct Ec2<'a> {
    pub ctx: &'a Context,
    aws: Arc<Aws>,
}

impl<'a> Ec2<'a> {
    pub fn new(ctx: &'a Context) -> RhaiResult<Self> {
        Ok(Self {
            ctx,
            aws: aws::clients(ctx)?,
        })
    }

    pub fn client(&self) -> &Client {
        &self.aws.ec2
    }

    pub fn region(&self) -> &str {
        &self.aws.region
    }

    /// Run an async block of EC2 calls from a (synchronous) script function.
    pub fn run<T>(&self, work: impl Future<Output = RhaiResult<T>>) -> RhaiResult<T> {
        self.ctx.runtime.block_on(work)?
    }

    pub fn dry_run(&self) -> bool {
        self.ctx.settings.dry_run
    }

    /// A failed call as a runbook error naming `call` and `resource`.
    pub fn fail<E>(
        &self,
        call: &str,
        resource: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Box<EvalAltResult>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        aws::call_error(call, resource, &self.aws, err)
    }

    /// Send a call that changes something, as one action of the run: it
    /// goes into the journal, or into the plan of a dry run. A dry run still
    /// sends the request, with EC2's own DryRun flag, so missing permissions
    /// show; EC2's `DryRunOperation` answer means "would have succeeded"
    /// and gives `None`, as does a target that is itself planned (there is
    /// nothing to ask EC2 about). `outcome` says what a real call created or
    /// removed, for the journal.
    pub async fn mutate<O, E, Fut>(
        &self,
        call: &str,
        target: &str,
        args: Value,
        send: impl FnOnce(bool) -> Fut,
        outcome: impl FnOnce(&O) -> Value,
    ) -> RhaiResult<Option<O>>
    where
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let planned = target.contains(PLANNED) || args.to_string().contains(PLANNED);
        let act = self.ctx.act(call, target, args)?;
        if act.dry_run() {
            if planned {
                return Ok(None);
            }
            return match send(true).await {
                Ok(out) => {
                    self.ctx.output.warn(&format!(
                        "{call}: the endpoint ignored DryRun and carried out the call on {target}"
                    ));
                    Ok(Some(out))
                }
                Err(err) if aws::error_code(&err) == Some("DryRunOperation") => Ok(None),
                Err(err) => Err(self.fail(call, target, err)),
            };
        }
        match send(false).await {
            Ok(out) => {
                act.done(outcome(&out));
                Ok(Some(out))
            }
            Err(err) => {
                let err = self.fail(call, target, err);
                act.failed(&describe(&err));
                Err(err)
            }
        }
    }

    /// The real resources of `ids` (the plan's placeholders are not asked
    /// for), read with `fetch`, to name them.
    pub fn existing<T, E, Fut>(
        &self,
        call: &str,
        ids: &[String],
        fetch: impl FnOnce(Vec<String>) -> Fut,
    ) -> RhaiResult<Vec<T>>
    where
        Fut: Future<Output = Result<Vec<T>, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let real: Vec<String> = ids.iter().filter(|id| !is_planned(id)).cloned().collect();
        if real.is_empty() {
            return Ok(Vec::new());
        }
        let shown = real.join(", ");
        self.run(async { fetch(real).await.map_err(|e| self.fail(call, &shown, e)) })
    }

    /// Remove each of `ids` (shown as `names`) after one confirmation that
    /// names them all (`verb`: "delete", and `done`: "deleted"), as one
    /// action each; a dry run's plan removes them from what later reads
    /// see. `send` is the request for one id.
    pub fn remove_each<T: Resource, O, E, Fut>(
        &self,
        call: &str,
        (verb, done): (&str, &str),
        kind: &str,
        ids: &[String],
        names: &[String],
        send: impl Fn(&str, bool) -> Fut,
    ) -> RhaiResult<()>
    where
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        prompt::confirm_destructive(self.ctx, verb, names)?;
        self.run(async {
            for (id, name) in ids.iter().zip(names) {
                let removed = std::slice::from_ref(id);
                let sent = self
                    .mutate(
                        call,
                        name,
                        Value::Null,
                        |d| send(id, d),
                        |_| outcome("removed", kind, removed),
                    )
                    .await?;
                if sent.is_some() {
                    self.ctx.output.info(&format!("{done} {name}"));
                } else {
                    self.ctx.planned.remove::<T>(id);
                }
            }
            Ok(())
        })
    }

    /// A listing: what `query` finds, as the plan leaves it (see
    /// `planned_listing`), as the script's array.
    pub fn listing<T, E, Found, Fetched>(
        &self,
        call: &str,
        query: Found,
        fetch: impl FnOnce(Vec<String>) -> Fetched,
        keep: impl Fn(&T) -> bool,
    ) -> RhaiResult<Array>
    where
        T: Resource + Sync,
        Found: Future<Output = Result<Vec<T>, SdkError<E, HttpResponse>>>,
        Fetched: Future<Output = Result<Vec<T>, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.run(async {
            let found = query.await.map_err(|e| self.fail(call, "", e))?;
            Ok(array(self.planned_listing(call, found, fetch, keep).await?))
        })
    }

    /// A listing as the plan leaves it (see `World::list`): `found` is what
    /// AWS answered the query; `fetch` reads the real resources the plan
    /// retags by id, since AWS matched them against their tags as they are.
    pub async fn planned_listing<T, E, Fut>(
        &self,
        call: &str,
        found: Vec<T>,
        fetch: impl FnOnce(Vec<String>) -> Fut,
        keep: impl Fn(&T) -> bool,
    ) -> RhaiResult<Vec<T>>
    where
        T: Resource,
        Fut: Future<Output = Result<Vec<T>, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let retagged = self.ctx.planned.retagged::<T>();
        let extra = if retagged.is_empty() {
            Vec::new()
        } else {
            let shown = retagged.join(", ");
            fetch(retagged)
                .await
                .map_err(|e| self.fail(call, &shown, e))?
        };
        Ok(self.ctx.planned.list(found, extra, keep))
    }
}

/// An option of a listing that names other resources (`instance: web`):
/// its key, what it takes, and the EC2 filter that asks for them.
pub struct Link {
    pub key: &'static str,
    pub kind: Kind,
    pub filter: &'static str,
}

/// The ids the option of `link` names (any resource argument), with the
/// filter that asks for them added to `filters`.
pub fn linked(
    opts: &Options,
    link: Link,
    filters: &mut Vec<Filter>,
) -> RhaiResult<Option<Vec<String>>> {
    let Some(x) = opts.value(link.key) else {
        return Ok(None);
    };
    let ids = refs(opts.function(), x, link.kind)?.ids;
    filters.push(filter(link.filter, ids.clone()));
    Ok(Some(ids))
}

/// Whether `id` is one of `ids`, when a listing asked for some.
pub fn among(ids: &Option<Vec<String>>, id: &Option<String>) -> bool {
    ids.as_ref()
        .is_none_or(|ids| id.as_ref().is_some_and(|i| ids.contains(i)))
}

/// The journal outcome of a call that creates or removes nothing.
pub fn nothing<T>(_: &T) -> Value {
    Value::Null
}

/// What an action created or removed, as the journal records it:
/// `{"created": [{"type": "instance", "id": "i-..."}]}`.
pub fn outcome(field: &str, kind: &str, ids: &[String]) -> Value {
    serde_json::json!({
        field: ids.iter().map(|id| serde_json::json!({ "type": kind, "id": id })).collect::<Vec<_>>(),
    })
}

/// A placeholder id such as `i-planned-1`.
pub fn planned_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}{PLANNED}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Image,
    SecurityGroup,
    Address,
    Volume,
    Snapshot,
    /// Anything that takes tags.
    Any,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Instance => "an Instance or an instance id (i-...)",
            Kind::Image => "an Image or an image id (ami-...)",
            Kind::SecurityGroup => "a SecurityGroup, its id (sg-...) or its name",
            Kind::Address => "an Address, an allocation id (eipalloc-...) or an elastic IP",
            Kind::Volume => "a Volume or a volume id (vol-...)",
            Kind::Snapshot => "a Snapshot or a snapshot id (snap-...)",
            Kind::Any => "an EC2 object or its id",
        }
    }

    fn accepts(self, id: &str) -> bool {
        match self {
            Kind::Instance => id.starts_with("i-"),
            Kind::Image => id.starts_with("ami-"),
            Kind::Volume => id.starts_with("vol-"),
            Kind::Snapshot => id.starts_with("snap-"),
            Kind::Address => id.starts_with("eipalloc-") || id.parse::<std::net::IpAddr>().is_ok(),
            Kind::SecurityGroup | Kind::Any => !id.trim().is_empty(),
        }
    }
}

/// The id of any EC2 object (an Address by its allocation id).
pub fn object_id(value: &Dynamic) -> Option<String> {
    typed_id(value, Kind::Any)
}

fn typed_id(value: &Dynamic, kind: Kind) -> Option<String> {
    fn id_of<T: Clone + Send + Sync + 'static>(
        value: &Dynamic,
        id: impl Fn(&T) -> Option<String>,
    ) -> Option<String> {
        value.read_lock::<T>().and_then(|x| id(&x))
    }
    let ids = [
        (
            Kind::Instance,
            id_of(value, |x: &Instance| Some(x.id.clone())),
        ),
        (Kind::Image, id_of(value, |x: &Image| Some(x.id.clone()))),
        (
            Kind::SecurityGroup,
            id_of(value, |x: &SecurityGroup| Some(x.id.clone())),
        ),
        (
            Kind::Address,
            id_of(value, |x: &Address| Some(x.allocation_id.clone())),
        ),
        (Kind::Volume, id_of(value, |x: &Volume| Some(x.id.clone()))),
        (
            Kind::Snapshot,
            id_of(value, |x: &Snapshot| Some(x.id.clone())),
        ),
        (Kind::Any, id_of(value, |x: &KeyPair| x.id.clone())),
    ];
    ids.into_iter()
        .find(|(k, id)| (kind == Kind::Any || kind == *k) && id.is_some())
        .and_then(|(_, id)| id)
}

/// The resources a script passed: their ids, and whether it passed an
/// array (so results come back in the same shape).
#[derive(Debug)]
pub struct Refs {
    pub ids: Vec<String>,
    pub many: bool,
}

/// Resolve a resource argument: the object, its id, or an array of either.
pub fn refs(func: &str, value: &Dynamic, kind: Kind) -> RhaiResult<Refs> {
    let one = |item: &Dynamic| -> RhaiResult<String> {
        if let Some(id) = typed_id(item, kind) {
            return Ok(id);
        }
        if item.is_string() {
            let id = item.to_string();
            if kind.accepts(&id) {
                return Ok(id);
            }
        }
        let shown = if item.is_string() {
            format!("\"{item}\"")
        } else {
            item.type_name()
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .to_string()
        };
        Err(runtime_error(format!(
            "{func}: expected {} (or an array of them), not {shown}",
            kind.describe()
        )))
    };
    match value.read_lock::<rhai::Array>() {
        Some(items) => {
            let mut ids = Vec::new();
            for item in items.iter() {
                let id = one(item)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Ok(Refs { ids, many: true })
        }
        None => Ok(Refs {
            ids: vec![one(value)?],
            many: false,
        }),
    }
}

pub fn filter<S: Into<String>>(name: &str, values: impl IntoIterator<Item = S>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// `tags: #{ role: "db", env: ["prod", "staging"], backup: () }`: a value
/// matches exactly (or by EC2's `*` and `?` wildcards), an array matches
/// any of its values, `()` or `"*"` only asks that the tag exists.
pub fn tag_query(opts: &Options) -> RhaiResult<TagQuery> {
    let Some(tags) = opts.map("tags")? else {
        return Ok(TagQuery::default());
    };
    Ok(TagQuery(
        tags.iter()
            .map(|(key, value)| {
                let values = if value.is_unit() || (value.is_string() && value.to_string() == "*") {
                    None
                } else if let Some(values) = value.read_lock::<rhai::Array>() {
                    Some(values.iter().map(Dynamic::to_string).collect())
                } else {
                    Some(vec![value.to_string()])
                };
                (key.to_string(), values)
            })
            .collect(),
    ))
}

/// The `tags` option as a query for the plan and the EC2 filters that ask
/// AWS the same (more filters may follow).
pub fn tag_search(opts: &Options) -> RhaiResult<(TagQuery, Vec<Filter>)> {
    let query = tag_query(opts)?;
    let filters = tag_filters(&query);
    Ok((query, filters))
}

/// The same query as EC2 filters, so AWS and the plan answer it alike.
pub fn tag_filters(query: &TagQuery) -> Vec<Filter> {
    query
        .0
        .iter()
        .map(|(key, values)| match values {
            None => filter("tag-key", [key.as_str()]),
            Some(values) => filter(&format!("tag:{key}"), values.iter().map(String::as_str)),
        })
        .collect()
}

/// Tags to set, from a `tags` option.
pub fn tags_option(opts: &Options) -> RhaiResult<Tags> {
    match opts.map("tags")? {
        Some(map) => tags_from_map(opts.function(), &map),
        None => Ok(Tags::new()),
    }
}

pub fn tags_from_map(func: &str, map: &Map) -> RhaiResult<Tags> {
    map.iter()
        .map(|(k, v)| {
            if v.is_unit() {
                Err(runtime_error(format!("{func}: tag `{k}` has no value")))
            } else {
                Ok((k.to_string(), v.to_string()))
            }
        })
        .collect()
}

pub fn tag_list(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags applied as the resource is created, so it is never seen untagged.
pub fn tag_spec(resource: ResourceType, tags: &Tags) -> Option<TagSpecification> {
    (!tags.is_empty()).then(|| {
        TagSpecification::builder()
            .resource_type(resource)
            .set_tags(Some(tag_list(tags)))
            .build()
    })
}

/// Growing pauses between polls: quick at first, then at most `max`.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 3 / 2).min(self.max);
        delay
    }
}

/// Right after a resource is created EC2 may not know it yet for a moment
/// (eventual consistency): `*.NotFound` answers to calls on fresh ids.
pub fn not_yet_visible<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    aws::error_code(err).is_some_and(|c| c.ends_with(".NotFound"))
}

/// Retry `call` while EC2 answers NotFound, for up to about 30 seconds.
pub async fn retry_not_found<T, E, R, Fut>(
    mut call: impl FnMut() -> Fut,
) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        match call().await {
            Err(err) if not_yet_visible(&err) && tokio::time::Instant::now() < deadline => {
                tracing::debug!("not visible yet; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            other => return other,
        }
    }
}

/// One value, or an array when the script passed an array.
pub fn shaped<T: Clone + Send + Sync + 'static>(many: bool, mut items: Vec<T>) -> Dynamic {
    if many || items.len() != 1 {
        Dynamic::from_array(items.into_iter().map(Dynamic::from).collect())
    } else {
        items.pop().map_or(Dynamic::UNIT, Dynamic::from)
    }
}

pub fn array<T: Clone + Send + Sync + 'static>(items: Vec<T>) -> rhai::Array {
    items.into_iter().map(Dynamic::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::planned::is_planned;

    #[test]
    fn resource_arguments_resolve_objects_ids_and_arrays() {
        let one = refs("t", &Dynamic::from("i-1"), Kind::Instance).unwrap();
        assert_eq!((one.ids, one.many), (vec!["i-1".to_string()], false));
        let arr = Dynamic::from_array(vec![Dynamic::from("vol-1"), Dynamic::from("vol-1")]);
        let many = refs("t", &arr, Kind::Volume).unwrap();
        assert_eq!((many.ids, many.many), (vec!["vol-1".to_string()], true));
        let err = refs("ec2::terminate", &Dynamic::from("vol-1"), Kind::Instance).unwrap_err();
        let err = describe(&err);
        assert!(err.contains("an instance id (i-...)"), "{err}");
        let ip = refs("t", &Dynamic::from("203.0.113.9"), Kind::Address).unwrap();
        assert_eq!(ip.ids, vec!["203.0.113.9".to_string()]);
    }

    #[test]
    fn planned_ids_are_recognised() {
        let id = planned_id("i");
        assert!(id.starts_with("i-planned-") && is_planned(&id));
        assert!(!is_planned("i-0abc"));
    }

    #[test]
    fn tag_filters_ask_ec2_what_the_query_asks_the_plan() {
        let query = TagQuery(vec![
            ("backup".into(), None),
            ("env".into(), Some(vec!["prod".into(), "st*".into()])),
        ]);
        let filters = tag_filters(&query);
        let asked: Vec<(Option<&str>, &[String])> =
            filters.iter().map(|f| (f.name(), f.values())).collect();
        assert_eq!(
            asked,
            [
                (Some("tag-key"), &["backup".to_string()][..]),
                (
                    Some("tag:env"),
                    &["prod".to_string(), "st*".to_string()][..]
                ),
            ]
        );
    }

    #[test]
    fn backoff_grows_to_its_limit() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        let delays: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![1000, 1500, 2000, 2000]);
    }
}
