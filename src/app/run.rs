//! `opsh run` and `opsh check`: compile the whole runbook and check it, and
//! only then run it.

use std::path::Path;

use rhai::{AST, CallFnOptions, Dynamic, Scope};

use crate::core::output::OutputFormat;
use crate::script::check;
use crate::script::engine::Session;
use crate::script::error::{Error, Result};

/// Compile and check `file`; nothing runs.
pub fn load(session: &Session, file: &Path) -> Result<(String, AST)> {
    let name = file.display().to_string();
    let ast = session.compile_file(file)?;
    check::check(session, &name, &ast)?;
    Ok((name, ast))
}

pub fn run(session: &Session, file: &Path, function: Option<&str>, args: &[String]) -> Result<()> {
    crate::script::engine::on_script_stack(|| run_here(session, file, function, args))
}

fn run_here(session: &Session, file: &Path, function: Option<&str>, args: &[String]) -> Result<()> {
    let (name, ast) = load(session, file)?;
    if let Some(function) = function {
        ensure_function(&ast, &name, function, args.len())?;
    }
    crate::app::limit::apply(&session.ctx, Some(&name), function)?;
    session.ctx.journal.start(&name, function);
    let outcome = execute(session, &name, &ast, function, args);
    if session.ctx.settings.dry_run {
        show_plan(session, outcome.as_ref().ok().and_then(Option::as_ref));
    } else if let Some((run, path)) = session.ctx.journal.written() {
        tracing::info!("journal of run {run}: {}", path.display());
    }
    let result = outcome?;
    if let (Some(value), false) = (
        result,
        session.ctx.settings.dry_run && session.ctx.output.format() == OutputFormat::Json,
    ) {
        session.ctx.output.value(&value);
    }
    for key in session.ctx.unused_vars() {
        session.ctx.output.warn(&format!(
            "--var {key} was given but nothing asked for it (a typo?)"
        ));
    }
    Ok(())
}

/// The runbook's top level, then FUNCTION if given: its return value.
fn execute(
    session: &Session,
    name: &str,
    ast: &AST,
    function: Option<&str>,
    args: &[String],
) -> Result<Option<Dynamic>> {
    let mut scope = Scope::new();
    let Some(function) = function else {
        session
            .engine
            .run_ast_with_scope(&mut scope, ast)
            .map_err(|e| Error::from_eval(name, &e))?;
        return Ok(None);
    };
    // The top level runs as part of the call, so the function sees its
    // `global::` constants.
    let args: Vec<Dynamic> = args.iter().map(|a| parse_arg(a)).collect();
    let options = CallFnOptions::new().eval_ast(true).rewind_scope(true);
    let result: Dynamic = session
        .engine
        .call_fn_with_options(options, &mut scope, ast, function, args)
        .map_err(|e| Error::from_eval(name, &e))?;
    Ok(Some(result))
}

/// The plan of a dry run: numbered actions on stdout, or with
/// `--output json` one document holding the plan and the result.
fn show_plan(session: &Session, result: Option<&Dynamic>) {
    let plan = session.ctx.journal.plan();
    let output = &session.ctx.output;
    if output.format() == OutputFormat::Json {
        output.json(&serde_json::json!({
            "plan": plan,
            "result": result.map(|value| output.to_json(value)),
        }));
        return;
    }
    output.print(&format!(
        "Plan (dry run, nothing was changed): {} action(s)",
        plan.len()
    ));
    for entry in plan {
        output.print(&entry.describe());
    }
}

/// Integers and true/false pass as such; everything else as a string, so
/// a version such as `1.10` is never turned into a number.
fn parse_arg(raw: &str) -> Dynamic {
    if let Ok(i) = raw.parse::<rhai::INT>() {
        return Dynamic::from(i);
    }
    match raw {
        "true" => Dynamic::TRUE,
        "false" => Dynamic::FALSE,
        _ => Dynamic::from(raw.to_string()),
    }
}

fn ensure_function(ast: &AST, name: &str, function: &str, arity: usize) -> Result<()> {
    let functions: Vec<_> = ast.iter_functions().collect();
    if functions
        .iter()
        .any(|f| f.name == function && f.params.len() == arity)
    {
        return Ok(());
    }
    let list = functions
        .iter()
        .map(|f| format!("{}({})", f.name, f.params.join(", ")))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match functions.iter().find(|f| f.name == function) {
        Some(f) => format!(
            "{function} takes {} argument(s) ({}), but {arity} were given",
            f.params.len(),
            f.params.join(", ")
        ),
        None if functions.is_empty() => {
            format!("{name} has no function `{function}`: the file defines no functions")
        }
        None => format!("{name} has no function `{function}`; it has: {list}"),
    };
    Err(Error::usage(message))
}

/// `opsh check`: every file, every problem, then one verdict.
pub fn check_files(session: &Session, files: &[std::path::PathBuf]) -> Result<()> {
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for file in files {
        match load(session, file) {
            Ok(_) => {
                if session.ctx.output.format() == OutputFormat::Text {
                    eprintln!("ok  {}", file.display());
                }
                report.push(serde_json::json!({ "file": file.display().to_string(), "ok": true, "problems": [] }));
            }
            Err(err) => {
                let problems = match &err {
                    Error::Check(diags) => diags
                        .iter()
                        .map(|d| {
                            serde_json::json!({
                                "message": d.message,
                                "file": d.location.as_ref().map(|l| l.source.clone()),
                                "line": d.location.as_ref().map(|l| l.line),
                                "column": d.location.as_ref().map(|l| l.column),
                                "hint": d.hint,
                            })
                        })
                        .collect(),
                    other => vec![
                        serde_json::json!({ "message": other.render(&session.sources()).trim() }),
                    ],
                };
                report.push(serde_json::json!({ "file": file.display().to_string(), "ok": false, "problems": problems }));
                failures.push(err);
            }
        }
    }
    if session.ctx.output.format() == OutputFormat::Json {
        session.ctx.output.json(&serde_json::Value::Array(report));
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        _ => Err(Error::Check(
            failures
                .into_iter()
                .flat_map(|e| match e {
                    Error::Check(diags) => diags,
                    other => vec![crate::script::error::Diagnostic::new(
                        other.render(&session.sources()).trim().to_string(),
                        None,
                    )],
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_arg;

    #[test]
    fn args_keep_versions_as_strings() {
        assert_eq!(parse_arg("3").as_int(), Ok(3));
        assert_eq!(parse_arg("true").as_bool(), Ok(true));
        assert_eq!(parse_arg("1.10").into_string().unwrap(), "1.10");
        assert_eq!(parse_arg("web").into_string().unwrap(), "web");
    }
}
