//! Waves: a group call or a rollout works through its hosts `batch` at a
//! time. After each wave, if more hosts failed (or were unreachable) than
//! `max_fail` allows, the waves left are skipped; otherwise the next one
//! starts after `pause`.

use std::ops::Range;
use std::time::Duration;

use rhai::Dynamic;

use crate::core::options::{Bound, Options, RhaiResult, duration, runtime_error};

/// A number of hosts, or a share of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amount {
    Hosts(usize),
    Percent(u8),
}

impl Amount {
    fn parse(function: &str, key: &str, value: &Dynamic, least: usize) -> RhaiResult<Self> {
        let wrong = || {
            runtime_error(format!(
                "{function}: option `{key}` must be a number of hosts (at least {least}) or a percentage such as \"25%\", not {value}"
            ))
        };
        if let Ok(n) = value.as_int() {
            return usize::try_from(n)
                .ok()
                .filter(|n| *n >= least)
                .map(Self::Hosts)
                .ok_or_else(wrong);
        }
        let text = value.clone().into_string().map_err(|_| wrong())?;
        let percent: u8 = text
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse().ok())
            .filter(|p| *p <= 100 && (least == 0 || *p > 0))
            .ok_or_else(wrong)?;
        Ok(Self::Percent(percent))
    }
}

/// How a group call or a rollout goes through its hosts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Waves {
    /// Hosts per wave; none: every host in one wave.
    batch: Option<Amount>,
    /// How many failed or unreachable hosts are tolerated (default 0).
    max_fail: Option<Amount>,
    pause: Option<Duration>,
}

impl Waves {
    pub fn parse(opts: &Options) -> RhaiResult<Self> {
        let function = opts.function();
        let batch = opts
            .value("batch")
            .map(|v| Amount::parse(function, "batch", v, 1))
            .transpose()?;
        let max_fail = opts
            .value("max_fail")
            .map(|v| Amount::parse(function, "max_fail", v, 0))
            .transpose()?;
        let pause = match opts.value("pause") {
            None => None,
            Some(v) => {
                let secs = v
                    .as_int()
                    .map(|i| i as f64)
                    .or_else(|_| v.as_float())
                    .map_err(|_| {
                        runtime_error(format!(
                            "{function}: option `pause` must be a number of seconds, not {v}"
                        ))
                    })?;
                Some(duration(
                    &format!("{function}: option `pause`"),
                    secs,
                    Bound::Zero,
                )?)
            }
        };
        Ok(Self {
            batch,
            max_fail,
            pause,
        })
    }

    /// The waves of `total` hosts, in target order. A percentage is of
    /// `total`, rounded up (at least one host).
    pub fn split(&self, total: usize) -> Vec<Range<usize>> {
        let size = match self.batch {
            None => total,
            Some(Amount::Hosts(n)) => n,
            Some(Amount::Percent(p)) => total.saturating_mul(usize::from(p)).div_ceil(100),
        }
        .max(1);
        (0..total)
            .step_by(size)
            .map(|start| start..start.saturating_add(size).min(total))
            .collect()
    }

    /// More hosts failed than `max_fail` tolerates (of `total` hosts).
    pub fn exceeded(&self, failed: usize, total: usize) -> bool {
        match self.max_fail {
            None => failed > 0,
            Some(Amount::Hosts(n)) => failed > n,
            // Exact: 1 of 10 failed exceeds "9%", not "10%".
            Some(Amount::Percent(p)) => {
                failed.saturating_mul(100) > total.saturating_mul(usize::from(p))
            }
        }
    }

    /// Whether waves were asked for (otherwise every host runs, whatever fails).
    pub fn batched(&self) -> bool {
        self.batch.is_some()
    }

    pub fn pause(&self) -> Option<Duration> {
        self.pause.filter(|p| !p.is_zero())
    }

    /// Why the hosts after a wave were skipped.
    pub fn reason(&self, failed: usize) -> String {
        let allowed = match self.max_fail {
            None => "0".to_string(),
            Some(Amount::Hosts(n)) => n.to_string(),
            Some(Amount::Percent(p)) => format!("{p}%"),
        };
        format!("{failed} host(s) failed or were unreachable, more than max_fail {allowed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waves(batch: Option<Amount>, max_fail: Option<Amount>) -> Waves {
        Waves {
            batch,
            max_fail,
            pause: None,
        }
    }

    #[test]
    fn batches_split_in_target_order() {
        let w = waves(Some(Amount::Hosts(2)), None);
        assert_eq!(w.split(5), vec![0..2, 2..4, 4..5]);
        let w = waves(Some(Amount::Percent(25)), None);
        assert_eq!(w.split(10), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(w.split(0), Vec::<Range<usize>>::new());
        assert_eq!(waves(None, None).split(3), vec![0..3]);
        assert_eq!(
            waves(Some(Amount::Percent(1)), None).split(3),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn thresholds_with_numbers_and_percentages() {
        assert!(waves(None, None).exceeded(1, 10));
        assert!(!waves(None, None).exceeded(0, 10));
        let w = waves(None, Some(Amount::Hosts(2)));
        assert!(!w.exceeded(2, 10) && w.exceeded(3, 10));
        let w = waves(None, Some(Amount::Percent(10)));
        assert!(!w.exceeded(1, 10) && w.exceeded(2, 10));
        assert!(waves(None, Some(Amount::Percent(9))).exceeded(1, 10));
    }

    #[test]
    fn amounts_are_checked() {
        let f = "ssh::group";
        assert_eq!(
            Amount::parse(f, "batch", &Dynamic::from("25%"), 1).ok(),
            Some(Amount::Percent(25))
        );
        assert!(Amount::parse(f, "batch", &Dynamic::from(0_i64), 1).is_err());
        assert!(Amount::parse(f, "batch", &Dynamic::from("0%"), 1).is_err());
        assert!(Amount::parse(f, "max_fail", &Dynamic::from("0%"), 0).is_ok());
        assert!(Amount::parse(f, "max_fail", &Dynamic::from("101%"), 0).is_err());
        assert!(Amount::parse(f, "batch", &Dynamic::from("x"), 1).is_err());
        assert!(Amount::parse(f, "batch", &Dynamic::from(-1_i64), 1).is_err());
    }
}
