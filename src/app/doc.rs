//! `opsh doc [NAME]`: the reference of built-in functions, generated from
//! their registrations so it never drifts from the code.

use std::collections::BTreeMap;

use crate::app::list::doc_text;
use crate::core::output::OutputFormat;
use crate::core::stdout::outln;
use crate::script::engine::Session;
use crate::script::error::{Error, Result};

#[derive(Debug, Clone, serde::Serialize)]
pub struct FnDoc {
    pub name: String,
    pub signature: String,
    /// `name: Type` per parameter, as declared (an options map as
    /// `options: #{ key, key }`); for `--output json` readers.
    pub params: Vec<String>,
    /// Implemented in Rust (false: a stdlib helper written in Rhai).
    pub native: bool,
    pub doc: String,
}

/// Every documented function, sorted by name then signature.
pub fn functions(session: &Session) -> Vec<FnDoc> {
    let mut docs: Vec<FnDoc> = session.engine.collect_fn_metadata(
        None,
        |info| {
            let meta = info.metadata;
            let name = crate::core::api::qualified_name(&info.namespace, &meta.name);
            let (params, ret, comments): (Vec<String>, String, Vec<String>) = match &info.script {
                Some(script) => (
                    script.params.iter().map(ToString::to_string).collect(),
                    String::new(),
                    script.comments.iter().map(ToString::to_string).collect(),
                ),
                None => {
                    let info_params: Vec<String> =
                        meta.params_info.iter().map(ToString::to_string).collect();
                    let ret = info_params
                        .get(meta.num_params)
                        .cloned()
                        .unwrap_or_else(|| meta.return_type.to_string());
                    (
                        info_params.into_iter().take(meta.num_params).collect(),
                        ret,
                        meta.comments.iter().map(ToString::to_string).collect(),
                    )
                }
            };
            let doc = doc_text(&comments);
            if doc.is_empty() {
                return None;
            }
            let ret = match ret.as_str() {
                "" | "()" => String::new(),
                r => format!(" -> {r}"),
            };
            Some(FnDoc {
                signature: format!("{name}({}){ret}", params.join(", ")),
                name,
                params,
                native: info.script.is_none(),
                doc,
            })
        },
        false,
    );
    docs.sort_by(|a, b| (&a.name, &a.signature).cmp(&(&b.name, &b.signature)));
    docs.dedup_by(|a, b| a.signature == b.signature);
    docs
}

pub fn doc(session: &Session, name: Option<&str>) -> Result<()> {
    let all = functions(session);
    let selected: Vec<&FnDoc> = match name {
        None => all.iter().collect(),
        Some(prefix) if prefix.ends_with("::") => {
            all.iter().filter(|f| f.name.starts_with(prefix)).collect()
        }
        Some(name) => all.iter().filter(|f| f.name == name).collect(),
    };
    if selected.is_empty() {
        let wanted = name.unwrap_or_default();
        let best = crate::script::check::closest(wanted, all.iter().map(|f| &f.name))
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        return Err(Error::usage(format!(
            "no built-in function `{wanted}`{best} (`opsh doc` lists them all)"
        )));
    }
    match session.ctx.output.format() {
        OutputFormat::Json => session
            .ctx
            .output
            .json(&serde_json::to_value(&selected).unwrap_or_default()),
        OutputFormat::Text if name.is_none() || name.is_some_and(|n| n.ends_with("::")) => {
            let mut by_module: BTreeMap<&str, Vec<&FnDoc>> = BTreeMap::new();
            for f in &selected {
                let module = f.name.split_once("::").map_or("", |(m, _)| m);
                by_module.entry(module).or_default().push(f);
            }
            for (module, fns) in by_module {
                outln!(
                    "{}",
                    if module.is_empty() {
                        "global".to_string()
                    } else {
                        format!("{module}::")
                    }
                );
                for f in fns {
                    let summary = f.doc.lines().next().unwrap_or_default();
                    outln!("  {:<50} {summary}", f.signature);
                }
                outln!();
            }
        }
        OutputFormat::Text => {
            for f in selected {
                outln!("{}", f.signature);
                for line in f.doc.lines() {
                    outln!("    {line}");
                }
                outln!();
            }
        }
    }
    Ok(())
}
