//! Typed access to the `#{ ... }` option maps functions take, rejecting
//! misspelled keys instead of silently ignoring them.

use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, Map};

use crate::core::failure::Failure;

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// The longest wait a runbook may ask for: a year. Anything longer is a
/// mistake, and the bound keeps every deadline computed from it (now +
/// timeout, twice a timeout) representable.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The low end of a duration's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A pause: 0 is allowed.
    Zero,
    /// A timeout: 0 would expire at once.
    AboveZero,
}

/// `seconds` from a script as a Duration, or an error naming `what` (the
/// function and its argument or option) and the allowed range. The one
/// place a script's number becomes a Duration.
pub fn duration(what: &str, seconds: f64, low: Bound) -> RhaiResult<Duration> {
    let in_range = match low {
        Bound::Zero => seconds >= 0.0,
        Bound::AboveZero => seconds > 0.0,
    } && seconds <= MAX_SECONDS;
    let range = match low {
        Bound::Zero => "from 0 to",
        Bound::AboveZero => "more than 0 and at most",
    };
    let out_of_range = || {
        runtime_error(format!(
            "{what} must be {range} {MAX_SECONDS} seconds (365 days), not {}",
            shown(seconds)
        ))
    };
    if !in_range {
        return Err(out_of_range());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| out_of_range())
}

/// A number as a reader would write it: 1e300, not three hundred digits.
fn shown(number: f64) -> String {
    let magnitude = number.abs();
    if number.is_finite() && magnitude != 0.0 && !(1e-4..1e15).contains(&magnitude) {
        format!("{number:e}")
    } else {
        number.to_string()
    }
}

/// A failure without a hint (see `Failure` for one with).
pub fn runtime_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Failure::new(message).into()
}

/// A function's options map, its keys checked. It knows the function's
/// name, for errors.
pub struct Options {
    function: String,
    map: Map,
}

impl Options {
    /// Check `map` holds only `allowed` keys.
    pub fn new(function: &str, map: Map, allowed: &[&str]) -> RhaiResult<Self> {
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(runtime_error(format!(
                "{function}: unknown option `{key}`; expected one of: {}",
                allowed.join(", ")
            )));
        }
        Ok(Self {
            function: function.to_string(),
            map,
        })
    }

    /// No options given.
    pub fn empty(function: &str) -> Self {
        Self {
            function: function.to_string(),
            map: Map::new(),
        }
    }

    fn wrong(&self, key: &str, expected: &str, got: &Dynamic) -> Box<EvalAltResult> {
        runtime_error(format!(
            "{}: option `{key}` must be {expected}, not {}",
            self.function,
            got.type_name()
        ))
    }

    fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    pub fn bool(&self, key: &str) -> RhaiResult<Option<bool>> {
        self.get(key)
            .map(|v| v.as_bool().map_err(|_| self.wrong(key, "true or false", v)))
            .transpose()
    }

    pub fn string(&self, key: &str) -> RhaiResult<Option<String>> {
        self.get(key)
            .map(|v| {
                if v.is_string() {
                    Ok(v.to_string())
                } else {
                    Err(self.wrong(key, "a string", v))
                }
            })
            .transpose()
    }

    /// A duration in seconds, integer or decimal, greater than zero.
    pub fn seconds(&self, key: &str) -> RhaiResult<Option<Duration>> {
        self.get(key)
            .map(|v| {
                let secs = v
                    .as_int()
                    .map(|i| i as f64)
                    .or_else(|_| v.as_float())
                    .map_err(|_| self.wrong(key, "a number of seconds", v))?;
                duration(
                    &format!("{}: option `{key}`", self.function),
                    secs,
                    Bound::AboveZero,
                )
            })
            .transpose()
    }

    /// A map of strings, such as environment variables.
    pub fn string_map(&self, key: &str) -> RhaiResult<Vec<(String, String)>> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        let map = value
            .read_lock::<Map>()
            .ok_or_else(|| self.wrong(key, "a map such as #{ NAME: \"value\" }", value))?;
        Ok(map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// The raw value, for options of several accepted shapes.
    pub fn value(&self, key: &str) -> Option<&Dynamic> {
        self.get(key)
    }
}

impl Options {
    /// A whole number.
    pub fn int(&self, key: &str) -> RhaiResult<Option<i64>> {
        self.get(key)
            .map(|v| v.as_int().map_err(|_| self.wrong(key, "a whole number", v)))
            .transpose()
    }

    /// One string or an array of strings, e.g. `"web"` or `["web", "db"]`.
    pub fn strings(&self, key: &str) -> RhaiResult<Vec<String>> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        if value.is_string() {
            return Ok(vec![value.to_string()]);
        }
        let array = value
            .read_lock::<rhai::Array>()
            .ok_or_else(|| self.wrong(key, "a string or an array of strings", value))?;
        array
            .iter()
            .map(|item| {
                if item.is_string() {
                    Ok(item.to_string())
                } else {
                    Err(self.wrong(key, "a string or an array of strings", item))
                }
            })
            .collect()
    }

    /// A map option, e.g. `tags: #{ role: "db" }`.
    pub fn map(&self, key: &str) -> RhaiResult<Option<Map>> {
        self.get(key)
            .map(|v| {
                v.read_lock::<Map>()
                    .map(|m| m.clone())
                    .ok_or_else(|| self.wrong(key, "a map such as #{ name: \"value\" }", v))
            })
            .transpose()
    }

    pub fn function(&self) -> &str {
        &self.function
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::failure::describe;

    #[test]
    fn durations_outside_the_range_are_errors_not_panics() {
        for bad in [
            1e300,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            1e19,
            MAX_SECONDS + 1.0,
        ] {
            let err = describe(&duration("sleep: `seconds`", bad, Bound::Zero).unwrap_err());
            assert!(err.contains("sleep: `seconds` must be from 0 to"), "{err}");
        }
        assert!(duration("t", 0.0, Bound::AboveZero).is_err());
        assert_eq!(duration("t", 0.0, Bound::Zero).unwrap(), Duration::ZERO);
        assert_eq!(
            duration("t", 1.5, Bound::AboveZero).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(duration("t", MAX_SECONDS, Bound::AboveZero).is_ok());
    }

    #[test]
    fn numbers_are_shown_short() {
        assert_eq!(shown(1e300), "1e300");
        assert_eq!(shown(-1.0), "-1");
        assert_eq!(shown(f64::NAN), "NaN");
        assert_eq!(shown(2.5), "2.5");
    }
}
