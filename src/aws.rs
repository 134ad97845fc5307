//! The AWS side shared by `ec2::` and `s3::`: configuration from the
//! standard chain with opsh's settings on top, the clients, and errors that
//! name the call, the resource, the AWS error code and a likely fix.

use std::sync::OnceLock;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use rhai::EvalAltResult;

use crate::context::Context;
use crate::options::{RhaiResult, runtime_error};

pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
}

impl Context {
    /// The AWS clients, configured on first use so runbooks that never touch
    /// AWS never read credentials.
    pub fn aws(&self) -> RhaiResult<&Aws> {
        static CELL: OnceLock<Aws> = OnceLock::new();
        if let Some(aws) = CELL.get() {
            return Ok(aws);
        }
        let aws = self.runtime.block_on(async { load(self).await })??;
        Ok(CELL.get_or_init(|| aws))
    }
}

async fn load(ctx: &Context) -> RhaiResult<Aws> {
    let settings = &ctx.settings.aws;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let mut retry = RetryConfig::standard();
    if let Some(attempts) = settings.max_attempts {
        retry = retry.with_max_attempts(attempts.max(1));
    }
    let config = loader.retry_config(retry).load().await;
    // Credentials from a profile, SSO or IMDS join the secrets before any
    // log line could show them; a failure here resurfaces on the first call.
    if let Some(provider) = config.credentials_provider() {
        use aws_credential_types::provider::ProvideCredentials;
        if let Ok(credentials) = provider.provide_credentials().await {
            crate::redact::add(credentials.access_key_id());
            crate::redact::add(credentials.secret_access_key());
            if let Some(token) = credentials.session_token() {
                crate::redact::add(token);
            }
        }
    }
    let region = config.region().map(ToString::to_string).ok_or_else(|| {
        runtime_error(
            "no AWS region is set: pass --region, set AWS_REGION, or put region under [aws] in opsh.toml",
        )
    })?;
    // A custom endpoint (an emulator, a VPC endpoint) rarely serves
    // bucket-name subdomains: address buckets by path there.
    let path_style = config.endpoint_url().is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(path_style)
        .build();
    tracing::debug!(region, endpoint = ?config.endpoint_url(), "AWS configured");
    Ok(Aws {
        ec2: aws_sdk_ec2::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        region,
    })
}

/// The AWS error code of a failed call, when the service answered.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A failed AWS call as a runbook error: what was called on what, the AWS
/// code and message, and a hint where the fix is known.
pub fn call_error<E, R>(
    call: &str,
    resource: &str,
    region: &str,
    err: SdkError<E, R>,
) -> Box<EvalAltResult>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let target = if resource.is_empty() {
        String::new()
    } else {
        format!(" ({resource})")
    };
    let (code, detail) = match &err {
        SdkError::ServiceError(service) => (
            service.err().code().unwrap_or("Unknown").to_string(),
            service.err().message().unwrap_or_default().to_string(),
        ),
        other => (String::new(), DisplayErrorContext(other).to_string()),
    };
    let mut message = if code.is_empty() {
        format!("{call}{target} failed: {detail}")
    } else {
        format!("{call}{target} failed: {code}: {detail}")
    };
    if let Some(hint) = hint(&code, &detail, call, region) {
        message += "\nhelp: ";
        message += &hint;
    }
    runtime_error(message)
}

fn hint(code: &str, detail: &str, call: &str, region: &str) -> Option<String> {
    let detail_lower = detail.to_lowercase();
    if detail_lower.contains("no credentials") || detail_lower.contains("credentialsnotloaded") {
        return Some("no AWS credentials were found: set AWS_PROFILE (or pass --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into());
    }
    if detail_lower.contains("dispatch failure")
        || detail_lower.contains("connection refused")
        || detail_lower.contains("dns error")
    {
        return Some("the AWS endpoint could not be reached: check the network, --endpoint-url / AWS_ENDPOINT_URL, and --region".into());
    }
    Some(match code {
        "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => {
            "the credentials were refused: check AWS_PROFILE / --profile and that the keys are current".into()
        }
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
            format!("the credentials lack permission for {call}: add it to the IAM policy of this user or role")
        }
        c if c.starts_with("InvalidAMIID") => {
            format!("no such image in {region}: AMI ids are per region; check the id, or find it with ec2::find_image(#{{ tags: ... }})")
        }
        c if c.ends_with(".NotFound") || c == "NoSuchBucket" || c == "NoSuchKey" => {
            format!("it does not exist in {region}: check the id and --region")
        }
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" | "SlowDown" => {
            "AWS is throttling: lower --concurrency, or raise max_attempts under [aws] in opsh.toml".into()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn hints_for_common_failures() {
        assert!(
            hint("InvalidAMIID.NotFound", "", "ec2::launch", "eu-west-1")
                .unwrap()
                .contains("eu-west-1")
        );
        assert!(
            hint("UnauthorizedOperation", "", "ec2::terminate", "r")
                .unwrap()
                .contains("ec2::terminate")
        );
        assert!(
            hint("", "dispatch failure: connection refused", "x", "r")
                .unwrap()
                .contains("--endpoint-url")
        );
        assert!(hint("SomethingElse", "", "x", "r").is_none());
    }
}
