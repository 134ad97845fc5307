//! Exit codes, as documented in README.md and `opsh --help`.

pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const DECLINED: i32 = 3;
pub const INTERRUPTED: i32 = 130;
