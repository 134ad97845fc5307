//! Everything opsh writes. With `--output json`, stdout carries only JSON
//! documents; script prints and streamed command output go to stderr.

use std::io::Write;
use std::sync::{Mutex, RwLock};

use rhai::Dynamic;

use crate::core::record::Record;

/// How results, listings and errors are written (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

pub struct Output {
    format: OutputFormat,
    // Lines from parallel hosts must not interleave mid-line.
    lock: Mutex<()>,
    /// A progress line on the terminal (a running group), kept below the
    /// output lines.
    progress: Mutex<Option<indicatif::ProgressBar>>,
    /// How each record type the domains added reads: see `add_record`.
    records: RwLock<Vec<RecordReader>>,
}

impl Output {
    pub fn new(format: OutputFormat) -> Self {
        Self {
            format,
            lock: Mutex::new(()),
            progress: Mutex::new(None),
            records: RwLock::new(Vec::new()),
        }
    }

    /// Show values of type `T` by their fields: as JSON, and as a table row
    /// each when a list of them is shown.
    pub fn add_record<T: Record>(&self) {
        self.records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(view::<T>);
    }

    fn record(&self, value: &Dynamic) -> Option<RecordView> {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(|view| view(value))
    }

    /// Never show `value` again: see `redact`.
    pub fn add_secret(&self, value: &str) {
        crate::core::redact::add(value);
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        crate::core::redact::redact(text)
    }

    pub fn set_progress(&self, bar: Option<indicatif::ProgressBar>) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = bar;
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    fn write(&self, to_stderr: bool, text: &str) {
        self.write_redacted(to_stderr, &self.redact(text));
    }

    /// Write `text` that secrets were already taken out of.
    fn write_redacted(&self, to_stderr: bool, text: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        // A closed pipe (e.g. `| head`) must not kill the runbook mid-action.
        let emit = || {
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            } else {
                crate::core::stdout::write(&format!("{text}\n"));
            }
        };
        let bar = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match bar {
            Some(bar) => bar.suspend(emit),
            None => emit(),
        }
    }

    /// Text a script prints: data in text mode, commentary in JSON mode.
    pub fn print(&self, text: &str) {
        self.write(self.format == OutputFormat::Json, text);
    }

    pub fn info(&self, text: &str) {
        self.write(true, &format!("▸ {text}"));
    }

    pub fn warn(&self, text: &str) {
        self.write(true, &format!("warning: {text}"));
    }

    /// A step of a dry run's plan, shown as it is planned.
    pub fn plan_line(&self, text: &str) {
        self.write(true, &format!("plan {text}"));
    }

    /// One line of a running command's output, prefixed with where it runs.
    pub fn stream(&self, origin: &str, line: &str, is_stderr: bool) {
        let to_stderr = is_stderr || self.format == OutputFormat::Json;
        self.write(to_stderr, &format!("{origin} | {line}"));
    }

    /// A final result (the return value of `opsh run FILE FUNCTION`).
    pub fn value(&self, value: &Dynamic) {
        match self.format {
            OutputFormat::Json => self.json(&self.to_json(value)),
            OutputFormat::Text => {
                if let Some(text) = self.render_text(value) {
                    self.write(false, &text);
                }
            }
        }
    }

    /// A JSON document for stdout (listings, check results). Secrets are
    /// taken out of the values, before escaping would disguise them; the
    /// document stays valid JSON.
    pub fn json(&self, value: &serde_json::Value) {
        let value = crate::core::redact::redact_json(value);
        self.write_redacted(
            false,
            &serde_json::to_string_pretty(&value).unwrap_or_default(),
        );
    }
}

/// A record's JSON, table row and text.
struct RecordView {
    json: serde_json::Value,
    row: Vec<(&'static str, String)>,
    text: Option<String>,
}

type RecordReader = fn(&Dynamic) -> Option<RecordView>;

fn view<T: Record>(value: &Dynamic) -> Option<RecordView> {
    let record = value.read_lock::<T>()?;
    Some(RecordView {
        json: serde_json::to_value(&*record).unwrap_or_default(),
        row: record.row(),
        text: record.text(),
    })
}

impl Output {
    /// Records of one kind as a table, when every item of `items` is one.
    fn table(&self, items: &[Dynamic]) -> Option<String> {
        let rows: Vec<Vec<(&'static str, String)>> = items
            .iter()
            .map(|item| self.record(item).map(|view| view.row))
            .collect::<Option<_>>()?;
        let header: Vec<&str> = rows.first()?.iter().map(|(name, _)| *name).collect();
        if rows
            .iter()
            .any(|row| row.iter().map(|(n, _)| *n).ne(header.iter().copied()))
        {
            return None;
        }
        let mut table = comfy_table::Table::new();
        table
            .load_style(comfy_table::presets::UTF8_HORIZONTAL_ONLY)
            .set_header(header);
        // A cell wraps its text over several lines, which would split a secret.
        for row in rows {
            table.add_row(
                row.into_iter()
                    .map(|(_, value)| crate::core::redact::redact(&value)),
            );
        }
        Some(table.to_string())
    }

    /// How a value reads in text mode, secrets hidden: strings as they are,
    /// `()` not at all, lists of records as tables, anything else structured as
    /// indented JSON.
    pub fn render_text(&self, value: &Dynamic) -> Option<String> {
        self.unredacted_text(value)
            .map(|text| crate::core::redact::redact(&text))
    }

    fn unredacted_text(&self, value: &Dynamic) -> Option<String> {
        if value.is_unit() {
            return None;
        }
        if value.is_string() {
            return Some(value.to_string());
        }
        if let Some(text) = self.record(value).and_then(|view| view.text) {
            return Some(text);
        }
        if let Some(table) = value
            .read_lock::<rhai::Array>()
            .and_then(|items| self.table(&items))
        {
            return Some(table);
        }
        match self.to_json(value) {
            json @ (serde_json::Value::Array(_) | serde_json::Value::Object(_)) => {
                serde_json::to_string_pretty(&crate::core::redact::redact_json(&json)).ok()
            }
            _ => Some(value.to_string()),
        }
    }

    /// Any script value as JSON; records by their fields.
    pub fn to_json(&self, value: &Dynamic) -> serde_json::Value {
        use serde_json::Value;
        if value.is_unit() {
            return Value::Null;
        }
        if let Ok(b) = value.as_bool() {
            return Value::Bool(b);
        }
        if let Ok(i) = value.as_int() {
            return Value::from(i);
        }
        if let Ok(f) = value.as_float() {
            return serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
        }
        if value.is_string() {
            return Value::String(value.to_string());
        }
        if let Some(array) = value.read_lock::<rhai::Array>() {
            return Value::Array(array.iter().map(|item| self.to_json(item)).collect());
        }
        if let Some(map) = value.read_lock::<rhai::Map>() {
            return Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_string(), self.to_json(v)))
                    .collect(),
            );
        }
        if let Some(blob) = value.read_lock::<rhai::Blob>() {
            return Value::Array(blob.iter().map(|b| Value::from(*b)).collect());
        }
        if let Some(view) = self.record(value) {
            return view.json;
        }
        Value::String(value.to_string())
    }
}

/// A byte count for people: "16 MiB", "143.1 MiB", "512 KiB", "9 bytes".
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    // Precision lost in the float is below what one decimal shows.
    let (value, unit) = match bytes {
        b if b >= MIB => (b as f64 / MIB as f64, "MiB"),
        b if b >= KIB => (b as f64 / KIB as f64, "KiB"),
        b => return format!("{b} bytes"),
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_arrays_become_json() {
        let mut map = rhai::Map::new();
        map.insert("n".into(), Dynamic::from(3_i64));
        map.insert(
            "list".into(),
            Dynamic::from(vec![Dynamic::from("a"), Dynamic::TRUE]),
        );
        let json = Output::new(OutputFormat::Text).to_json(&Dynamic::from(map));
        assert_eq!(json, serde_json::json!({"n": 3, "list": ["a", true]}));
    }

    #[test]
    fn structures_are_rendered_with_secrets_hidden() {
        let secret = "out\"put\\unit\nrendered-line";
        crate::core::redact::add(secret);
        let mut map = rhai::Map::new();
        map.insert(secret.into(), Dynamic::from(vec![Dynamic::from(secret)]));
        let value = Dynamic::from(map);
        let output = Output::new(OutputFormat::Text);
        let text = output.render_text(&value).unwrap_or_default();
        assert_eq!(text, "{\n  \"***\": [\n    \"***\"\n  ]\n}");
        let json = crate::core::redact::redact_json(&output.to_json(&value));
        assert_eq!(json, serde_json::json!({ "***": ["***"] }));
    }

    #[test]
    fn unit_renders_nothing() {
        let output = Output::new(OutputFormat::Text);
        assert_eq!(output.render_text(&Dynamic::UNIT), None);
        assert_eq!(
            output.render_text(&Dynamic::from("hi")).as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size(150_000_000), "143.1 MiB");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(9), "9 bytes");
    }
}
