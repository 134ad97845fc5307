//! Security groups (found by name or id, ensured idempotently, rules
//! authorized and revoked) and elastic IPs.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesError;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsError;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType};
use rhai::{Array, Dynamic};
use serde_json::Value;

use crate::aws::ec2::call::{
    Ec2, Kind, Link, among, describe_all, filter, linked, not_yet_visible, nothing, outcome,
    planned_id, refs, tag_search, tag_spec, tags_option,
};
use crate::aws::ec2::rule::Rule;
use crate::aws::ec2::rules::RuleSpec;
use crate::aws::ec2::types::{Address, SecurityGroup, label};
use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::is_planned;
use crate::core::prompt;

pub const ENSURE_GROUP_OPTIONS: &[&str] = &["description", "vpc", "rules", "prune"];
pub const ALLOCATE_OPTIONS: &[&str] = &["tags"];
pub const ADDRESSES_OPTIONS: &[&str] = &["tags", "instance"];

/// An address for placeholder elastic IPs (TEST-NET-1, never routed).
const PLANNED_IP: &str = "192.0.2.1";

pub async fn fetch_groups(
    client: &Client,
    ids: &[String],
    filters: Vec<Filter>,
) -> Result<Vec<SecurityGroup>, SdkError<DescribeSecurityGroupsError>> {
    let groups: Vec<_> = describe_all!(
        client.describe_security_groups(),
        set_group_ids(ids),
        filters
    )?;
    let mut groups: Vec<SecurityGroup> = groups.iter().map(SecurityGroup::from).collect();
    groups.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(groups)
}

/// The group with this id (`sg-...`) or name, in `vpc` when given.
async fn find_group(
    ec2: &Ec2<'_>,
    call: &str,
    name_or_id: &str,
    vpc: Option<&str>,
) -> RhaiResult<Option<SecurityGroup>> {
    let world = &ec2.ctx.planned;
    let planned = world.find::<SecurityGroup>(|g| {
        g.id == name_or_id
            || (g.name == name_or_id && vpc.is_none_or(|v| g.vpc.as_deref() == Some(v)))
    });
    if planned.is_some() || is_planned(name_or_id) {
        return Ok(planned);
    }
    let found = if name_or_id.starts_with("sg-") {
        fetch_groups(ec2.client(), &[name_or_id.to_string()], Vec::new()).await
    } else {
        let mut filters = vec![filter("group-name", [name_or_id])];
        if let Some(vpc) = vpc {
            filters.push(filter("vpc-id", [vpc]));
        }
        fetch_groups(ec2.client(), &[], filters).await
    };
    match found {
        Ok(mut groups) if groups.len() <= 1 => Ok(groups.pop().and_then(|g| world.patch(g))),
        Ok(groups) => {
            let vpcs: Vec<String> = groups
                .iter()
                .map(|g| format!("{} in {}", g.id, g.vpc.as_deref().unwrap_or("no VPC")))
                .collect();
            Err(runtime_error(format!(
                "{call}: several security groups are named `{name_or_id}` ({}): pass its id, or `vpc`",
                vpcs.join(", ")
            )))
        }
        Err(e) if not_yet_visible(&e) => Ok(None),
        Err(e) => Err(ec2.fail(call, name_or_id, e)),
    }
}

/// Security group ids for names or ids (as `launch` takes them). In a dry
/// run a name not created yet stands for a planned group.
pub async fn group_ids(ec2: &Ec2<'_>, call: &str, groups: &[String]) -> RhaiResult<Vec<String>> {
    let mut ids = Vec::new();
    for group in groups {
        if group.starts_with("sg-") {
            ids.push(group.clone());
            continue;
        }
        match find_group(ec2, call, group, None).await? {
            Some(found) => ids.push(found.id),
            None if ec2.dry_run() => {
                ec2.ctx.output.info(&format!(
                    "dry run: security group `{group}` does not exist yet"
                ));
                ids.push(planned_id("sg"));
            }
            None => {
                return Err(Failure::new(format!(
                    "{call}: no security group named `{group}` in {}",
                    ec2.region()
                ))
                .hint(format!(
                    "create it first with ec2::ensure_security_group(\"{group}\", #{{ rules: [...] }})"
                ))
                .into());
            }
        }
    }
    Ok(ids)
}

/// A group passed as an object that a dry run planned.
fn planned_group(x: &Dynamic) -> Option<SecurityGroup> {
    x.read_lock::<SecurityGroup>()
        .filter(|g| is_planned(&g.id))
        .map(|g| g.clone())
}

/// The one existing group `x` names (object, id or name).
pub async fn existing_group(ec2: &Ec2<'_>, call: &str, x: &Dynamic) -> RhaiResult<SecurityGroup> {
    if let Some(group) = planned_group(x) {
        return Ok(group);
    }
    let r = refs(call, x, Kind::SecurityGroup)?;
    let [name_or_id] = r.ids.as_slice() else {
        return Err(runtime_error(format!("{call}: takes one security group")));
    };
    find_group(ec2, call, name_or_id, None)
        .await?
        .ok_or_else(|| {
            runtime_error(format!(
                "{call}: no security group `{name_or_id}` in {}",
                ec2.region()
            ))
        })
}

pub fn group_label(g: &SecurityGroup) -> String {
    format!("{} ({})", g.id, g.name)
}

/// The confirmation before `rules` are revoked from `group`, naming each.
fn confirm_revoke(ctx: &Context, group: &SecurityGroup, rules: &[Rule]) -> RhaiResult<()> {
    let targets: Vec<String> = rules
        .iter()
        .map(|r| format!("{}: {r}", group_label(group)))
        .collect();
    prompt::confirm_destructive(ctx, "revoke", &targets)
}

pub fn rules_text(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn security_group(ctx: &Context, name: &str) -> RhaiResult<Dynamic> {
    const CALL: &str = "ec2::security_group";
    let ec2 = Ec2::new(ctx)?;
    let found = ec2.run(find_group(&ec2, CALL, name, None))?;
    Ok(found.map_or(Dynamic::UNIT, Dynamic::from))
}

/// Rules with their `source_group` names resolved to ids; a rule naming
/// `group` itself refers to it.
async fn resolve_rules(
    ec2: &Ec2<'_>,
    call: &str,
    specs: &[RuleSpec],
    group: &SecurityGroup,
) -> RhaiResult<Vec<Rule>> {
    let mut rules = Vec::new();
    for spec in specs {
        let source = match &spec.source_group {
            None => None,
            Some(s) if *s == group.name || *s == group.id => Some(group.id.clone()),
            Some(s) if s.starts_with("sg-") => Some(s.clone()),
            Some(s) => match find_group(ec2, call, s, group.vpc.as_deref()).await? {
                Some(g) => Some(g.id),
                None if ec2.dry_run() => Some(planned_id("sg")),
                None => {
                    return Err(runtime_error(format!(
                        "{call}: source_group `{s}` does not exist in {}",
                        ec2.region()
                    )));
                }
            },
        };
        let rule = spec.to_rule(source);
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

fn parse_rules(call: &str, value: Option<&Dynamic>) -> RhaiResult<Vec<RuleSpec>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value.read_lock::<Array>().ok_or_else(|| {
        runtime_error(format!(
            "{call}: `rules` is an array of maps such as [#{{ port: 22, cidr: \"10.0.0.0/8\" }}]"
        ))
    })?;
    items.iter().map(|r| RuleSpec::parse(call, r)).collect()
}

/// Allow `rules` on `group` (`grant`), or stop allowing them; whether it
/// was done (a dry run only plans it).
pub async fn apply_rules(
    ec2: &Ec2<'_>,
    call: &str,
    group: &SecurityGroup,
    rules: &[Rule],
    grant: bool,
) -> RhaiResult<bool> {
    let target = group_label(group);
    let args = serde_json::json!({ "rules": rules });
    let permissions = Some(rules.iter().map(Rule::to_permission).collect::<Vec<_>>());
    let client = ec2.client();
    // Both requests take the group and the permissions alike.
    macro_rules! send {
        ($request:ident) => {
            ec2.mutate(
                call,
                &target,
                args,
                |d| {
                    client
                        .$request()
                        .group_id(&group.id)
                        .set_ip_permissions(permissions)
                        .dry_run(d)
                        .send()
                },
                nothing,
            )
            .await?
            .is_some()
        };
    }
    let done = if grant {
        send!(authorize_security_group_ingress)
    } else {
        send!(revoke_security_group_ingress)
    };
    if done {
        let now = if grant {
            "now allows"
        } else {
            "no longer allows"
        };
        ec2.ctx
            .output
            .info(&format!("{target} {now} {}", rules_text(rules)));
    }
    Ok(done)
}

/// The group as it is now; after a dry run, as it would be.
pub async fn refreshed(
    ec2: &Ec2<'_>,
    call: &str,
    mut group: SecurityGroup,
    added: &[Rule],
    removed: &[Rule],
) -> RhaiResult<SecurityGroup> {
    if ec2.dry_run() || is_planned(&group.id) {
        group.rules.retain(|r| !removed.contains(r));
        group.rules.extend(added.iter().cloned());
        group.rules.sort();
        group.rules.dedup();
        ec2.ctx.planned.put(group.clone());
        return Ok(group);
    }
    let mut found = fetch_groups(ec2.client(), std::slice::from_ref(&group.id), Vec::new())
        .await
        .map_err(|e| ec2.fail(call, &group.id, e))?;
    found
        .pop()
        .ok_or_else(|| runtime_error(format!("{call}: {} disappeared", group_label(&group))))
}

pub fn ensure_security_group(
    ctx: &Context,
    name: &str,
    opts: Options,
) -> RhaiResult<SecurityGroup> {
    const CALL: &str = "ec2::ensure_security_group";
    let description = opts
        .string("description")?
        .unwrap_or_else(|| name.to_string());
    let vpc = opts.string("vpc")?;
    let specs = parse_rules(CALL, opts.value("rules"))?;
    let prune = opts.bool("prune")?.unwrap_or(false);
    let ec2 = Ec2::new(ctx)?;
    let (group, desired) = ec2.run(async {
        let group = match find_group(&ec2, CALL, name, vpc.as_deref()).await? {
            Some(group) => group,
            None => create_group(&ec2, name, &description, vpc.as_deref()).await?,
        };
        let desired = resolve_rules(&ec2, CALL, &specs, &group).await?;
        Ok((group, desired))
    })?;
    let missing: Vec<Rule> = desired
        .iter()
        .filter(|r| !group.rules.contains(r))
        .cloned()
        .collect();
    let extra: Vec<Rule> = if prune {
        group
            .rules
            .iter()
            .filter(|r| !desired.contains(r))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    if !extra.is_empty() {
        confirm_revoke(ctx, &group, &extra)?;
    }
    ec2.run(async {
        if !missing.is_empty() {
            apply_rules(&ec2, CALL, &group, &missing, true).await?;
        }
        if !extra.is_empty() {
            apply_rules(&ec2, CALL, &group, &extra, false).await?;
        }
        refreshed(&ec2, CALL, group, &missing, &extra).await
    })
}

async fn create_group(
    ec2: &Ec2<'_>,
    name: &str,
    description: &str,
    vpc: Option<&str>,
) -> RhaiResult<SecurityGroup> {
    const CALL: &str = "ec2::ensure_security_group";
    let created = ec2
        .mutate(
            CALL,
            name,
            serde_json::json!({ "description": description, "vpc": vpc }),
            |d| {
                ec2.client()
                    .create_security_group()
                    .group_name(name)
                    .description(description)
                    .set_vpc_id(vpc.map(str::to_string))
                    .dry_run(d)
                    .send()
            },
            |out| {
                let ids: Vec<String> = out.group_id().map(str::to_string).into_iter().collect();
                outcome("created", "security_group", &ids)
            },
        )
        .await?;
    let id = match created.as_ref().and_then(|out| out.group_id()) {
        Some(id) => id.to_string(),
        None => planned_id("sg"),
    };
    if created.is_some() {
        ec2.ctx
            .output
            .info(&format!("created security group {id} ({name})"));
    }
    let group = SecurityGroup {
        id,
        name: name.to_string(),
        description: Some(description.to_string()),
        vpc: vpc.map(str::to_string),
        rules: Vec::new(),
        tags: Default::default(),
    };
    if is_planned(&group.id) {
        ec2.ctx.planned.put(group.clone());
        return Ok(group);
    }
    // Fresh groups may not be visible at once; the VPC is filled in here.
    let found = crate::aws::ec2::call::retry_not_found(|| {
        fetch_groups(ec2.client(), std::slice::from_ref(&group.id), Vec::new())
    })
    .await
    .map_err(|e| ec2.fail(CALL, &group.id, e))?;
    Ok(found.into_iter().next().unwrap_or(group))
}

pub fn authorize(ctx: &Context, sg: &Dynamic, rule: &Dynamic) -> RhaiResult<SecurityGroup> {
    const CALL: &str = "ec2::authorize";
    let spec = RuleSpec::parse(CALL, rule)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let group = existing_group(&ec2, CALL, sg).await?;
        let rules = resolve_rules(&ec2, CALL, std::slice::from_ref(&spec), &group).await?;
        let missing: Vec<Rule> = rules
            .into_iter()
            .filter(|r| !group.rules.contains(r))
            .collect();
        if missing.is_empty() {
            tracing::info!("{} already allows that", group_label(&group));
            return Ok(group);
        }
        apply_rules(&ec2, CALL, &group, &missing, true).await?;
        refreshed(&ec2, CALL, group, &missing, &[]).await
    })
}

pub fn revoke(ctx: &Context, sg: &Dynamic, rule: &Dynamic) -> RhaiResult<SecurityGroup> {
    const CALL: &str = "ec2::revoke";
    let spec = RuleSpec::parse(CALL, rule)?;
    let ec2 = Ec2::new(ctx)?;
    let (group, present) = ec2.run(async {
        let group = existing_group(&ec2, CALL, sg).await?;
        let rules = resolve_rules(&ec2, CALL, std::slice::from_ref(&spec), &group).await?;
        let present: Vec<Rule> = rules
            .into_iter()
            .filter(|r| group.rules.contains(r))
            .collect();
        Ok((group, present))
    })?;
    if present.is_empty() {
        ctx.output.info(&format!(
            "{} has no rule {}: nothing to revoke",
            group_label(&group),
            spec.to_rule(spec.source_group.clone())
        ));
        return Ok(group);
    }
    confirm_revoke(ctx, &group, &present)?;
    ec2.run(async {
        apply_rules(&ec2, CALL, &group, &present, false).await?;
        refreshed(&ec2, CALL, group, &[], &present).await
    })
}

pub async fn fetch_addresses(
    client: &Client,
    allocation_ids: Vec<String>,
    ips: Vec<String>,
    filters: Vec<Filter>,
) -> Result<Vec<Address>, SdkError<DescribeAddressesError>> {
    let out = client
        .describe_addresses()
        .set_allocation_ids((!allocation_ids.is_empty()).then_some(allocation_ids))
        .set_public_ips((!ips.is_empty()).then_some(ips))
        .set_filters((!filters.is_empty()).then_some(filters))
        .send()
        .await?;
    let mut addresses: Vec<Address> = out.addresses().iter().map(Address::from).collect();
    addresses.sort_by(|a, b| (&a.ip, &a.allocation_id).cmp(&(&b.ip, &b.allocation_id)));
    Ok(addresses)
}

fn address_label(a: &Address) -> String {
    let mut text = format!("{}, {}", label(&a.allocation_id, &a.tags), a.ip);
    if let Some(instance) = &a.instance {
        text += &format!(", on {instance}");
    }
    text
}

/// The existing addresses `x` names (objects, allocation ids or IPs).
async fn resolve_addresses(ec2: &Ec2<'_>, call: &str, x: &Dynamic) -> RhaiResult<Vec<Address>> {
    if let Some(a) = x
        .read_lock::<Address>()
        .filter(|a| is_planned(&a.allocation_id))
    {
        return Ok(vec![a.clone()]);
    }
    let ids = refs(call, x, Kind::Address)?.ids;
    let world = &ec2.ctx.planned;
    let mut found = Vec::new();
    let mut ask = Vec::new();
    for id in &ids {
        match world.find::<Address>(|a| &a.allocation_id == id || &a.ip == id) {
            Some(a) => found.push(a),
            None => ask.push(id.clone()),
        }
    }
    let (allocations, ips): (Vec<String>, Vec<String>) = ask
        .iter()
        .cloned()
        .partition(|id| id.starts_with("eipalloc-"));
    if !ask.is_empty() {
        let real = fetch_addresses(ec2.client(), allocations, ips, Vec::new())
            .await
            .map_err(|e| ec2.fail(call, &ask.join(", "), e))?;
        found.extend(real.into_iter().filter_map(|a| world.patch(a)));
    }
    for id in &ids {
        if !found.iter().any(|a| &a.allocation_id == id || &a.ip == id) {
            return Err(runtime_error(format!(
                "{call}: no elastic IP {id} in {}",
                ec2.region()
            )));
        }
    }
    Ok(found)
}

pub fn allocate_address(ctx: &Context, opts: Options) -> RhaiResult<Address> {
    const CALL: &str = "ec2::allocate_address";
    let tags = tags_option(&opts)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let target = tags
            .get("Name")
            .cloned()
            .unwrap_or_else(|| "elastic IP".into());
        let out = ec2
            .mutate(
                CALL,
                &target,
                serde_json::json!({ "tags": tags }),
                |d| {
                    ec2.client()
                        .allocate_address()
                        .domain(DomainType::Vpc)
                        .set_tag_specifications(
                            tag_spec(ResourceType::ElasticIp, &tags).map(|t| vec![t]),
                        )
                        .dry_run(d)
                        .send()
                },
                |out| {
                    let ids: Vec<String> = out
                        .allocation_id()
                        .map(str::to_string)
                        .into_iter()
                        .collect();
                    outcome("created", "address", &ids)
                },
            )
            .await?;
        let address = match out {
            Some(out) => Address {
                ip: out.public_ip().unwrap_or_default().to_string(),
                allocation_id: out.allocation_id().unwrap_or_default().to_string(),
                instance: None,
                tags: tags.clone(),
                association_id: None,
            },
            None => Address {
                ip: PLANNED_IP.into(),
                allocation_id: planned_id("eipalloc"),
                instance: None,
                tags: tags.clone(),
                association_id: None,
            },
        };
        if is_planned(&address.allocation_id) {
            ctx.planned.put(address.clone());
        } else {
            ctx.output
                .info(&format!("allocated {}", address_label(&address)));
        }
        Ok(address)
    })
}

/// `instance: ...`: the addresses associated with it.
const ASSOCIATED: Link = Link {
    key: "instance",
    kind: Kind::Instance,
    filter: "instance-id",
};

pub fn addresses(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::addresses";
    let (query, mut filters) = tag_search(&opts)?;
    let on = linked(&opts, ASSOCIATED, &mut filters)?;
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    ec2.listing(
        CALL,
        fetch_addresses(client, Vec::new(), Vec::new(), filters),
        |ids| fetch_addresses(client, ids, Vec::new(), Vec::new()),
        |a| query.matches(&a.tags) && among(&on, &a.instance),
    )
}

pub fn associate_address(ctx: &Context, addr: &Dynamic, instance: &Dynamic) -> RhaiResult<Address> {
    const CALL: &str = "ec2::associate_address";
    let instance = refs(CALL, instance, Kind::Instance)?.ids;
    let [instance] = instance.as_slice() else {
        return Err(runtime_error(format!("{CALL}: takes one instance")));
    };
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let found = resolve_addresses(&ec2, CALL, addr).await?;
        let [address] = found.as_slice() else {
            return Err(runtime_error(format!("{CALL}: takes one address")));
        };
        let target = address_label(address);
        let done = ec2
            .mutate(
                CALL,
                &target,
                serde_json::json!({ "instance": instance }),
                |d| {
                    ec2.client()
                        .associate_address()
                        .allocation_id(&address.allocation_id)
                        .instance_id(instance)
                        .allow_reassociation(true)
                        .dry_run(d)
                        .send()
                },
                nothing,
            )
            .await?;
        if done.is_none() {
            let mut planned = address.clone();
            planned.instance = Some(instance.clone());
            ctx.planned.put(planned.clone());
            return Ok(planned);
        }
        ctx.output
            .info(&format!("associated {target} with {instance}"));
        let mut now = fetch_addresses(
            ec2.client(),
            vec![address.allocation_id.clone()],
            Vec::new(),
            Vec::new(),
        )
        .await
        .map_err(|e| ec2.fail(CALL, &address.allocation_id, e))?;
        Ok(now.pop().unwrap_or_else(|| address.clone()))
    })
}

pub fn release_address(ctx: &Context, addr: &Dynamic) -> RhaiResult<()> {
    const CALL: &str = "ec2::release_address";
    let ec2 = Ec2::new(ctx)?;
    let found = ec2.run(resolve_addresses(&ec2, CALL, addr))?;
    if found.is_empty() {
        return Ok(());
    }
    let targets: Vec<String> = found.iter().map(address_label).collect();
    prompt::confirm_destructive(ctx, "release", &targets)?;
    ec2.run(async {
        for address in &found {
            let target = address_label(address);
            // An associated address cannot be released: detach it first.
            if let Some(association) = &address.association_id {
                ec2.mutate(
                    "ec2::disassociate_address",
                    &target,
                    Value::Null,
                    |d| {
                        ec2.client()
                            .disassociate_address()
                            .association_id(association)
                            .dry_run(d)
                            .send()
                    },
                    nothing,
                )
                .await?;
            }
            let done = ec2
                .mutate(
                    CALL,
                    &target,
                    Value::Null,
                    |d| {
                        ec2.client()
                            .release_address()
                            .allocation_id(&address.allocation_id)
                            .dry_run(d)
                            .send()
                    },
                    |_| {
                        outcome(
                            "removed",
                            "address",
                            std::slice::from_ref(&address.allocation_id),
                        )
                    },
                )
                .await?;
            if done.is_some() {
                ctx.output.info(&format!("released {target}"));
            } else {
                ctx.planned.remove::<Address>(&address.allocation_id);
            }
        }
        Ok(())
    })
}
