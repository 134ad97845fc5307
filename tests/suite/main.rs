//! The integration tests: one binary, a module per area, one harness
//! (common). Run one area with `cargo test --test suite AREA::`.

mod common;

mod aws_faults;
mod bench;
mod check;
mod cli_edges;
mod dry_runs;
mod dry_world;
mod ec2;
mod fleet;
mod foundation;
mod hostile;
mod journal;
mod lab;
mod lab_apt;
mod lab_aws_rules;
mod lab_git;
mod lab_nginx;
mod lab_sudo;
mod locations;
mod native;
mod output_limits;
mod repl;
mod runbooks;
mod s3;
mod safety;
mod sandbox;
mod secrets;
mod ssh;
mod ssh_faults;
