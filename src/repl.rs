//! `opsh repl`: statements evaluated one by one, keeping variables and
//! functions across lines. Piped input behaves like a script: the first
//! error stops it with that error's exit code.

use std::io::{IsTerminal, Read};
use std::path::Path;

use rhai::{AST, Dynamic, ParseErrorType, Scope};

use crate::engine::Session;
use crate::error::{Error, Result};
use crate::output::render_text;

const SOURCE: &str = "repl";

struct State {
    scope: Scope<'static>,
    functions: AST,
}

pub fn repl(session: &Session, file: Option<&Path>) -> Result<()> {
    let mut state = State {
        scope: Scope::new(),
        functions: AST::empty(),
    };
    if let Some(file) = file {
        let (name, ast) = crate::run::load(session, file)?;
        session
            .engine
            .run_ast_with_scope(&mut state.scope, &ast)
            .map_err(|e| Error::from_eval(&name, &e))?;
        state.functions = ast.clone_functions_only();
    }
    if std::io::stdin().is_terminal() {
        interactive(session, &mut state)
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| Error::io("<stdin>", e))?;
        piped(session, &mut state, &input)
    }
}

enum Step {
    Incomplete,
    Done(Result<Dynamic>),
}

fn eval(session: &Session, state: &mut State, input: &str) -> Step {
    let ast = match session.engine.compile_with_scope(&state.scope, input) {
        Ok(ast) => ast,
        Err(err) if is_incomplete(&err, input) => return Step::Incomplete,
        Err(err) => {
            return Step::Done(Err(Error::Check(vec![crate::error::Diagnostic::parse(
                SOURCE, &err,
            )])));
        }
    };
    session
        .sources
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(SOURCE, input);
    if let Err(err) = crate::check::check(session, SOURCE, &state.functions.merge(&ast)) {
        return Step::Done(Err(err));
    }
    state.functions += ast.clone_functions_only();
    let mut run = state.functions.merge(&ast);
    run.set_source(SOURCE);
    Step::Done(
        session
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut state.scope, &run)
            .map_err(|e| Error::from_eval(SOURCE, &e)),
    )
}

/// Input that ends inside a block or expression continues on the next line.
fn is_incomplete(err: &rhai::ParseError, input: &str) -> bool {
    let at_end = err
        .position()
        .line()
        .is_none_or(|line| line >= input.trim_end().lines().count());
    at_end
        && matches!(
            err.err_type(),
            ParseErrorType::UnexpectedEOF | ParseErrorType::MissingToken(..)
        )
}

fn piped(session: &Session, state: &mut State, input: &str) -> Result<()> {
    let mut pending = String::new();
    for line in input.lines() {
        pending.push_str(line);
        pending.push('\n');
        match eval(session, state, &pending) {
            Step::Incomplete => continue,
            Step::Done(result) => {
                pending.clear();
                if let Some(text) = render_text(&result?) {
                    session.ctx.output.print(&text);
                }
            }
        }
    }
    if pending.trim().is_empty() {
        Ok(())
    } else {
        Err(Error::usage("the input ended in the middle of a statement"))
    }
}

fn interactive(session: &Session, state: &mut State) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::usage(format!("cannot start the line editor: {e}")))?;
    eprintln!(
        "opsh {} — Rhai with ec2::, s3::, ssh::, local::. :help for help, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let mut pending = String::new();
    loop {
        let shown = if pending.is_empty() {
            "opsh> "
        } else {
            "  ... "
        };
        let line = match editor.readline(shown) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(Error::usage(format!("cannot read input: {e}"))),
        };
        match line.trim() {
            ":quit" | ":q" | ":exit" if pending.is_empty() => return Ok(()),
            ":help" if pending.is_empty() => {
                eprintln!(
                    "Type Rhai statements; variables and functions persist.\n`opsh doc` lists the built-in functions. :quit leaves."
                );
                continue;
            }
            _ => {}
        }
        let _ = editor.add_history_entry(line.as_str());
        pending.push_str(&line);
        pending.push('\n');
        match eval(session, state, &pending) {
            Step::Incomplete => {}
            Step::Done(result) => {
                pending.clear();
                match result {
                    Ok(value) => {
                        if let Some(text) = render_text(&value) {
                            println!("{text}");
                        }
                    }
                    Err(err) => eprint!("{}", err.render(&session.sources())),
                }
            }
        }
    }
}
