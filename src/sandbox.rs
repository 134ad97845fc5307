//! The limits a runbook runs under, how the engine enforces them, and the
//! errors that name each limit, its value and how to raise it.
//!
//! Runaway scripts are bounded by an operations count and a ceiling on the
//! process's heap, both checked on every script operation from one cheap
//! progress callback (a compare and two atomic loads). Rhai's per-container
//! size limits are not used: with any of them set, Rhai walks the whole
//! container after every call that changes it, so building a list costs
//! O(n²). README's sandbox section has the measurements.

use std::sync::RwLock;

use rhai::{
    Array, Blob, Dynamic, Engine, EvalAltResult, INT, ImmutableString, ParseErrorType, Position,
};

use crate::abort::{Abort, Kind};
use crate::memory;
use crate::runtime::Interrupt;

pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;
/// Nested calls of script functions. Deeper recursion is possible (scripts
/// run on a large stack) but rarely meant.
pub const DEFAULT_MAX_CALL_DEPTH: usize = 64;
/// Rhai's defaults (64, 32) reject ordinary runbook nesting such as a
/// `for` in a `for` in a function.
pub const DEFAULT_MAX_EXPRESSION_DEPTH: usize = 256;
pub const DEFAULT_MAX_IMPORTS: usize = 256;
/// The largest call depth accepted: scripts run on a 1 GiB stack, and a
/// level of the deepest recursion takes far less than a 4096th of it.
pub const CALL_DEPTH_CEILING: usize = 4096;
/// The largest expression depth accepted: `opsh check` and `opsh list`
/// compile on the main thread's 8 MiB stack, which a debug build fills at
/// about a thousand levels.
pub const EXPRESSION_DEPTH_CEILING: usize = 512;
/// Without a way to read the machine's memory: a ceiling most hosts have.
const FALLBACK_MAX_MEMORY: u64 = 4 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Script operations per run; 0: no limit.
    pub operations: u64,
    /// Bytes of heap the process may hold; 0: no limit.
    pub memory: u64,
    pub call_depth: usize,
    pub expression_depth: usize,
    /// `import` statements one run may execute.
    pub imports: usize,
}

impl Limits {
    const DEFAULT: Self = Self {
        operations: DEFAULT_MAX_OPERATIONS,
        memory: 0,
        call_depth: DEFAULT_MAX_CALL_DEPTH,
        expression_depth: DEFAULT_MAX_EXPRESSION_DEPTH,
        imports: DEFAULT_MAX_IMPORTS,
    };
}

/// The limits of the engine built last: Rhai's own limit errors carry no
/// value, so their messages read it from here.
static ACTIVE: RwLock<Limits> = RwLock::new(Limits::DEFAULT);

fn active() -> Limits {
    *ACTIVE.read().unwrap_or_else(|p| p.into_inner())
}

/// Put `limits` in force on `engine`; `interrupt` is Ctrl-C.
pub fn apply(engine: &mut Engine, limits: Limits, interrupt: Interrupt) {
    *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = limits;
    // Counted by the progress callback instead, whose error can say more.
    engine.set_max_operations(0);
    engine.set_max_call_levels(limits.call_depth);
    engine.set_max_expr_depths(limits.expression_depth, limits.expression_depth);
    engine.set_max_modules(limits.imports);
    engine.set_max_string_size(0);
    engine.set_max_array_size(0);
    engine.set_max_map_size(0);

    let memory = usize::try_from(limits.memory).unwrap_or(usize::MAX);
    if memory > 0 {
        let hard = hard_limit(limits.memory, available_memory());
        memory::set_hard_limit(
            usize::try_from(hard).unwrap_or(usize::MAX),
            format!(
                "error: one step of the runbook took opsh's memory past {}, well over its memory limit of {}; stopped at once\n  = help: {}\n",
                format_size(hard),
                format_size(limits.memory),
                MEMORY_HINT
            ),
        );
    }
    let max_operations = match limits.operations {
        0 => u64::MAX,
        n => n,
    };
    let max_memory = match memory {
        0 => usize::MAX,
        n => n,
    };
    // Rhai calls this before every operation: three compares, and the
    // reasons to stop out of line, so the common path needs no stack frame.
    engine.on_progress(move |operations| {
        if operations > max_operations || interrupt.is_set() || memory::in_use() > max_memory {
            return stop(operations, max_operations, &interrupt, max_memory);
        }
        None
    });
    register_bounded_builtins(engine, max_memory);
}

const OPERATIONS_HINT: &str = "raise it with --max-operations N (or max_operations in opsh.toml; 0 = no limit) if the loop is intended";
const MEMORY_HINT: &str = "raise it with --max-memory SIZE such as 8GiB (or max_memory in opsh.toml; 0 = no limit) if the data is meant to be that large";

/// What `on_progress` (or a bounded built-in) stops the runbook with: an
/// uncatchable failure, as Rhai's own limit errors are.
fn failure(message: String, hint: &str) -> Dynamic {
    Dynamic::from(Abort {
        kind: Kind::Failed,
        message,
        hint: Some(hint.to_string()),
    })
}

fn bytes(size: usize) -> u64 {
    u64::try_from(size).unwrap_or(u64::MAX)
}

/// The error token the progress callback stops the runbook with, once one
/// of its checks failed (`None` if memory was freed meanwhile).
#[cold]
#[inline(never)]
fn stop(
    operations: u64,
    max_operations: u64,
    interrupt: &Interrupt,
    max_memory: usize,
) -> Option<Dynamic> {
    if operations > max_operations {
        return Some(too_many_operations(max_operations));
    }
    if interrupt.is_set() {
        return Some(Abort::interrupted_token());
    }
    let held = memory::in_use();
    (held > max_memory).then(|| out_of_memory(held, max_memory))
}

fn too_many_operations(limit: u64) -> Dynamic {
    failure(
        format!("the runbook exceeded its operation limit of {limit} operations"),
        OPERATIONS_HINT,
    )
}

fn out_of_memory(held: usize, limit: usize) -> Dynamic {
    failure(
        format!(
            "the runbook's data outgrew its memory limit of {}: opsh holds {}",
            format_size(bytes(limit)),
            format_size(bytes(held))
        ),
        &format!("{MEMORY_HINT}; in the REPL, :clear frees its variables"),
    )
}

/// Rhai's limit errors as a message and a hint naming the limit, its
/// value and the setting that raises it; `None` for any other error.
pub fn explain(err: &EvalAltResult) -> Option<(String, String)> {
    let limits = active();
    match err {
        EvalAltResult::ErrorStackOverflow(_) => Some((
            format!(
                "the runbook nested function calls deeper than its limit of {} levels",
                limits.call_depth
            ),
            format!("raise it with max_call_depth in opsh.toml (at most {CALL_DEPTH_CEILING}) if the recursion is intended"),
        )),
        EvalAltResult::ErrorTooManyModules(_) => Some((
            format!(
                "the runbook ran more `import` statements than its limit of {}",
                limits.imports
            ),
            "raise it with max_imports in opsh.toml, or import once at the top instead of in a loop".into(),
        )),
        _ => None,
    }
}

/// `explain` for a compile error.
pub fn explain_parse(err: &ParseErrorType) -> Option<(String, String)> {
    match err {
        ParseErrorType::ExprTooDeep => Some((
            format!(
                "an expression or block is nested deeper than the limit of {} levels",
                active().expression_depth
            ),
            format!(
                "raise it with max_expression_depth in opsh.toml (at most {EXPRESSION_DEPTH_CEILING})"
            ),
        )),
        _ => None,
    }
}

/// Rhai's built-ins that allocate what a number asks for in one call
/// (`blob(n)`, `pad`), checked against the memory limit first: otherwise
/// `blob(1 << 40)` would end in the allocator instead of an error.
fn register_bounded_builtins(engine: &mut Engine, max_memory: usize) {
    let room = move |items: INT, bytes_each: usize| -> Result<usize, Box<EvalAltResult>> {
        let items = usize::try_from(items).unwrap_or(0);
        let needed = items.saturating_mul(bytes_each);
        // Past isize::MAX no allocation can succeed; Vec would panic.
        if needed > isize::MAX as usize || memory::in_use().saturating_add(needed) > max_memory {
            let limit = if max_memory == usize::MAX {
                format!(
                    "the most one value can hold ({})",
                    format_size(bytes(isize::MAX as usize))
                )
            } else {
                format!("its memory limit of {}", format_size(bytes(max_memory)))
            };
            return Err(EvalAltResult::ErrorTerminated(
                failure(
                    format!(
                        "{items} items would take {} and the runbook's data past {limit}",
                        format_size(bytes(needed))
                    ),
                    MEMORY_HINT,
                ),
                Position::NONE,
            )
            .into());
        }
        Ok(items)
    };
    engine.register_fn(
        "blob",
        move |len: INT| -> Result<Blob, Box<EvalAltResult>> { Ok(vec![0; room(len, 1)?]) },
    );
    engine.register_fn(
        "blob",
        move |len: INT, value: INT| -> Result<Blob, Box<EvalAltResult>> {
            Ok(vec![low_byte(value); room(len, 1)?])
        },
    );
    engine.register_fn(
        "pad",
        move |blob: &mut Blob, len: INT, value: INT| -> Result<(), Box<EvalAltResult>> {
            let len = room(len, 1)?;
            if len > blob.len() {
                blob.resize(len, low_byte(value));
            }
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |array: &mut Array, len: INT, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let each = size_of::<Dynamic>().saturating_add(deep_size(&item));
            let len = room(len, each)?;
            if len > array.len() {
                array.resize(len, item);
            }
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |string: &mut ImmutableString,
              len: INT,
              padding: char|
              -> Result<(), Box<EvalAltResult>> {
            let len = room(len, padding.len_utf8())?;
            let have = string.chars().count();
            if len > have {
                let text = string.make_mut();
                text.extend(std::iter::repeat_n(padding, len - have));
            }
            Ok(())
        },
    );
    engine.register_fn(
        "pad",
        move |string: &mut ImmutableString,
              len: INT,
              padding: &str|
              -> Result<(), Box<EvalAltResult>> {
            let each = padding.len().div_ceil(padding.chars().count().max(1));
            let len = room(len, each)?;
            let have = string.chars().count();
            if len > have && !padding.is_empty() {
                let text = string.make_mut();
                text.extend(padding.chars().cycle().take(len - have));
            }
            Ok(())
        },
    );
}

/// As Rhai's BLOB functions: only the lowest 8 bits of a value count.
fn low_byte(value: INT) -> u8 {
    value.to_le_bytes()[0]
}

/// What one more copy of `value` costs beyond its slot: arrays, maps and
/// BLOBs are copied whole, strings are shared.
fn deep_size(value: &Dynamic) -> usize {
    if let Some(array) = value.read_lock::<Array>() {
        let slots = array.len().saturating_mul(size_of::<Dynamic>());
        return array
            .iter()
            .fold(slots, |sum, item| sum.saturating_add(deep_size(item)));
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        // A key and a slot per entry, roughly what a B-tree node spends.
        let entries = map.len().saturating_mul(64);
        return map
            .values()
            .fold(entries, |sum, item| sum.saturating_add(deep_size(item)));
    }
    value.read_lock::<Blob>().map_or(0, |blob| blob.len())
}

/// A size as `--max-memory` takes it: bytes, or a number with K, M, G or
/// T (powers of 1024; `KiB`, `GB` ... mean the same), e.g. `512M`, `8GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a size (such as 512M, 8GiB or 0 for no limit)"
        ));
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use K, M, G or T, such as 512M or 8GiB)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (such as 512M, 8GiB or 0 for no limit)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    // In range and finite: the cast only drops a fraction of a byte.
    Ok(bytes as u64)
}

/// `bytes` for people: `512.0 MiB`, `8.0 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The default memory limit: half of what the machine has, or of the
/// limit of the cgroup opsh runs in (a container's), whichever is less.
pub fn default_max_memory() -> u64 {
    available_memory().map_or(FALLBACK_MAX_MEMORY, |total| total / 2)
}

/// Where the allocator stops the process (`limit` is the memory limit,
/// checked between operations). One operation can allocate as much again
/// as the data it works on before the next check (a string doubled, a
/// list copied): twice the limit leaves room for that, but never more
/// than nine tenths of the memory there is, so that what is bigger still
/// ends with a message and not the kernel's OOM killer.
fn hard_limit(limit: u64, available: Option<u64>) -> u64 {
    let twice = limit.saturating_mul(2);
    match available {
        Some(total) => twice.min(total / 10 * 9).max(limit),
        None => twice,
    }
}

/// The machine's memory, or the cgroup's limit if that is less.
fn available_memory() -> Option<u64> {
    match (machine_memory(), cgroup_memory_limit()) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (machine, cgroup) => machine.or(cgroup),
    }
}

fn machine_memory() -> Option<u64> {
    // SAFETY: sysinfo only writes into the struct it is given.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable sysinfo struct.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return None;
    }
    #[allow(
        clippy::useless_conversion,
        reason = "c_ulong is 32 bits on some targets"
    )]
    let total = u64::from(info.totalram);
    total
        .checked_mul(u64::from(info.mem_unit))
        .filter(|&bytes| bytes > 0)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), if one is set.
fn cgroup_memory_limit() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else {
            return None;
        };
        // "max", or v1's "no limit" of nearly 2^63, are no limit.
        std::fs::read_to_string(file)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&bytes| bytes > 0 && bytes < 1 << 60)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size(" 2 TB "), Ok(2 << 40));
        for bad in ["", "M", "-1G", "4X", "1e400", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_size(100), "100 bytes");
        assert_eq!(format_size(512 << 20), "512.0 MiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
    }

    #[test]
    fn the_hard_stop_leaves_room_for_one_step_but_not_past_the_machine() {
        let gib = 1 << 30;
        assert_eq!(hard_limit(gib, Some(64 * gib)), 2 * gib);
        assert_eq!(hard_limit(12 * gib, Some(24 * gib)), 24 * gib / 10 * 9);
        assert_eq!(hard_limit(30 * gib, Some(24 * gib)), 30 * gib);
        assert_eq!(hard_limit(gib, None), 2 * gib);
    }

    #[test]
    fn the_default_memory_limit_is_a_share_of_the_machine() {
        let limit = default_max_memory();
        let machine = machine_memory().expect("sysinfo works here");
        assert!(limit > 0 && limit <= machine / 2, "{limit} of {machine}");
    }
}
