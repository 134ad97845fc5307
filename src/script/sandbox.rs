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

use crate::core::abort::{Abort, Kind};
use crate::core::failure::Failure;
use crate::core::memory;
use crate::core::runtime::Interrupt;
use crate::core::settings::Limits;
use crate::core::size::format_size;

/// The largest call depth accepted: scripts run on a 1 GiB stack, and a
/// level of the deepest recursion takes far less than a 4096th of it.
pub const CALL_DEPTH_CEILING: usize = 4096;
/// The largest expression depth accepted: `opsh check` and `opsh list`
/// compile on the main thread's 8 MiB stack, which a debug build fills at
/// about a thousand levels.
pub const EXPRESSION_DEPTH_CEILING: usize = 512;

/// The limits of the engine built last: Rhai's own limit errors carry no
/// value, so their messages read it from here.
static ACTIVE: RwLock<Option<Limits>> = RwLock::new(None);

fn active() -> Option<Limits> {
    *ACTIVE.read().unwrap_or_else(|p| p.into_inner())
}

/// Put `limits` in force on `engine`; `interrupt` is Ctrl-C.
pub fn apply(engine: &mut Engine, limits: Limits, interrupt: Interrupt) {
    *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = Some(limits);
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
        let hard = hard_limit(limits.memory, memory::available_memory());
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

/// What `on_progress` (or a bounded built-in) stops the runbook with: the
/// failure, uncatchable as Rhai's own limit errors are.
fn uncatchable(failure: Failure) -> Dynamic {
    Dynamic::from(Abort {
        kind: Kind::Failed,
        message: failure.message,
        hint: failure.hint,
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
    uncatchable(
        Failure::new(format!(
            "the runbook exceeded its operation limit of {limit} operations"
        ))
        .hint(OPERATIONS_HINT),
    )
}

fn out_of_memory(held: usize, limit: usize) -> Dynamic {
    uncatchable(
        Failure::new(format!(
            "the runbook's data outgrew its memory limit of {}: opsh holds {}",
            format_size(bytes(limit)),
            format_size(bytes(held))
        ))
        .hint(format!(
            "{MEMORY_HINT}; in the REPL, :clear frees its variables"
        )),
    )
}

/// Rhai's limit errors as a failure naming the limit, its value and the
/// setting that raises it; `None` for any other error (or before an engine
/// was built).
pub fn explain(err: &EvalAltResult) -> Option<Failure> {
    let limits = active()?;
    match err {
        EvalAltResult::ErrorStackOverflow(_) => Some(
            Failure::new(format!(
                "the runbook nested function calls deeper than its limit of {} levels",
                limits.call_depth
            ))
            .hint(format!("raise it with max_call_depth in opsh.toml (at most {CALL_DEPTH_CEILING}) if the recursion is intended")),
        ),
        EvalAltResult::ErrorTooManyModules(_) => Some(
            Failure::new(format!(
                "the runbook ran more `import` statements than its limit of {}",
                limits.imports
            ))
            .hint("raise it with max_imports in opsh.toml, or import once at the top instead of in a loop"),
        ),
        _ => None,
    }
}

/// `explain` for a compile error.
pub fn explain_parse(err: &ParseErrorType) -> Option<Failure> {
    match err {
        ParseErrorType::ExprTooDeep => Some(
            Failure::new(format!(
                "an expression or block is nested deeper than the limit of {} levels",
                active()?.expression_depth
            ))
            .hint(format!(
                "raise it with max_expression_depth in opsh.toml (at most {EXPRESSION_DEPTH_CEILING})"
            )),
        ),
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
            let failure = Failure::new(format!(
                "{items} items would take {} and the runbook's data past {limit}",
                format_size(bytes(needed))
            ))
            .hint(MEMORY_HINT);
            return Err(
                EvalAltResult::ErrorTerminated(uncatchable(failure), Position::NONE).into(),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_stop_leaves_room_for_one_step_but_not_past_the_machine() {
        let gib = 1 << 30;
        assert_eq!(hard_limit(gib, Some(64 * gib)), 2 * gib);
        assert_eq!(hard_limit(12 * gib, Some(24 * gib)), 24 * gib / 10 * 9);
        assert_eq!(hard_limit(30 * gib, Some(24 * gib)), 30 * gib);
        assert_eq!(hard_limit(gib, None), 2 * gib);
    }
}
