//! The error type of [`crate::io`]: every variant names the file and the field, tensor or
//! element at fault, and what was expected.

use std::fmt::Write as _;

use symplode_codegen::tableau::TableauError;
use symplode_runtime::models::ModelError;
use thiserror::Error;

/// What went wrong reading or writing a model, weight, array or tableau file, and where.
///
/// Every message is a single line that starts with the file (`origin`: the path as given, or a
/// label such as `"<string>"` for in-memory input).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IoError {
    /// The file could not be read.
    #[error("cannot read {origin}: {source}")]
    Read {
        /// The path.
        origin: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The path is not a regular file (a directory, FIFO, device or socket): refused before
    /// it is opened, so a pipe cannot block and a device cannot be read without end.
    #[error("{origin}: is {kind}, not a regular file")]
    NotRegular {
        /// The path.
        origin: String,
        /// What it is, e.g. `"a directory"`.
        kind: &'static str,
    },
    /// An input claims or has more bytes than allowed.
    #[error("{origin}: {what} has {bytes} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The file.
        origin: String,
        /// What is too large.
        what: String,
        /// Its size in bytes.
        bytes: u64,
        /// The limit, with its unit or meaning.
        limit: String,
    },
    /// An output path names one of the inputs (writing would destroy it).
    #[error("{origin}: {flag} is the same file as the input {input}; choose another output path")]
    OutputIsInput {
        /// The output path.
        origin: String,
        /// The option giving the output, e.g. `--out`.
        flag: String,
        /// The input, e.g. `--model m.toml`.
        input: String,
    },
    /// The file could not be written.
    #[error("cannot write {origin}: {source}")]
    Write {
        /// The path.
        origin: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// TOML that does not parse, or does not fit the expected structure (unknown or missing
    /// field, wrong type).
    #[error("{origin}:{line}:{column}: {message}")]
    Toml {
        /// The file.
        origin: String,
        /// 1-based line of the offending text (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What the TOML reader said.
        message: String,
    },
    /// A field of a model spec or tableau file has a value that is not allowed.
    #[error("{origin}: `{field}`: {reason}")]
    Field {
        /// The file.
        origin: String,
        /// The field, e.g. `layers[2].activation` or `solver.rtol`.
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A tableau failed validation (shape, consistency, order conditions, partner).
    #[error("{origin}: {source}")]
    Tableau {
        /// The tableau file or name.
        origin: String,
        /// The validation error (boxed to keep the error small).
        source: Box<TableauError>,
    },
    /// The model could not be built from the spec and the weights.
    #[error("{origin}: {source}")]
    Model {
        /// The spec or weight file.
        origin: String,
        /// The model's error.
        source: ModelError,
    },
    /// A file is not in the expected binary format.
    #[error("{origin}: not a valid {format} file: {reason}")]
    Format {
        /// The file.
        origin: String,
        /// `"safetensors"` or `"npy"`.
        format: &'static str,
        /// What is malformed.
        reason: String,
    },
    /// A weight file lacks a tensor the model spec needs.
    #[error(
        "{origin}: tensor `{name}` not found; the file has {}",
        list_names(available)
    )]
    MissingTensor {
        /// The weight file.
        origin: String,
        /// The tensor name the spec asks for.
        name: String,
        /// The tensors the file has.
        available: Vec<String>,
    },
    /// A tensor or array has the wrong shape.
    #[error("{origin}: {what} has shape {}, expected {expected}", shape_text(got))]
    Shape {
        /// The file.
        origin: String,
        /// Which tensor or array, e.g. ``tensor `net.0.weight` `` or `"x0"`.
        what: String,
        /// The expected shape, with its meaning, e.g. `"[64, 3] ([out, in] of layer `net.0`)"`.
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A tensor or array has an element type that is not supported.
    #[error("{origin}: {what} has element type {dtype}; supported: {supported}")]
    Dtype {
        /// The file.
        origin: String,
        /// Which tensor or array.
        what: String,
        /// The type found (`I64`, `<i8`, …).
        dtype: String,
        /// What is supported.
        supported: &'static str,
    },
    /// A value is NaN or infinite.
    #[error(
        "{origin}: {what} element {} is {value} (not finite)",
        shape_text(index)
    )]
    NonFinite {
        /// The file.
        origin: String,
        /// Which tensor or array.
        what: String,
        /// The element's multi-index.
        index: Vec<usize>,
        /// The value, formatted.
        value: String,
    },
}

/// Longest text (in characters) echoed whole in a message.
pub(crate) const MAX_ECHO: usize = 120;

/// `s` made safe to print on a terminal: control characters (escape codes, newlines) shown
/// escaped, and text longer than `MAX_ECHO` (120) characters cut with a count of the rest.
pub fn printable(s: &str) -> String {
    let total = s.chars().count();
    let mut out = String::new();
    for c in s.chars().take(MAX_ECHO) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if total > MAX_ECHO {
        let _ = write!(out, "… ({} more characters)", total - MAX_ECHO);
    }
    out
}

/// `[a, b, c]`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    let mut s = String::from("[");
    for (k, d) in shape.iter().enumerate() {
        if k > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{d}");
    }
    s.push(']');
    s
}

/// `` `a`, `b` `` (at most 12 names, then a count), or "no tensors".
fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        return "no tensors".to_string();
    }
    let mut s = String::new();
    for (k, n) in names.iter().take(12).enumerate() {
        if k > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "`{n}`");
    }
    if names.len() > 12 {
        let _ = write!(s, " and {} more", names.len() - 12);
    }
    s
}

/// The multi-index of flat element `flat` in a row-major array of `shape`.
pub(crate) fn unravel(flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    let mut rest = flat;
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            index[k] = rest % d;
            rest /= d;
        }
    }
    if shape.is_empty() {
        index.push(flat);
    }
    index
}

/// The first non-finite value of `data` as an [`IoError::NonFinite`].
pub(crate) fn check_finite(
    origin: &str,
    what: &str,
    shape: &[usize],
    data: &[f64],
) -> Result<(), IoError> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(IoError::NonFinite {
            origin: origin.to_string(),
            what: what.to_string(),
            index: unravel(i, shape),
            value: data[i].to_string(),
        }),
    }
}

/// Converts a TOML reader error to [`IoError::Toml`], with the line and column of its span.
#[cfg(feature = "model-files")]
pub(crate) fn toml_error(origin: &str, text: &str, e: &toml::de::Error) -> IoError {
    let (line, column) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (0, 0),
    };
    IoError::Toml {
        origin: origin.to_string(),
        line,
        column,
        message: e.message().trim().replace('\n', " "),
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
#[cfg(feature = "model-files")]
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravels_row_major() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[4]), vec![0]);
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
    }

    #[test]
    #[cfg(feature = "model-files")]
    fn lines_and_columns() {
        assert_eq!(line_col("a = 1\nbb = x", 11), (2, 6));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
