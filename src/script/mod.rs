pub mod check;
pub mod engine;
pub mod error;
pub mod sandbox;
pub mod sources;
pub mod stdlib;
pub mod suggest;
