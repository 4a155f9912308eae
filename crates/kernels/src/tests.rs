use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A scratch kernels directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rocmforge-kernels-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `<dir>/<arch>/<module>.<ext>` holding `contents`.
    fn put(&self, arch: &str, module: KernelModule, format: ImageFormat, contents: &[u8]) {
        let dir = self.0.join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}.{}", module.name(), format.extension())),
            contents,
        )
        .unwrap();
    }

    fn find(&self, arch: &str, module: KernelModule) -> Result<Image, KernelsError> {
        find_in(&DirStore(&self.0), arch, module)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chosen(image: Image) -> (String, ImageFormat) {
    (image.arch, image.format)
}

#[test]
fn amd_feature_suffix_is_stripped() {
    let dir = TempDir::new();
    dir.put(
        "gfx90a",
        KernelModule::Reduce,
        ImageFormat::CodeObject,
        b"\x7fELF-90a",
    );
    let image = dir
        .find("gfx90a:sramecc+:xnack-", KernelModule::Reduce)
        .unwrap();
    assert_eq!(image.arch, "gfx90a");
    assert_eq!(image.format, ImageFormat::CodeObject);
    assert_eq!(&image.bytes[..], b"\x7fELF-90a");
}

#[test]
fn amd_needs_the_exact_processor() {
    let dir = TempDir::new();
    dir.put(
        "gfx1100",
        KernelModule::Reduce,
        ImageFormat::CodeObject,
        b"x",
    );
    let err = dir.find("gfx1101", KernelModule::Reduce).unwrap_err();
    assert!(matches!(err, KernelsError::NotBuilt { ref arch, .. } if arch == "gfx1101"));
}

#[test]
fn nvidia_exact_cubin_wins() {
    let dir = TempDir::new();
    for arch in ["sm_80", "sm_90"] {
        dir.put(
            arch,
            KernelModule::Elementwise,
            ImageFormat::Cubin,
            b"cubin",
        );
        dir.put(arch, KernelModule::Elementwise, ImageFormat::Ptx, b"ptx");
    }
    let image = dir.find("sm_90", KernelModule::Elementwise).unwrap();
    assert_eq!(chosen(image), ("sm_90".into(), ImageFormat::Cubin));
    let image = dir.find("sm_80", KernelModule::Elementwise).unwrap();
    assert_eq!(chosen(image), ("sm_80".into(), ImageFormat::Cubin));
}

#[test]
fn nvidia_cubin_of_lower_minor_same_major() {
    let dir = TempDir::new();
    for arch in ["sm_80", "sm_86", "sm_90"] {
        dir.put(
            arch,
            KernelModule::Reduce,
            ImageFormat::Cubin,
            arch.as_bytes(),
        );
        dir.put(arch, KernelModule::Reduce, ImageFormat::Ptx, b"ptx");
    }
    // sm_89 runs sm_86 machine code (the highest lower minor) rather than JIT-ing PTX.
    let image = dir.find("sm_89", KernelModule::Reduce).unwrap();
    assert_eq!(chosen(image), ("sm_86".into(), ImageFormat::Cubin));
}

#[test]
fn nvidia_ptx_of_lower_capability() {
    let dir = TempDir::new();
    dir.put(
        "sm_80",
        KernelModule::Reduce,
        ImageFormat::Cubin,
        b"cubin80",
    );
    dir.put("sm_80", KernelModule::Reduce, ImageFormat::Ptx, b"ptx80");
    dir.put("sm_90", KernelModule::Reduce, ImageFormat::Ptx, b"ptx90");
    // sm_100 is a new major: no cubin applies, the newest PTX not above it does.
    let image = dir.find("sm_100", KernelModule::Reduce).unwrap();
    assert_eq!(image.arch, "sm_90");
    assert_eq!(image.format, ImageFormat::Ptx);
    assert_eq!(&image.bytes[..], b"ptx90\0");
    // sm_90 has no sm_90 cubin and sm_80's cubin is another major: exact PTX.
    let image = dir.find("sm_90", KernelModule::Reduce).unwrap();
    assert_eq!(chosen(image), ("sm_90".into(), ImageFormat::Ptx));
}

#[test]
fn nvidia_never_uses_a_higher_capability() {
    let dir = TempDir::new();
    dir.put("sm_80", KernelModule::Reduce, ImageFormat::Cubin, b"cubin");
    dir.put("sm_80", KernelModule::Reduce, ImageFormat::Ptx, b"ptx");
    let err = dir.find("sm_75", KernelModule::Reduce).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "no kernels built for sm_75: run `cargo xtask build-kernels --platform nvidia \
             --arch sm_75 --out "
        ),
        "{message}"
    );
    assert!(message.contains("holds: sm_80"), "{message}");
}

#[test]
fn ptx_is_nul_terminated_once() {
    let dir = TempDir::new();
    dir.put(
        "sm_90",
        KernelModule::Reduce,
        ImageFormat::Ptx,
        b".version 9.0\0",
    );
    let image = dir.find("sm_90", KernelModule::Reduce).unwrap();
    assert_eq!(&image.bytes[..], b".version 9.0\0");
}

#[test]
fn missing_module_is_its_own_error() {
    let dir = TempDir::new();
    dir.put(
        "gfx942",
        KernelModule::Elementwise,
        ImageFormat::CodeObject,
        b"x",
    );
    let err = dir.find("gfx942", KernelModule::Reduce).unwrap_err();
    assert!(
        matches!(
            err,
            KernelsError::ModuleMissing {
                module: KernelModule::Reduce,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("kernel module `reduce` is missing for gfx942")
    );
}

#[test]
fn missing_directory_means_nothing_built() {
    let dir = TempDir::new();
    let gone = dir.0.join("absent");
    let err = find_in(&DirStore(&gone), "gfx942", KernelModule::Reduce).unwrap_err();
    assert!(err.to_string().contains("holds: nothing"), "{err}");
}

#[test]
fn unknown_archs() {
    let dir = TempDir::new();
    for arch in [
        "",
        "gfx",
        "ampere",
        "sm_9",
        "sm_9a",
        "sm_1000",
        "gfx9/../x",
        "../sm_80",
    ] {
        let err = dir.find(arch, KernelModule::Reduce).unwrap_err();
        assert!(
            matches!(err, KernelsError::UnknownArch(_)),
            "{arch}: {err:?}"
        );
    }
}

static TABLE: &[Embedded] = &[
    Embedded {
        arch: "gfx942",
        module: "reduce",
        format: ImageFormat::CodeObject,
        bytes: b"\x7fELF942",
    },
    Embedded {
        arch: "sm_80",
        module: "reduce",
        format: ImageFormat::Cubin,
        bytes: b"cubin80",
    },
    Embedded {
        arch: "sm_80",
        module: "reduce",
        format: ImageFormat::Ptx,
        bytes: b"ptx80",
    },
];

#[test]
fn embedded_table_lookup() {
    let store = TableStore(TABLE);
    assert_eq!(store.arch_names(), vec!["gfx942", "sm_80"]);
    let image = find_in(&store, "gfx942:xnack+", KernelModule::Reduce).unwrap();
    assert!(matches!(image.bytes, Cow::Borrowed(b"\x7fELF942")));
    let image = find_in(&store, "sm_87", KernelModule::Reduce).unwrap();
    assert_eq!(chosen(image), ("sm_80".into(), ImageFormat::Cubin));
    let image = find_in(&store, "sm_90", KernelModule::Reduce).unwrap();
    assert_eq!(chosen(image.clone()), ("sm_80".into(), ImageFormat::Ptx));
    assert_eq!(&image.bytes[..], b"ptx80\0");
}

#[test]
fn embedded_table_error_names_the_command() {
    let store = TableStore(TABLE);
    let err = find_in(&store, "gfx1100", KernelModule::Reduce).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no kernels built for gfx1100: run `cargo xtask build-kernels --platform amd --arch \
         gfx1100` and rebuild (kernels embedded in this build: gfx942, sm_80)"
    );
    let err = find_in(&TableStore(&[]), "gfx942", KernelModule::Elementwise).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "no kernels built for gfx942: run `cargo xtask build-kernels --platform amd \
             --arch gfx942`"
        ),
        "{err}"
    );
}

#[test]
fn modules() {
    for (i, module) in KernelModule::ALL.iter().enumerate() {
        assert_eq!(module.index(), i);
        assert_eq!(KernelModule::from_name(module.name()), Some(*module));
    }
    assert_eq!(KernelModule::from_name("nope"), None);
}

/// The module list and kernel names agree with `kernels/*.hip` (when the sources are
/// there, i.e. in the workspace).
#[test]
fn modules_match_the_sources() {
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    let Ok(entries) = std::fs::read_dir(&kernels) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "hip"))
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect();
    names.sort();
    let mut ours: Vec<String> = KernelModule::ALL
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    ours.sort();
    assert_eq!(names, ours, "KernelModule must list every kernels/*.hip");
    for module in KernelModule::ALL {
        let source =
            std::fs::read_to_string(kernels.join(format!("{}.hip", module.name()))).unwrap();
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("RF_KERNEL void "))
            .filter_map(|l| l.split('(').next())
            .collect();
        assert_eq!(defined, module.kernels(), "kernels of {module}");
    }
}

/// What the build embedded is consistent (whatever was built on this machine).
#[test]
fn embedded_images_are_well_formed() {
    for entry in EMBEDDED {
        assert!(KernelModule::from_name(entry.module).is_some() || !entry.bytes.is_empty());
        match entry.format {
            ImageFormat::CodeObject | ImageFormat::Cubin => {
                assert!(
                    entry.bytes.starts_with(b"\x7fELF"),
                    "{}/{}",
                    entry.arch,
                    entry.module
                );
            }
            ImageFormat::Ptx => {
                let text = std::str::from_utf8(entry.bytes).unwrap();
                assert!(
                    text.contains(".version "),
                    "{}/{}",
                    entry.arch,
                    entry.module
                );
                for module in KernelModule::ALL
                    .iter()
                    .filter(|m| m.name() == entry.module)
                {
                    for kernel in module.kernels() {
                        assert!(text.contains(&format!(".entry {kernel}(")), "{kernel}");
                    }
                }
            }
        }
    }
    for arch in embedded_archs() {
        assert!(embedded_toolchain(arch).is_some(), "{arch}");
    }
}

/// Under `cargo xtask test`, which builds every default target first, each of
/// them must be embedded with every module: this is how CI proves that every
/// kernel compiles for every AMD and NVIDIA target.
#[test]
fn every_expected_target_is_embedded() {
    let Ok(expected) = std::env::var("ROCMFORGE_EXPECTED_KERNELS") else {
        eprintln!("skipped: ROCMFORGE_EXPECTED_KERNELS not set (run through `cargo xtask test`)");
        return;
    };
    for arch in expected.split(',').filter(|a| !a.is_empty()) {
        for &module in KernelModule::ALL {
            let image = find(arch, module).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                image.arch, arch,
                "{module} for {arch} came from another target"
            );
        }
        eprintln!(
            "kernels for {arch}: {} modules embedded",
            KernelModule::ALL.len()
        );
    }
}
