pub mod cli;
pub mod completion;
pub mod config;
pub mod doc;
pub mod journal;
pub mod list;
pub mod repl;
pub mod run;
