//! NumPy `.npy` arrays of `f32` or `f64`: initial states `[batch, dim]`, cotangents and solver
//! outputs `[K, batch, dim]`.
//!
//! Reads format versions 1.0, 2.0 and 3.0 with `descr` `<f4`, `<f8` (and big-endian `>f4`,
//! `>f8`), C order; writes version 1.0, little-endian, C order, with the header padded to a
//! multiple of 64 bytes as NumPy does. Fortran-order arrays and other element types are
//! rejected with an error naming the file.
//!
//! ```
//! use symplode::io::npy;
//!
//! let bytes = npy::to_bytes(&[2, 3], &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], "x0.npy")?;
//! let back = npy::parse(&bytes, "x0.npy")?;
//! assert_eq!(back.shape, vec![2, 3]);
//! assert_eq!(back.data[5], 6.0);
//! # Ok::<(), symplode::io::IoError>(())
//! ```

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use symplode_runtime::Real;

use super::error::{IoError, check_finite, shape_text};
use super::files::{open_regular, read_exact_len};
use super::{Dtype, write_atomic};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An array read from a `.npy` file, its values widened to `f64` (exactly, for `f32`).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Element type stored in the file.
    pub dtype: Dtype,
    /// Shape, row-major (C order); empty for a scalar.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

impl NpyArray {
    /// The values converted to `T` (exact for the file's own precision and for `f32` → `f64`).
    pub fn to_vec<T: Real>(&self) -> Vec<T> {
        self.data.iter().map(|&v| T::of(v)).collect()
    }

    /// Fails with [`IoError::NonFinite`] naming the first NaN or infinite element.
    pub fn check_finite(&self, origin: &str, what: &str) -> Result<(), IoError> {
        check_finite(origin, what, &self.shape, &self.data)
    }
}

/// Largest `.npy` header accepted: 1 MiB (NumPy itself refuses headers over 10 000 bytes
/// unless told otherwise).
pub const MAX_HEADER: usize = 1 << 20;

/// Reads a `.npy` file.
///
/// Only a regular file is opened; its header is read first and the data size it implies is
/// checked against the file's size before the data are read.
///
/// # Errors
/// [`IoError::Read`], [`IoError::NotRegular`], [`IoError::Format`] (bad magic, truncated
/// data, malformed header, Fortran order), [`IoError::Dtype`] (not `f4`/`f8`).
pub fn read(path: impl AsRef<Path>) -> Result<NpyArray, IoError> {
    let path = path.as_ref();
    let origin = path.display().to_string();
    let (mut file, len) = open_regular(path)?;
    let mut prefix = vec![0u8; len.min(12) as usize];
    file.read_exact(&mut prefix)
        .map_err(|source| IoError::Read {
            origin: origin.clone(),
            source,
        })?;
    let (header_len, start) = header_span(&prefix, &origin)?;
    let head_end = (start + header_len) as u64;
    if head_end > len {
        return Err(bad(
            &origin,
            format!("header of {header_len} bytes runs past the end"),
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|source| IoError::Read {
            origin: origin.clone(),
            source,
        })?;
    let head = read_exact_len(&mut file, head_end, &origin)?;
    let layout = parse_layout(&head, &origin)?;
    let need = (layout.count as u64).saturating_mul(layout.dtype.size() as u64);
    if head_end.checked_add(need) != Some(len) {
        return Err(size_mismatch(&origin, &layout, need, len - head_end));
    }
    let mut bytes = head;
    bytes.extend(read_exact_len(&mut file, need, &origin)?);
    parse(&bytes, &origin)
}

/// A [`IoError::Format`] of an `.npy` file.
fn bad(origin: &str, reason: String) -> IoError {
    IoError::Format {
        origin: origin.to_string(),
        format: "npy",
        reason,
    }
}

/// The header's length and start offset, from the first 10 (version 1) or 12 bytes.
fn header_span(bytes: &[u8], origin: &str) -> Result<(usize, usize), IoError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(origin, "missing the \\x93NUMPY magic string".into()));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| bad(origin, "truncated header".into()))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => {
            return Err(bad(
                origin,
                format!("unsupported format version {v}.{}", bytes[7]),
            ));
        }
    };
    if header_len > MAX_HEADER {
        return Err(bad(
            origin,
            format!("header of {header_len} bytes is longer than the limit of {MAX_HEADER}"),
        ));
    }
    Ok((header_len, start))
}

/// What the header says about the data.
struct Layout {
    dtype: Dtype,
    little: bool,
    shape: Vec<usize>,
    count: usize,
    /// Offset of the data.
    end: usize,
}

/// Parses the magic, version and header (all of `bytes` up to the data).
fn parse_layout(bytes: &[u8], origin: &str) -> Result<Layout, IoError> {
    let (header_len, start) = header_span(bytes, origin)?;
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(
                origin,
                format!("header of {header_len} bytes runs past the end"),
            )
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad(origin, "header is not text".into()))?;
    let h = parse_header(header).map_err(|r| {
        let shown: String = header.trim().chars().take(200).collect();
        bad(
            origin,
            format!("header {}: {r}", crate::io::error::printable(&shown)),
        )
    })?;
    if h.fortran_order {
        return Err(bad(
            origin,
            "Fortran-order arrays are not supported (save a C-order array, e.g. \
             np.save(path, np.ascontiguousarray(a)))"
                .into(),
        ));
    }
    let (dtype, little) = match h.descr.as_str() {
        "<f8" | "=f8" => (Dtype::F64, true),
        "<f4" | "=f4" => (Dtype::F32, true),
        ">f8" => (Dtype::F64, false),
        ">f4" => (Dtype::F32, false),
        other => {
            return Err(IoError::Dtype {
                origin: origin.to_string(),
                what: "the array".into(),
                dtype: crate::io::error::printable(&other.chars().take(40).collect::<String>()),
                supported: "float32 (<f4) and float64 (<f8)",
            });
        }
    };
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(dtype.size()).is_some())
        .ok_or_else(|| {
            bad(
                origin,
                format!("shape {} is too large", shape_text(&h.shape)),
            )
        })?;
    Ok(Layout {
        dtype,
        little,
        shape: h.shape,
        count,
        end,
    })
}

/// The data section's size differs from what the header implies.
fn size_mismatch(origin: &str, l: &Layout, need: u64, have: u64) -> IoError {
    bad(
        origin,
        format!(
            "shape {} of {} needs {need} data bytes, the file has {have}",
            shape_text(&l.shape),
            l.dtype.name(),
        ),
    )
}

/// Parses the bytes of a `.npy` file; `origin` names it in errors.
///
/// # Errors
/// As [`read`].
pub fn parse(bytes: &[u8], origin: &str) -> Result<NpyArray, IoError> {
    let l = parse_layout(bytes, origin)?;
    let body = &bytes[l.end..];
    let size = l.dtype.size();
    if l.count * size != body.len() {
        return Err(size_mismatch(
            origin,
            &l,
            (l.count * size) as u64,
            body.len() as u64,
        ));
    }
    let data = body
        .chunks_exact(size)
        .map(|c| l.dtype.decode(c, l.little))
        .collect();
    Ok(NpyArray {
        dtype: l.dtype,
        shape: l.shape,
        data,
    })
}

/// Writes `data` (row-major, `shape`) as a version-1.0 little-endian `.npy` file of `T`.
///
/// # Errors
/// [`IoError::Shape`] when the shape does not match the data length; [`IoError::Write`].
pub fn write<T: Real>(path: impl AsRef<Path>, shape: &[usize], data: &[T]) -> Result<(), IoError> {
    let path = path.as_ref();
    let origin = path.display().to_string();
    write_atomic(path, &to_bytes(shape, data, &origin)?)
}

/// The bytes of a version-1.0 `.npy` file holding `data` with `shape`; `origin` names the
/// destination in errors.
///
/// # Errors
/// [`IoError::Shape`] when `shape`'s element count differs from `data.len()`.
pub fn to_bytes<T: Real>(shape: &[usize], data: &[T], origin: &str) -> Result<Vec<u8>, IoError> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count != Some(data.len()) {
        return Err(IoError::Shape {
            origin: origin.to_string(),
            what: "the array to write".into(),
            expected: format!("{} elements (the data's length)", data.len()),
            got: shape.to_vec(),
        });
    }
    let dtype = Dtype::of::<T>();
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let descr = if dtype == Dtype::F64 { "<f8" } else { "<f4" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad so that magic + version + length + header (ending in '\n') is a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| IoError::Shape {
        origin: origin.to_string(),
        what: "the array to write".into(),
        expected: "fewer dimensions (the header must fit in 65535 bytes)".into(),
        got: shape.to_vec(),
    })?;
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * dtype.size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        dtype.encode(v.f64(), &mut out);
    }
    Ok(out)
}

/// The three entries of a `.npy` header.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }`.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Lexer {
        s: text.trim().as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unknown key '{other}'")),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("no 'descr'")?,
        fortran_order: fortran.ok_or("no 'fortran_order'")?,
        shape: shape.ok_or("no 'shape'")?,
    })
}

/// A cursor over the header's Python literal.
struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let q = *self.s.get(self.i).ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a quoted string at byte {}", self.i));
        }
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or("unterminated string")?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }
    fn boolean(&mut self) -> Result<bool, String> {
        self.skip_ws();
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(value);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            self.skip_ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let d = digits
                .parse::<usize>()
                .map_err(|_| format!("expected a dimension at byte {start}"))?;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}
