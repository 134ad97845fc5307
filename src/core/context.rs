//! What every built-in function can see: the settings of this run, the async
//! runtime, the output and whether a person is at a terminal.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use crate::core::config::Settings;
use crate::core::journal::Journal;
use crate::core::output::Output;
use crate::core::runtime::Runtime;

pub struct Context {
    pub settings: Settings,
    pub runtime: Arc<Runtime>,
    pub output: Output,
    pub journal: Journal,
    /// Someone can answer prompts: stdin and stderr are terminals.
    pub terminal: bool,
    /// What a dry run has planned so far, for its reads (empty otherwise).
    pub planned: crate::core::planned::World,
    /// SSH connections shared by the whole run.
    pub ssh: crate::ssh::session::Pool,
    used_vars: Mutex<BTreeSet<String>>,
}

impl Context {
    pub fn new(settings: Settings, runtime: Arc<Runtime>) -> Arc<Self> {
        let output = Output::new(settings.output);
        Arc::new(Self {
            terminal: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            ssh: crate::ssh::session::Pool::new(&settings.ssh),
            journal: Journal::new(settings.journal),
            planned: crate::core::planned::World::default(),
            settings,
            runtime,
            output,
            used_vars: Mutex::new(BTreeSet::new()),
        })
    }

    /// The `--var` value for `key`, remembering that it was used.
    pub fn var(&self, key: &str) -> Option<String> {
        let value = self.settings.vars.get(key).cloned();
        if value.is_some() {
            self.used_vars
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.to_string());
        }
        value
    }

    /// `--var` keys nothing asked for: usually a typo worth a warning.
    pub fn unused_vars(&self) -> Vec<String> {
        let used = self.used_vars.lock().unwrap_or_else(|p| p.into_inner());
        self.settings
            .vars
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }
}
