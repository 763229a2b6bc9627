//! `.npy` reader and writer: round trips, NumPy's header layout, and malformed files.

use symplode::io::{Dtype, IoError, npy};

fn tmp(name: &str) -> std::path::PathBuf {
    crate::common::scratch_file("io-npy", name)
}

/// A version-1.0 file with the given header dict and data bytes.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn round_trips_f64_and_f32_exactly() {
    let x: Vec<f64> = (0..12).map(|i| (i as f64).sin() / 3.0).collect();
    let path = tmp("a.npy");
    npy::write(&path, &[4, 3], &x).unwrap();
    let a = npy::read(&path).unwrap();
    assert_eq!((a.dtype, a.shape.clone()), (Dtype::F64, vec![4, 3]));
    assert_eq!(a.to_vec::<f64>(), x);

    let y: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    npy::write(&path, &[2, 2, 3], &y).unwrap();
    let b = npy::read(&path).unwrap();
    assert_eq!((b.dtype, b.shape.clone()), (Dtype::F32, vec![2, 2, 3]));
    assert_eq!(b.to_vec::<f32>(), y);

    let bytes = npy::to_bytes(&[5], &[1.0f64; 5], "v").unwrap();
    let c = npy::parse(&bytes, "v").unwrap();
    assert_eq!(c.shape, vec![5]);
}

#[test]
fn header_is_padded_like_numpy() {
    let bytes = npy::to_bytes(&[3, 2], &[0.0f64; 6], "x").unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"));
    assert!(header.ends_with('\n'));
    let one = npy::to_bytes(&[4], &[0.0f32; 4], "x").unwrap();
    let l = u16::from_le_bytes([one[8], one[9]]) as usize;
    assert!(String::from_utf8_lossy(&one[10..10 + l]).contains("'descr': '<f4'"));
    assert!(String::from_utf8_lossy(&one[10..10 + l]).contains("'shape': (4,)"));
}

#[test]
fn reads_numpy_variants() {
    // Double quotes, other key order, big-endian data, no trailing comma.
    let data: Vec<u8> = [1.5f64, -2.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let bytes = raw(
        "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \">f8\"}",
        &data,
    );
    let a = npy::parse(&bytes, "be.npy").unwrap();
    assert_eq!(a.data, vec![1.5, -2.0]);
    // A scalar.
    let s = raw(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        &2.5f32.to_le_bytes(),
    );
    let s = npy::parse(&s, "s.npy").unwrap();
    assert_eq!((s.shape.len(), s.data[0]), (0, 2.5));
}

fn err(bytes: &[u8]) -> String {
    npy::parse(bytes, "bad.npy").unwrap_err().to_string()
}

#[test]
fn rejects_malformed_files_with_the_reason() {
    let good = npy::to_bytes(&[2, 3], &[0.0f64; 6], "x").unwrap();
    assert!(err(b"PK\x03\x04 not numpy").contains("magic"));
    assert!(err(&good[..good.len() - 1]).contains("needs 48 data bytes, the file has 47"));
    let mut v9 = good.clone();
    v9[6] = 9;
    assert!(err(&v9).contains("version 9"));
    let fortran = raw(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }",
        &[0; 8],
    );
    assert!(err(&fortran).contains("Fortran"));
    let ints = raw(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    let e = npy::parse(&ints, "bad.npy").unwrap_err();
    assert!(matches!(e, IoError::Dtype { .. }), "{e}");
    assert!(e.to_string().contains("<i8"));
    let garbage = raw("{'descr': '<f8', 'shape': (1,), }", &[0; 8]);
    assert!(err(&garbage).contains("fortran_order"));
    let mut huge = good.clone();
    huge[8] = 0xff;
    huge[9] = 0xff;
    assert!(err(&huge).contains("runs past the end"));
    for e in [err(b""), err(&good[..good.len() - 1])] {
        assert!(e.starts_with("bad.npy: "), "{e}");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn reports_missing_files_and_non_finite_values() {
    let e = npy::read(tmp("does-not-exist.npy")).unwrap_err();
    assert!(matches!(e, IoError::Read { .. }));
    assert!(e.to_string().contains("does-not-exist.npy"));
    let a = npy::parse(
        &npy::to_bytes(&[2, 2], &[0.0, 1.0, f64::NAN, 3.0], "x").unwrap(),
        "x",
    )
    .unwrap();
    let e = a.check_finite("x.npy", "x0").unwrap_err().to_string();
    assert_eq!(e, "x.npy: x0 element [1, 0] is NaN (not finite)");
    let e = npy::to_bytes(&[2, 2], &[0.0f64; 3], "out.npy").unwrap_err();
    assert!(matches!(e, IoError::Shape { .. }), "{e}");
}
