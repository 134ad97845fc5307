//! `opsh doc --definitions DIR`: definition files (`*.d.rhai`, the format
//! Rhai's editor support reads) for every module, function, stdlib helper and
//! type property, from the same declarations `opsh doc` prints.

use std::collections::BTreeMap;
use std::path::Path;

use crate::app::doc;
use crate::script::engine::Session;
use crate::script::error::{Error, Result};

/// Global functions, methods and properties go in Rhai's file for the
/// engine's own namespace.
const GLOBAL: &str = "static";

pub fn write(session: &Session, dir: &Path) -> Result<()> {
    let files = files(session);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (file, text) in &files {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    eprintln!(
        "wrote {} definition files to {}: {}",
        files.len(),
        dir.display(),
        names.join(", ")
    );
    Ok(())
}

/// File name → text.
fn files(session: &Session) -> BTreeMap<String, String> {
    let mut modules: BTreeMap<&str, String> = BTreeMap::new();
    let functions = doc::functions(session);
    for f in &functions {
        let (module, name) = f.name.split_once("::").unwrap_or((GLOBAL, &f.name));
        let params: Vec<String> = f.params.iter().map(|p| param(p)).collect();
        // A stdlib helper declares no return type.
        let returns = if f.native {
            definition_type(&f.returns)
        } else {
            "?"
        };
        let text = modules.entry(module).or_default();
        text.push_str(&comments(&f.doc));
        text.push_str(&format!(
            "fn {name}({}) -> {returns};\n\n",
            params.join(", ")
        ));
    }
    let types = session.ctx.types();
    let global = modules.entry(GLOBAL).or_default();
    for t in &types {
        for field in &t.fields {
            global.push_str(&comments(&format!("{} ({})", field.doc, field.ty)));
            global.push_str(&format!(
                "fn get {}({}: {}) -> {};\n\n",
                field.name,
                t.name.to_lowercase(),
                t.name,
                definition_type(&field.ty)
            ));
        }
    }
    modules
        .into_iter()
        .map(|(module, body)| {
            let file = if module == GLOBAL {
                "__static__.d.rhai".to_string()
            } else {
                format!("{module}.d.rhai")
            };
            (
                file,
                format!("module {module};\n\n{}", body.trim_end()) + "\n",
            )
        })
        .collect()
}

fn comments(doc: &str) -> String {
    doc.lines().map(|line| format!("/// {line}\n")).collect()
}

/// `name: Type` as declared, the type as definition files spell it; a
/// stdlib helper's parameter has no declared type.
fn param(declared: &str) -> String {
    match declared.split_once(':') {
        Some((name, ty)) => format!("{}: {}", name.trim(), definition_type(ty.trim())),
        None => format!("{}: ?", declared.trim()),
    }
}

/// A declared type (`Instance|String`, `options: #{ tags }`, `String or ()`)
/// as Rhai definition files spell types: `?` where more than one kind is
/// taken, `Map` for an options map.
fn definition_type(declared: &str) -> &str {
    match declared {
        "" | "()" => "()",
        d if d == "Dynamic" || d.contains('|') || d.ends_with(" or ()") => "?",
        d if d.starts_with("#{") || d.starts_with("Map") => "Map",
        d if d.starts_with("Array") => "Array",
        d => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_become_definition_types() {
        assert_eq!(param("instance: Instance|String"), "instance: ?");
        assert_eq!(param("options: #{ tags, state }"), "options: Map");
        assert_eq!(param("cmd: String"), "cmd: String");
        assert_eq!(param("name"), "name: ?");
        assert_eq!(definition_type("String or ()"), "?");
        assert_eq!(definition_type("Array of String"), "Array");
        assert_eq!(definition_type(""), "()");
    }
}
