//! How much heap the process holds, counted by the global allocator (the
//! one `#[global_allocator]` of opsh), and how much memory the machine
//! gives it: the sandbox (script/sandbox.rs) stops a runbook whose data
//! outgrows its memory limit, checked on every script operation, and the
//! allocator itself refuses to let one step take the process far past it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Bytes a thread allocates or frees before it adds them to the shared
/// count: the shared atomic is touched once per this much churn instead of
/// on every allocation, and the count is off by less than this per thread.
const BATCH: isize = 64 * 1024;

/// Bytes allocated and not yet freed, less what threads still hold back.
static IN_USE: AtomicIsize = AtomicIsize::new(0);

/// The hard stop (0: none), and what to print when it is reached.
static HARD_LIMIT: AtomicUsize = AtomicUsize::new(0);
static HARD_MESSAGE: OnceLock<Box<str>> = OnceLock::new();

thread_local! {
    /// This thread's change not yet in `IN_USE`. Const and without a
    /// destructor, so the allocator can use it at any time, even while the
    /// thread is being torn down (what it holds then is lost: at most
    /// `BATCH` bytes per thread that ends).
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes the process holds on its heap, to within `BATCH` per thread.
pub fn in_use() -> usize {
    usize::try_from(IN_USE.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Stop the process with `message` (printed as is) if an allocation would
/// take the heap past `bytes`. A script step the per-operation check
/// cannot interrupt (one call that builds gigabytes) ends here, with a
/// clear message instead of the kernel's OOM killer. Set once per process.
pub fn set_hard_limit(bytes: usize, message: String) {
    if HARD_MESSAGE.set(message.into_boxed_str()).is_ok() {
        HARD_LIMIT.store(bytes, Ordering::Relaxed);
    }
}

fn size_of(bytes: usize) -> isize {
    // A Layout's size never exceeds isize::MAX.
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

fn record(delta: isize) {
    let flushed = PENDING.try_with(|pending| {
        let total = pending.get().saturating_add(delta);
        if total.unsigned_abs() >= BATCH.unsigned_abs() {
            pending.set(0);
            total
        } else {
            pending.set(total);
            0
        }
    });
    let flushed = flushed.unwrap_or(delta);
    if flushed != 0 {
        let now = IN_USE.fetch_add(flushed, Ordering::Relaxed);
        if flushed > 0 {
            check_hard_limit(now.saturating_add(flushed));
        }
    }
}

/// Before a large allocation: would it take the heap past the hard limit?
fn reserve(bytes: usize) {
    if size_of(bytes) >= BATCH {
        check_hard_limit(
            IN_USE
                .load(Ordering::Relaxed)
                .saturating_add(size_of(bytes)),
        );
    }
}

fn check_hard_limit(would_hold: isize) {
    let limit = HARD_LIMIT.load(Ordering::Relaxed);
    if limit == 0 || usize::try_from(would_hold).unwrap_or(0) <= limit {
        return;
    }
    // No allocating from here on: the message was made when the limit was
    // set, and write(2) and _exit(2) take none.
    if let Some(message) = HARD_MESSAGE.get() {
        // SAFETY: the pointer and length describe a live byte slice.
        unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    }
    // SAFETY: ends the process without running anything that allocates.
    unsafe { libc::_exit(crate::core::exit::FAILED) }
}

// SAFETY: every call is passed to the system allocator unchanged; only the
// sizes are counted on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        // SAFETY: forwarded as received.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            record(size_of(layout.size()));
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        reserve(layout.size());
        // SAFETY: forwarded as received.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            record(size_of(layout.size()));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(block, layout) };
        record(-size_of(layout.size()));
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let growth = size_of(new_size).saturating_sub(size_of(layout.size()));
        if growth > 0 {
            reserve(new_size.saturating_sub(layout.size()));
        }
        // SAFETY: forwarded as received.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            record(growth);
        }
        moved
    }
}

/// The machine's memory, or the cgroup's limit if that is less.
pub fn available_memory() -> Option<u64> {
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
    fn a_large_block_is_counted_while_it_is_held() {
        let before = in_use();
        let block = vec![1u8; 64 << 20];
        let held = in_use();
        drop(block);
        let after = in_use();
        // Other test threads allocate too: allow them some slack.
        assert!(held >= before + (60 << 20), "{before} -> {held}");
        assert!(after + (60 << 20) <= held, "{held} -> {after}");
    }
}
