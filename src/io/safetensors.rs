//! The safetensors format (Hugging Face): weights in, gradients out.
//!
//! A file is an 8-byte little-endian header length `N`, a JSON header of `N` bytes mapping
//! tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the
//! data section, plus an optional `"__metadata__"` map of strings), then the raw little-endian
//! row-major data. This is a small self-contained reader and writer: it reads `F32` and `F64`
//! tensors (converted to the run precision by the caller) and checks every offset and size
//! against the file, so a damaged file gives an error naming the tensor, never a panic.
//!
//! PyTorch: `safetensors.torch.save_file(model.state_dict(), "w.safetensors")` writes names such
//! as `net.0.weight` (`[out, in]`) and `net.0.bias` (`[out]`).
//!
//! ```
//! use std::collections::BTreeMap;
//! use symplode::io::safetensors::{self, NamedTensor};
//!
//! let w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let tensors = [NamedTensor::new("net.0.weight", &[3, 2], &w)];
//! let bytes = safetensors::to_bytes(&tensors, &BTreeMap::new(), "w.safetensors")?;
//! let file = safetensors::SafeTensors::parse(bytes, "w.safetensors")?;
//! let t = file.tensor("net.0.weight")?;
//! assert_eq!((t.shape.as_slice(), t.data[5]), (&[3, 2][..], 6.0));
//! # Ok::<(), symplode::io::IoError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value};
use symplode_runtime::Real;

use super::error::{IoError, check_finite, shape_text};
use super::files::{open_regular, read_exact_len};
use super::{Dtype, write_atomic};

/// Largest JSON header accepted (the reference implementation's limit).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor's entry in the header.
#[derive(Clone, Debug)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

/// A tensor read from a file, its values widened to `f64` (exactly, for `F32`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Element type stored in the file.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// A tensor to write: name, shape and row-major data.
#[derive(Clone, Debug)]
pub struct NamedTensor<'a, T> {
    /// Tensor name, e.g. `net.0.weight` or `x0`.
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// The values.
    pub data: &'a [T],
}

impl<'a, T> NamedTensor<'a, T> {
    /// A tensor to write.
    pub fn new(name: &str, shape: &[usize], data: &'a [T]) -> Self {
        NamedTensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            data,
        }
    }
}

/// A parsed safetensors file.
#[derive(Clone, Debug)]
pub struct SafeTensors {
    origin: String,
    entries: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
    bytes: Vec<u8>,
    data_start: usize,
}

impl SafeTensors {
    /// Reads and checks a file (header, offsets, sizes; values are decoded on access).
    ///
    /// Only a regular file is opened; its header is read and checked against the file's size
    /// (every data byte covered by exactly one tensor) before the data are read, so a damaged
    /// or hostile header cannot make it read more than the file holds.
    ///
    /// # Errors
    /// [`IoError::Read`], [`IoError::NotRegular`], [`IoError::Format`] naming what is
    /// malformed.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, IoError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let (mut file, len) = open_regular(path)?;
        if len >= 8 {
            let mut first = [0u8; 8];
            file.read_exact(&mut first)
                .map_err(|source| IoError::Read {
                    origin: origin.clone(),
                    source,
                })?;
            let n = u64::from_le_bytes(first);
            let header_len = checked_header_len(n, len - 8).map_err(|r| bad(&origin, r))?;
            let header = read_exact_len(&mut file, header_len as u64, &origin)?;
            // Checks the header against the file size before reading the data.
            parse_header(&header, (len - 8 - n) as usize).map_err(|r| bad(&origin, r))?;
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|source| IoError::Read {
                origin: origin.clone(),
                source,
            })?;
        Self::parse(read_exact_len(&mut file, len, &origin)?, &origin)
    }

    /// Parses the bytes of a file; `origin` names it in errors.
    ///
    /// As the reference implementation, the data section must be covered exactly: tensors'
    /// `data_offsets` lie end to end from 0 to the end of the file, with no gap, overlap or
    /// trailing byte (so a header length that is off, e.g. by its padding, is an error rather
    /// than a shifted read).
    ///
    /// # Errors
    /// As [`SafeTensors::read`].
    pub fn parse(bytes: Vec<u8>, origin: &str) -> Result<Self, IoError> {
        let Some(len) = bytes.get(..8) else {
            return Err(bad(
                origin,
                format!(
                    "{} bytes, shorter than the 8-byte header length",
                    bytes.len()
                ),
            ));
        };
        let n = u64::from_le_bytes(len.try_into().unwrap_or([0; 8]));
        let header_len =
            checked_header_len(n, (bytes.len() - 8) as u64).map_err(|r| bad(origin, r))?;
        let data_start = 8 + header_len;
        let data_len = bytes.len() - data_start;
        let (entries, metadata) =
            parse_header(&bytes[8..data_start], data_len).map_err(|r| bad(origin, r))?;
        Ok(SafeTensors {
            origin: origin.to_string(),
            entries,
            metadata,
            bytes,
            data_start,
        })
    }

    /// The file name (or label) used in errors.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// The `__metadata__` map.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The shape and dtype name of a tensor, if present.
    pub fn info(&self, name: &str) -> Option<(&[usize], &str)> {
        self.entries
            .get(name)
            .map(|e| (e.shape.as_slice(), e.dtype.as_str()))
    }

    /// Decodes one tensor.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`] listing the file's tensors; [`IoError::Dtype`] unless the
    /// tensor is `F32` or `F64`.
    pub fn tensor(&self, name: &str) -> Result<Tensor, IoError> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| IoError::MissingTensor {
                origin: self.origin.clone(),
                name: name.to_string(),
                available: self.names(),
            })?;
        let dtype = match e.dtype.as_str() {
            "F32" => Dtype::F32,
            "F64" => Dtype::F64,
            other => {
                return Err(IoError::Dtype {
                    origin: self.origin.clone(),
                    what: format!("tensor `{name}`"),
                    dtype: other.to_string(),
                    supported: "F32 and F64",
                });
            }
        };
        let raw = &self.bytes[self.data_start + e.begin..self.data_start + e.end];
        let data = raw
            .chunks_exact(dtype.size())
            .map(|c| dtype.decode(c, true))
            .collect();
        Ok(Tensor {
            dtype,
            shape: e.shape.clone(),
            data,
        })
    }

    /// Decodes one tensor and checks its shape and that every value is finite.
    /// `meaning` explains the expected shape in the error (e.g. ``"[out, in] of layer `net.0`"``).
    ///
    /// # Errors
    /// Those of [`SafeTensors::tensor`], [`IoError::Shape`], [`IoError::NonFinite`].
    pub fn tensor_checked(
        &self,
        name: &str,
        shape: &[usize],
        meaning: &str,
    ) -> Result<Vec<f64>, IoError> {
        let t = self.tensor(name)?;
        let what = format!("tensor `{name}`");
        if t.shape != shape {
            return Err(IoError::Shape {
                origin: self.origin.clone(),
                what,
                expected: format!("{} ({meaning})", shape_text(shape)),
                got: t.shape,
            });
        }
        check_finite(&self.origin, &what, &t.shape, &t.data)?;
        Ok(t.data)
    }
}

/// A [`IoError::Format`] of a safetensors file.
fn bad(origin: &str, reason: String) -> IoError {
    IoError::Format {
        origin: origin.to_string(),
        format: "safetensors",
        reason,
    }
}

/// The header length `n` as read, checked against the limit and the `rest` bytes after it.
fn checked_header_len(n: u64, rest: u64) -> Result<usize, String> {
    if n > MAX_HEADER || n > rest {
        return Err(format!(
            "header length {n} exceeds the file ({rest} bytes after the length) or the limit \
             of {MAX_HEADER} bytes"
        ));
    }
    Ok(n as usize)
}

/// The parsed header: tensor entries by name, and the metadata.
type Header = (BTreeMap<String, Entry>, BTreeMap<String, String>);

/// Parses the JSON header and checks every entry, and that the entries cover the `data_len`
/// data bytes exactly (no gap, no overlap, nothing after the last tensor).
fn parse_header(header: &[u8], data_len: usize) -> Result<Header, String> {
    if header.first() != Some(&b'{') {
        return Err("header does not start with `{` (a wrong header length?)".into());
    }
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| format!("header is not a JSON object: {e}"))?;
    let mut entries = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, value) in header {
        if name == "__metadata__" {
            let Value::Object(map) = value else {
                return Err("`__metadata__` is not an object".into());
            };
            for (k, v) in map {
                let Value::String(v) = v else {
                    return Err(format!("`__metadata__.{k}` is not a string"));
                };
                metadata.insert(k, v);
            }
            continue;
        }
        let entry = parse_entry(&name, &value, data_len)?;
        entries.insert(name, entry);
    }
    let mut spans: Vec<(usize, usize, &str)> = entries
        .iter()
        .map(|(n, e)| (e.begin, e.end, n.as_str()))
        .collect();
    spans.sort_unstable();
    let mut at = 0usize;
    let mut prev: Option<&str> = None;
    for (begin, end, name) in spans {
        if begin != at {
            let after = prev.map_or("the start of the data".to_string(), |p| {
                format!("the end of tensor `{p}`")
            });
            let what = if begin < at {
                "overlaps"
            } else {
                "leaves a gap after"
            };
            return Err(format!(
                "file not fully covered: tensor `{name}` (data_offsets [{begin}, {end}]) {what} \
                 {after} (byte {at})"
            ));
        }
        at = end;
        prev = Some(name);
    }
    if at != data_len {
        return Err(format!(
            "file not fully covered: the tensors end at data byte {at}, but the data section \
             has {data_len} bytes ({} trailing)",
            data_len - at
        ));
    }
    Ok((entries, metadata))
}

/// Checks one header entry against the data section.
fn parse_entry(name: &str, value: &Value, data_len: usize) -> Result<Entry, String> {
    let field = |key: &str| {
        value
            .get(key)
            .ok_or_else(|| format!("tensor `{name}` has no `{key}`"))
    };
    let dtype = field("dtype")?
        .as_str()
        .ok_or_else(|| format!("tensor `{name}`: `dtype` is not a string"))?
        .to_string();
    let ints = |key: &str| -> Result<Vec<usize>, String> {
        field(key)?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_u64().and_then(|x| usize::try_from(x).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| format!("tensor `{name}`: `{key}` is not a list of unsigned integers"))
    };
    let shape = ints("shape")?;
    let offsets = ints("data_offsets")?;
    let [begin, end] = offsets[..] else {
        return Err(format!(
            "tensor `{name}`: `data_offsets` has {} entries, expected 2",
            offsets.len()
        ));
    };
    if begin > end || end > data_len {
        return Err(format!(
            "tensor `{name}`: `data_offsets` [{begin}, {end}] lie outside the {data_len} data bytes"
        ));
    }
    let size = match dtype.as_str() {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(1),
        _ => None,
    };
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if let (Some(size), Some(count)) = (size, count)
        && count.checked_mul(size) != Some(end - begin)
    {
        return Err(format!(
            "tensor `{name}`: shape {} of {dtype} needs {} bytes, `data_offsets` give {}",
            shape_text(&shape),
            count.saturating_mul(size),
            end - begin
        ));
    }
    if count.is_none() {
        return Err(format!(
            "tensor `{name}`: shape {} is too large",
            shape_text(&shape)
        ));
    }
    Ok(Entry {
        dtype,
        shape,
        begin,
        end,
    })
}

/// The bytes of a safetensors file holding `tensors` (in order) of element type `T`, with
/// `metadata` as `__metadata__`; `origin` names the destination in errors.
///
/// # Errors
/// [`IoError::Shape`] when a shape does not match its data; [`IoError::Field`] for an empty,
/// reserved or repeated name.
pub fn to_bytes<T: Real>(
    tensors: &[NamedTensor<'_, T>],
    metadata: &BTreeMap<String, String>,
    origin: &str,
) -> Result<Vec<u8>, IoError> {
    let dtype = Dtype::of::<T>();
    let mut header = Map::new();
    let mut offset = 0usize;
    for t in tensors {
        let count = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if count != Some(t.data.len()) {
            return Err(IoError::Shape {
                origin: origin.to_string(),
                what: format!("tensor `{}` to write", t.name),
                expected: format!("{} elements (the data's length)", t.data.len()),
                got: t.shape.clone(),
            });
        }
        if t.name.is_empty() || t.name == "__metadata__" || header.contains_key(&t.name) {
            return Err(IoError::Field {
                origin: origin.to_string(),
                field: t.name.clone(),
                reason: "tensor names must be non-empty, unique and not `__metadata__`".into(),
            });
        }
        let end = offset + t.data.len() * dtype.size();
        let entry = serde_json::json!({
            "dtype": dtype.safetensors_name(),
            "shape": t.shape,
            "data_offsets": [offset, end],
        });
        header.insert(t.name.clone(), entry);
        offset = end;
    }
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), Value::Object(m));
    }
    let mut json = Value::Object(header).to_string();
    json.push_str(&" ".repeat((8 - json.len() % 8) % 8));
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    for t in tensors {
        for &v in t.data {
            dtype.encode(v.f64(), &mut out);
        }
    }
    Ok(out)
}

/// Writes a safetensors file (see [`to_bytes`]).
///
/// # Errors
/// Those of [`to_bytes`], and [`IoError::Write`].
pub fn write<T: Real>(
    path: impl AsRef<Path>,
    tensors: &[NamedTensor<'_, T>],
    metadata: &BTreeMap<String, String>,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let bytes = to_bytes(tensors, metadata, &path.display().to_string())?;
    write_atomic(path, &bytes)
}
