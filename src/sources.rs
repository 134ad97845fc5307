//! The text of every script loaded in this run, by source name, so an error
//! can quote the line it happened on.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Sources {
    texts: HashMap<String, String>,
}

impl Sources {
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.texts.insert(name.into(), text.into());
    }

    pub fn line(&self, name: &str, line: usize) -> Option<&str> {
        self.texts.get(name)?.lines().nth(line.checked_sub(1)?)
    }
}
