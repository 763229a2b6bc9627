//! 63-dimensional natural-image patches by the BSDS300 recipe (MAF, Papamakarios et al. 2017),
//! from the photographs of the `python3-skimage` package: grayscale, random 8×8 patches,
//! dequantised as (pixel + U(0, 1))/256, the patch mean subtracted, the bottom-right pixel
//! dropped (it is the negative sum of the others). Train, validation and test are split by
//! photograph, never by patch.

use std::path::Path;

use symplode_runtime::rng::Rng;

use super::{DatasetError, corrupt, read};

/// Where `apt-get install python3-skimage` puts the images (after `dpkg -x` of the .deb into
/// DIR, they are under `DIR` + this path).
pub const SKIMAGE_DATA_DIR: &str = "/usr/lib/python3/dist-packages/skimage/data";

/// The photographs of skimage's data directory (synthetic patterns, silhouettes, logos and
/// phantoms are left out; JPEGs are not read).
pub const PHOTOGRAPHS: &[&str] = &[
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock_motion",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "ihc",
    "microaneurysms",
    "moon",
    "motorcycle_left",
    "motorcycle_right",
    "page",
    "text",
];

/// Side of a patch.
pub const PATCH: usize = 8;

/// Dimension of one sample: 8·8 − 1.
pub const DIM: usize = PATCH * PATCH - 1;

/// A grayscale photograph, values 0..=255 as floats.
#[derive(Clone, Debug)]
pub struct Photo {
    /// Its name (file stem).
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height·width` gray levels, row-major.
    pub gray: Vec<f64>,
}

/// Reads an 8-bit PNG (gray, gray + alpha, RGB or RGBA) as gray levels; colour is converted
/// with skimage's `rgb2gray` weights (0.2125 R + 0.7154 G + 0.0721 B).
pub fn read_photo(path: &Path) -> Result<Photo, DatasetError> {
    let bytes = read(path)?;
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| corrupt(path, format!("not a readable PNG: {e}")))?;
    let (w0, h0) = (reader.info().width as usize, reader.info().height as usize);
    if w0.saturating_mul(h0) > 1 << 28 {
        return Err(corrupt(
            path,
            format!("{w0}×{h0} pixels: too large for a photograph"),
        ));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| corrupt(path, format!("PNG data: {e}")))?;
    if info.bit_depth != png::BitDepth::Eight {
        return Err(corrupt(
            path,
            format!("{:?}-bit samples: need 8-bit", info.bit_depth),
        ));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    if data.len() != w * h * channels {
        return Err(corrupt(path, "PNG rows do not match its size"));
    }
    let gray = data
        .chunks_exact(channels)
        .map(|p| match channels {
            1 | 2 => p[0] as f64,
            _ => 0.2125 * p[0] as f64 + 0.7154 * p[1] as f64 + 0.0721 * p[2] as f64,
        })
        .collect();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Photo {
        name,
        width: w,
        height: h,
        gray,
    })
}

/// How many patches to cut, and the seed.
#[derive(Clone, Debug)]
pub struct PatchConfig {
    /// Patches per photograph of the training split.
    pub train_per_photo: usize,
    /// Patches per photograph of the validation and test splits.
    pub eval_per_photo: usize,
    /// Photographs held out for validation.
    pub validation_photos: usize,
    /// Photographs held out for test.
    pub test_photos: usize,
    /// Seed of the photo split, the patch positions and the dequantisation noise.
    pub seed: u64,
}

impl Default for PatchConfig {
    fn default() -> Self {
        PatchConfig {
            train_per_photo: 10_000,
            eval_per_photo: 2_000,
            validation_photos: 2,
            test_photos: 3,
            seed: 0,
        }
    }
}

/// One split: `[n, 63]` row-major samples and the photographs they came from.
#[derive(Clone, Debug, Default)]
pub struct PatchSet {
    /// Samples, `n·63` values.
    pub data: Vec<f64>,
    /// The photographs of this split.
    pub photos: Vec<String>,
}

impl PatchSet {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.len() / DIM
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Sample i.
    pub fn sample(&self, i: usize) -> &[f64] {
        &self.data[i * DIM..(i + 1) * DIM]
    }
}

/// Train, validation and test patches.
#[derive(Clone, Debug)]
pub struct Patches {
    /// Training split.
    pub train: PatchSet,
    /// Validation split.
    pub validation: PatchSet,
    /// Test split.
    pub test: PatchSet,
}

/// One 63-D sample from the 8×8 patch at (`row`, `col`) of `photo`.
pub fn patch_sample(photo: &Photo, row: usize, col: usize, rng: &mut Rng, out: &mut Vec<f64>) {
    let mut p = [0.0f64; PATCH * PATCH];
    for (i, v) in p.iter_mut().enumerate() {
        let (r, c) = (row + i / PATCH, col + i % PATCH);
        *v = (photo.gray[r * photo.width + c] + rng.uniform()) / 256.0;
    }
    let mean = p.iter().sum::<f64>() / p.len() as f64;
    out.extend(p[..DIM].iter().map(|v| v - mean));
}

/// Cuts the patches from the photographs [`PHOTOGRAPHS`] in `dir`.
pub fn load(dir: impl AsRef<Path>, config: &PatchConfig) -> Result<Patches, DatasetError> {
    let dir = dir.as_ref();
    let held = config.validation_photos + config.test_photos;
    if held >= PHOTOGRAPHS.len() || config.test_photos == 0 {
        return Err(DatasetError::BadOption {
            name: "validation_photos + test_photos",
            value: held.to_string(),
            reason: "need at least one test photograph and one left for training",
        });
    }
    let mut photos = Vec::with_capacity(PHOTOGRAPHS.len());
    for name in PHOTOGRAPHS {
        let photo = read_photo(&dir.join(format!("{name}.png")))?;
        if photo.width < PATCH || photo.height < PATCH {
            return Err(corrupt(
                &dir.join(format!("{name}.png")),
                "smaller than one 8×8 patch",
            ));
        }
        photos.push(photo);
    }
    // Split by photograph: a seeded shuffle, test first, then validation.
    let mut rng = Rng::new(config.seed);
    for i in (1..photos.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        photos.swap(i, j);
    }
    let cut = |set: &[Photo], per: usize, rng: &mut Rng| {
        let mut out = PatchSet {
            data: Vec::with_capacity(set.len() * per * DIM),
            photos: set.iter().map(|p| p.name.clone()).collect(),
        };
        for photo in set {
            for _ in 0..per {
                let row = rng.below((photo.height - PATCH + 1) as u64) as usize;
                let col = rng.below((photo.width - PATCH + 1) as u64) as usize;
                patch_sample(photo, row, col, rng, &mut out.data);
            }
        }
        out
    };
    let (test, rest) = photos.split_at(config.test_photos);
    let (validation, train) = rest.split_at(config.validation_photos);
    Ok(Patches {
        test: cut(test, config.eval_per_photo, &mut rng),
        validation: cut(validation, config.eval_per_photo, &mut rng),
        train: cut(train, config.train_per_photo, &mut rng),
    })
}
