//! `opsh list FILE`: a runbook's functions and what their `///` comments say.

use std::path::Path;

use crate::core::output::OutputFormat;
use crate::core::stdout::outln;
use crate::script::engine::Session;
use crate::script::error::Result;

/// Doc comment lines without their `///` or `/** */` markers.
pub fn doc_text<S: AsRef<str>>(comments: &[S]) -> String {
    comments
        .iter()
        .flat_map(|c| c.as_ref().lines().map(str::to_string).collect::<Vec<_>>())
        .map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("///")
                .or_else(|| line.strip_prefix("/**"))
                .unwrap_or(line);
            let line = line.strip_suffix("*/").unwrap_or(line);
            line.strip_prefix(' ')
                .unwrap_or(line)
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

pub fn list(session: &Session, file: &Path) -> Result<()> {
    let (_, ast) = crate::app::run::load(session, file)?;
    let mut functions: Vec<_> = ast
        .iter_functions()
        .filter(|f| f.access == rhai::FnAccess::Public)
        .map(|f| {
            (
                f.name.to_string(),
                f.params.iter().map(ToString::to_string).collect::<Vec<_>>(),
                doc_text(&f.comments),
            )
        })
        .collect();
    functions.sort();
    match session.ctx.output.format() {
        OutputFormat::Json => session.ctx.output.json(&serde_json::Value::Array(
            functions
                .iter()
                .map(|(name, params, doc)| serde_json::json!({ "name": name, "params": params, "doc": doc }))
                .collect(),
        )),
        OutputFormat::Text => {
            if functions.is_empty() {
                eprintln!("{} defines no functions", file.display());
            }
            for (name, params, doc) in &functions {
                outln!("{name}({})", params.join(", "));
                if doc.is_empty() {
                    outln!("    (no /// doc comment)");
                }
                for line in doc.lines() {
                    outln!("    {line}");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::doc_text;

    #[test]
    fn markers_are_stripped() {
        assert_eq!(
            doc_text(&["/// Launch a node.\n/// Then wait."]),
            "Launch a node.\nThen wait."
        );
        assert_eq!(doc_text(&["/** Block */"]), "Block");
    }
}
