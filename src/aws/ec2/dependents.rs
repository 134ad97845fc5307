//! What keeps AWS from removing a resource that is still in use: the
//! instances and network interfaces that use a security group and the rules
//! of other groups that name it; the images a snapshot backs. Removals look
//! them up to deal with them first (revoke, wait) or to name them when AWS
//! refuses.

use crate::aws::ec2::call::{Ec2, filter};
use crate::aws::ec2::instances::fetch_instances;
use crate::aws::ec2::network::fetch_groups;
use crate::aws::ec2::rule::{Rule, Source};
use crate::aws::ec2::types::{Image, Instance, SecurityGroup};
use crate::core::failure::Failure;
use crate::core::options::RhaiResult;
use crate::core::planned::{Lookup, is_planned};

/// Every state but terminated: an instance in one of these still holds its
/// security groups.
const HOLDING: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

/// What uses a security group, as the plan leaves it.
#[derive(Debug, Default)]
pub struct GroupUsers {
    /// Instances that are not terminated.
    pub instances: Vec<Instance>,
    /// Network interfaces of anything else (`eni-... (description)`).
    pub interfaces: Vec<String>,
    /// Other groups and their rules that name the group as a source.
    pub rules: Vec<(SecurityGroup, Vec<Rule>)>,
}

impl GroupUsers {
    /// The instances that are on their way to terminated: a wait ends
    /// their hold.
    pub fn shutting_down(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|i| i.state == "shutting-down")
            .map(|i| i.id.clone())
            .collect()
    }

    /// What holds the group and goes away only when someone removes it.
    fn holding(&self) -> Vec<String> {
        let mut held: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.state != "shutting-down")
            .map(instance_label)
            .collect();
        held.extend(
            self.interfaces
                .iter()
                .map(|e| format!("network interface {e}")),
        );
        held
    }

    /// Every dependent, for an error.
    fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self.instances.iter().map(instance_label).collect();
        all.extend(
            self.interfaces
                .iter()
                .map(|e| format!("network interface {e}")),
        );
        all.extend(
            self.rules
                .iter()
                .map(|(g, rules)| format!("{} rule(s) of {} ({})", rules.len(), g.id, g.name)),
        );
        all
    }

    /// The refusal to delete `group` while instances that are not shutting
    /// down or other network interfaces use it; AWS would refuse it too.
    pub fn refusal(&self, call: &str, group: &str) -> Option<Failure> {
        let held = self.holding();
        (!held.is_empty()).then(|| {
            Failure::new(format!(
                "{call}: {group} is still in use by {}",
                held.join(", ")
            ))
            .hint(USE_HINT)
        })
    }

    /// The error when AWS still refused after the wait: what opsh finds
    /// using the group, and AWS's answer.
    pub fn still_used(&self, call: &str, group: &str, waited: u64, answer: &str) -> Failure {
        let all = self.all();
        let users = if all.is_empty() {
            "nothing opsh can see (an egress rule of another group, a load balancer or a VPC \
             endpoint may hold it)"
                .to_string()
        } else {
            all.join(", ")
        };
        Failure::new(format!(
            "{call}: {group} is still in use after {waited}s, by {users} ({answer})"
        ))
        .hint(format!(
            "{USE_HINT}; to wait longer, pass #{{ timeout: seconds }}"
        ))
    }
}

const USE_HINT: &str = "terminate the instances that use it first (ec2::terminate: this call then \
    waits until they are terminated) or move them to another group, and delete or move the \
    network interfaces";

fn instance_label(i: &Instance) -> String {
    match i.tags.get("Name").filter(|n| !n.is_empty()) {
        Some(name) => format!("{} ({name}, {})", i.id, i.state),
        None => format!("{} ({})", i.id, i.state),
    }
}

/// What uses `group` now (the plan's changes applied in a dry run).
pub async fn group_users(
    ec2: &Ec2<'_>,
    call: &str,
    group: &SecurityGroup,
) -> RhaiResult<GroupUsers> {
    let id = group.id.as_str();
    let world = &ec2.ctx.planned;
    let real = !is_planned(id);
    let found = if real {
        fetch_instances(
            ec2.client(),
            &[],
            vec![
                filter("instance.group-id", [id]),
                filter("instance-state-name", HOLDING.iter().copied()),
            ],
        )
        .await
        .map_err(|e| ec2.fail(call, id, e))?
    } else {
        Vec::new()
    };
    let instances = world.list(found, Vec::new(), |i: &Instance| {
        HOLDING.contains(&i.state.as_str()) && i.security_groups.iter().any(|g| g == id)
    });
    let interfaces = if real {
        interfaces(ec2, call, id, &instances).await?
    } else {
        Vec::new()
    };
    let found = if real {
        fetch_groups(
            ec2.client(),
            &[],
            vec![filter("ip-permission.group-id", [id])],
        )
        .await
        .map_err(|e| ec2.fail(call, id, e))?
    } else {
        Vec::new()
    };
    let source = Source::Group(id.to_string());
    let rules = world
        .list(found, Vec::new(), |g: &SecurityGroup| {
            g.rules.iter().any(|r| r.source == source)
        })
        .into_iter()
        .filter(|g| g.id != id)
        .filter_map(|g| {
            let naming: Vec<Rule> = g
                .rules
                .iter()
                .filter(|r| r.source == source)
                .cloned()
                .collect();
            (!naming.is_empty()).then_some((g, naming))
        })
        .collect();
    Ok(GroupUsers {
        instances,
        interfaces,
        rules,
    })
}

/// The network interfaces with group `id` that are not those of
/// `instances` (already counted) nor of an instance that is (or the plan
/// leaves) terminated: they go with it.
async fn interfaces(
    ec2: &Ec2<'_>,
    call: &str,
    id: &str,
    instances: &[Instance],
) -> RhaiResult<Vec<String>> {
    let found: Vec<_> = ec2
        .client()
        .describe_network_interfaces()
        .filters(filter("group-id", [id]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| ec2.fail(call, id, e))?;
    let mut others = Vec::new();
    let mut attached_elsewhere = Vec::new();
    for eni in &found {
        let eni_id = eni.network_interface_id().unwrap_or_default().to_string();
        match eni.attachment().and_then(|a| a.instance_id()) {
            Some(on) if instances.iter().any(|i| i.id == on) => {}
            Some(on) => attached_elsewhere.push((eni_id, on.to_string())),
            None => others.push(match eni.description().filter(|d| !d.is_empty()) {
                Some(d) => format!("{eni_id} ({d})"),
                None => eni_id,
            }),
        }
    }
    if !attached_elsewhere.is_empty() {
        let on: Vec<String> = attached_elsewhere.iter().map(|(_, i)| i.clone()).collect();
        let found = fetch_instances(ec2.client(), &on, Vec::new())
            .await
            .map_err(|e| ec2.fail(call, &on.join(", "), e))?;
        for (eni, instance) in attached_elsewhere {
            // As the plan leaves the instance: one it terminates frees it.
            let live = found
                .iter()
                .find(|i| i.id == instance)
                .and_then(|i| ec2.ctx.planned.patch(i.clone()))
                .filter(|i| i.state != "terminated");
            if let Some(i) = live {
                others.push(format!("{eni} (on {})", instance_label(&i)));
            }
        }
    }
    Ok(others)
}

/// The images (registered, as the plan leaves them) whose block devices
/// are the snapshot `id`.
pub async fn images_behind(
    ec2: &Ec2<'_>,
    call: &str,
    ids: &[String],
) -> RhaiResult<Vec<(String, Image)>> {
    let real: Vec<&String> = ids.iter().filter(|id| !is_planned(id)).collect();
    if real.is_empty() {
        return Ok(Vec::new());
    }
    // EC2 answers which snapshots an image uses, not the other way round:
    // this account's images are read with their block devices.
    let out: Vec<_> = ec2
        .client()
        .describe_images()
        .owners("self")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| ec2.fail(call, "this account's images", e))?;
    let mut behind = Vec::new();
    for image in &out {
        let image_id = image.image_id().unwrap_or_default();
        if matches!(ec2.ctx.planned.lookup::<Image>(image_id), Lookup::Removed) {
            continue;
        }
        for mapping in image.block_device_mappings() {
            let Some(snapshot) = mapping.ebs().and_then(|e| e.snapshot_id()) else {
                continue;
            };
            if real.iter().any(|id| id.as_str() == snapshot) {
                behind.push((snapshot.to_string(), Image::from(image)));
            }
        }
    }
    Ok(behind)
}

/// The refusal to delete snapshots that back images, naming both.
pub fn snapshot_refusal(call: &str, behind: &[(String, Image)]) -> Option<Failure> {
    if behind.is_empty() {
        return None;
    }
    let pairs: Vec<String> = behind
        .iter()
        .map(|(snapshot, image)| {
            let shown = match &image.name {
                Some(name) => format!("{} ({name})", image.id),
                None => image.id.clone(),
            };
            format!("{snapshot} backs image {shown}")
        })
        .collect();
    let images: Vec<String> = behind.iter().map(|(_, i)| format!("{:?}", i.id)).collect();
    Some(
        Failure::new(format!("{call}: {}", pairs.join(", "))).hint(format!(
            "deregister the image first: ec2::deregister_image([{}]), then delete the snapshot",
            images.join(", ")
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, name: &str, state: &str) -> Instance {
        let mut i = Instance {
            id: id.into(),
            state: state.into(),
            ..Instance::default()
        };
        i.tags.insert("Name".into(), name.into());
        i
    }

    #[test]
    fn only_what_no_wait_frees_refuses_a_delete() {
        let users = GroupUsers {
            instances: vec![
                instance("i-1", "web-1", "shutting-down"),
                instance("i-2", "web-2", "stopped"),
            ],
            interfaces: vec!["eni-1 (a load balancer)".into()],
            rules: Vec::new(),
        };
        assert_eq!(users.shutting_down(), ["i-1"]);
        let refusal = users
            .refusal("ec2::delete_security_group", "sg-1 (web)")
            .expect("a stopped instance holds the group");
        assert_eq!(
            refusal.message,
            "ec2::delete_security_group: sg-1 (web) is still in use by i-2 (web-2, stopped), \
             network interface eni-1 (a load balancer)"
        );
        assert!(refusal.hint.is_some_and(|h| h.contains("ec2::terminate")));
        let waiting = GroupUsers {
            instances: vec![instance("i-1", "web-1", "shutting-down")],
            ..GroupUsers::default()
        };
        assert!(waiting.refusal("c", "sg-1").is_none());
    }

    #[test]
    fn a_group_still_refused_with_nothing_in_sight_says_what_else_can_hold_it() {
        let failure =
            GroupUsers::default().still_used("c", "sg-1 (web)", 300, "DependencyViolation");
        assert!(
            failure
                .message
                .contains("sg-1 (web) is still in use after 300s, by nothing opsh can see"),
            "{}",
            failure.message
        );
        assert!(
            failure
                .hint
                .is_some_and(|h| h.contains("#{ timeout: seconds }"))
        );
    }

    #[test]
    fn a_snapshot_refusal_names_each_image() {
        let image = Image {
            id: "ami-1".into(),
            name: Some("web-2024".into()),
            state: "available".into(),
            created: None,
            tags: Default::default(),
        };
        assert!(snapshot_refusal("c", &[]).is_none());
        let refusal = snapshot_refusal("ec2::delete_snapshot", &[("snap-1".into(), image)])
            .expect("a refusal");
        assert_eq!(
            refusal.message,
            "ec2::delete_snapshot: snap-1 backs image ami-1 (web-2024)"
        );
        assert_eq!(
            refusal.hint.as_deref(),
            Some(
                "deregister the image first: ec2::deregister_image([\"ami-1\"]), then delete the snapshot"
            )
        );
    }
}
