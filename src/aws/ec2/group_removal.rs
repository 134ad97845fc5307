//! Deleting a security group as AWS allows it: the rules of other groups
//! that name it are revoked first, instances that are shutting down are
//! waited for, and what still holds it is named when AWS refuses.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use rhai::Dynamic;
use serde_json::Value;

use crate::aws;
use crate::aws::ec2::call::{Backoff, Ec2, outcome};
use crate::aws::ec2::dependents::group_users;
use crate::aws::ec2::instances::wait_for;
use crate::aws::ec2::network::{apply_rules, existing_group, group_label, refreshed, rules_text};
use crate::aws::ec2::types::SecurityGroup;
use crate::core::context::Context;
use crate::core::failure::{Failure, describe};
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
    prompt::confirm_destructive(
        ctx,
        "delete security group",
        std::slice::from_ref(&confirmed),
    )?;
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
        // A wait that failed (timed out) is told as what still holds the
        // group; Ctrl-C and the like go on as they are.
        if let Err(err) = waited {
            if Failure::of(&err).is_none() {
                return Err(err);
            }
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

/// Send `request` again, after each of `backoff`'s pauses, while AWS answers
/// DependencyViolation and `deadline` is ahead; the last answer, with
/// `in_use` set when it is still that refusal.
async fn retry_in_use<O, E, Fut>(
    mut request: impl FnMut() -> Fut,
    mut backoff: Backoff,
    deadline: tokio::time::Instant,
    target: &str,
    in_use: &Cell<bool>,
) -> Result<O, SdkError<E, HttpResponse>>
where
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    loop {
        match request().await {
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
    let send = |dry_run: bool| {
        let request = move || {
            client
                .delete_security_group()
                .group_id(&group.id)
                .dry_run(dry_run)
                .send()
        };
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        retry_in_use(request, backoff, deadline, target, in_use)
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput;
    use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};

    const IN_USE: &str = "<Response><Errors><Error><Code>DependencyViolation</Code>\
        <Message>resource sg-1 has a dependent object</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

    fn quick() -> Backoff {
        Backoff::new(Duration::from_millis(5), Duration::from_millis(5))
    }

    fn client(rule: &aws_smithy_mocks::Rule) -> Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(rule),
            )
            .build();
        Client::from_conf(config)
    }

    // AWS lets go of a terminated instance's network interface a little
    // after the instance reads terminated; the lab's emulator frees the
    // group at once, so this path is tried against the SDK's mocks.
    #[tokio::test]
    async fn a_group_still_in_use_just_after_its_instances_terminated_is_retried() {
        let rule = mock!(aws_sdk_ec2::Client::delete_security_group)
            .sequence()
            .http_status(400, Some(IN_USE.into()))
            .times(2)
            .output(|| DeleteSecurityGroupOutput::builder().build())
            .build();
        let client = client(&rule);
        let in_use = Cell::new(false);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let request = || client.delete_security_group().group_id("sg-1").send();
        let answer = retry_in_use(request, quick(), deadline, "sg-1", &in_use).await;
        assert!(answer.is_ok(), "{answer:?}");
        assert!(!in_use.get());
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_group_in_use_past_the_deadline_is_reported_so() {
        let rule = mock!(aws_sdk_ec2::Client::delete_security_group)
            .sequence()
            .http_status(400, Some(IN_USE.into()))
            .times(50)
            .build();
        let client = client(&rule);
        let in_use = Cell::new(false);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(40);
        let request = || client.delete_security_group().group_id("sg-1").send();
        let answer = retry_in_use(request, quick(), deadline, "sg-1", &in_use).await;
        assert_eq!(
            answer.as_ref().err().and_then(aws::error_code),
            Some("DependencyViolation")
        );
        assert!(in_use.get());
        assert!((2..50).contains(&rule.num_calls()), "{}", rule.num_calls());
    }
}
