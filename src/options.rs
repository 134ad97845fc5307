//! Typed access to the `#{ ... }` option maps functions take, rejecting
//! misspelled keys instead of silently ignoring them.

use rhai::{Dynamic, EvalAltResult, Map};

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub fn runtime_error(message: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(message.into()), rhai::Position::NONE).into()
}

pub struct Options<'a> {
    function: &'a str,
    map: Map,
}

impl<'a> Options<'a> {
    /// Check `map` holds only `allowed` keys.
    pub fn new(function: &'a str, map: Map, allowed: &[&str]) -> RhaiResult<Self> {
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(runtime_error(format!(
                "{function}: unknown option `{key}`; expected one of: {}",
                allowed.join(", ")
            )));
        }
        Ok(Self { function, map })
    }

    pub fn empty(function: &'a str) -> Self {
        Self {
            function,
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
    pub fn seconds(&self, key: &str) -> RhaiResult<Option<std::time::Duration>> {
        self.get(key)
            .map(|v| {
                let secs = v
                    .as_int()
                    .map(|i| i as f64)
                    .or_else(|_| v.as_float())
                    .map_err(|_| self.wrong(key, "a number of seconds", v))?;
                if secs.is_finite() && secs > 0.0 {
                    Ok(std::time::Duration::from_secs_f64(secs))
                } else {
                    Err(runtime_error(format!(
                        "{}: option `{key}` must be more than 0 seconds",
                        self.function
                    )))
                }
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

impl Options<'_> {
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
        self.function
    }
}
