//! The one error type of opsh, rendered once at the top with the script's
//! `file:line:col`, the source line, a caret and the call chain.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;

use rhai::{EvalAltResult, ParseError, Position};

use crate::core::abort::Abort;
use crate::core::exit;
use crate::core::failure::Failure;
use crate::script::sources::Sources;

/// A place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(source: &str, pos: Position) -> Option<Self> {
        Some(Self {
            source: source.to_string(),
            line: pos.line()?,
            column: pos.position().unwrap_or(1),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// One problem found in a script, with where it is.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub location: Option<Location>,
    /// Function calls that led here, outermost first: (function, call site).
    pub chain: Vec<(String, Option<Location>)>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, location: Option<Location>) -> Self {
        Self {
            message: message.into(),
            location,
            chain: Vec::new(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn parse(source: &str, err: &ParseError) -> Self {
        Self::new(
            err.err_type().to_string(),
            Location::new(source, err.position()),
        )
    }
}

#[derive(Debug)]
pub enum Error {
    /// Bad command line, configuration or input file: nothing ran.
    Usage(String),
    /// The runbook does not compile or check: nothing ran.
    Check(Vec<Diagnostic>),
    /// The runbook failed while running.
    Failed(Diagnostic),
    /// A confirmation was declined, or needed without a terminal.
    Declined(Diagnostic),
    /// The operator pressed Ctrl-C.
    Interrupted(Diagnostic),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::Check(_) | Self::Io { .. } => exit::USAGE,
            Self::Failed(_) => exit::FAILED,
            Self::Declined(_) => exit::DECLINED,
            Self::Interrupted(_) => exit::INTERRUPTED,
        }
    }

    /// Turn an error raised while a script ran into a located diagnostic.
    /// `top` is the source name of the script that was being run.
    pub fn from_eval(top: &str, err: &EvalAltResult) -> Self {
        let mut chain = Vec::new();
        let mut source = top.to_string();
        let mut err = err;
        loop {
            match err {
                EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                    chain.push((name.clone(), Location::new(&source, *pos)));
                    if !fn_source.is_empty() {
                        source = fn_source.clone();
                    }
                    err = inner;
                }
                EvalAltResult::ErrorInModule(module, inner, _) => {
                    if !module.is_empty() {
                        source = module.clone();
                    }
                    err = inner;
                }
                _ => break,
            }
        }
        let location = Location::new(&source, err.position());
        let message = match err {
            EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<Failure>() {
                Some(failure) => {
                    let mut diag = Diagnostic::new(failure.message.clone(), location);
                    diag.chain = chain;
                    diag.hint = failure.hint.clone();
                    return Self::Failed(diag);
                }
                None => value.to_string(),
            },
            EvalAltResult::ErrorTerminated(token, _) => match token.clone().try_cast::<Abort>() {
                Some(abort) => {
                    let mut diag = Diagnostic::new(abort.message, location);
                    diag.chain = chain;
                    diag.hint = abort.hint;
                    return match abort.kind {
                        crate::core::abort::Kind::Declined => Self::Declined(diag),
                        crate::core::abort::Kind::Interrupted => Self::Interrupted(diag),
                        crate::core::abort::Kind::Failed => Self::Failed(diag),
                    };
                }
                None => "the runbook was stopped".to_string(),
            },
            EvalAltResult::ErrorTooManyOperations(_) => {
                let mut diag = Diagnostic::new("the runbook exceeded its operation limit", location)
                    .with_hint("raise it with --max-operations N (or max_operations in opsh.toml) if the loop is intended");
                diag.chain = chain;
                return Self::Failed(diag);
            }
            other => {
                let text = other.to_string();
                let suffix = format!(" ({})", other.position());
                text.strip_suffix(&suffix).unwrap_or(&text).to_string()
            }
        };
        let mut diag = Diagnostic::new(message, location);
        diag.chain = chain;
        Self::Failed(diag)
    }

    /// Render for the terminal; `sources` supplies the lines for snippets.
    pub fn render(&self, sources: &Sources) -> String {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        match self {
            Self::Usage(message) => format!("{}: {message}\n", label(color)),
            Self::Io { path, source } => {
                format!("{}: {}: {source}\n", label(color), path.display())
            }
            Self::Check(diags) => {
                let mut out = String::new();
                for diag in diags {
                    out += &render_diagnostic(diag, sources, color);
                }
                if diags.len() > 1 {
                    let _ = writeln!(out, "{} problems found; nothing was run", diags.len());
                }
                out
            }
            Self::Failed(diag) | Self::Declined(diag) | Self::Interrupted(diag) => {
                render_diagnostic(diag, sources, color)
            }
        }
    }
}

fn label(color: bool) -> &'static str {
    if color {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    }
}

fn render_diagnostic(diag: &Diagnostic, sources: &Sources, color: bool) -> String {
    let mut out = format!("{}: {}\n", label(color), diag.message);
    if let Some(loc) = &diag.location {
        let gutter = loc.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {loc}");
        if let Some(text) = sources.line(&loc.source, loc.line) {
            let caret_at = text
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", loc.line, text);
            let _ = writeln!(out, "{pad} | {caret_at}^");
        }
    }
    if !diag.chain.is_empty() {
        let calls = diag
            .chain
            .iter()
            .map(|(name, at)| match at {
                Some(at) => format!("{name}() called at {at}"),
                None => format!("{name}()"),
            })
            .collect::<Vec<_>>();
        let _ = writeln!(out, "  = in {}", calls.join(", then "));
    }
    if let Some(hint) = &diag.hint {
        let _ = writeln!(out, "  = help: {hint}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let mut sources = Sources::default();
        sources.insert("r.rhai", "let a = 1;\nlet b = foo(;\n");
        let diag = Diagnostic::new(
            "bad",
            Some(Location {
                source: "r.rhai".into(),
                line: 2,
                column: 13,
            }),
        );
        let out = Error::Check(vec![diag]).render(&sources);
        assert!(out.contains("--> r.rhai:2:13"), "{out}");
        assert!(
            out.contains("2 | let b = foo(;\n  |             ^"),
            "{out}"
        );
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let diag = || Diagnostic::new("x", None);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::Check(vec![diag()]).exit_code(), 2);
        assert_eq!(Error::Failed(diag()).exit_code(), 1);
        assert_eq!(Error::Declined(diag()).exit_code(), 3);
        assert_eq!(Error::Interrupted(diag()).exit_code(), 130);
    }
}
