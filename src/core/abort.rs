//! Reasons a runbook stops that `try`/`catch` must not swallow: a declined
//! confirmation, Ctrl-C, and a journal that can no longer be written. They travel as Rhai's uncatchable
//! `ErrorTerminated`, carrying this token.

use rhai::{Dynamic, EvalAltResult, Position};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Declined,
    Interrupted,
    /// Going on would be unsafe (exit 1).
    Failed,
}

#[derive(Debug, Clone)]
pub struct Abort {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

impl Abort {
    pub fn declined(message: impl Into<String>, hint: Option<String>) -> Box<EvalAltResult> {
        Self {
            kind: Kind::Declined,
            message: message.into(),
            hint,
        }
        .into_error()
    }

    pub fn failed(message: impl Into<String>, hint: Option<String>) -> Box<EvalAltResult> {
        Self {
            kind: Kind::Failed,
            message: message.into(),
            hint,
        }
        .into_error()
    }

    pub fn interrupted() -> Box<EvalAltResult> {
        EvalAltResult::ErrorTerminated(Self::interrupted_token(), Position::NONE).into()
    }

    fn into_error(self) -> Box<EvalAltResult> {
        EvalAltResult::ErrorTerminated(Dynamic::from(self), Position::NONE).into()
    }
}

impl Abort {
    /// The token `on_progress` returns to stop a script on Ctrl-C.
    pub fn interrupted_token() -> Dynamic {
        Dynamic::from(Self {
            kind: Kind::Interrupted,
            message: "interrupted (Ctrl-C)".into(),
            hint: None,
        })
    }
}
