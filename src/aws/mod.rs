//! The AWS side shared by `ec2::` and `s3::`: configuration from the
//! standard chain with opsh's settings on top, the clients, and errors that
//! name the call, the resource, the AWS error code (or the endpoint that
//! could not be reached) and a likely fix.

pub mod ec2;
pub mod s3;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::imds::client::error::ImdsError;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use rhai::EvalAltResult;

use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{RhaiResult, runtime_error};
use crate::core::services::Service;
use crate::core::settings::AwsSettings;

/// The SDK's standard retry mode makes three attempts unless told otherwise.
const DEFAULT_ATTEMPTS: u32 = 3;
/// The slowest upload or download an attempt allows for before it is given
/// up, on top of `timeout`: a 16 MiB part may take 4 minutes more.
const MIN_TRANSFER_BYTES_PER_SEC: u64 = 64 * 1024;

const CREDENTIALS_HELP: &str = "set AWS_PROFILE (or pass --profile) to a profile in ~/.aws/config, \
    run `aws configure` (access keys) or `aws sso login` (SSO), \
    set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on an instance with an IAM role";

pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    /// Where each service's calls go, for errors that cannot reach it.
    ec2_endpoint: String,
    s3_endpoint: String,
    connect_timeout: Duration,
    timeout: Duration,
    attempts: u32,
}

impl Service for Aws {}

/// The AWS clients of this run, configured on first use so runbooks that
/// never touch AWS never read credentials.
pub fn clients(ctx: &Context) -> RhaiResult<Arc<Aws>> {
    ctx.service(|ctx| ctx.runtime.block_on(async { load(ctx).await })?)
}

impl Aws {
    /// The per-call configuration of a call that sends or receives `bytes`
    /// of object data: its attempts may take as long as the transfer needs
    /// on a slow link, and still end if the endpoint stops answering.
    /// Failures of such a call go through transfer_error with the same
    /// `bytes`, so a timeout names the limit the call had.
    pub fn transfer_timeouts(&self, bytes: u64) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::new().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(self.connect_timeout)
                .operation_attempt_timeout(self.attempt_timeout(Some(bytes)))
                .build(),
        )
    }

    /// The endpoint `call` (named `ec2::...` or `s3::...`) was sent to.
    fn endpoint(&self, call: &str) -> &str {
        if call.starts_with("s3::") {
            &self.s3_endpoint
        } else {
            &self.ec2_endpoint
        }
    }

    /// How long one attempt of a call may take: `timeout`, and for a call
    /// that moves `bytes` of object data, time for those at the slowest
    /// transfer rate on top.
    fn attempt_timeout(&self, bytes: Option<u64>) -> Duration {
        let transfer = Duration::from_secs(bytes.unwrap_or(0) / MIN_TRANSFER_BYTES_PER_SEC);
        self.timeout.saturating_add(transfer)
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
    let attempts = settings.max_attempts.unwrap_or(DEFAULT_ATTEMPTS).max(1);
    let config = loader
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(timeouts(settings))
        .load()
        .await;
    // Credentials from a profile, SSO or IMDS join the secrets before any
    // log line could show them; a failure here resurfaces on the first call.
    if let Some(provider) = config.credentials_provider() {
        use aws_credential_types::provider::ProvideCredentials;
        if let Ok(credentials) = provider.provide_credentials().await {
            crate::core::redact::add(credentials.access_key_id());
            crate::core::redact::add(credentials.secret_access_key());
            if let Some(token) = credentials.session_token() {
                crate::core::redact::add(token);
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
    let (ec2_endpoint, s3_endpoint) = endpoints(&config, &region).await;
    tracing::debug!(region, ec2_endpoint, s3_endpoint, "AWS configured");
    Ok(Aws {
        ec2: aws_sdk_ec2::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        region,
        ec2_endpoint,
        s3_endpoint,
        connect_timeout: settings.connect_timeout,
        timeout: settings.timeout,
        attempts,
    })
}

/// No AWS call waits forever: an endpoint that accepts the connection and
/// never answers ends each attempt after `timeout`.
fn timeouts(settings: &AwsSettings) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(settings.timeout)
        .build()
}

/// The endpoints EC2 and S3 calls go to: the configured one, or the ones
/// the SDK's rules give for the region.
async fn endpoints(config: &SdkConfig, region: &str) -> (String, String) {
    if let Some(url) = config.endpoint_url() {
        return (url.to_string(), url.to_string());
    }
    use aws_sdk_ec2::config::endpoint::ResolveEndpoint as _;
    use aws_sdk_s3::config::endpoint::ResolveEndpoint as _;
    let fallback = |service: &str| format!("the {service} endpoint of {region}");
    let ec2 = match aws_sdk_ec2::config::endpoint::Params::builder()
        .region(region)
        .set_use_fips(config.use_fips())
        .set_use_dual_stack(config.use_dual_stack())
        .build()
    {
        Ok(params) => aws_sdk_ec2::config::endpoint::DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_or_else(|_| fallback("EC2"), |e| e.url().to_string()),
        Err(_) => fallback("EC2"),
    };
    let s3 = match aws_sdk_s3::config::endpoint::Params::builder()
        .region(region)
        .set_use_fips(config.use_fips())
        .set_use_dual_stack(config.use_dual_stack())
        .build()
    {
        Ok(params) => aws_sdk_s3::config::endpoint::DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_or_else(|_| fallback("S3"), |e| e.url().to_string()),
        Err(_) => fallback("S3"),
    };
    (ec2, s3)
}

/// The AWS error code of a failed call, when the service answered.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// An error and its causes as one line of their messages. The SDK's own
/// `DisplayErrorContext` appends a Debug dump, which is not for users.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        // Wrappers often repeat their cause's message.
        if !message.is_empty() && !text.contains(&message) {
            text += ": ";
            text += &message;
        }
        source = cause.source();
    }
    text
}

/// A failed AWS call as a runbook error: what was called on what, and
/// either the AWS code and message or what went wrong on the way there,
/// with a hint where the fix is known.
pub fn call_error<E>(
    call: &str,
    resource: &str,
    aws: &Aws,
    err: SdkError<E, HttpResponse>,
) -> Box<EvalAltResult>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    failed_call(call, resource, aws, err, None)
}

/// call_error for a call configured with `Aws::transfer_timeouts(bytes)`.
pub fn transfer_error<E>(
    call: &str,
    resource: &str,
    aws: &Aws,
    err: SdkError<E, HttpResponse>,
    bytes: u64,
) -> Box<EvalAltResult>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    failed_call(call, resource, aws, err, Some(bytes))
}

/// A failed call that moved `moved` bytes of object data, if any.
fn failed_call<E>(
    call: &str,
    resource: &str,
    aws: &Aws,
    err: SdkError<E, HttpResponse>,
    moved: Option<u64>,
) -> Box<EvalAltResult>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let target = if resource.is_empty() {
        String::new()
    } else {
        format!(" ({resource})")
    };
    tracing::debug!(call, error = %error_chain(&err), "AWS call failed");
    let (detail, hint) = match &err {
        SdkError::ServiceError(service) => match (service.err().code(), service.err().message()) {
            (Some(code), message) => (
                format!("{code}: {}", message.unwrap_or_default()),
                service_hint(code, call, &aws.region),
            ),
            // A HEAD request's error, or a proxy's answer, has no body to read.
            (None, message) => (
                format!(
                    "HTTP {} from {} without an AWS error code{}",
                    service.raw().status().as_u16(),
                    aws.endpoint(call),
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ),
                None,
            ),
        },
        other => delivery_failure(call, other, aws, moved),
    };
    let failure = Failure::new(format!("{call}{target} failed: {detail}"));
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
    .into()
}

/// What kept a call from getting an answer from AWS: credentials, the
/// connection, a timeout, or an answer that was not AWS's.
fn delivery_failure<E>(
    call: &str,
    err: &SdkError<E, HttpResponse>,
    aws: &Aws,
    moved: Option<u64>,
) -> (String, Option<String>)
where
    E: StdError + 'static,
{
    if let Some(problem) = credentials_problem(err) {
        return (problem, Some(CREDENTIALS_HELP.into()));
    }
    let endpoint = aws.endpoint(call);
    let check = "check the network, --endpoint-url / AWS_ENDPOINT_URL and --region";
    match err {
        SdkError::TimeoutError(_) => no_answer(endpoint, aws, moved, check),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => (
            format!(
                "could not connect to {endpoint} within {} s",
                aws.connect_timeout.as_secs_f64()
            ),
            Some(format!(
                "{check}; `connect_timeout` under [aws] in opsh.toml sets how long to wait"
            )),
        ),
        SdkError::DispatchFailure(_) => (
            format!("could not reach {endpoint}: {}", error_chain(err)),
            Some(check.into()),
        ),
        SdkError::ResponseError(_) => (
            format!(
                "{endpoint} answered with something that is not an AWS response: {}",
                error_chain(err)
            ),
            Some(
                "check --endpoint-url / AWS_ENDPOINT_URL: is it an AWS (or emulator) endpoint?"
                    .into(),
            ),
        ),
        _ => (error_chain(err), None),
    }
}

/// A call whose every attempt ran out of time: the limit it had, which
/// grows with the object data it moved.
fn no_answer(
    endpoint: &str,
    aws: &Aws,
    moved: Option<u64>,
    check: &str,
) -> (String, Option<String>) {
    let limit = aws.attempt_timeout(moved).as_secs_f64();
    let (within, setting) = match moved {
        Some(bytes) if aws.attempt_timeout(moved) > aws.timeout => (
            format!(
                "{limit} s (the attempt timeout of {} s, plus 1 s per {} of its {} of object data)",
                aws.timeout.as_secs_f64(),
                crate::core::output::size(MIN_TRANSFER_BYTES_PER_SEC),
                crate::core::output::size(bytes)
            ),
            "the attempt timeout the transfer time is added to",
        ),
        _ => (format!("{limit} s"), "how long an attempt may take"),
    };
    (
        match aws.attempts {
            1 => format!("no answer from {endpoint} within {within}"),
            n => format!("no answer from {endpoint} within {within}, in up to {n} attempts"),
        },
        Some(format!(
            "{check}; `timeout` under [aws] in opsh.toml sets {setting}"
        )),
    )
}

/// Why no credentials could be had, when that is what failed the call.
fn credentials_problem(err: &(dyn StdError + 'static)) -> Option<String> {
    let causes = || std::iter::successors(Some(err), |e: &&(dyn StdError + 'static)| (*e).source());
    let credentials = causes().find_map(|e| e.downcast_ref::<CredentialsError>())?;
    // The default chain asks the instance metadata service last: its error
    // means nothing earlier in the chain had credentials either.
    let fell_through = causes().any(|e| e.downcast_ref::<ImdsError>().is_some());
    Some(match credentials {
        CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials were found".into(),
        _ if fell_through => "no AWS credentials were found (none in the environment or ~/.aws, and the EC2 instance metadata service gave none)".into(),
        other => format!(
            "the AWS credentials could not be loaded: {}",
            error_chain(other)
        ),
    })
}

fn service_hint(code: &str, call: &str, region: &str) -> Option<String> {
    Some(match code {
        "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => {
            "the credentials were refused: check AWS_PROFILE / --profile and that the keys are current".into()
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            "the credentials have expired: renew them (e.g. `aws sso login`)".into()
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
    use super::*;

    #[test]
    fn hints_for_common_failures() {
        assert!(
            service_hint("InvalidAMIID.NotFound", "ec2::launch", "eu-west-1")
                .unwrap()
                .contains("eu-west-1")
        );
        assert!(
            service_hint("UnauthorizedOperation", "ec2::terminate", "r")
                .unwrap()
                .contains("ec2::terminate")
        );
        assert!(service_hint("SomethingElse", "x", "r").is_none());
    }

    #[derive(Debug)]
    struct Wrapper(&'static str, Option<Box<dyn StdError + 'static>>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn error_chains_read_as_one_line_without_debug() {
        let inner = Wrapper("connection refused", None);
        let middle = Wrapper("io error: connection refused", Some(Box::new(inner)));
        let outer = Wrapper("dispatch failure", Some(Box::new(middle)));
        assert_eq!(
            error_chain(&outer),
            "dispatch failure: io error: connection refused"
        );
    }

    #[test]
    fn missing_credentials_are_named_as_such() {
        let missing = CredentialsError::not_loaded("no providers in chain provided credentials");
        let outer = Wrapper("dispatch failure", Some(Box::new(missing)));
        assert_eq!(
            credentials_problem(&outer).as_deref(),
            Some("no AWS credentials were found")
        );
        assert!(credentials_problem(&Wrapper("dispatch failure", None)).is_none());
    }
}
