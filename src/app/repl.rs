//! `opsh repl`: statements evaluated one by one with the same engine, flags
//! and confirmations as `opsh run`, keeping variables, functions and imports
//! across lines. Piped input behaves like a script: the first error stops it
//! with that error's exit code.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{AST, Dynamic, ParseErrorType, Scope, Stmt};
use rustyline::Editor;
use rustyline::error::ReadlineError;

use crate::app::completion::{META_COMMANDS, ReplHelper, ScopeView};
use crate::core::stdout::outln;
use crate::script::engine::Session;
use crate::script::error::{Error, Result};

const SOURCE: &str = "repl";

struct State {
    scope: Scope<'static>,
    functions: AST,
    /// `import` statements seen so far; replayed before each new input so
    /// module aliases outlive the line that imported them.
    imports: Vec<String>,
}

impl State {
    fn new() -> Self {
        Self {
            scope: Scope::new(),
            functions: AST::empty(),
            imports: Vec::new(),
        }
    }

    fn load(&mut self, session: &Session, file: &Path) -> Result<()> {
        let (name, ast) = crate::app::run::load(session, file)?;
        session
            .engine
            .run_ast_with_scope(&mut self.scope, &ast)
            .map_err(|e| Error::from_eval(&name, &e))?;
        self.functions = self.functions.merge(&ast.clone_functions_only());
        Ok(())
    }
}

pub fn repl(session: &Session, file: Option<&Path>) -> Result<()> {
    crate::script::engine::on_script_stack(|| repl_here(session, file))
}

fn repl_here(session: &Session, file: Option<&Path>) -> Result<()> {
    crate::app::limit::apply(&session.ctx, None, None)?;
    let mut state = State::new();
    if let Some(file) = file {
        state.load(session, file)?;
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
    // Replayed imports go on the first line so the user's lines keep their
    // numbers.
    let text = if state.imports.is_empty() {
        input.to_string()
    } else {
        format!("{} {input}", state.imports.join(" "))
    };
    let ast = match session.engine.compile_with_scope(&state.scope, &text) {
        Ok(ast) => ast,
        Err(err) if is_incomplete(&err, &text) => return Step::Incomplete,
        Err(err) => {
            session
                .sources
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(SOURCE, text);
            return Step::Done(Err(Error::Check(vec![session.parse_error(SOURCE, &err)])));
        }
    };
    session
        .sources
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(SOURCE, text.as_str());
    let mut run = state.functions.merge(&ast);
    run.set_source(SOURCE);
    if let Err(err) = crate::script::check::check(session, SOURCE, &run) {
        return Step::Done(Err(err));
    }
    let new_imports = top_level_imports(&ast);
    let result = session
        .engine
        .eval_ast_with_scope::<Dynamic>(&mut state.scope, &run)
        .map_err(|e| Error::from_eval(SOURCE, &e));
    if result.is_ok() {
        state.functions = state.functions.merge(&ast.clone_functions_only());
        for import in new_imports {
            if !state.imports.contains(&import) {
                state.imports.push(import);
            }
        }
    }
    Step::Done(result)
}

/// The source text of each top-level `import ... as ...;` in `ast`.
fn top_level_imports(ast: &AST) -> Vec<String> {
    let mut imports = Vec::new();
    for stmt in ast.statements() {
        if let Stmt::Import(import, _) = stmt {
            let (path, alias) = &**import;
            if let (rhai::Expr::StringConstant(path, _), false) = (path, alias.name.is_empty()) {
                imports.push(format!("import {path:?} as {};", alias.name));
            }
        }
    }
    imports
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
                if let Some(text) = session.ctx.output.render_text(&result?) {
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

fn history_file() -> Option<PathBuf> {
    let dir = dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))?
        .join("opsh");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

fn interactive(session: &Session, state: &mut State) -> Result<()> {
    let scope_view: ScopeView = Arc::new(Mutex::new(Vec::new()));
    let script_functions = Arc::new(Mutex::new(BTreeSet::new()));
    let helper = ReplHelper::new(session, scope_view.clone(), script_functions.clone());
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| Error::usage(format!("cannot start the line editor: {e}")))?;
    editor.set_helper(Some(helper));
    let history = history_file();
    if let Some(path) = &history {
        // A first run has no history yet.
        let _ = editor.load_history(path);
    }
    eprintln!(
        "opsh {} — Rhai with ec2::, s3::, ssh::, local::. :help for help, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let mut pending = String::new();
    loop {
        refresh_views(state, &scope_view, &script_functions);
        let shown = if pending.is_empty() {
            "opsh> "
        } else {
            "  ... "
        };
        let line = match editor.readline(shown) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(Error::usage(format!("cannot read input: {e}"))),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                let _ = editor.append_history(path);
            }
        }
        if pending.is_empty() && line.trim_start().starts_with(':') {
            match meta(session, state, line.trim()) {
                Meta::Quit => return Ok(()),
                Meta::Done => continue,
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        match eval(session, state, &pending) {
            Step::Incomplete => {}
            Step::Done(result) => {
                pending.clear();
                show(session, result);
            }
        }
    }
}

fn show(session: &Session, result: Result<Dynamic>) {
    match result {
        Ok(value) => {
            if let Some(text) = session.ctx.output.render_text(&value) {
                outln!("{text}");
            }
        }
        Err(err) => {
            eprint!("{}", session.render_error(&err));
            if matches!(err, Error::Interrupted(_)) {
                session.ctx.runtime.clear_interrupt();
            }
        }
    }
}

fn refresh_views(
    state: &State,
    scope_view: &ScopeView,
    script_functions: &Arc<Mutex<BTreeSet<String>>>,
) {
    *scope_view.lock().unwrap_or_else(|p| p.into_inner()) = state
        .scope
        .iter()
        .map(|(name, _, value)| (name.to_string(), value.type_id()))
        .collect();
    *script_functions.lock().unwrap_or_else(|p| p.into_inner()) = state
        .functions
        .iter_functions()
        .map(|f| f.name.to_string())
        .collect();
}

enum Meta {
    Done,
    Quit,
}

const HELP: &str = "\
Type Rhai statements; variables, functions and imports persist. An open
brace or unfinished expression continues on the next line.
  :help          this text
  :doc [NAME]    signature and doc of a built-in function (or all of them)
  :load FILE     run FILE here, keeping its functions and variables
  :vars          the variables in scope
  :clear         forget every variable, function and import
  :quit          leave (or Ctrl-D)
Tab completes functions, `module::` names, fields and methods after a dot,
and variables. Ctrl-C cancels the line, or the call that is running.";

fn meta(session: &Session, state: &mut State, line: &str) -> Meta {
    let (command, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    let outcome = match command {
        ":quit" | ":q" | ":exit" => return Meta::Quit,
        ":help" | ":h" => {
            eprintln!("{HELP}");
            Ok(())
        }
        ":doc" => crate::app::doc::doc(session, (!arg.is_empty()).then_some(arg)),
        ":load" if arg.is_empty() => Err(Error::usage(
            ":load needs a file, e.g. :load runbooks/db_node.rhai",
        )),
        ":load" => state.load(session, Path::new(arg)),
        ":vars" => {
            for (name, constant, value) in state.scope.iter() {
                let shown = session
                    .ctx
                    .output
                    .render_text(&value)
                    .unwrap_or_else(|| "()".into());
                let shown = shown.lines().next().unwrap_or_default();
                let kind = if constant { "const" } else { "let" };
                outln!("{kind} {name}: {} = {shown}", value.type_name());
            }
            Ok(())
        }
        ":clear" => {
            *state = State::new();
            eprintln!("cleared");
            Ok(())
        }
        other => Err(Error::usage(format!(
            "unknown command `{other}`; the commands are {}",
            META_COMMANDS.join(" ")
        ))),
    };
    if let Err(err) = outcome {
        eprint!("{}", session.render_error(&err));
    }
    Meta::Done
}
