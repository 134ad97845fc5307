//! The current time for runbooks: stamps for names and ISO times to compare
//! with what reads return, so no runbook shells out to `date` (which a dry
//! run would plan instead of run, leaving the name empty).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::core::api::Functions;
use crate::core::context::Context;
use crate::core::options::{RhaiResult, runtime_error};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

pub fn register(global: &mut Functions) {
    global
        .add(
            "now",
            &["String"],
            "The current time in UTC, ISO 8601 to the second: \"2025-01-31T12:34:56Z\". It is the form of\n\
             s3::list's `modified` and a snapshot's `started`, so comparing the strings compares the times.\n\
             A dry run gives the real time too. Example: let cutoff = ago(7 * 86400); // or now()",
        )
        .native(|_: &Context| iso(SystemTime::now()));

    global
        .add(
            "ago",
            &["seconds: int", "String"],
            "The time `seconds` before now, as now() writes it (UTC, ISO 8601 to the second).\n\
             Example: ec2::snapshots().filter(|s| s.started < ago(7 * 86400))",
        )
        .native(|_: &Context, seconds: rhai::INT| ago(SystemTime::now(), seconds));

    global
        .add(
            "stamp",
            &["String"],
            "The current time in UTC to the millisecond as \"20250131-123456-789\": digits and dashes only,\n\
             safe in file names, S3 keys, tags and instance names, and sorting as the times do. A dry run\n\
             gives the stamp the real run would compute, so planned names read as they will.\n\
             Example: let key = `db-${stamp()}.sql`;",
        )
        .native(|_: &Context| stamp(SystemTime::now()));
}

fn iso(at: SystemTime) -> RhaiResult<String> {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| runtime_error("the system clock is before 1970"))?
        .as_secs();
    let secs =
        i64::try_from(secs).map_err(|_| runtime_error("the system clock is out of range"))?;
    format_secs(secs)
}

fn format_secs(secs: i64) -> RhaiResult<String> {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .map_err(|e| runtime_error(format!("cannot write the time {secs} as ISO 8601: {e}")))
}

fn ago(at: SystemTime, seconds: rhai::INT) -> RhaiResult<String> {
    let back = u64::try_from(seconds).map_err(|_| {
        runtime_error(format!(
            "ago: {seconds} is not a number of seconds (0 or more)"
        ))
    })?;
    let then = at
        .checked_sub(Duration::from_secs(back))
        .filter(|t| *t >= UNIX_EPOCH)
        .ok_or_else(|| runtime_error(format!("ago: {seconds} seconds ago is before 1970")))?;
    iso(then)
}

fn stamp(at: SystemTime) -> RhaiResult<String> {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| runtime_error("the system clock is before 1970"))?
        .subsec_millis();
    // "2025-01-31T12:34:56Z" -> "20250131-123456"
    let compact: String = iso(at)?
        .trim_end_matches('Z')
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    Ok(format!("{compact}-{millis:03}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::failure::describe;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn now_is_iso_to_the_second() {
        assert_eq!(iso(at(1_738_326_896, 789)).unwrap(), "2025-01-31T12:34:56Z");
    }

    #[test]
    fn a_stamp_is_digits_and_dashes_to_the_millisecond() {
        assert_eq!(stamp(at(1_738_326_896, 7)).unwrap(), "20250131-123456-007");
        assert_eq!(
            stamp(at(1_738_326_896, 789)).unwrap(),
            "20250131-123456-789"
        );
    }

    #[test]
    fn ago_counts_back_and_refuses_what_it_cannot_write() {
        assert_eq!(
            ago(at(1_738_326_896, 0), 86_400).unwrap(),
            "2025-01-30T12:34:56Z"
        );
        assert!(
            ago(at(100, 0), -1)
                .map_err(|e| describe(&e))
                .unwrap_err()
                .contains("0 or more")
        );
        assert!(
            ago(at(100, 0), 101)
                .map_err(|e| describe(&e))
                .unwrap_err()
                .contains("before 1970")
        );
        assert!(ago(at(100, 0), rhai::INT::MAX).is_err());
    }
}
