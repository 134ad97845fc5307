//! Deleting a security group as AWS allows it: the rules of other groups
//! that name it are revoked first, instances that are shutting down are
//! waited for, and what still holds it is named when AWS refuses.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use rhai::Dynamic;
use serde_json::Value;

use crate::aws;
use crate::aws::ec2::call::{Backoff, Ec2, outcome};
use crate::aws::ec2::dependents::group_users;
use crate::aws::ec2::instances::wait_for;
use crate::aws::ec2::network::{apply_rules, existing_group, group_label, refreshed, rules_text};
use crate::aws::ec2::types::SecurityGroup;
use crate::core::context::Context;
use crate::core::failure::describe;
use crate::core::options::{Options, RhaiResult};
use crate::core::prompt;

pub const DELETE_GROUP_OPTIONS: &[&str] = &["timeout"];

/// How long a delete waits for a group's users to go by default: the
/// shutdown of its instances, then AWS letting go of their interfaces.
const GROUP_FREE_WAIT: Duration = Duration::from_secs(300);

pub fn delete_security_group(ctx: &Context, sg: &Dynamic, opts: Options) -> RhaiResult<()> {
    const CALL: &str = "ec2::delete_security_group";
    let timeout = opts.seconds("timeout")?.unwrap_or(GROUP_FREE_WAIT);
    let started = Instant::now();
    let ec2 = Ec2::new(ctx)?;
    let (group, users) = ec2.run(async {
        let group = existing_group(&ec2, CALL, sg).await?;
        let users = group_users(&ec2, CALL, &group).await?;
        Ok((group, users))
    })?;
    let target = group_label(&group);
    if let Some(refusal) = users.refusal(CALL, &target) {
        return Err(refusal.into());
    }
    let mut confirmed = target.clone();
    if !users.rules.is_empty() {
        let naming: Vec<String> = users
            .rules
            .iter()
            .map(|(other, rules)| format!("{}: {}", group_label(other), rules_text(rules)))
            .collect();
        confirmed += &format!(
            ", after revoking the rules of other groups that name it ({})",
            naming.join("; ")
        );
    }
    prompt::confirm_destructive(ctx, "delete security group", std::slice::from_ref(&confirmed))?;
    // AWS refuses the delete while another group's rule names the group.
    ec2.run(async {
        for (other, rules) in &users.rules {
            apply_rules(&ec2, "ec2::revoke", other, rules, false).await?;
            refreshed(&ec2, "ec2::revoke", other.clone(), &[], rules).await?;
        }
        Ok(())
    })?;
    let shutting_down = users.shutting_down();
    if !shutting_down.is_empty() {
        ctx.output.info(&format!(
            "{target} is used by {} shutting down: waiting until terminated",
            shutting_down.join(", ")
        ));
        let waited = wait_for(ctx, &shutting_down, &HashMap::new(), "terminated", timeout);
        if let Err(err) = waited {
            let users = ec2.run(group_users(&ec2, CALL, &group))?;
            let answer = describe(&err);
            return Err(users
                .still_used(CALL, &target, started.elapsed().as_secs(), &answer)
                .into());
        }
    }
    let remaining = timeout.saturating_sub(started.elapsed());
    ec2.run(delete_group(&ec2, &group, &target, remaining, started))
}

/// Delete `group`, retrying while AWS still counts a dependent (it lets go
/// of a terminated instance's interfaces a little after), for `remaining`.
async fn delete_group(
    ec2: &Ec2<'_>,
    group: &SecurityGroup,
    target: &str,
    remaining: Duration,
    started: Instant,
) -> RhaiResult<()> {
    const CALL: &str = "ec2::delete_security_group";
    let in_use = Cell::new(false);
    let deadline = tokio::time::Instant::now() + remaining;
    let client = ec2.client();
    let in_use = &in_use;
    let send = |dry_run: bool| async move {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        loop {
            let answer = client
                .delete_security_group()
                .group_id(&group.id)
                .dry_run(dry_run)
                .send()
                .await;
            match answer {
                Err(e) if aws::error_code(&e) == Some("DependencyViolation") => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        in_use.set(true);
                        return Err(e);
                    }
                    tracing::info!("{target} is still in use; retrying");
                    tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
                }
                other => return other,
            }
        }
    };
    let done = ec2
        .mutate(CALL, target, Value::Null, send, |_| {
            outcome("removed", "security_group", std::slice::from_ref(&group.id))
        })
        .await;
    match done {
        Ok(Some(_)) => {
            ec2.ctx
                .output
                .info(&format!("deleted security group {target}"));
            Ok(())
        }
        Ok(None) => {
            ec2.ctx.planned.remove::<SecurityGroup>(&group.id);
            Ok(())
        }
        Err(err) if in_use.get() => {
            let users = group_users(ec2, CALL, group).await?;
            Err(users
                .still_used(CALL, target, started.elapsed().as_secs(), &describe(&err))
                .into())
        }
        Err(err) => Err(err),
    }
}
