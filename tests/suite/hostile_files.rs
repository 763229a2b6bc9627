//! Hostile and damaged files against the library's readers and writers (issue 13): every case
//! is a clean error naming the file and what is wrong, or a correct value; never a shifted
//! read, a blocked process or a lost good file.

#![cfg(feature = "model-files")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use symplode::codegen::tableau::{MAX_COEFFICIENT_CHARS, MAX_STAGES};
use symplode::io::safetensors::{self, NamedTensor, SafeTensors};
use symplode::io::{IoError, ModelSpec, npy, parse_tableau, read_tableau, write_atomic};

fn scratch(name: &str) -> PathBuf {
    crate::common::fresh_dir(&format!("hostile-{name}"))
}

/// A file from a JSON header (taken as is, padding included) and a data section.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn st_err(bytes: Vec<u8>) -> String {
    SafeTensors::parse(bytes, "w.safetensors")
        .unwrap_err()
        .to_string()
}

fn two_f64() -> Vec<u8> {
    let mut data = Vec::new();
    for v in [1.0f64, 2.0, 3.0] {
        data.extend(v.to_le_bytes());
    }
    data
}

#[test]
fn safetensors_must_cover_the_file_exactly() {
    let data = two_f64();
    let good = r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}"#;
    let f = SafeTensors::parse(raw(good, &data), "w.safetensors").unwrap();
    assert_eq!(f.tensor("b").unwrap().data, vec![3.0]);

    // A header length 8 bytes short: the padding parses as JSON, and every tensor would be
    // read 8 bytes early.
    let padded = format!("{good}{}", " ".repeat(16));
    let mut bytes = raw(&padded, &data);
    let n = padded.len() as u64 - 8;
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    let e = st_err(bytes);
    assert!(
        e.contains("not fully covered") && e.contains("8 trailing"),
        "{e}"
    );

    // Trailing bytes after the last tensor.
    let mut data_plus = data.clone();
    data_plus.extend([0u8; 4]);
    let e = st_err(raw(good, &data_plus));
    assert!(
        e.contains("not fully covered") && e.contains("4 trailing"),
        "{e}"
    );

    // Overlapping data_offsets.
    let overlap = r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}"#;
    let e = st_err(raw(overlap, &data));
    assert!(e.contains("`b`") && e.contains("overlaps"), "{e}");

    // A gap between tensors.
    let gap = r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}"#;
    let e = st_err(raw(gap, &data));
    assert!(e.contains("`b`") && e.contains("gap"), "{e}");

    // A header that does not start with `{` (a length that is too long by a few bytes makes
    // it start inside the length word's neighbour, or a wrong file).
    let e = st_err(raw(&format!(" {good}"), &data));
    assert!(e.contains("does not start with `{`"), "{e}");

    // Our own writer's files are covered exactly.
    let w = [1.0f32, 2.0];
    let bytes = safetensors::to_bytes(
        &[
            NamedTensor::new("x", &[2], &w),
            NamedTensor::new("y", &[0], &w[..0]),
        ],
        &BTreeMap::new(),
        "w",
    )
    .unwrap();
    SafeTensors::parse(bytes, "w").unwrap();
}

#[test]
fn every_non_float_dtype_is_refused_by_both_readers() {
    for (dtype, size) in [
        ("I8", 1),
        ("U8", 1),
        ("BOOL", 1),
        ("F8_E4M3", 1),
        ("F8_E5M2", 1),
        ("I16", 2),
        ("U16", 2),
        ("F16", 2),
        ("BF16", 2),
        ("I32", 4),
        ("U32", 4),
        ("I64", 8),
        ("U64", 8),
        ("C64", 8),
        ("", 4),
    ] {
        let header = format!(
            r#"{{"t":{{"dtype":"{dtype}","shape":[2],"data_offsets":[0,{}]}}}}"#,
            2 * size
        );
        let f = SafeTensors::parse(raw(&header, &vec![1u8; 2 * size]), "w.safetensors").unwrap();
        let e = f.tensor("t").unwrap_err();
        assert!(matches!(e, IoError::Dtype { .. }), "{dtype}: {e}");
        assert!(e.to_string().contains("supported: F32 and F64"), "{e}");
        let e = f.tensor_checked("t", &[2], "test").unwrap_err();
        assert!(matches!(e, IoError::Dtype { .. }), "{dtype}: {e}");
    }
    for (descr, size) in [
        ("<i4", 4),
        ("<i8", 8),
        ("|i1", 1),
        ("<i2", 2),
        ("<u4", 4),
        ("<u8", 8),
        ("|u1", 1),
        ("|b1", 1),
        ("<f2", 2),
        ("<f16", 16),
        ("<c8", 8),
        ("<c16", 16),
        ("|O", 8),
        ("<U1", 4),
        ("|S1", 1),
        ("|V8", 8),
        ("<M8[s]", 8),
        ("<m8[s]", 8),
        (">i4", 4),
    ] {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}\n");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(vec![0u8; 2 * size]);
        let e = npy::parse(&bytes, "x.npy").unwrap_err();
        assert!(matches!(e, IoError::Dtype { .. }), "{descr}: {e}");
        assert!(e.to_string().contains(descr), "{e}");
    }
}

#[test]
fn special_files_are_refused_before_reading() {
    let d = scratch("special");
    // A directory.
    let e = SafeTensors::read(&d).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: is a directory, not a regular file", d.display())
    );
    let e = read_tableau(&d).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    // A device that never ends.
    let start = Instant::now();
    let e = SafeTensors::read("/dev/zero").unwrap_err();
    assert!(e.to_string().contains("is a character device"), "{e}");
    let e = npy::read("/dev/zero").unwrap_err();
    assert!(e.to_string().contains("is a character device"), "{e}");
    assert!(start.elapsed().as_secs_f64() < 1.0);
    // A FIFO with no writer would block `open` forever.
    let fifo = d.join("x0.npy");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let e = npy::read(&fifo).unwrap_err();
        assert!(e.to_string().contains("is a FIFO"), "{e}");
        let e = ModelSpec::read(&fifo).unwrap_err();
        assert!(e.to_string().contains("is a FIFO"), "{e}");
    }
}

#[test]
fn sizes_claimed_in_headers_are_checked_against_the_file_first() {
    let d = scratch("claims");
    // An .npy header claiming 2^40 elements in a small file: refused without reading.
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }\n";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 64]);
    std::fs::write(d.join("big.npy"), &bytes).unwrap();
    let e = npy::read(d.join("big.npy")).unwrap_err().to_string();
    assert!(
        e.contains("needs 8796093022208 data bytes, the file has 64"),
        "{e}"
    );
    // A version-2 header length of 4 GiB.
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend(u32::MAX.to_le_bytes());
    bytes.extend([b' '; 32]);
    std::fs::write(d.join("hdr.npy"), &bytes).unwrap();
    let e = npy::read(d.join("hdr.npy")).unwrap_err().to_string();
    assert!(e.contains("longer than the limit"), "{e}");
    // A safetensors header length of 2^63.
    let mut bytes = (1u64 << 63).to_le_bytes().to_vec();
    bytes.extend(b"{}");
    std::fs::write(d.join("w.safetensors"), &bytes).unwrap();
    let e = SafeTensors::read(d.join("w.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("header length 9223372036854775808 exceeds the file"),
        "{e}"
    );
}

#[test]
fn writes_are_atomic_and_clean_stale_temporaries() {
    let d = scratch("atomic");
    let out = d.join("g.npy");
    npy::write(&out, &[2], &[1.0f64, 2.0]).unwrap();
    // A stale temporary of a process that no longer runs (pid 2^22 + 1 is beyond the default
    // pid_max) is removed by the next save; one of a running process (our own pid with another
    // counter is skipped: it is ours) is kept.
    let stale = d.join(".g.npy.tmp-4194305-0");
    std::fs::write(&stale, b"half").unwrap();
    npy::write(&out, &[2], &[3.0f64, 4.0]).unwrap();
    assert!(!stale.exists(), "stale temporary not removed");
    assert_eq!(npy::read(&out).unwrap().data, vec![3.0, 4.0]);
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["g.npy"]);

    // A write that fails leaves the previous file whole: here the temporary cannot be
    // created because its name (`.{name}.tmp-<pid>-<n>`) is longer than a file name may be,
    // while the file's own name is not. (Not by taking the temporary's name: the counter in it
    // is the process's, and other tests of this binary write files too.)
    let long = d.join(format!("{}.npy", "g".repeat(240)));
    std::fs::copy(&out, &long).unwrap();
    let e = npy::write(&long, &[2], &[5.0f64, 6.0])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&long.display().to_string()) && e.contains("create a temporary file"),
        "{e}"
    );
    assert_eq!(npy::read(&long).unwrap().data, vec![3.0, 4.0]);

    // Non-regular destinations are refused, with the path.
    let e = write_atomic(std::path::Path::new("/dev/null"), b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/null: is a character device, not a regular file"
    );
    let e = write_atomic(&d, b"x").unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    // A symbolic link is followed: the link stays, its target is replaced.
    let target = d.join("target.npy");
    npy::write(&target, &[1], &[1.0f64]).unwrap();
    let link = d.join("link.npy");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    npy::write(&link, &[1], &[2.0f64]).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(npy::read(&target).unwrap().data, vec![2.0]);
}

fn tableau_err(text: &str) -> String {
    parse_tableau(text, "t.toml", "t").unwrap_err().to_string()
}

const HEUN2: &str = "order = 2\nc = [\"0\", \"1\"]\na = [[], [\"1\"]]\n";

#[test]
fn a_tableau_cannot_lower_the_bar_of_its_own_proof() {
    // Weights summing to 2/3 "verified within tolerance 10".
    let e = tableau_err(&format!(
        "{HEUN2}b = [\"1/3\", \"1/3\"]\ntolerance = \"10\"\n"
    ));
    assert!(
        e.contains("tolerance 10 is not allowed") && e.contains("1e-10"),
        "{e}"
    );
    let e = tableau_err(&format!(
        "{HEUN2}b = [\"1/2\", \"1/2\"]\ntolerance = \"-1\"\n"
    ));
    assert!(e.contains("tolerance -1 is not allowed"), "{e}");
    // A tolerance up to 1e-10 is accepted, and exact tableaux pass with it.
    parse_tableau(
        &format!("{HEUN2}b = [\"1/2\", \"1/2\"]\ntolerance = \"1e-12\"\n"),
        "t.toml",
        "t",
    )
    .unwrap();
}

#[test]
fn coefficients_are_capped_and_range_checked_in_linear_time() {
    let start = Instant::now();
    let long = "1".repeat(200_000);
    let e = tableau_err(&format!("{HEUN2}b = [\"{long}\", \"1/2\"]\n"));
    assert!(
        e.contains("`b[0]`") && e.contains(&format!("longer than {MAX_COEFFICIENT_CHARS}")),
        "{e}"
    );
    // The message does not echo the 200,000 digits.
    assert!(e.len() < 400, "{} characters", e.len());
    assert!(start.elapsed().as_secs_f64() < 2.0);
    // A coefficient beyond f64 is named (not "non-finite state at step 1").
    let e =
        tableau_err("order = 1\nc = [\"0\", \"0\"]\na = [[], [\"0\"]]\nb = [\"1\", \"1e309\"]\n");
    assert!(
        e.contains("coefficient b_2 = 1000") && e.contains("range of f64"),
        "{e}"
    );
    let e = tableau_err(
        "order = 1\nc = [\"0\", \"1e309\"]\na = [[], [\"1e309\"]]\nb = [\"1\", \"0\"]\n",
    );
    assert!(
        e.contains("coefficient a_21") && e.contains("range of f64"),
        "{e}"
    );
    // Too many stages.
    let s = MAX_STAGES + 1;
    let zeros = |n: usize| vec!["\"0\""; n].join(", ");
    let a: Vec<String> = (0..s).map(|i| format!("[{}]", zeros(i))).collect();
    let mut b = vec!["\"0\""; s];
    b[0] = "\"1\"";
    let text = format!(
        "order = 1\nc = [{}]\na = [{}]\nb = [{}]\n",
        zeros(s),
        a.join(", "),
        b.join(", ")
    );
    let e = tableau_err(&text);
    assert!(
        e.contains(&format!("{s} stages; at most {MAX_STAGES}")),
        "{e}"
    );
}

#[test]
fn tableau_names_are_printable() {
    let e = tableau_err(&format!(
        "name = \"a\\u001b[2Jb\"\n{HEUN2}b = [\"1/2\", \"1/2\"]\n"
    ));
    assert!(e.contains("`name`") && e.contains("U+001B"), "{e}");
    assert!(!e.contains('\u{1b}'), "escape code echoed raw: {e:?}");
    // A file stem with an escape code is shown escaped.
    let d = scratch("names");
    let path = d.join("x\u{1b}[2J.toml");
    std::fs::write(&path, format!("{HEUN2}b = [\"1/2\", \"1/2\"]\n")).unwrap();
    let t = read_tableau(&path).unwrap();
    assert!(!t.name().contains('\u{1b}'), "{:?}", t.name());
}

#[test]
fn a_spec_with_many_layers_is_read_in_linear_time() {
    let layers = 80_000;
    let mut text = String::from("dim = 2\n");
    for k in 0..layers {
        text.push_str(&format!(
            "[[layers]]\nname = \"l{k}\"\nout = 2\nactivation = \"tanh\"\n"
        ));
    }
    text.push_str("[[layers]]\nname = \"last\"\nout = 2\n");
    let start = Instant::now();
    let spec = ModelSpec::parse(&text, "big.toml").unwrap();
    let first = start.elapsed().as_secs_f64();
    assert_eq!(spec.layers.len(), layers + 1);
    // A repeated name is found, and named, however far apart.
    let dup = text.replace("name = \"last\"", "name = \"l3\"");
    let e = ModelSpec::parse(&dup, "big.toml").unwrap_err().to_string();
    assert!(
        e.contains(&format!("layers[{layers}].name")) && e.contains("layers[3]"),
        "{e}"
    );
    assert!(first < 10.0, "80,000 layers took {first:.1} s");
}

#[test]
fn huge_widths_in_a_spec_are_refused_not_overflowed() {
    // Found by the fuzzing harness: `dim + 1` (the time input) overflowed.
    let e = ModelSpec::parse(
        "dim = 18446744073709551615\ntime_input = true\n[[layers]]\nname = \"0\"\nout = 1\n",
        "m.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("m.toml: `dim`: 18446744073709551615 is more than"),
        "{e}"
    );
    let e = ModelSpec::parse(
        "dim = 2\n[[layers]]\nname = \"a\"\nout = 4294967296\nactivation = \"tanh\"\n\
         [[layers]]\nname = \"b\"\nout = 2\n",
        "m.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`layers[0].out`: 4294967296 is more than"),
        "{e}"
    );
    let e = ModelSpec::parse(
        "dim = 1\n[[layers]]\nname = \"a\\u001b[0m\"\nout = 1\n",
        "m.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("control characters") && !e.contains('\u{1b}'),
        "{e}"
    );
}
