//! Whether packing `A` into L2-sized blocks pays on this machine, decided by a first-use
//! calibration instead of a constant: after two warm-up products, the next [`TRIALS`] products
//! whose A block overflows half the L2 alternate between streaming A and packing it, timed; the faster per
//! floating-point operation is kept for the rest of the process. Packing moves data only (the
//! sums and their order are the same), so the choice can never change a result's bits.

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Timed products before the choice is made (half of each kind).
pub(super) const TRIALS: usize = 8;
/// Products run first without being counted, one of each kind: their cold caches, page faults
/// and buffer growth would favour whichever kind runs second.
const WARM_UP: usize = 2;

const UNDECIDED: u8 = 0;
const PACK: u8 = 1;
const STREAM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);
static STARTED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
/// Accumulated nanoseconds and floating-point operations, `[stream, pack]`.
static NANOS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static FLOPS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The decision: `Some(true)` pack, `Some(false)` stream, `None` still calibrating.
pub(super) fn decided() -> Option<bool> {
    match CHOICE.load(Ordering::Relaxed) {
        PACK => Some(true),
        STREAM => Some(false),
        _ => None,
    }
}

/// Whether the next calibration product packs (alternating).
pub(super) fn next_trial_packs() -> bool {
    STARTED.fetch_add(1, Ordering::Relaxed) % 2 == 1
}

/// Records one timed product; after [`TRIALS`] of them, decides.
pub(super) fn record(packed: bool, nanos: u64, flops: u64) {
    if STARTED.load(Ordering::Relaxed) <= WARM_UP {
        return;
    }
    let i = usize::from(packed);
    NANOS[i].fetch_add(nanos, Ordering::Relaxed);
    FLOPS[i].fetch_add(flops, Ordering::Relaxed);
    if FINISHED.fetch_add(1, Ordering::Relaxed) + 1 >= TRIALS {
        let rate = |j: usize| {
            let f = FLOPS[j].load(Ordering::Relaxed).max(1) as f64;
            NANOS[j].load(Ordering::Relaxed) as f64 / f
        };
        // A kind never timed (e.g. no buffer) counts as slower.
        let pack = FLOPS[1].load(Ordering::Relaxed) > 0 && rate(1) < rate(0);
        CHOICE.store(if pack { PACK } else { STREAM }, Ordering::Relaxed);
    }
}

/// The choice as a word for reports: `"pack A"`, `"stream A"` or `"calibrating"`.
pub fn describe() -> &'static str {
    match decided() {
        Some(true) => "pack A",
        Some(false) => "stream A",
        None => "calibrating",
    }
}
