//! What every built-in function can see: the settings of this run, the async
//! runtime, the output, the journal, the dry run's plan, whether a person is
//! at a terminal, and what the domains keep for the run (their services,
//! their machine types).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::core::journal::{Act, Journal};
use crate::core::limit::RunLimit;
use crate::core::machine::Machines;
use crate::core::options::RhaiResult;
use crate::core::output::Output;
use crate::core::planned::World;
use crate::core::record::{Record, TypeDoc};
use crate::core::runtime::Runtime;
use crate::core::services::{Service, Services};
use crate::core::settings::Settings;

pub struct Context {
    pub settings: Settings,
    pub runtime: Arc<Runtime>,
    pub output: Output,
    pub journal: Journal,
    /// Someone can answer prompts: stdin and stderr are terminals.
    pub terminal: bool,
    /// What a dry run has planned so far, for its reads (empty otherwise).
    pub planned: World,
    /// The script types that are machines one can connect to.
    pub machines: Machines,
    /// The hosts `--limit` lets the run touch (none set: every host).
    pub limit: RunLimit,
    services: Services,
    /// The script types the domains declared, for `opsh doc TYPE`.
    types: Mutex<Vec<TypeDoc>>,
    used_vars: Mutex<BTreeSet<String>>,
}

impl Context {
    pub fn new(settings: Settings, runtime: Arc<Runtime>) -> Arc<Self> {
        Arc::new(Self {
            terminal: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            journal: Journal::new(settings.journal, settings.dry_run),
            output: Output::new(settings.output),
            planned: World::default(),
            machines: Machines::default(),
            limit: RunLimit::default(),
            services: Services::default(),
            types: Mutex::new(Vec::new()),
            settings,
            runtime,
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

    /// Begin a mutating action: journaled as started before the caller
    /// does it, or, when the journal cannot be written, an error that stops
    /// the runbook (uncatchable) so it is never done unrecorded. In a dry run
    /// it becomes the next step of the plan (shown live) and the caller must
    /// not perform it: check `Act::dry_run`.
    pub fn act(&self, action: &str, target: &str, args: Value) -> RhaiResult<Act<'_>> {
        self.journal.step(&self.output, action, target, args, false)
    }

    /// Begin a command that changes nothing: journaled as `act` in a real
    /// run, but not synced to disk; in a dry run it is shown in the plan as a read and still done
    /// (`Act::dry_run` is false), since its output feeds the runbook.
    pub fn read(&self, action: &str, target: &str, args: Value) -> RhaiResult<Act<'_>> {
        self.journal.step(&self.output, action, target, args, true)
    }

    /// Add the record type `T` to `engine` (its properties, `to_string`),
    /// to this run's output (its JSON and table rows) and to the types
    /// `opsh doc` describes.
    pub fn add_record<T: Record>(&self, engine: &mut rhai::Engine) {
        T::register(engine);
        self.output.add_record::<T>();
        self.add_type(T::type_doc());
    }

    /// A script type declared without `record!` (a Group), for `opsh doc`.
    pub fn add_type(&self, doc: TypeDoc) {
        self.types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(doc);
    }

    /// Every declared script type, by name.
    pub fn types(&self) -> Vec<TypeDoc> {
        let mut types = self.types.lock().unwrap_or_else(|p| p.into_inner()).clone();
        types.sort_by(|a, b| a.name.cmp(&b.name));
        types
    }

    /// This run's `T` (a domain's clients or connections), built by `build`
    /// on first use.
    pub fn service<T: Service, E>(
        &self,
        build: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        self.services.get(|| build(self))
    }

    /// The run is over: every service closes what it still holds open
    /// (remote commands cut short by Ctrl-C are ended, masters closed).
    pub fn shutdown(&self) {
        self.services.shutdown(&self.runtime);
    }
}

#[cfg(test)]
impl Context {
    /// A Context for a plain run, for unit tests.
    pub fn for_tests() -> Arc<Self> {
        let runtime = Runtime::new().expect("an async runtime");
        Self::new(Settings::for_tests(), runtime)
    }
}
