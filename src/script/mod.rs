pub mod check;
pub mod engine;
pub mod error;
pub mod sources;
pub mod stdlib;
