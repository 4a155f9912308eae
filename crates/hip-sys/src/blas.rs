//! The vendor's BLAS library, opened at run time for dense matrix products:
//! rocBLAS next to AMD's runtime, cuBLAS next to NVIDIA's driver.
//!
//! Only what a half-precision product with single-precision results needs is
//! declared: a handle, its stream, and one general product. The declarations are
//! written from the vendors' headers (`rocblas/rocblas-functions.h`,
//! `cublas_api.h`), whose signatures and enumeration values have been stable for
//! many releases; the build machine has neither toolkit, so they are not
//! generated.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

use crate::hip::hipStream_t;
use crate::loader::{Attempt, LoadError, Platform, api};

/// An opaque library handle (`rocblas_handle`, `cublasHandle_t`).
pub type BlasHandle = *mut c_void;

/// A status (`rocblas_status`, `cublasStatus_t`); 0 is success for both.
pub type BlasStatus = c_int;

/// `rocblas_gemm_ex`: D = alpha op(A) op(B) + beta C, column-major.
pub type RocblasGemmEx = unsafe extern "C" fn(
    handle: BlasHandle,
    trans_a: c_int,
    trans_b: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: *const c_void,
    a: *const c_void,
    a_type: c_int,
    lda: c_int,
    b: *const c_void,
    b_type: c_int,
    ldb: c_int,
    beta: *const c_void,
    c: *const c_void,
    c_type: c_int,
    ldc: c_int,
    d: *mut c_void,
    d_type: c_int,
    ldd: c_int,
    compute_type: c_int,
    algo: c_int,
    solution_index: i32,
    flags: u32,
) -> BlasStatus;

/// `cublasGemmEx`: C = alpha op(A) op(B) + beta C, column-major.
pub type CublasGemmEx = unsafe extern "C" fn(
    handle: BlasHandle,
    trans_a: c_int,
    trans_b: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: *const c_void,
    a: *const c_void,
    a_type: c_int,
    lda: c_int,
    b: *const c_void,
    b_type: c_int,
    ldb: c_int,
    beta: *const c_void,
    c: *mut c_void,
    c_type: c_int,
    ldc: c_int,
    compute_type: c_int,
    algo: c_int,
) -> BlasStatus;

/// The vendor's general matrix product.
#[derive(Clone, Copy, Debug)]
pub enum Gemm {
    /// rocBLAS (`rocblas_gemm_ex`).
    Rocblas(RocblasGemmEx),
    /// cuBLAS (`cublasGemmEx`).
    Cublas(CublasGemmEx),
}

/// Enumeration values of the two libraries, by meaning.
pub mod codes {
    use std::ffi::c_int;

    /// rocBLAS: `rocblas_operation_none`, `_transpose`.
    pub const ROCBLAS_OP_N: c_int = 111;
    /// See [`ROCBLAS_OP_N`].
    pub const ROCBLAS_OP_T: c_int = 112;
    /// rocBLAS: `rocblas_datatype_f16_r`.
    pub const ROCBLAS_F16: c_int = 150;
    /// rocBLAS: `rocblas_datatype_f32_r`.
    pub const ROCBLAS_F32: c_int = 151;
    /// rocBLAS: `rocblas_gemm_algo_standard`.
    pub const ROCBLAS_ALGO_STANDARD: c_int = 0;

    /// cuBLAS: `CUBLAS_OP_N`, `CUBLAS_OP_T`.
    pub const CUBLAS_OP_N: c_int = 0;
    /// See [`CUBLAS_OP_N`].
    pub const CUBLAS_OP_T: c_int = 1;
    /// CUDA: `CUDA_R_16F`.
    pub const CUDA_R_16F: c_int = 2;
    /// CUDA: `CUDA_R_32F`.
    pub const CUDA_R_32F: c_int = 0;
    /// cuBLAS: `CUBLAS_COMPUTE_32F`.
    pub const CUBLAS_COMPUTE_32F: c_int = 68;
    /// cuBLAS: `CUBLAS_GEMM_DEFAULT`.
    pub const CUBLAS_GEMM_DEFAULT: c_int = -1;
}

/// A loaded BLAS library.
pub struct BlasApi {
    /// The GPU runtime it goes with.
    pub platform: Platform,
    /// The library that was opened.
    pub library: String,
    /// `rocblas_create_handle` / `cublasCreate_v2`.
    pub create: unsafe extern "C" fn(*mut BlasHandle) -> BlasStatus,
    /// `rocblas_destroy_handle` / `cublasDestroy_v2`.
    pub destroy: unsafe extern "C" fn(BlasHandle) -> BlasStatus,
    /// `rocblas_set_stream` / `cublasSetStream_v2` (a CUDA stream is what the
    /// NVIDIA layer hands out as a HIP stream).
    pub set_stream: unsafe extern "C" fn(BlasHandle, hipStream_t) -> BlasStatus,
    /// The general product.
    pub gemm: Gemm,
    _library: libloading::Library,
}

impl std::fmt::Debug for BlasApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlasApi")
            .field("platform", &self.platform)
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

/// The BLAS library for the loaded GPU runtime, found on first use.
///
/// Order: `$ROCMFORGE_BLAS_LIB` if set; else on AMD `$ROCM_PATH/lib/librocblas.so`,
/// /opt/rocm/lib/librocblas.so and the sonames; on NVIDIA the cuBLAS sonames and
/// `$CUDA_PATH/lib64`, /usr/local/cuda/lib64. A missing library is an error listing
/// every path tried (the engine then works without it).
pub fn blas() -> Result<&'static BlasApi, LoadError> {
    static BLAS: OnceLock<Result<BlasApi, LoadError>> = OnceLock::new();
    BLAS.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<BlasApi, LoadError> {
    let platform = api()?.platform;
    let candidates = match std::env::var("ROCMFORGE_BLAS_LIB") {
        Ok(path) => vec![path],
        Err(_) => candidates(platform),
    };
    let mut attempts = Vec::new();
    for candidate in candidates {
        match open(platform, &candidate) {
            Ok(blas) => return Ok(blas),
            Err(reason) => attempts.push(Attempt { candidate, reason }),
        }
    }
    Err(LoadError::NotFound { attempts })
}

fn candidates(platform: Platform) -> Vec<String> {
    let (root_var, roots, file, sonames): (_, &[&str], _, &[&str]) = match platform {
        Platform::Amd => (
            "ROCM_PATH",
            &["/opt/rocm/lib"],
            "librocblas.so",
            &["librocblas.so.5", "librocblas.so.4", "librocblas.so"],
        ),
        Platform::Nvidia => (
            "CUDA_PATH",
            &["/usr/local/cuda/lib64"],
            "libcublas.so",
            &["libcublas.so.13", "libcublas.so.12", "libcublas.so"],
        ),
    };
    let mut candidates: Vec<String> = sonames.iter().map(|s| s.to_string()).collect();
    if let Some(root) = std::env::var_os(root_var) {
        let lib = if platform == Platform::Amd {
            "lib"
        } else {
            "lib64"
        };
        let path = std::path::Path::new(&root).join(lib).join(file);
        candidates.push(path.display().to_string());
    }
    candidates.extend(roots.iter().map(|r| format!("{r}/{file}")));
    candidates
}

/// Looks up `name` with the type the caller names.
///
/// # Safety
/// The library must export `name` with exactly the C signature `F`.
unsafe fn symbol<F: Copy>(library: &libloading::Library, name: &str) -> Result<F, String> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    // SAFETY: the caller guarantees the signature; the pointer is copied out
    // and used only while the library stays loaded (it is kept in `BlasApi`).
    unsafe { library.get::<F>(&bytes) }
        .map(|s| *s)
        .map_err(|_| format!("lacks the entry point {name}"))
}

fn open(platform: Platform, candidate: &str) -> Result<BlasApi, String> {
    // SAFETY: loading a BLAS library runs only its own initialisers.
    let library = unsafe { libloading::Library::new(candidate) }.map_err(|e| e.to_string())?;
    // SAFETY: each name is looked up with the signature of the vendor's header.
    let blas = unsafe {
        match platform {
            Platform::Amd => BlasApi {
                create: symbol(&library, "rocblas_create_handle")?,
                destroy: symbol(&library, "rocblas_destroy_handle")?,
                set_stream: symbol(&library, "rocblas_set_stream")?,
                gemm: Gemm::Rocblas(symbol(&library, "rocblas_gemm_ex")?),
                platform,
                library: candidate.into(),
                _library: library,
            },
            Platform::Nvidia => BlasApi {
                create: symbol(&library, "cublasCreate_v2")?,
                destroy: symbol(&library, "cublasDestroy_v2")?,
                set_stream: symbol(&library, "cublasSetStream_v2")?,
                gemm: Gemm::Cublas(symbol(&library, "cublasGemmEx")?),
                platform,
                library: candidate.into(),
                _library: library,
            },
        }
    };
    Ok(blas)
}
