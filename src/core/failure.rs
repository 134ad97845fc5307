//! Why a built-in failed: what went wrong and, where the fix is known, a
//! hint. Every domain error is one. It travels up the script as Rhai's
//! runtime error, so `try`/`catch` sees it and `${err}` reads as it always
//! did (the message, then `help: ` and the hint); at the edge it becomes the
//! diagnostic's message and hint (script/error.rs).

use std::fmt;

use rhai::{Dynamic, Engine, EvalAltResult, Position};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    /// The same failure, with what to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The failure `err` carries, if it is one (Rhai's own errors are not).
    pub fn of(err: &EvalAltResult) -> Option<Failure> {
        match err {
            EvalAltResult::ErrorRuntime(value, _) => {
                value.read_lock::<Failure>().map(|f| f.clone())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhelp: {hint}")?;
        }
        Ok(())
    }
}

/// A reason given as text is a failure without a hint.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<Failure> for Box<EvalAltResult> {
    fn from(failure: Failure) -> Self {
        EvalAltResult::ErrorRuntime(Dynamic::from(failure), Position::NONE).into()
    }
}

/// A script reads a caught failure as text.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Failure>("Error")
        .register_fn("to_string", |f: &mut Failure| f.to_string())
        .register_fn("to_debug", |f: &mut Failure| f.to_string());
}

/// `err` as one line of text, as Rhai writes an error whose value is text:
/// `Runtime error: MESSAGE` (for the journal, and for errors that name
/// another error).
pub fn describe(err: &EvalAltResult) -> String {
    match Failure::of(err) {
        Some(failure) if err.position().is_none() => format!("Runtime error: {failure}"),
        Some(failure) => format!("Runtime error: {failure} ({})", err.position()),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_its_message_and_hint() {
        let failure = Failure::new("no instance i-1").hint("check the id");
        assert_eq!(failure.to_string(), "no instance i-1\nhelp: check the id");
        let err: Box<EvalAltResult> = failure.clone().into();
        assert_eq!(Failure::of(&err), Some(failure));
        assert_eq!(
            describe(&err),
            "Runtime error: no instance i-1\nhelp: check the id"
        );
        let text: Box<EvalAltResult> =
            EvalAltResult::ErrorRuntime("plain".into(), Position::NONE).into();
        assert_eq!(
            (Failure::of(&text), describe(&text)),
            (None, "Runtime error: plain".into())
        );
    }

    #[test]
    fn a_caught_failure_reads_as_text_in_a_script() {
        let mut engine = Engine::new();
        register(&mut engine);
        engine.register_fn("fails", || -> Result<(), Box<EvalAltResult>> {
            Err(Failure::new("it broke").hint("mend it").into())
        });
        let caught: String = engine
            .eval("let r = \"\"; try { fails(); } catch (e) { r = `caught: ${e}`; } r")
            .expect("the script runs");
        assert_eq!(caught, "caught: it broke\nhelp: mend it");
    }
}
