//! safetensors reader and writer: round trips, files laid out by other writers, and damaged
//! files (each error names the file and the tensor).

use std::collections::BTreeMap;

use symplode::io::safetensors::{self, NamedTensor, SafeTensors};
use symplode::io::{Dtype, IoError};

/// A file from a JSON header and a data section, as any writer would lay it out.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn parse(bytes: Vec<u8>) -> Result<SafeTensors, IoError> {
    SafeTensors::parse(bytes, "w.safetensors")
}

#[test]
fn round_trips_with_metadata() {
    let w: Vec<f64> = (0..6).map(|i| i as f64 * 0.1 - 0.2).collect();
    let b = [0.5f64, -0.25];
    let mut meta = BTreeMap::new();
    meta.insert("loss".to_string(), "1.5".to_string());
    let tensors = [
        NamedTensor::new("net.0.weight", &[2, 3], &w),
        NamedTensor::new("net.0.bias", &[2], &b),
    ];
    let bytes = safetensors::to_bytes(&tensors, &meta, "g").unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(header_len % 8, 0, "header padded to 8 bytes");
    let f = parse(bytes).unwrap();
    assert_eq!(f.names(), vec!["net.0.bias", "net.0.weight"]);
    assert_eq!(f.metadata(), &meta);
    assert_eq!(f.info("net.0.weight"), Some((&[2usize, 3][..], "F64")));
    let t = f.tensor("net.0.weight").unwrap();
    assert_eq!(
        (t.dtype, t.shape.as_slice(), t.data),
        (Dtype::F64, &[2, 3][..], w)
    );
    assert_eq!(f.tensor_checked("net.0.bias", &[2], "bias").unwrap(), b);

    let w32: Vec<f32> = vec![1.0, 2.5, -3.25];
    let path =
        std::env::temp_dir().join(format!("symplode-io-st-{}.safetensors", std::process::id()));
    safetensors::write(
        &path,
        &[NamedTensor::new("v", &[3], &w32)],
        &BTreeMap::new(),
    )
    .unwrap();
    let t = SafeTensors::read(&path).unwrap().tensor("v").unwrap();
    assert_eq!((t.dtype, t.data), (Dtype::F32, vec![1.0, 2.5, -3.25]));
    let _ = std::fs::remove_file(path);
}

#[test]
fn reads_files_of_other_writers() {
    // Keys in another order, an unpadded header, metadata, an I64 tensor next to the floats.
    let mut data = Vec::new();
    data.extend(1.5f32.to_le_bytes());
    data.extend(2.5f32.to_le_bytes());
    data.extend(7i64.to_le_bytes());
    let header = r#"{"__metadata__":{"format":"pt"},"b":{"shape":[1],"data_offsets":[8,16],"dtype":"I64"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let f = parse(raw(header, &data)).unwrap();
    assert_eq!(f.tensor("a").unwrap().data, vec![1.5, 2.5]);
    assert_eq!(f.metadata()["format"], "pt");
    let e = f.tensor("b").unwrap_err();
    assert!(matches!(e, IoError::Dtype { .. }));
    assert_eq!(
        e.to_string(),
        "w.safetensors: tensor `b` has element type I64; supported: F32 and F64"
    );
}

#[test]
fn names_the_missing_tensor_and_what_the_file_has() {
    let bytes = safetensors::to_bytes(
        &[NamedTensor::new("layers.0.weight", &[1], &[0.0f64])],
        &BTreeMap::new(),
        "w",
    )
    .unwrap();
    let e = parse(bytes).unwrap().tensor("net.0.weight").unwrap_err();
    assert_eq!(
        e.to_string(),
        "w.safetensors: tensor `net.0.weight` not found; the file has `layers.0.weight`"
    );
}

#[test]
fn checks_shape_and_finiteness() {
    let v = [1.0f64, f64::INFINITY, 3.0, 4.0, 5.0, 6.0];
    let f = parse(
        safetensors::to_bytes(&[NamedTensor::new("w", &[2, 3], &v)], &BTreeMap::new(), "w")
            .unwrap(),
    )
    .unwrap();
    let e = f
        .tensor_checked("w", &[3, 2], "[out, in] of layer `net.0`")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "w.safetensors: tensor `w` has shape [2, 3], expected [3, 2] ([out, in] of layer `net.0`)"
    );
    let e = f.tensor_checked("w", &[2, 3], "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "w.safetensors: tensor `w` element [0, 1] is inf (not finite)"
    );
}

#[test]
fn rejects_damaged_files() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![1, 2, 3], "shorter than the 8-byte header length"),
        (
            raw("{}", &[]).into_iter().take(9).collect(),
            "exceeds the file",
        ),
        (raw("[1, 2]", &[]), "does not start with `{`"),
        (raw("{\"a\": ", &[]), "not a JSON object"),
        (
            raw(
                r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#,
                &[0; 8],
            ),
            "lie outside the 8 data bytes",
        ),
        (
            raw(
                r#"{"a":{"dtype":"F64","shape":[3],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
            "shape [3] of F64 needs 24 bytes",
        ),
        (
            raw(r#"{"a":{"dtype":"F64","shape":[2]}}"#, &[0; 16]),
            "tensor `a` has no `data_offsets`",
        ),
        (
            raw(
                r#"{"a":{"dtype":"F64","shape":[-2],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
            "`shape` is not a list of unsigned integers",
        ),
        (
            raw(
                r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[16,0]}}"#,
                &[0; 16],
            ),
            "lie outside",
        ),
        (
            raw(r#"{"__metadata__":{"k":1}}"#, &[]),
            "`__metadata__.k` is not a string",
        ),
    ];
    for (bytes, want) in cases {
        let e = parse(bytes).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, IoError::Format { .. }), "{text}");
        assert!(
            text.starts_with("w.safetensors: not a valid safetensors file: "),
            "{text}"
        );
        assert!(text.contains(want), "{text} lacks {want}");
        assert!(!text.contains('\n'));
    }
}

#[test]
fn writer_rejects_bad_names_and_shapes() {
    let v = [0.0f64; 4];
    let dup = [
        NamedTensor::new("a", &[4], &v),
        NamedTensor::new("a", &[4], &v),
    ];
    assert!(matches!(
        safetensors::to_bytes(&dup, &BTreeMap::new(), "g"),
        Err(IoError::Field { .. })
    ));
    let bad = [NamedTensor::new("a", &[3], &v)];
    assert!(matches!(
        safetensors::to_bytes(&bad, &BTreeMap::new(), "g"),
        Err(IoError::Shape { .. })
    ));
}
