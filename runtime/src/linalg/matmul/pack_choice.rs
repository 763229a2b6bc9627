//! Whether packing `A` into L2-sized blocks pays on this machine, decided by a first-use
//! calibration instead of a constant: after two warm-up products, the next [`TRIALS`] products
//! whose A block overflows half the L2 alternate between streaming A and packing it, timed; the
//! faster per floating-point operation is kept for the rest of the process. Packing moves data
//! only (the sums and their order are the same), so the choice can never change a result's bits.
//!
//! Products are calibrated in two classes, each with its own trials and choice: those whose
//! whole `A` fits the L2 (a streamed `A` is read from the L2 by every panel: the physics
//! example's `200 × 200 × 50`, where streaming was 10–15% faster) and those whose `A` does not
//! (read from memory: the batch-4096 forward `4096 × 256 × 256`, where packing wins). One
//! choice for both let the first large product decide for the other class too.

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Timed products before the choice is made (half of each kind), per class.
pub(super) const TRIALS: usize = 8;
/// Products run first without being counted, one of each kind: their cold caches, page faults
/// and buffer growth would favour whichever kind runs second.
const WARM_UP: usize = 2;

const UNDECIDED: u8 = 0;
const PACK: u8 = 1;
const STREAM: u8 = 2;

/// The calibration classes: `A` within the L2, `A` beyond it.
const CLASSES: usize = 2;

static CHOICE: [AtomicU8; CLASSES] = [const { AtomicU8::new(UNDECIDED) }; CLASSES];
static STARTED: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
static FINISHED: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
/// Accumulated nanoseconds and floating-point operations per class, `[stream, pack]`.
static NANOS: [[AtomicU64; 2]; CLASSES] = [const { [const { AtomicU64::new(0) }; 2] }; CLASSES];
static FLOPS: [[AtomicU64; 2]; CLASSES] = [const { [const { AtomicU64::new(0) }; 2] }; CLASSES];

/// The class of a product whose `A` takes `a_bytes`: 0 when it fits an L2 of `l2` bytes, else 1.
#[inline(always)]
pub(super) fn class(a_bytes: usize, l2: usize) -> usize {
    usize::from(a_bytes > l2)
}

/// The decision for `class`: `Some(true)` pack, `Some(false)` stream, `None` still
/// calibrating.
pub(super) fn decided(class: usize) -> Option<bool> {
    match CHOICE[class].load(Ordering::Relaxed) {
        PACK => Some(true),
        STREAM => Some(false),
        _ => None,
    }
}

/// Whether the next calibration product of `class` packs (alternating).
pub(super) fn next_trial_packs(class: usize) -> bool {
    STARTED[class].fetch_add(1, Ordering::Relaxed) % 2 == 1
}

/// Records one timed product of `class`; after [`TRIALS`] of them, decides for the class.
pub(super) fn record(class: usize, packed: bool, nanos: u64, flops: u64) {
    if STARTED[class].load(Ordering::Relaxed) <= WARM_UP {
        return;
    }
    let i = usize::from(packed);
    NANOS[class][i].fetch_add(nanos, Ordering::Relaxed);
    FLOPS[class][i].fetch_add(flops, Ordering::Relaxed);
    if FINISHED[class].fetch_add(1, Ordering::Relaxed) + 1 >= TRIALS {
        let rate = |j: usize| {
            let f = FLOPS[class][j].load(Ordering::Relaxed).max(1) as f64;
            NANOS[class][j].load(Ordering::Relaxed) as f64 / f
        };
        // A kind never timed (e.g. no buffer) counts as slower.
        let pack = FLOPS[class][1].load(Ordering::Relaxed) > 0 && rate(1) < rate(0);
        CHOICE[class].store(if pack { PACK } else { STREAM }, Ordering::Relaxed);
    }
}

/// The choices as words for reports, e.g. `"A within the L2: stream A; beyond it: pack A"`
/// (`"calibrating"` for a class still undecided).
pub fn describe() -> String {
    let word = |class: usize| match decided(class) {
        Some(true) => "pack A",
        Some(false) => "stream A",
        None => "calibrating",
    };
    format!("A within the L2: {}; beyond it: {}", word(0), word(1))
}
