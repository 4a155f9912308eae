//! The ROCmForge GPU kernels as loadable images.
//!
//! `kernels/*.hip` is compiled by `cargo xtask build-kernels` (never by this crate's
//! build script) into one image per module and GPU arch:
//!
//! | vendor | arch names            | formats                          |
//! |--------|-----------------------|----------------------------------|
//! | AMD    | `gfx90a`, `gfx942`, … | code object (`.hsaco`)           |
//! | NVIDIA | `sm_80`, `sm_90`, …   | cubin (`.cubin`) and PTX (`.ptx`) |
//!
//! This crate embeds whatever that command built (from `target/kernels`, or the
//! directory named by `ROCMFORGE_KERNELS_DIR` at build time) and hands images out
//! with [`image`]. At run time `ROCMFORGE_KERNELS` can name a directory of the same
//! layout (`<dir>/<arch>/<module>.<ext>`) to use instead of the embedded images.
//!
//! # Which image serves a device
//!
//! - AMD: the image built for exactly that processor. Target features are ignored
//!   (`gfx90a:sramecc+:xnack-` is looked up as `gfx90a`), since the code objects are
//!   built without them and run in either mode.
//! - NVIDIA `sm_XY` (compute capability X.Y), first match wins:
//!   1. the cubin built for `sm_XY`;
//!   2. a cubin of the same major version and a lower minor, the highest such minor
//!      (an `sm_80` cubin runs on `sm_86` and `sm_89`);
//!   3. PTX built for a compute capability at most X.Y, the highest such (the driver
//!      compiles it for the device on first load, so an `sm_90` device can use
//!      `sm_80` PTX, and an `sm_100` device `sm_90` PTX).
//!
//! PTX images end with a NUL byte, as `cuModuleLoadData` expects.
//!
//! # Example
//!
//! ```
//! use rocmforge_kernels::{KernelModule, image};
//!
//! match image("gfx942:sramecc+:xnack-", KernelModule::Reduce) {
//!     Ok(bytes) => assert!(bytes.starts_with(b"\x7fELF")),
//!     // e.g. "no kernels built for gfx942: run `cargo xtask build-kernels --platform amd --arch gfx942` …"
//!     Err(err) => println!("{err}"),
//! }
//! ```
//!
//! This crate does not know about HIP or CUDA; loading the bytes is the `hip`
//! crate's business.

#![deny(missing_docs)]

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// Run-time environment variable naming a directory of kernel images
/// (`<dir>/<arch>/<module>.<ext>`) to use instead of the embedded ones.
pub const KERNELS_DIR_ENV: &str = "ROCMFORGE_KERNELS";

/// A kernel source file (`kernels/<name>.hip`), built into one image per GPU arch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelModule {
    /// `kernels/elementwise.hip`: fill, add, bias, mul, scale, axpy and f16/bf16 conversions.
    Elementwise,
    /// `kernels/reduce.hip`: row sums and maxima, RMS norm.
    Reduce,
    /// `kernels/matmul.hip`: a tiled f32 matrix product.
    Matmul,
    /// `kernels/quant_matvec.hip`: matrix-vector products on GGUF block formats,
    /// activation quantizers (alone or after the RMS norm), dequantization to f16.
    QuantMatvec,
    /// `kernels/transformer.hip`: RoPE, gated activations, K/V stores, attention
    /// (decode and causal prompt rows).
    Transformer,
}

impl KernelModule {
    /// Every module, in [`KernelModule::index`] order.
    pub const ALL: &'static [KernelModule] = &[
        KernelModule::Elementwise,
        KernelModule::Reduce,
        KernelModule::Matmul,
        KernelModule::QuantMatvec,
        KernelModule::Transformer,
    ];

    /// The module's name: its source file's stem and its image's file stem.
    pub const fn name(self) -> &'static str {
        match self {
            KernelModule::Elementwise => "elementwise",
            KernelModule::Reduce => "reduce",
            KernelModule::Matmul => "matmul",
            KernelModule::QuantMatvec => "quant_matvec",
            KernelModule::Transformer => "transformer",
        }
    }

    /// A dense index (`0..ALL.len()`), for per-module caches.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kernels (`extern "C"` symbols) the module defines.
    pub const fn kernels(self) -> &'static [&'static str] {
        match self {
            KernelModule::Elementwise => &[
                "rf_fill_f32",
                "rf_add_f32",
                "rf_add_bias_f32",
                "rf_mul_f32",
                "rf_scale_f32",
                "rf_axpy_f32",
                "rf_f16_to_f32",
                "rf_f32_to_f16",
                "rf_bf16_to_f32",
            ],
            KernelModule::Reduce => &[
                "rf_sum_f32",
                "rf_max_f32",
                "rf_rms_norm_f32",
                "rf_add_rms_norm_f32",
                "rf_argmax_f32",
            ],
            KernelModule::Matmul => &["rf_matmul_f32"],
            KernelModule::QuantMatvec => &[
                "rf_matvec_q8_0",
                "rf_matvec_q4_0",
                "rf_matvec_q5_0",
                "rf_matvec_q4_k",
                "rf_matvec_q6_k",
                "rf_matvec_f16",
                "rf_matvec_f32",
                "rf_quantize_q8_0",
                "rf_quantize_q8_k",
                "rf_rms_norm_q8_0",
                "rf_rms_norm_q8_k",
                "rf_swiglu_q8_0",
                "rf_swiglu_q8_k",
                "rf_geglu_q8_0",
                "rf_geglu_q8_k",
                "rf_round_f16",
                "rf_matvec_q8_0_q8",
                "rf_matvec_q4_0_q8",
                "rf_matvec_q5_0_q8",
                "rf_matvec_q4_k_q8",
                "rf_matvec_q6_k_q8",
                "rf_matvec3_q8_0_q8",
                "rf_matvec3_q4_0_q8",
                "rf_matvec3_q5_0_q8",
                "rf_matvec3_q4_k_q8",
                "rf_matvec3_q6_k_q8",
                "rf_matvec3x8_q8_0_q8",
                "rf_matvec3x8_q4_0_q8",
                "rf_matvec3x8_q5_0_q8",
                "rf_matvec3x8_q4_k_q8",
                "rf_matvec3x8_q6_k_q8",
                "rf_matvec_f16_x16",
                "rf_dequant_q8_0_f16",
                "rf_dequant_q4_0_f16",
                "rf_dequant_q5_0_f16",
                "rf_dequant_q4_k_f16",
                "rf_dequant_q6_k_f16",
                "rf_matvec_q4_1",
                "rf_dequant_q4_1_f16",
                "rf_matvec_q5_1",
                "rf_dequant_q5_1_f16",
                "rf_matvec_q2_k",
                "rf_dequant_q2_k_f16",
                "rf_matvec_q3_k",
                "rf_dequant_q3_k_f16",
                "rf_matvec_q5_k",
                "rf_dequant_q5_k_f16",
                "rf_matvec_iq4_nl",
                "rf_dequant_iq4_nl_f16",
                "rf_matvec_mxfp4",
                "rf_dequant_mxfp4_f16",
                "rf_matvec_bf16",
                "rf_dequant_bf16_f16",
            ],
            KernelModule::Transformer => &[
                "rf_rope_store_f32",
                "rf_rope_store_seqs_f32",
                "rf_swiglu_f32",
                "rf_geglu_f32",
                "rf_attend_f16_seqs",
                "rf_attend_rows_f16",
            ],
        }
    }

    /// The module called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<KernelModule> {
        KernelModule::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl fmt::Display for KernelModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of image a set of bytes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// An AMD HSA code object (ELF), for `hipModuleLoadData`.
    CodeObject,
    /// An NVIDIA cubin (ELF with machine code for one architecture).
    Cubin,
    /// NVIDIA PTX text, NUL-terminated, compiled by the driver when loaded.
    Ptx,
}

impl ImageFormat {
    /// The file extension of this format in a kernels directory.
    pub const fn extension(self) -> &'static str {
        match self {
            ImageFormat::CodeObject => "hsaco",
            ImageFormat::Cubin => "cubin",
            ImageFormat::Ptx => "ptx",
        }
    }
}

/// An image chosen for a device: which arch it was built for, its format, its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The arch the image was built for (for NVIDIA possibly lower than the device's).
    pub arch: String,
    /// The format.
    pub format: ImageFormat,
    /// The bytes, ready for the module loader.
    pub bytes: Cow<'static, [u8]>,
}

/// Why no image could be handed out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelsError {
    /// The arch is neither an AMD (`gfx…`) nor an NVIDIA (`sm_…`) name.
    #[error("`{0}` is not a GPU architecture name (expected e.g. gfx942 or sm_90)")]
    UnknownArch(String),
    /// Nothing was built for the arch (nor, on NVIDIA, for a compatible one).
    #[error("no kernels built for {arch}: run `{command}` {context}")]
    NotBuilt {
        /// The device's arch, without AMD target features.
        arch: String,
        /// The xtask command that builds them.
        command: String,
        /// Where was looked and what is there.
        context: String,
    },
    /// Images exist for the arch but not for this module (a build older than the
    /// kernel sources).
    #[error("kernel module `{module}` is missing for {arch}: run `{command}` {context}")]
    ModuleMissing {
        /// The device's arch, without AMD target features.
        arch: String,
        /// The module asked for.
        module: KernelModule,
        /// The xtask command that builds it.
        command: String,
        /// Where was looked and what is there.
        context: String,
    },
    /// An image in the `ROCMFORGE_KERNELS` directory could not be read.
    #[error("cannot read kernel image {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The image of `module` for a device of architecture `arch` (`gfx942`,
/// `gfx90a:sramecc+:xnack-`, `sm_90`), from the `ROCMFORGE_KERNELS` directory when
/// that variable is set, else from the images embedded at build time. See the crate
/// docs for which image serves which device; [`find`] also says which one it chose.
pub fn image(arch: &str, module: KernelModule) -> Result<Cow<'static, [u8]>, KernelsError> {
    find(arch, module).map(|image| image.bytes)
}

/// Like [`image`], also naming the arch and format of the image chosen.
pub fn find(arch: &str, module: KernelModule) -> Result<Image, KernelsError> {
    match std::env::var_os(KERNELS_DIR_ENV).filter(|dir| !dir.is_empty()) {
        Some(dir) => find_in(&DirStore(Path::new(&dir)), arch, module),
        None => find_in(&TableStore(EMBEDDED), arch, module),
    }
}

/// The archs with at least one embedded image, sorted.
pub fn embedded_archs() -> Vec<&'static str> {
    TableStore(EMBEDDED).arch_names()
}

/// The compiler version line that built the embedded images of `arch`, if any.
pub fn embedded_toolchain(arch: &str) -> Option<&'static str> {
    EMBEDDED_TOOLCHAINS
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, toolchain)| *toolchain)
}

/// One embedded image (the table is generated by build.rs).
struct Embedded {
    arch: &'static str,
    module: &'static str,
    format: ImageFormat,
    bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The device an image is wanted for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// An AMD processor, without target features.
    Amd(String),
    /// An NVIDIA compute capability.
    Nvidia { major: u32, minor: u32 },
}

impl Target {
    fn parse(arch: &str) -> Result<Target, KernelsError> {
        let unknown = || KernelsError::UnknownArch(arch.to_string());
        let arch = arch.trim();
        if arch.starts_with("gfx") {
            let processor = arch.split(':').next().unwrap_or(arch);
            let valid = processor.len() > 3
                && processor[3..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            return if valid {
                Ok(Target::Amd(processor.to_string()))
            } else {
                Err(unknown())
            };
        }
        parse_sm(arch)
            .map(|(major, minor)| Target::Nvidia { major, minor })
            .ok_or_else(unknown)
    }

    fn name(&self) -> String {
        match self {
            Target::Amd(processor) => processor.clone(),
            Target::Nvidia { major, minor } => format!("sm_{major}{minor}"),
        }
    }

    fn platform(&self) -> &'static str {
        match self {
            Target::Amd(_) => "amd",
            Target::Nvidia { .. } => "nvidia",
        }
    }

    /// (arch, format) pairs that can serve this target, best first, among `built`.
    fn candidates(&self, built: &[String]) -> Vec<(String, ImageFormat)> {
        match self {
            Target::Amd(processor) => vec![(processor.clone(), ImageFormat::CodeObject)],
            Target::Nvidia { major, minor } => {
                let device = (*major, *minor);
                let mut others: Vec<(u32, u32)> = built
                    .iter()
                    .filter_map(|a| parse_sm(a))
                    .filter(|cc| *cc != device)
                    .collect();
                others.sort_unstable_by(|a, b| b.cmp(a));
                others.dedup();
                let name = |(major, minor): (u32, u32)| format!("sm_{major}{minor}");
                let mut list = vec![(name(device), ImageFormat::Cubin)];
                list.extend(
                    others
                        .iter()
                        .filter(|cc| cc.0 == device.0 && cc.1 < device.1)
                        .map(|cc| (name(*cc), ImageFormat::Cubin)),
                );
                list.push((name(device), ImageFormat::Ptx));
                list.extend(
                    others
                        .iter()
                        .filter(|cc| **cc < device)
                        .map(|cc| (name(*cc), ImageFormat::Ptx)),
                );
                list
            }
        }
    }
}

/// `sm_XY` / `sm_XYZ` as (major, minor): the last digit is the minor version.
fn parse_sm(arch: &str) -> Option<(u32, u32)> {
    let digits = arch.strip_prefix("sm_")?;
    if !(2..=3).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (major, minor) = digits.split_at(digits.len() - 1);
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Where images come from.
trait Store {
    /// Archs with at least one image.
    fn archs(&self) -> Vec<String>;
    /// The image, if this store has it.
    fn load(
        &self,
        arch: &str,
        module: KernelModule,
        format: ImageFormat,
    ) -> Result<Option<Cow<'static, [u8]>>, KernelsError>;
    /// The xtask command that would fill this store for `target`.
    fn command(&self, target: &Target) -> String {
        format!(
            "cargo xtask build-kernels --platform {} --arch {}",
            target.platform(),
            target.name()
        )
    }
    /// What this store is and holds, for error messages.
    fn context(&self) -> String;
}

/// The images embedded at build time.
struct TableStore(&'static [Embedded]);

impl TableStore {
    fn arch_names(&self) -> Vec<&'static str> {
        let mut archs: Vec<&'static str> = self.0.iter().map(|e| e.arch).collect();
        archs.sort_unstable();
        archs.dedup();
        archs
    }
}

impl Store for TableStore {
    fn archs(&self) -> Vec<String> {
        self.arch_names().into_iter().map(str::to_string).collect()
    }

    fn load(
        &self,
        arch: &str,
        module: KernelModule,
        format: ImageFormat,
    ) -> Result<Option<Cow<'static, [u8]>>, KernelsError> {
        Ok(self
            .0
            .iter()
            .find(|e| e.arch == arch && e.module == module.name() && e.format == format)
            .map(|e| Cow::Borrowed(e.bytes)))
    }

    fn context(&self) -> String {
        let archs = self.arch_names();
        format!(
            "and rebuild (kernels embedded in this build: {})",
            if archs.is_empty() {
                "none".to_string()
            } else {
                archs.join(", ")
            }
        )
    }
}

/// A directory laid out as `<dir>/<arch>/<module>.<ext>`.
struct DirStore<'a>(&'a Path);

impl Store for DirStore<'_> {
    fn archs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.0) else {
            return Vec::new();
        };
        let mut archs: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        archs.sort_unstable();
        archs
    }

    fn load(
        &self,
        arch: &str,
        module: KernelModule,
        format: ImageFormat,
    ) -> Result<Option<Cow<'static, [u8]>>, KernelsError> {
        let path = self
            .0
            .join(arch)
            .join(format!("{}.{}", module.name(), format.extension()));
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Cow::Owned(bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KernelsError::Io { path, source }),
        }
    }

    fn command(&self, target: &Target) -> String {
        format!(
            "cargo xtask build-kernels --platform {} --arch {} --out {}",
            target.platform(),
            target.name(),
            self.0.display()
        )
    }

    fn context(&self) -> String {
        let archs = self.archs();
        format!(
            "({KERNELS_DIR_ENV}={} holds: {})",
            self.0.display(),
            if archs.is_empty() {
                "nothing".to_string()
            } else {
                archs.join(", ")
            }
        )
    }
}

fn find_in(store: &dyn Store, arch: &str, module: KernelModule) -> Result<Image, KernelsError> {
    let target = Target::parse(arch)?;
    let built = store.archs();
    let candidates = target.candidates(&built);
    for (arch, format) in &candidates {
        if let Some(bytes) = store.load(arch, module, *format)? {
            return Ok(Image {
                arch: arch.clone(),
                format: *format,
                bytes: nul_terminated(*format, bytes),
            });
        }
    }
    let command = store.command(&target);
    let context = store.context();
    let arch = target.name();
    if candidates.iter().any(|(a, _)| built.contains(a)) {
        Err(KernelsError::ModuleMissing {
            arch,
            module,
            command,
            context,
        })
    } else {
        Err(KernelsError::NotBuilt {
            arch,
            command,
            context,
        })
    }
}

/// PTX goes to the driver as a C string.
fn nul_terminated(format: ImageFormat, bytes: Cow<'static, [u8]>) -> Cow<'static, [u8]> {
    if format != ImageFormat::Ptx || bytes.last() == Some(&0) {
        return bytes;
    }
    let mut owned = bytes.into_owned();
    owned.push(0);
    Cow::Owned(owned)
}

#[cfg(test)]
mod tests;
