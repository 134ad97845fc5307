//! The one place the Rhai engine is built: limits, sandbox, output routing,
//! the module resolver and every built-in function.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::module_resolvers::ModuleResolver;

type SharedModule = Shared<Module>;
use rhai::{
    AST, Dynamic, Engine, EvalAltResult, Module, OptimizationLevel, Position, Scope, Shared,
};

use crate::core::abort::Abort;
use crate::core::context::Context;
use crate::script::error::{Diagnostic, Error, Location, Result};
use crate::script::sources::Sources;
use crate::script::stdlib;

/// Everything a runbook can call, one module a line: each adds its
/// functions, types, records and machine types. A new module (say `elb::`)
/// is a folder with a `register` and a line here.
const MODULES: &[fn(&mut Engine, &Arc<Context>)] = &[
    crate::command::register,
    crate::global::register,
    crate::local::register,
    crate::aws::ec2::register,
    crate::aws::s3::register,
    crate::ssh::register,
];

const MAX_CALL_LEVELS: usize = 64;
const MAX_STRING_SIZE: usize = 128 * 1024 * 1024;
const MAX_ARRAY_SIZE: usize = 1_000_000;
const MAX_MAP_SIZE: usize = 100_000;
const MAX_MODULES: usize = 256;
const MAX_EXPR_DEPTH: usize = 256;
const MAX_FUNCTION_EXPR_DEPTH: usize = 256;

/// Rhai clones, compares, measures and drops nested values recursively: an
/// array nested two thousand deep overflowed the 8 MiB main stack and
/// aborted opsh. Scripts run on a thread with a stack 128 times as large
/// (only the pages used are ever committed); building a value that deep
/// already takes Rhai minutes, as each level copies the ones inside it.
const SCRIPT_STACK: usize = 1 << 30;

/// Run `work` (everything that evaluates a script) on the script stack;
/// inline if no such thread can be made.
pub fn on_script_stack<T: Send>(work: impl Fn() -> T + Sync) -> T {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("script".into())
            .stack_size(SCRIPT_STACK)
            .spawn_scoped(scope, &work);
        match thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => work(),
        }
    })
}

/// A built engine with the context its functions share and the text of
/// every script it loaded.
pub struct Session {
    pub engine: Engine,
    pub ctx: Arc<Context>,
    pub sources: Arc<Mutex<Sources>>,
}

impl Session {
    pub fn new(ctx: Arc<Context>) -> Result<Self> {
        let sources = Arc::new(Mutex::new(Sources::default()));
        let mut engine = Engine::new();
        // Optimisation could call a native with constant arguments while
        // compiling: a `terminate("i-1")` must never run during `check`.
        engine.set_optimization_level(OptimizationLevel::None);
        engine.set_strict_variables(true);
        engine.set_fail_on_invalid_map_property(true);
        engine.disable_symbol("eval");
        engine.set_max_operations(ctx.settings.max_operations);
        engine.set_max_call_levels(MAX_CALL_LEVELS);
        engine.set_max_string_size(MAX_STRING_SIZE);
        engine.set_max_array_size(MAX_ARRAY_SIZE);
        engine.set_max_map_size(MAX_MAP_SIZE);
        engine.set_max_modules(MAX_MODULES);
        // Rhai's defaults (64, 32) reject ordinary runbook nesting such as
        // a `for` in a `for` in a function.
        engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FUNCTION_EXPR_DEPTH);

        let c = ctx.clone();
        engine.on_print(move |text| c.output.print(text));
        let c = ctx.clone();
        engine.on_debug(move |text, source, pos| {
            let at = Location::new(source.unwrap_or("script"), pos)
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            c.output.warn(&format!("{at}{text}"));
        });
        let interrupt = ctx.runtime.interrupt().clone();
        engine.on_progress(move |_| interrupt.is_set().then(Abort::interrupted_token));

        crate::core::failure::register(&mut engine);
        for register in MODULES {
            register(&mut engine, &ctx);
        }

        engine.set_module_resolver(Resolver {
            sources: sources.clone(),
            cache: Mutex::default(),
        });

        for file in stdlib::FILES {
            sources
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(file.source, file.text);
            let module = compile_module(&engine, file.source, file.text)?;
            engine.register_global_module(module);
        }

        Ok(Self {
            engine,
            ctx,
            sources,
        })
    }

    /// `err` as the terminal shows it: located, with every secret hidden.
    pub fn render_error(&self, err: &Error) -> String {
        self.ctx.output.redact(&err.render(&self.sources()))
    }

    pub fn sources(&self) -> Sources {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Compile a runbook file; the text is kept for error snippets.
    pub fn compile_file(&self, path: &Path) -> Result<AST> {
        let text = crate::script::sources::read_script(path).map_err(Error::usage)?;
        let name = path.display().to_string();
        self.compile_text(&name, &text)
    }

    pub fn compile_text(&self, name: &str, text: &str) -> Result<AST> {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, text);
        let mut ast = self
            .engine
            .compile(text)
            .map_err(|e| Error::Check(vec![Diagnostic::parse(name, &e)]))?;
        ast.set_source(name);
        Ok(ast)
    }
}

/// A stdlib file as a module of functions. Stdlib files hold only function
/// definitions, so evaluating one has no side effects.
fn compile_module(engine: &Engine, source: &str, text: &str) -> Result<SharedModule> {
    let mut ast = engine
        .compile(text)
        .map_err(|e| Error::Check(vec![Diagnostic::parse(source, &e)]))?;
    ast.set_source(source);
    let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
        .map_err(|e| Error::from_eval(source, &e))?;
    module.set_id(source);
    Ok(module.into())
}

/// Where `import "path"` looks: the stdlib by name, then files beside the
/// importing script. Nothing outside that directory tree, no absolute paths.
pub fn import_path(importer: Option<&str>, path: &str) -> std::result::Result<PathBuf, String> {
    let relative = Path::new(path);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "import \"{path}\": only stdlib modules and files beside the runbook can be imported (no absolute paths or `..`)"
        ));
    }
    let dir = importer
        .map(Path::new)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut file = dir.join(relative);
    if file.extension().is_none() {
        file.set_extension("rhai");
    }
    Ok(file)
}

thread_local! {
    /// The modules being evaluated on this thread, outermost first.
    static LOADING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A module on the loading stack while its top level runs. A module that
/// imports itself, directly or through others, would otherwise recurse
/// until the stack overflows. `opsh check` reports such a cycle first; this
/// guards what it cannot see (imports typed in the REPL run after it).
struct Loading;

impl Loading {
    fn enter(name: &str) -> std::result::Result<Self, String> {
        LOADING.with_borrow_mut(|stack| {
            if let Some(start) = stack.iter().position(|n| n == name) {
                let cycle: Vec<&str> = stack[start..]
                    .iter()
                    .map(String::as_str)
                    .chain([name])
                    .collect();
                return Err(format!("import cycle: {}", cycle.join(" -> ")));
            }
            stack.push(name.to_string());
            Ok(Self)
        })
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        LOADING.with_borrow_mut(|stack| {
            stack.pop();
        });
    }
}

struct Resolver {
    sources: Arc<Mutex<Sources>>,
    cache: Mutex<HashMap<String, SharedModule>>,
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> std::result::Result<SharedModule, Box<EvalAltResult>> {
        let fail = |message: String| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(
                path.into(),
                EvalAltResult::ErrorRuntime(Dynamic::from(message), pos).into(),
                pos,
            )
            .into()
        };
        let (name, text) = match stdlib::find(path) {
            Some(file) => (file.source.to_string(), file.text.to_string()),
            None => {
                let file = import_path(source, path).map_err(fail)?;
                let text = crate::script::sources::read_script(&file)
                    .map_err(|e| fail(format!("import \"{path}\": {e}")))?;
                (file.display().to_string(), text)
            }
        };
        if let Some(module) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Ok(module.clone());
        }
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), text.clone());
        let mut ast = engine
            .compile(&text)
            .map_err(|e| fail(format!("{name}: {e}")))?;
        ast.set_source(name.clone());
        let _loading = Loading::enter(&name).map_err(fail)?;
        let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|err| failed_import(&name, err, pos))?;
        module.set_id(name.clone());
        let module: SharedModule = module.into();
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, module.clone());
        Ok(module)
    }
}

/// An error raised while an imported file's top level ran, marked with that
/// file so its position is read against it. One `try` must not catch (a
/// declined confirmation, Ctrl-C) stays what it is and points at the
/// `import`, as Rhai does for such an error leaving a function.
fn failed_import(name: &str, mut err: Box<EvalAltResult>, import: Position) -> Box<EvalAltResult> {
    if err.is_catchable() {
        EvalAltResult::ErrorInModule(name.into(), err, import).into()
    } else {
        err.set_position(import);
        err
    }
}

#[cfg(test)]
mod tests {
    use super::import_path;

    #[test]
    fn imports_stay_beside_the_runbook() {
        assert_eq!(
            import_path(Some("runbooks/db.rhai"), "lib/common").unwrap(),
            std::path::PathBuf::from("runbooks/lib/common.rhai")
        );
        assert!(import_path(Some("runbooks/db.rhai"), "../secret").is_err());
        assert!(import_path(Some("runbooks/db.rhai"), "/etc/passwd").is_err());
    }
}
