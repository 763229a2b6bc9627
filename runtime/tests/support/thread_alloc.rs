//! A counting global allocator for the no-allocation tests: it counts the allocation calls and
//! bytes made by the *current* thread while counting is switched on, in counters of that thread,
//! so tests counting on libtest's other threads at the same time do not interfere. A test binary
//! installs it with
//! `#[global_allocator] static GLOBAL: thread_alloc::Counting = thread_alloc::Counting;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// `System` plus per-thread-gated counters.
pub struct Counting;

// Const-initialised `Cell`s without destructors: reading them from inside the allocator never
// allocates and stays valid while the thread is being torn down.
thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    if ON.with(|on| on.get()) {
        CALLS.with(|c| c.set(c.get() + 1));
        BYTES.with(|b| b.set(b.get() + size));
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// (allocation calls, bytes) made by `f` on this thread.
pub fn count(f: impl FnOnce()) -> (usize, usize) {
    let (c0, b0) = (CALLS.with(Cell::get), BYTES.with(Cell::get));
    ON.with(|on| on.set(true));
    f();
    ON.with(|on| on.set(false));
    (CALLS.with(Cell::get) - c0, BYTES.with(Cell::get) - b0)
}
