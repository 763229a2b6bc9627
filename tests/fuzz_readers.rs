//! Fuzzing the readers of untrusted files (model spec, tableau, safetensors, `.npy`,
//! checkpoint) with proptest: structured generation of valid files, then structured mutation
//! (header fields, dtypes, shapes, offsets, lengths, coefficients, JSON fields) and byte-level
//! mutation (flips, truncation, insertion, duplication, overwritten length words).
//!
//! Length: about 1000 lines, one file on purpose: the five readers share the mutation
//! strategies, the bounded-time/heap harness and the case counter defined here, and a test
//! target per reader would compile these helpers five times.
//!
//! Invariant for every case: a clean error or a correct value, no panic, bounded time (each
//! case under [`MAX_CASE_SECONDS`]) and bounded memory (each case's peak heap growth, counted by
//! a per-thread allocator, under [`MAX_CASE_HEAP`] plus a small multiple of the input size).
//!
//! `cargo test --test fuzz_readers` runs [`CI_CASES`] cases per reader;
//! `cargo test --test fuzz_readers -- --ignored --nocapture --test-threads 1` runs
//! [`LONG_CASES`] per reader, one `long_fuzz_*` test each (override either with
//! `SYMPLODE_FUZZ_CASES=N`).

#![cfg(feature = "model-files")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use symplode::codegen::tableau::{BUILTIN_NAMES, builtin};
use symplode::io::safetensors::{self, NamedTensor, SafeTensors};
use symplode::io::{ModelSpec, npy, parse_tableau, tableau_to_toml};
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, AdamConfig};
use symplode::train::{TrainConfig, Trainer, TrajectoryWindows};

/// Cases per reader in the ordinary test run.
const CI_CASES: u32 = 2000;
/// Cases per reader in the `--ignored` run.
const LONG_CASES: u32 = 100_000;
/// Longest time one case may take (debug build, on a shared 2-core machine).
const MAX_CASE_SECONDS: f64 = 5.0;
/// Heap growth allowed per case beyond 8× the input size.
const MAX_CASE_HEAP: usize = 64 << 20;

/// Counts this thread's live heap bytes and their peak (proptest runs a test's cases on the
/// test's thread, so each reader's cases are measured alone).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialised
// thread-locals (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `body` on one input, checking time and heap growth.
fn bounded(label: &str, input_len: usize, body: impl FnOnce()) -> Result<(), TestCaseError> {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let start = Instant::now();
    body();
    let secs = start.elapsed().as_secs_f64();
    let grew = (PEAK.with(Cell::get) - base).max(0) as usize;
    prop_assert!(
        secs < MAX_CASE_SECONDS,
        "{label}: a case took {secs:.2} s ({input_len} input bytes)"
    );
    prop_assert!(
        grew <= MAX_CASE_HEAP + 8 * input_len,
        "{label}: a case grew the heap by {grew} bytes ({input_len} input bytes)"
    );
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("SYMPLODE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    })
}

/// Runs `check` over `strategy` and prints how many cases ran and how long they took.
fn fuzz<S: Strategy>(
    label: &str,
    cases: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let start = Instant::now();
    let mut r = runner(cases);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    if let Err(e) = r.run(&strategy, |v| {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check(v)
    }) {
        panic!("{label}: {e}");
    }
    let ran = ran.into_inner();
    assert!(ran >= cases as usize, "{label}: only {ran} cases ran");
    println!(
        "fuzz {label}: {ran} cases in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutation.

/// One byte-level change; positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Duplicate(usize, usize),
    SetU64(usize, u64),
    SetU32(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let near = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(1u64 << 40),
        0u64..4096,
        any::<u64>(),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Set(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), 1usize..32).prop_map(|(a, n)| Mutation::Remove(a, n)),
        (any::<usize>(), 1usize..64).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        (prop_oneof![Just(0usize), any::<usize>()], near.clone())
            .prop_map(|(a, v)| Mutation::SetU64(a, v)),
        (
            prop_oneof![Just(8usize), any::<usize>()],
            near.prop_map(|v| v as u32)
        )
            .prop_map(|(a, v)| Mutation::SetU32(a, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    if n == 0 {
        return;
    }
    match m {
        Mutation::Flip(at, bit) => bytes[at % n] ^= 1 << bit,
        Mutation::Set(at, b) => bytes[at % n] = *b,
        Mutation::Truncate(at) => bytes.truncate(at % n),
        Mutation::Insert(at, b) => {
            let at = at % (n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(at, len) => {
            let at = at % n;
            let end = (at + len).min(n);
            bytes.drain(at..end);
        }
        Mutation::Duplicate(at, len) => {
            let at = at % n;
            let end = (at + len).min(n);
            let piece: Vec<u8> = bytes[at..end].to_vec();
            bytes.splice(end..end, piece);
        }
        Mutation::SetU64(at, v) => {
            if n >= 8 {
                let at = at % (n - 7);
                bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        Mutation::SetU32(at, v) => {
            if n >= 4 {
                let at = at % (n - 3);
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

fn mutated(mut bytes: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        apply(&mut bytes, m);
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// safetensors.

const ST_DTYPES: &[&str] = &[
    "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL",
    "F8_E4M3", "F8_E5M2", "C64", "", "f64",
];

/// A tensor written: name, shape, values.
type Written = (String, Vec<usize>, Vec<f64>);

/// The tensors a reading accepts: shape and, for F32/F64, values.
type Accepted = BTreeMap<String, (Vec<usize>, Option<Vec<f64>>)>;

/// A valid file of 1–4 float tensors, as bytes, with its tensors.
fn valid_safetensors() -> impl Strategy<Value = (Vec<u8>, Vec<Written>)> {
    let tensor = (
        "[a-z][a-z0-9.]{0,8}",
        prop::collection::vec(0usize..5, 0..3),
    );
    (prop::collection::vec(tensor, 1..4), any::<bool>()).prop_map(|(ts, f32s)| {
        let mut seen = std::collections::BTreeSet::new();
        let mut owned = Vec::new();
        for (k, (name, shape)) in ts.into_iter().enumerate() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let len: usize = shape.iter().product();
            let data: Vec<f64> = (0..len)
                .map(|i| (i as f64 + 0.5) * (k as f64 - 1.25))
                .collect();
            owned.push((name, shape, data));
        }
        let bytes = if f32s {
            let data32: Vec<Vec<f32>> = owned
                .iter()
                .map(|(_, _, d)| d.iter().map(|&v| v as f32).collect())
                .collect();
            let tensors: Vec<NamedTensor<'_, f32>> = owned
                .iter()
                .zip(&data32)
                .map(|((n, s, _), d)| NamedTensor::new(n, s, d))
                .collect();
            safetensors::to_bytes(&tensors, &BTreeMap::new(), "fuzz").unwrap()
        } else {
            let tensors: Vec<NamedTensor<'_, f64>> = owned
                .iter()
                .map(|(n, s, d)| NamedTensor::new(n, s, d))
                .collect();
            safetensors::to_bytes(&tensors, &BTreeMap::new(), "fuzz").unwrap()
        };
        (bytes, owned)
    })
}

/// A header field changed structurally: dtype, shape, offsets, or the header length.
#[derive(Clone, Debug)]
enum HeaderEdit {
    Dtype(usize, usize),
    Shape(usize, Vec<u64>),
    Offsets(usize, u64, u64),
    LengthDelta(i64),
    DropKey(usize),
}

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let big = prop_oneof![0u64..64, Just(u64::MAX), Just(1u64 << 62), any::<u64>()];
    prop_oneof![
        (any::<usize>(), 0..ST_DTYPES.len()).prop_map(|(t, d)| HeaderEdit::Dtype(t, d)),
        (any::<usize>(), prop::collection::vec(big.clone(), 0..4))
            .prop_map(|(t, s)| HeaderEdit::Shape(t, s)),
        (any::<usize>(), big.clone(), big).prop_map(|(t, a, b)| HeaderEdit::Offsets(t, a, b)),
        (-16i64..16).prop_map(HeaderEdit::LengthDelta),
        any::<usize>().prop_map(HeaderEdit::DropKey),
    ]
}

fn edit_header(bytes: &[u8], edit: &HeaderEdit) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let keys: Vec<String> = header.keys().cloned().collect();
    let pick = |t: &usize| keys[t % keys.len()].clone();
    let mut delta = 0i64;
    match edit {
        HeaderEdit::Dtype(t, d) => {
            header[&pick(t)]["dtype"] = ST_DTYPES[*d].into();
        }
        HeaderEdit::Shape(t, s) => {
            header[&pick(t)]["shape"] = s.clone().into();
        }
        HeaderEdit::Offsets(t, a, b) => {
            header[&pick(t)]["data_offsets"] = vec![*a, *b].into();
        }
        HeaderEdit::LengthDelta(d) => delta = *d,
        HeaderEdit::DropKey(t) => {
            let k = pick(t);
            header.remove(&k);
        }
    }
    let json = serde_json::Value::Object(header).to_string();
    let len = (json.len() as i64 + delta).max(0) as u64;
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

/// An independent reading of the format's rules (those of the reference implementation):
/// the accepted tensors' shapes and, for F32/F64, values; `None` when the file is invalid.
fn reference_safetensors(bytes: &[u8]) -> Option<Accepted> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    if n > 100_000_000 || n > (bytes.len() - 8) as u64 {
        return None;
    }
    let header = &bytes[8..8 + n as usize];
    if header.first() != Some(&b'{') {
        return None;
    }
    let data = &bytes[8 + n as usize..];
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    let mut spans = Vec::new();
    let mut out = BTreeMap::new();
    for (name, v) in map {
        if name == "__metadata__" {
            if !v.as_object()?.values().all(serde_json::Value::is_string) {
                return None;
            }
            continue;
        }
        let dtype = v.get("dtype")?.as_str()?;
        let size = match dtype {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
            _ => 0,
        };
        let ints = |key: &str| -> Option<Vec<usize>> {
            v.get(key)?
                .as_array()?
                .iter()
                .map(|x| x.as_u64().and_then(|u| usize::try_from(u).ok()))
                .collect()
        };
        let shape = ints("shape")?;
        let offsets = ints("data_offsets")?;
        let [b, e] = offsets[..] else { return None };
        if b > e || e > data.len() {
            return None;
        }
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        if size > 0 && count.checked_mul(size)? != e - b {
            return None;
        }
        let values = match dtype {
            "F64" => Some(
                data[b..e]
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            "F32" => Some(
                data[b..e]
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
                    .collect(),
            ),
            _ => None,
        };
        spans.push((b, e));
        out.insert(name, (shape, values));
    }
    spans.sort_unstable();
    let mut at = 0;
    for (b, e) in spans {
        if b != at {
            return None;
        }
        at = e;
    }
    (at == data.len()).then_some(out)
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn check_safetensors(bytes: Vec<u8>, original: Option<&[Written]>) {
    let len = bytes.len();
    let reference = reference_safetensors(&bytes);
    let parsed = SafeTensors::parse(bytes, "fuzz.safetensors");
    // Accepted exactly when the reference rules accept, with the same tensors and values.
    match (&parsed, &reference) {
        (Ok(file), Some(r)) => {
            assert_eq!(file.names(), r.keys().cloned().collect::<Vec<_>>());
            for (name, (shape, values)) in r {
                match (file.tensor(name), values) {
                    (Ok(t), Some(v)) => {
                        assert_eq!(&t.shape, shape, "{name}");
                        assert!(same_values(&t.data, v), "{name}: values differ");
                        assert!(t.data.len() * 4 <= len);
                    }
                    (Err(e), None) => {
                        assert!(matches!(e, symplode::io::IoError::Dtype { .. }), "{e}");
                    }
                    (got, want) => panic!("{name}: {got:?} vs reference {want:?}"),
                }
            }
        }
        (Err(_), None) => {}
        (got, want) => panic!(
            "the reader {} the file, the reference rules {} it",
            if got.is_ok() { "accepts" } else { "refuses" },
            if want.is_some() { "accept" } else { "refuse" }
        ),
    }
    if let Some(orig) = original {
        let file = parsed.expect("a valid file was refused");
        for (name, shape, data) in orig {
            let t = file.tensor(name).unwrap();
            assert_eq!(&t.shape, shape);
            for (a, b) in t.data.iter().zip(data) {
                assert!(*a == *b || (*a - *b).abs() <= 1e-6 * b.abs(), "{name}");
            }
        }
    }
}

fn fuzz_safetensors(n: u32) {
    let strategy = (
        valid_safetensors(),
        prop::option::of(header_edit()),
        prop::collection::vec(mutation(), 0..3),
    );
    fuzz("safetensors", n, strategy, |((bytes, orig), edit, ms)| {
        let untouched = edit.is_none() && ms.is_empty();
        let bytes = match &edit {
            Some(e) => edit_header(&bytes, e),
            None => bytes,
        };
        let bytes = mutated(bytes, &ms);
        let len = bytes.len();
        bounded("safetensors", len, || {
            check_safetensors(bytes, untouched.then_some(&orig[..]))
        })
    });
}

// ---------------------------------------------------------------------------------------------
// .npy

const NPY_DESCRS: &[&str] = &[
    "<f8", "<f4", ">f8", ">f4", "=f8", "|f1", "<f2", "<f16", "<i4", "<i8", "|i1", "<u4", "|u1",
    "|b1", "<c8", "<c16", "|O", "<U3", "|S4", "|V8", "<M8[s]", "<m8", "",
];

/// A header and data built from structured choices, possibly inconsistent.
fn npy_file() -> impl Strategy<Value = Vec<u8>> {
    let dims = prop::collection::vec(
        prop_oneof![0usize..6, Just(usize::MAX), Just(1usize << 40)],
        0..4,
    );
    (
        0..NPY_DESCRS.len(),
        any::<bool>(),
        dims,
        prop_oneof![Just(1u8), Just(2u8), Just(3u8), any::<u8>()],
        -9i64..9,
    )
        .prop_map(|(d, fortran, shape, version, extra)| {
            let descr = NPY_DESCRS[d];
            let dims = match &shape[..] {
                [d] => format!("({d},)"),
                s => format!(
                    "({})",
                    s.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let f = if fortran { "True" } else { "False" };
            let header =
                format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {dims}, }}\n");
            let count = shape
                .iter()
                .try_fold(1usize, |a, &b| a.checked_mul(b))
                .filter(|&c| c <= 64)
                .unwrap_or(3);
            let size = if descr.ends_with('4') { 4 } else { 8 };
            let body = ((count * size) as i64 + extra).max(0) as usize;
            let mut out = b"\x93NUMPY".to_vec();
            out.push(version);
            out.push(0);
            if version == 1 {
                out.extend((header.len() as u16).to_le_bytes());
            } else {
                out.extend((header.len() as u32).to_le_bytes());
            }
            out.extend(header.as_bytes());
            out.extend((0..body).map(|i| (i * 37 % 251) as u8));
            out
        })
}

fn valid_npy() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<f64>)> {
    (prop::collection::vec(0usize..5, 0..4), any::<bool>()).prop_map(|(shape, f32s)| {
        let len: usize = shape.iter().product();
        let data: Vec<f64> = (0..len).map(|i| i as f64 * 0.25 - 1.0).collect();
        let bytes = if f32s {
            let d: Vec<f32> = data.iter().map(|&v| v as f32).collect();
            npy::to_bytes(&shape, &d, "fuzz").unwrap()
        } else {
            npy::to_bytes(&shape, &data, "fuzz").unwrap()
        };
        (bytes, shape, data)
    })
}

fn fuzz_npy(n: u32) {
    let strategy = (
        prop_oneof![
            valid_npy().prop_map(|(b, s, d)| (b, Some((s, d)))),
            npy_file().prop_map(|b| (b, None)),
        ],
        prop::collection::vec(mutation(), 0..3),
    );
    fuzz("npy", n, strategy, |((bytes, orig), ms)| {
        let untouched = ms.is_empty();
        let bytes = mutated(bytes, &ms);
        bounded("npy", bytes.len(), || {
            if let Ok(a) = npy::parse(&bytes, "fuzz.npy") {
                assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
                assert!(a.data.len() * 4 <= bytes.len());
                if let (true, Some((shape, data))) = (untouched, &orig) {
                    assert_eq!(&a.shape, shape);
                    assert_eq!(&a.data, data);
                }
            } else if let (true, Some(_)) = (untouched, &orig) {
                panic!("a valid file was refused");
            }
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Model spec (TOML).

fn spec_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        (0u64..70).prop_map(|v| v.to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("1e308".to_string()),
        Just("\"x\"".to_string()),
        Just("true".to_string()),
    ];
    let act = prop_oneof![
        Just(None),
        Just(Some("tanh")),
        Just(Some("relu")),
        Just(Some("softplus")),
        Just(Some("bogus")),
        Just(Some("\u{1b}[31m")),
    ];
    let layer = ("[a-z.0-9]{0,6}", value.clone(), act);
    (
        value.clone(),
        any::<bool>(),
        prop::collection::vec(layer, 0..6),
        prop_oneof![
            Just(String::new()),
            Just("[solver]\nsteps = 4\n".to_string()),
            Just("[solver]\nrtol = 1e-6\natol = 1e-8\nmax_steps = 5\n".to_string()),
            Just("[solver]\nsteps = 4\nrtol = -1\n".to_string()),
            Just("[solver]\nfirst_step = 0.1\n".to_string()),
            Just("[solver]\nrtol = nan\n".to_string()),
        ],
        prop_oneof![
            Just(""),
            Just("tableau = \"rk4\"\n"),
            Just("tableau = \"nope\"\n"),
            Just("bogus = 1\n"),
        ],
    )
        .prop_map(|(dim, time, layers, solver, extra)| {
            let mut s = format!("dim = {dim}\ntime_input = {time}\n{extra}");
            for (name, out, act) in layers {
                s.push_str(&format!("[[layers]]\nname = \"{name}\"\nout = {out}\n"));
                if let Some(a) = act {
                    s.push_str(&format!("activation = \"{a}\"\n"));
                }
            }
            s.push_str(&solver);
            s
        })
}

fn fuzz_spec(n: u32) {
    let strategy = (spec_text(), prop::collection::vec(mutation(), 0..2));
    fuzz("spec", n, strategy, |(text, ms)| {
        let bytes = mutated(text.into_bytes(), &ms);
        let len = bytes.len();
        bounded("spec", len, || {
            let Ok(text) = String::from_utf8(bytes) else {
                return;
            };
            if let Ok(spec) = ModelSpec::parse(&text, "fuzz.toml") {
                let back = ModelSpec::parse(&spec.to_toml().unwrap(), "fuzz.toml").unwrap();
                assert_eq!(back.layers, spec.layers);
                assert_eq!(back.solver, spec.solver);
                assert_eq!(spec.layers.last().unwrap().out, spec.dim);
            }
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Tableau (TOML).

fn coefficient() -> impl Strategy<Value = String> {
    prop_oneof![
        (-9i64..10, 1i64..10).prop_map(|(n, d)| format!("{n}/{d}")),
        (-9i64..10).prop_map(|n| n.to_string()),
        (0u32..100, 0u32..4).prop_map(|(m, e)| format!("0.{m}e-{e}")),
        Just("1e400".to_string()),
        Just("1e300".to_string()),
        Just("-1e309".to_string()),
        Just("1/0".to_string()),
        Just("abc".to_string()),
        Just("9".repeat(1200)),
        Just(format!("1.{}", "3".repeat(900))),
        Just("1e-10000".to_string()),
    ]
}

/// The built-ins whose files are mutated: all but dopri8, whose order-8 proof alone takes
/// about a second in a debug build (it is checked once, with a hostile coefficient, in
/// `dopri8_with_a_longest_coefficient_is_checked_in_bounded_time`).
fn fuzzed_builtins() -> Vec<&'static str> {
    BUILTIN_NAMES
        .iter()
        .copied()
        .filter(|n| *n != "dopri8")
        .collect()
}

/// A tableau file: either a built-in's exact TOML with one coefficient or field replaced, or
/// random coefficients.
fn tableau_text() -> impl Strategy<Value = String> {
    let names = fuzzed_builtins();
    let edited = (
        0..names.len(),
        any::<usize>(),
        coefficient(),
        prop_oneof![
            Just(String::new()),
            Just("tolerance = \"10\"\n".to_string()),
            Just("tolerance = \"-1\"\n".to_string()),
            Just("tolerance = \"1e-12\"\n".to_string()),
            Just("order = 9\n".to_string()),
            Just("name = \"a\\u001b[2Jb\"\n".to_string()),
        ],
    )
        .prop_map(move |(b, at, coef, extra)| {
            let text = tableau_to_toml(&builtin(names[b]).unwrap());
            // Replace the at-th quoted coefficient.
            let quoted: Vec<(usize, usize)> = text
                .match_indices('"')
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
                .chunks_exact(2)
                .map(|c| (c[0], c[1]))
                .collect();
            let mut text = if quoted.len() > 1 {
                let (a, z) = quoted[1 + at % (quoted.len() - 1)];
                format!("{}\"{coef}\"{}", &text[..a], &text[z + 1..])
            } else {
                text
            };
            if !extra.is_empty() {
                // Prepend (a repeated key is a TOML error, also fine).
                text = format!("{extra}{text}");
            }
            text
        });
    let random = (1usize..7, 1u32..6, prop::collection::vec(coefficient(), 64)).prop_map(
        |(s, order, pool)| {
            let mut k = 0;
            let mut next = || {
                k += 1;
                format!("\"{}\"", pool[k % pool.len()])
            };
            let c: Vec<String> = (0..s).map(|_| next()).collect();
            let b: Vec<String> = (0..s).map(|_| next()).collect();
            let a: Vec<String> = (0..s)
                .map(|i| {
                    format!(
                        "[{}]",
                        (0..i).map(|_| next()).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            format!(
                "order = {order}\nc = [{}]\na = [{}]\nb = [{}]\n",
                c.join(", "),
                a.join(", "),
                b.join(", ")
            )
        },
    );
    prop_oneof![edited, random]
}

fn fuzz_tableau(n: u32) {
    let strategy = (tableau_text(), prop::collection::vec(mutation(), 0..2));
    fuzz("tableau", n, strategy, |(text, ms)| {
        let bytes = mutated(text.into_bytes(), &ms);
        let len = bytes.len();
        bounded("tableau", len, || {
            let Ok(text) = String::from_utf8(bytes) else {
                return;
            };
            if let Ok(t) = parse_tableau(&text, "fuzz.toml", "fuzz") {
                // A correct value: the claimed order holds, the tolerance is tiny, the name
                // is printable, and the tableau round-trips.
                assert!(t.name().chars().all(|c| !c.is_control()));
                assert!(symplode::codegen::tableau::q_to_f64(t.tolerance()) <= 1e-10);
                if *t.tolerance() == Default::default() {
                    assert!(t.satisfied_order(t.order()) >= t.order());
                }
                for x in t.b().iter().chain(t.c()) {
                    assert!(symplode::codegen::tableau::q_to_f64(x).is_finite());
                }
                let back = parse_tableau(&tableau_to_toml(&t), "back.toml", "fuzz").unwrap();
                assert_eq!(back, t);
            }
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn ck_data() -> TrajectoryWindows<f64> {
    let times: Vec<f64> = (0..20).map(|i| 0.05 * i as f64).collect();
    let states: Vec<f64> = times.iter().flat_map(|t| [(-t).exp(), t.cos()]).collect();
    TrajectoryWindows::new(times, states, 2, 4, 3).unwrap()
}

fn ck_net() -> Mlp<f64> {
    Mlp::new(MlpConfig::new(2, vec![3], Activation::Tanh, false), 1).unwrap()
}

fn ck_trainer<'a>(scheme: &'a Scheme<f64>) -> Trainer<'a, f64> {
    let config = TrainConfig {
        iterations: 4,
        seed: 5,
        ..TrainConfig::default()
    };
    let adam = Adam::new(AdamConfig::default()).unwrap();
    Trainer::new(&SymplecticAdjoint, scheme, Stepping::fixed(1), adam, config).unwrap()
}

/// A JSON edit of checkpoint.json: a field path and a new value.
fn json_edit() -> impl Strategy<Value = (usize, serde_json::Value)> {
    let value = prop_oneof![
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(0)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!("f32")),
        Just(serde_json::json!("")),
        Just(serde_json::json!("../x")),
        Just(serde_json::json!(null)),
        Just(serde_json::json!([])),
        (0u64..10).prop_map(|v| serde_json::json!(v)),
    ];
    (any::<usize>(), value)
}

/// Every leaf path of a JSON value.
fn leaves(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                leaves(x, format!("{path}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{path}/{i}"), out);
            }
        }
        _ => out.push(path),
    }
}

fn fuzz_checkpoint(n: u32) {
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    // Memory-backed when available: each case writes two small files.
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    };
    let base = root.join(format!("symplode-fuzz-checkpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let good = base.join("good");
    {
        let mut t = ck_trainer(&scheme);
        let mut net = ck_net();
        let data = ck_data();
        for _ in 0..2 {
            let mut rng = symplode::runtime::rng::Rng::new(t.iteration());
            let batch = symplode::train::Batches::batch(&data, &mut rng).unwrap();
            t.step(&mut net, &batch).unwrap();
        }
        t.save_checkpoint(&net, &good).unwrap();
    }
    let meta_text = std::fs::read(good.join("checkpoint.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta_text).unwrap();
    let tensors_name = meta["tensors_file"].as_str().unwrap().to_string();
    let tensors = std::fs::read(good.join(&tensors_name)).unwrap();
    let mut paths = Vec::new();
    leaves(&meta, String::new(), &mut paths);
    let case_dir = base.join("case");
    std::fs::create_dir_all(&case_dir).unwrap();

    let strategy = (
        prop::option::of(json_edit()),
        prop::collection::vec(mutation(), 0..2),
        any::<bool>(),
    );
    fuzz("checkpoint", n, strategy, |(edit, ms, fix_sum)| {
        let mut meta = meta.clone();
        if let Some((at, v)) = &edit {
            *meta.pointer_mut(&paths[at % paths.len()]).unwrap() = v.clone();
        }
        let bytes = mutated(tensors.clone(), &ms);
        if fix_sum {
            meta["tensors_bytes"] = bytes.len().into();
            meta["tensors_fnv1a64"] = format!("{:016x}", fnv1a64(&bytes)).into();
        }
        let meta_bytes = serde_json::to_vec(&meta).unwrap();
        write(&case_dir.join(&tensors_name), &bytes);
        write(&case_dir.join("checkpoint.json"), &meta_bytes);
        let untouched = edit.is_none() && ms.is_empty();
        bounded("checkpoint", bytes.len() + meta_bytes.len(), || {
            let mut t = ck_trainer(&scheme);
            let mut net = ck_net();
            let before = net.params().to_vec();
            match t.resume(&mut net, &case_dir) {
                Ok(r) => {
                    assert!(r.iteration <= 4);
                    assert!(t.optimizer().steps() <= r.iteration);
                    assert!(net.params().iter().all(|v| v.is_finite()));
                }
                Err(_) => {
                    assert!(!untouched, "the good checkpoint was refused");
                    assert_eq!(
                        net.params(),
                        &before[..],
                        "a failed resume changed the model"
                    );
                    assert_eq!(t.iteration(), 0);
                }
            }
        })
    });
    let _ = std::fs::remove_dir_all(&base);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

// ---------------------------------------------------------------------------------------------

#[test]
fn fuzz_safetensors_reader() {
    fuzz_safetensors(cases(CI_CASES));
}

#[test]
fn fuzz_npy_reader() {
    fuzz_npy(cases(CI_CASES));
}

#[test]
fn fuzz_spec_reader() {
    fuzz_spec(cases(CI_CASES));
}

#[test]
fn fuzz_tableau_reader() {
    fuzz_tableau(cases(CI_CASES));
}

#[test]
fn dopri8_with_a_longest_coefficient_is_checked_in_bounded_time() {
    let d8 = tableau_to_toml(&builtin("dopri8").unwrap());
    let with = |digits: usize| {
        let long = format!("\"1/{}\"", "7".repeat(digits));
        d8.replacen("\"1/18\"", &long, 2)
    };
    // 4000 digits at order 8 would take ~35 s (debug build): refused at once.
    let start = Instant::now();
    let e = parse_tableau(&with(4000), "d8.toml", "d8")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("4002 characters") && e.contains("at most 1000"),
        "{e}"
    );
    assert!(start.elapsed().as_secs_f64() < 1.0);
    // The longest allowed (998 characters) is validated in bounded time.
    let start = Instant::now();
    let e = parse_tableau(&with(996), "d8.toml", "d8").unwrap_err();
    assert!(e.to_string().contains("order"), "{e}");
    let secs = start.elapsed().as_secs_f64();
    assert!(secs < 30.0, "{secs:.1} s");
}

#[test]
fn fuzz_checkpoint_reader() {
    fuzz_checkpoint(cases(CI_CASES / 3));
}

/// The long run of one reader (`SYMPLODE_FUZZ_CASES` cases, default 100,000):
/// `cargo test --test fuzz_readers -- --ignored --nocapture --test-threads 1`.
#[test]
#[ignore = "long: 100,000 cases"]
fn long_fuzz_safetensors() {
    fuzz_safetensors(cases(LONG_CASES));
}

/// See [`long_fuzz_safetensors`].
#[test]
#[ignore = "long: 100,000 cases"]
fn long_fuzz_npy() {
    fuzz_npy(cases(LONG_CASES));
}

/// See [`long_fuzz_safetensors`].
#[test]
#[ignore = "long: 100,000 cases"]
fn long_fuzz_spec() {
    fuzz_spec(cases(LONG_CASES));
}

/// See [`long_fuzz_safetensors`].
#[test]
#[ignore = "long: 100,000 cases"]
fn long_fuzz_tableau() {
    fuzz_tableau(cases(LONG_CASES));
}

/// See [`long_fuzz_safetensors`].
#[test]
#[ignore = "long: 100,000 cases"]
fn long_fuzz_checkpoint() {
    fuzz_checkpoint(cases(LONG_CASES));
}
