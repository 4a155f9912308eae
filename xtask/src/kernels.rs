//! `cargo xtask build-kernels`: compiles `kernels/*.hip` for AMD and NVIDIA GPUs.
//!
//! - AMD: clang in HIP mode, device only, without HIP headers or device libraries
//!   (`-nogpuinc -nogpulib`; the portability header defines what they would), one
//!   code object per module and arch: `<out>/<arch>/<module>.hsaco`.
//! - NVIDIA: nvcc, a cubin and a PTX file per module and arch:
//!   `<out>/<arch>/<module>.cubin` and `<out>/<arch>/<module>.ptx`.
//!
//! `<out>/manifest.json` records, per arch, the platform, the toolchain (compiler
//! path and version line), the flags and, per module, a sha256 over the module's
//! source and every file under `kernels/include/` together with the outputs. A module
//! whose hash, flags and toolchain match the manifest and whose outputs exist is not
//! compiled again. `rocmforge-kernels` embeds what the manifest lists.
//!
//! Compilers are looked up as follows. AMD: `$HIP_CLANG`, `$ROCM_PATH/llvm/bin/clang`
//! (`ROCM_PATH` defaulting to `/opt/rocm`), `clang-19`, then `clang` on `PATH`;
//! clang 17 or newer is required (gfx942 arrived in 17). NVIDIA: `$NVCC`,
//! `$CUDA_PATH/bin/nvcc`, `nvcc` on `PATH`, `/usr/local/cuda/bin/nvcc`, then nvcc
//! 13.0 from the PyPI wheels, installed with pip into
//! `<workspace>/target/toolchains/nvcc-13.0` on first use.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// AMD targets built when `--arch` is not given: CDNA 2 and 3 (MI200, MI300) and
/// RDNA 2 and 3 (RX 6000, RX 7900). clang 19 also accepts gfx908, gfx1101, gfx1200
/// and gfx1201 (not gfx950, which needs clang 20).
pub const AMD_DEFAULT_ARCHS: &[&str] = &["gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1201"];

/// NVIDIA targets built when `--arch` is not given: Ampere and Hopper. The sm_80
/// cubin also runs on sm_86/sm_87/sm_89; its PTX is compiled by the driver elsewhere.
pub const NVIDIA_DEFAULT_ARCHS: &[&str] = &["sm_80", "sm_90"];

/// The PyPI wheels that make up nvcc 13.0, matching the CUDA 13.0 driver of the GPU
/// machines (a newer nvcc writes PTX that this driver refuses to load).
const NVCC_WHEELS: &[&str] = &[
    "nvidia-cuda-nvcc==13.0.88",
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-nvvm==13.0.88",
];
const NVCC_WHEEL_DIR: &str = "target/toolchains/nvcc-13.0";
/// Newest PTX ISA the CUDA 13.0 driver loads.
const MAX_PTX_ISA: (u32, u32) = (9, 0);

/// Oldest clang with every default AMD target.
const MIN_CLANG_MAJOR: u32 = 17;

/// Version of the manifest layout.
const MANIFEST_FORMAT: u32 = 1;

/// Options of `cargo xtask build-kernels`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which vendor to build for. When omitted it follows from --arch (gfx… is AMD,
    /// sm_… is NVIDIA), or is `all` when --arch is omitted too.
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// Comma-separated targets, e.g. gfx90a,gfx942 or sm_80,sm_90. Defaults:
    /// gfx90a,gfx942,gfx1030,gfx1100,gfx1201 (AMD) and sm_80,sm_90 (NVIDIA).
    #[arg(long, value_delimiter = ',')]
    pub arch: Vec<String>,
    /// Output directory [default: <workspace>/target/kernels].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compile every module even when the manifest says it is up to date.
    #[arg(long)]
    pub force: bool,
}

/// The `--platform` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    /// AMD GPUs (HIP code objects).
    Amd,
    /// NVIDIA GPUs (cubin and PTX).
    Nvidia,
    /// Both, each with its default targets unless --arch names some.
    All,
}

/// A GPU vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// AMD, through clang's HIP mode.
    Amd,
    /// NVIDIA, through nvcc.
    Nvidia,
}

impl Platform {
    fn of_arch(arch: &str) -> Option<Platform> {
        if arch.starts_with("gfx") {
            Some(Platform::Amd)
        } else if arch.starts_with("sm_") {
            Some(Platform::Nvidia)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Amd => "amd",
            Platform::Nvidia => "nvidia",
        })
    }
}

/// `<out>/manifest.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// What was built, by arch (`gfx942`, `sm_90`).
    pub archs: BTreeMap<String, ArchEntry>,
}

/// Everything built for one arch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchEntry {
    /// The vendor.
    pub platform: Platform,
    /// The compiler that built the modules.
    pub toolchain: Toolchain,
    /// Compiler flags, apart from include paths, outputs and inputs (NVIDIA adds
    /// `-cubin` or `-ptx` to these).
    pub flags: Vec<String>,
    /// Per module (`elementwise`, `reduce`).
    pub modules: BTreeMap<String, ModuleEntry>,
}

/// A compiler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// Absolute path of the compiler driver.
    pub compiler: String,
    /// Its version line (`clang --version` line 1; nvcc's `release` line).
    pub version: String,
}

/// One module built for one arch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleEntry {
    /// sha256 over the source and every file under `kernels/include/`.
    pub source_sha256: String,
    /// Outputs by format (`code_object`, `cubin`, `ptx`), relative to the manifest.
    pub outputs: BTreeMap<String, String>,
    /// The PTX ISA version (`.version`) of the PTX output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptx_isa: Option<String>,
}

impl Manifest {
    /// Reads `path`; a missing or unreadable manifest is an empty one (everything
    /// gets rebuilt).
    pub fn load(path: &Path) -> Manifest {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
            .filter(|m| m.format == MANIFEST_FORMAT)
            .unwrap_or_else(|| Manifest {
                format: MANIFEST_FORMAT,
                archs: BTreeMap::new(),
            })
    }
}

/// `cargo xtask build-kernels`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let out = match &args.out {
        Some(dir) => absolute(dir)?,
        None => root.join("target/kernels"),
    };
    let plan = plan_targets(args.platform, &args.arch)?;
    let sources = Sources::scan(&root.join("kernels"))?;
    build(&root, &out, &sources, &plan, args.force)
}

/// The archs to build, grouped by vendor.
fn plan_targets(
    platform: Option<PlatformArg>,
    archs: &[String],
) -> anyhow::Result<Vec<(Platform, Vec<String>)>> {
    let archs: Vec<String> = archs
        .iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    for arch in &archs {
        validate_arch(arch)?;
    }
    let wanted: Vec<Platform> = match platform {
        Some(PlatformArg::Amd) => vec![Platform::Amd],
        Some(PlatformArg::Nvidia) => vec![Platform::Nvidia],
        Some(PlatformArg::All) => vec![Platform::Amd, Platform::Nvidia],
        None if archs.is_empty() => vec![Platform::Amd, Platform::Nvidia],
        None => [Platform::Amd, Platform::Nvidia]
            .into_iter()
            .filter(|p| archs.iter().any(|a| Platform::of_arch(a) == Some(*p)))
            .collect(),
    };
    let mut plan = Vec::new();
    for platform in wanted {
        let mut list: Vec<String> = archs
            .iter()
            .filter(|a| Platform::of_arch(a) == Some(platform))
            .cloned()
            .collect();
        if list.is_empty() {
            list = match platform {
                Platform::Amd => AMD_DEFAULT_ARCHS,
                Platform::Nvidia => NVIDIA_DEFAULT_ARCHS,
            }
            .iter()
            .map(|a| a.to_string())
            .collect();
        }
        let mut seen = std::collections::BTreeSet::new();
        list.retain(|a| seen.insert(a.clone()));
        plan.push((platform, list));
    }
    // `--platform nvidia --arch gfx942` is an error, not a silent skip; with `all`,
    // a vendor that --arch does not mention gets its defaults.
    for arch in &archs {
        let platform = Platform::of_arch(arch);
        if !plan.iter().any(|(p, _)| Some(*p) == platform) {
            bail!("--arch {arch} does not belong to the platform asked for");
        }
    }
    Ok(plan)
}

fn validate_arch(arch: &str) -> anyhow::Result<()> {
    let ok = if let Some(rest) = arch.strip_prefix("gfx") {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
    } else if let Some(rest) = arch.strip_prefix("sm_") {
        (2..=3).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit())
    } else {
        false
    };
    if !ok {
        if arch.starts_with("gfx") && arch.contains(':') {
            bail!(
                "`{arch}`: give the processor without target features (a code object built \
                 for `{}` runs with either xnack/sramecc setting)",
                arch.split(':').next().unwrap_or(arch)
            );
        }
        bail!(
            "`{arch}` is not a GPU target: expected an AMD processor such as gfx942 or an \
             NVIDIA one such as sm_90"
        );
    }
    Ok(())
}

/// The kernel sources: `kernels/*.hip` and the digest of `kernels/include/`.
pub struct Sources {
    /// The include directory handed to the compilers.
    pub include_dir: PathBuf,
    /// (module name, source path, sha256 over source and includes), sorted by name.
    pub modules: Vec<(String, PathBuf, String)>,
}

impl Sources {
    /// Finds the modules under `kernels_dir` and hashes them.
    pub fn scan(kernels_dir: &Path) -> anyhow::Result<Sources> {
        let include_dir = kernels_dir.join("include");
        let include_digest = digest_dir(&include_dir)?;
        let mut modules = Vec::new();
        let entries = std::fs::read_dir(kernels_dir)
            .with_context(|| format!("reading {}", kernels_dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension() != Some(OsStr::new("hip")) {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(OsStr::to_str)
                .filter(|n| {
                    !n.is_empty()
                        && n.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                })
                .with_context(|| {
                    format!(
                        "{}: module names are lowercase letters, digits and `_`",
                        path.display()
                    )
                })?
                .to_string();
            let source =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let mut hasher = Sha256::new();
            hasher.update(b"rocmforge-kernels source\0");
            hasher.update((source.len() as u64).to_le_bytes());
            hasher.update(&source);
            hasher.update(include_digest);
            modules.push((name, path, hex(&hasher.finalize())));
        }
        if modules.is_empty() {
            bail!("no kernel sources (*.hip) in {}", kernels_dir.display());
        }
        modules.sort();
        Ok(Sources {
            include_dir,
            modules,
        })
    }
}

/// sha256 over every file under `dir` (relative path and contents, in path order).
fn digest_dir(dir: &Path) -> anyhow::Result<[u8; 32]> {
    fn walk(dir: &Path, base: &Path, files: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, files)?;
            } else {
                let rel = path.strip_prefix(base).unwrap_or(&path);
                files.push((rel.to_string_lossy().into_owned(), path));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for (rel, path) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        hasher.update((rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().into())
}

/// A located compiler.
struct Compiler {
    path: PathBuf,
    version: String,
}

impl Compiler {
    fn toolchain(&self) -> Toolchain {
        Toolchain {
            compiler: self.path.display().to_string(),
            version: self.version.clone(),
        }
    }
}

fn find_clang() -> anyhow::Result<Compiler> {
    let mut tried = Vec::new();
    if let Some(path) = std::env::var_os("HIP_CLANG") {
        let path = PathBuf::from(path);
        let compiler = probe_clang(&path)
            .with_context(|| format!("HIP_CLANG={} does not run as a clang", path.display()))?;
        check_clang_major(&compiler)?;
        return Ok(compiler);
    }
    let rocm = std::env::var_os("ROCM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rocm"));
    let mut candidates = vec![rocm.join("llvm/bin/clang")];
    candidates.extend(find_on_path("clang-19"));
    candidates.extend(find_on_path("clang"));
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        match probe_clang(&path) {
            Ok(compiler) if clang_major(&compiler.version) >= Some(MIN_CLANG_MAJOR) => {
                return Ok(compiler);
            }
            Ok(compiler) => tried.push(format!("{} ({})", path.display(), compiler.version)),
            Err(_) => tried.push(format!("{} (does not run)", path.display())),
        }
    }
    let tried = if tried.is_empty() {
        String::new()
    } else {
        format!(" (found but unusable: {})", tried.join(", "))
    };
    bail!(
        "no clang {MIN_CLANG_MAJOR}+ with the AMDGPU target found{tried}: install one \
         (Debian/Ubuntu: `apt-get install clang-19 lld-19`), or set HIP_CLANG to a clang such \
         as ROCm's $ROCM_PATH/llvm/bin/clang"
    )
}

fn probe_clang(path: &Path) -> anyhow::Result<Compiler> {
    let text = version_text(path)?;
    let version = text
        .lines()
        .next()
        .filter(|l| l.contains("clang version"))
        .with_context(|| format!("{} --version does not name a clang", path.display()))?
        .trim()
        .to_string();
    Ok(Compiler {
        path: path.to_path_buf(),
        version,
    })
}

fn clang_major(version: &str) -> Option<u32> {
    let rest = &version[version.find("clang version ")? + "clang version ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn check_clang_major(compiler: &Compiler) -> anyhow::Result<()> {
    match clang_major(&compiler.version) {
        Some(major) if major >= MIN_CLANG_MAJOR => Ok(()),
        _ => bail!(
            "{} is `{}`; the kernels need clang {MIN_CLANG_MAJOR} or newer \
             (Debian/Ubuntu: `apt-get install clang-19 lld-19`)",
            compiler.path.display(),
            compiler.version
        ),
    }
}

fn find_nvcc(root: &Path) -> anyhow::Result<Compiler> {
    if let Some(path) = std::env::var_os("NVCC") {
        let path = PathBuf::from(path);
        return probe_nvcc(&path)
            .with_context(|| format!("NVCC={} does not run as nvcc", path.display()));
    }
    let mut candidates = Vec::new();
    if let Some(cuda) = std::env::var_os("CUDA_PATH") {
        candidates.push(PathBuf::from(cuda).join("bin/nvcc"));
    }
    candidates.extend(find_on_path("nvcc"));
    candidates.push(PathBuf::from("/usr/local/cuda/bin/nvcc"));
    for path in candidates {
        if path.is_file() {
            return probe_nvcc(&path);
        }
    }
    let wheels = root.join(NVCC_WHEEL_DIR);
    let nvcc = wheels.join("nvidia/cu13/bin/nvcc");
    if !nvcc.is_file() {
        install_nvcc_wheels(&wheels)?;
    }
    probe_nvcc(&nvcc)
}

fn probe_nvcc(path: &Path) -> anyhow::Result<Compiler> {
    let text = version_text(path)?;
    let version = text
        .lines()
        .find(|l| l.contains("release"))
        .with_context(|| format!("{} --version does not name an nvcc release", path.display()))?
        .trim()
        .to_string();
    Ok(Compiler {
        path: path.to_path_buf(),
        version,
    })
}

fn install_nvcc_wheels(dir: &Path) -> anyhow::Result<()> {
    eprintln!(
        "no nvcc found (NVCC, CUDA_PATH, PATH): installing nvcc 13.0 from PyPI into {}",
        dir.display()
    );
    let partial = dir.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
        ])
        .arg(&partial)
        .args(NVCC_WHEELS)
        .status()
        .context(
            "running python3 -m pip: install Python 3 with pip, or install the CUDA toolkit \
             and set NVCC",
        )?;
    if !status.success() {
        bail!(
            "pip could not install {} ({status}); install the CUDA toolkit 13.0 and set NVCC \
             instead",
            NVCC_WHEELS.join(" ")
        );
    }
    std::fs::rename(&partial, dir)
        .with_context(|| format!("moving {} to {}", partial.display(), dir.display()))?;
    Ok(())
}

fn version_text(path: &Path) -> anyhow::Result<String> {
    let out = Command::new(path)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", path.display()))?;
    if !out.status.success() {
        bail!("{} --version failed ({})", path.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Flags recorded in the manifest (include path, output and input come on top).
fn flags(platform: Platform, arch: &str) -> Vec<String> {
    let flags: &[&str] = match platform {
        Platform::Amd => &[
            "-x",
            "hip",
            "--cuda-device-only",
            "--no-gpu-bundle-output",
            "-nogpulib",
            "-nogpuinc",
            "-O3",
            "-std=c++17",
            "-Wall",
        ],
        Platform::Nvidia => &["-x", "cu", "-O3", "-std=c++17"],
    };
    let mut flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    flags.push(match platform {
        Platform::Amd => format!("--offload-arch={arch}"),
        Platform::Nvidia => format!("-arch={arch}"),
    });
    flags
}

/// Output formats per vendor: (manifest key, file extension, extra flag).
fn outputs(platform: Platform) -> &'static [(&'static str, &'static str, Option<&'static str>)] {
    match platform {
        Platform::Amd => &[("code_object", "hsaco", None)],
        Platform::Nvidia => &[
            ("cubin", "cubin", Some("-cubin")),
            ("ptx", "ptx", Some("-ptx")),
        ],
    }
}

struct Job<'a> {
    platform: Platform,
    arch: &'a str,
    module: &'a str,
    source: &'a Path,
    hash: &'a str,
    compiler: &'a Compiler,
    flags: &'a [String],
}

enum Outcome {
    UpToDate(ModuleEntry),
    Built(ModuleEntry, f64),
}

fn build(
    root: &Path,
    out: &Path,
    sources: &Sources,
    plan: &[(Platform, Vec<String>)],
    force: bool,
) -> anyhow::Result<()> {
    let manifest_path = out.join("manifest.json");
    let old = Manifest::load(&manifest_path);
    let mut manifest = old.clone();

    let mut compilers = Vec::new();
    for (platform, _) in plan {
        let compiler = match platform {
            Platform::Amd => find_clang()?,
            Platform::Nvidia => find_nvcc(root)?,
        };
        eprintln!(
            "{platform}: {} ({})",
            compiler.path.display(),
            compiler.version
        );
        compilers.push(compiler);
    }

    let arch_flags: Vec<Vec<Vec<String>>> = plan
        .iter()
        .map(|(platform, archs)| archs.iter().map(|a| flags(*platform, a)).collect())
        .collect();

    let mut jobs = Vec::new();
    for (p, (platform, archs)) in plan.iter().enumerate() {
        for (a, arch) in archs.iter().enumerate() {
            std::fs::create_dir_all(out.join(arch))
                .with_context(|| format!("creating {}", out.join(arch).display()))?;
            for (module, source, hash) in &sources.modules {
                jobs.push(Job {
                    platform: *platform,
                    arch,
                    module,
                    source,
                    hash,
                    compiler: &compilers[p],
                    flags: &arch_flags[p][a],
                });
            }
        }
    }

    let started = Instant::now();
    let results: Vec<(usize, anyhow::Result<Outcome>)> = jobs
        .par_iter()
        .enumerate()
        .map(|(i, job)| {
            let previous = if force { None } else { old.archs.get(job.arch) };
            (i, run_job(job, previous, &sources.include_dir, out))
        })
        .collect();

    let mut failures = Vec::new();
    let (mut built, mut fresh, mut compile_secs) = (0, 0, 0.0);
    for (p, (platform, archs)) in plan.iter().enumerate() {
        for (a, arch) in archs.iter().enumerate() {
            manifest.archs.insert(
                arch.clone(),
                ArchEntry {
                    platform: *platform,
                    toolchain: compilers[p].toolchain(),
                    flags: arch_flags[p][a].clone(),
                    modules: BTreeMap::new(),
                },
            );
        }
    }
    for (i, result) in results {
        let job = &jobs[i];
        let entry = manifest
            .archs
            .get_mut(job.arch)
            .expect("every planned arch has an entry");
        match result {
            Ok(Outcome::UpToDate(module)) => {
                fresh += 1;
                entry.modules.insert(job.module.to_string(), module);
            }
            Ok(Outcome::Built(module, secs)) => {
                built += 1;
                compile_secs += secs;
                entry.modules.insert(job.module.to_string(), module);
            }
            Err(err) => failures.push(format!("{}/{}: {err:#}", job.arch, job.module)),
        }
    }

    write_manifest(&manifest_path, &manifest, &old)?;
    eprintln!(
        "{built} compiled ({compile_secs:.1}s of compiler time), {fresh} up to date, in \
         {:.1}s; manifest: {}",
        started.elapsed().as_secs_f64(),
        manifest_path.display()
    );
    if !failures.is_empty() {
        bail!(
            "{} kernel build(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

fn run_job(
    job: &Job<'_>,
    previous: Option<&ArchEntry>,
    include_dir: &Path,
    out: &Path,
) -> anyhow::Result<Outcome> {
    let label = format!("{}/{}", job.arch, job.module);
    let toolchain = job.compiler.toolchain();
    let previous_module = previous
        .filter(|e| e.platform == job.platform && e.toolchain == toolchain && e.flags == job.flags)
        .and_then(|e| e.modules.get(job.module))
        .filter(|m| m.source_sha256 == job.hash)
        .filter(|m| {
            outputs(job.platform).iter().all(|(key, _, _)| {
                m.outputs
                    .get(*key)
                    .is_some_and(|rel| out.join(rel).is_file())
            })
        });
    if let Some(module) = previous_module {
        eprintln!("  {label}: up to date");
        return Ok(Outcome::UpToDate(module.clone()));
    }

    let started = Instant::now();
    let mut entry = ModuleEntry {
        source_sha256: job.hash.to_string(),
        outputs: BTreeMap::new(),
        ptx_isa: None,
    };
    for (key, ext, extra) in outputs(job.platform) {
        let rel = format!("{}/{}.{ext}", job.arch, job.module);
        let target = out.join(&rel);
        let partial = out.join(format!("{rel}.partial"));
        let mut cmd = Command::new(&job.compiler.path);
        cmd.args(job.flags);
        if let Some(extra) = extra {
            cmd.arg(extra);
        }
        cmd.arg("-I")
            .arg(include_dir)
            .arg("-o")
            .arg(&partial)
            .arg(job.source);
        let result = cmd
            .output()
            .with_context(|| format!("running {}", job.compiler.path.display()))?;
        let stderr = String::from_utf8_lossy(&result.stderr);
        if !result.status.success() {
            let _ = std::fs::remove_file(&partial);
            let mut message = format!("{} failed ({}):\n{}", show(&cmd), result.status, stderr);
            if job.platform == Platform::Amd && stderr.contains("lld") {
                message.push_str(
                    "\nclang needs lld to link AMD code objects \
                     (Debian/Ubuntu: `apt-get install lld-19`)",
                );
            }
            if job.platform == Platform::Nvidia && stderr.contains("host compiler") {
                message.push_str(
                    "\nnvcc needs a host C++ compiler on PATH (Debian/Ubuntu: `apt-get install g++`)",
                );
            }
            bail!(message);
        }
        if !stderr.trim().is_empty() {
            eprintln!("  {label}: compiler output:\n{}", stderr.trim_end());
        }
        let bytes =
            std::fs::read(&partial).with_context(|| format!("reading {}", partial.display()))?;
        if *key == "ptx" {
            let isa = ptx_isa(&bytes).with_context(|| format!("{rel} has no .version line"))?;
            if parse_isa(&isa).is_some_and(|v| v > MAX_PTX_ISA) {
                eprintln!(
                    "  warning: {rel} is PTX ISA {isa}; a CUDA 13.0 driver loads at most {}.{} \
                     (use nvcc 13.0 if that PTX must load there)",
                    MAX_PTX_ISA.0, MAX_PTX_ISA.1
                );
            }
            entry.ptx_isa = Some(isa);
        } else if !bytes.starts_with(b"\x7fELF") {
            bail!("{rel}: the compiler wrote something other than an ELF file");
        }
        std::fs::rename(&partial, &target)
            .with_context(|| format!("moving {} into place", target.display()))?;
        entry.outputs.insert(key.to_string(), rel);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("  {label}: compiled in {secs:.2}s");
    Ok(Outcome::Built(entry, secs))
}

fn show(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The `.version X.Y` of a PTX file.
fn ptx_isa(ptx: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(ptx).ok()?;
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(".version "))
        .map(|v| v.trim().to_string())
}

fn parse_isa(isa: &str) -> Option<(u32, u32)> {
    let (major, minor) = isa.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Writes the manifest when it changed (an unchanged file keeps dependent crates
/// from re-embedding).
fn write_manifest(path: &Path, manifest: &Manifest, old: &Manifest) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(manifest)?;
    text.push('\n');
    if manifest == old && std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(
        platform: Option<PlatformArg>,
        archs: &[&str],
    ) -> anyhow::Result<Vec<(Platform, Vec<String>)>> {
        let archs: Vec<String> = archs.iter().map(|a| a.to_string()).collect();
        plan_targets(platform, &archs)
    }

    #[test]
    fn defaults_per_platform() {
        let p = plan(Some(PlatformArg::Amd), &[]).unwrap();
        assert_eq!(
            p,
            vec![(
                Platform::Amd,
                vec![
                    "gfx90a".into(),
                    "gfx942".into(),
                    "gfx1030".into(),
                    "gfx1100".into(),
                    "gfx1201".into()
                ]
            )]
        );
        let p = plan(None, &[]).unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn platform_inferred_from_archs() {
        let p = plan(None, &["sm_89"]).unwrap();
        assert_eq!(p, vec![(Platform::Nvidia, vec!["sm_89".into()])]);
        let p = plan(None, &["gfx942", "sm_90"]).unwrap();
        assert_eq!(p.len(), 2);
        let p = plan(None, &["gfx942", "gfx90a", " gfx942"]).unwrap();
        assert_eq!(
            p,
            vec![(Platform::Amd, vec!["gfx942".into(), "gfx90a".into()])]
        );
        let p = plan(Some(PlatformArg::All), &["sm_89"]).unwrap();
        assert_eq!(p[0].1, AMD_DEFAULT_ARCHS);
        assert_eq!(p[1].1, vec!["sm_89".to_string()]);
    }

    #[test]
    fn bad_archs_rejected() {
        assert!(plan(Some(PlatformArg::Amd), &["sm_90"]).is_err());
        assert!(plan(None, &["gfx90a:xnack+"]).is_err());
        assert!(plan(None, &["ampere"]).is_err());
        assert!(plan(None, &["sm_9"]).is_err());
    }

    #[test]
    fn clang_versions() {
        assert_eq!(
            clang_major("Debian clang version 19.1.7 (3~deb12u1)"),
            Some(19)
        );
        assert_eq!(
            clang_major(
                "AMD clang version 17.0.0 (https://github.com/RadeonOpenCompute/llvm-project roc-6.1.0)"
            ),
            Some(17)
        );
        assert_eq!(clang_major("gcc"), None);
    }

    #[test]
    fn ptx_version_line() {
        let ptx = b"//\n// Generated by NVIDIA NVVM Compiler\n\n.version 9.0\n.target sm_80\n";
        assert_eq!(ptx_isa(ptx).as_deref(), Some("9.0"));
        assert_eq!(parse_isa("9.0"), Some((9, 0)));
    }
}
