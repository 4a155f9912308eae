//! Dense matrix products through the vendor's BLAS library (rocBLAS on AMD,
//! cuBLAS on NVIDIA), loaded at run time like the runtime itself.

use std::ffi::c_void;

use rocmforge_hip_sys::blas::{BlasHandle, BlasStatus, Gemm, codes};
use rocmforge_hip_sys::{BlasApi, Platform};

use crate::buffer::DeviceView;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::stream::Stream;

/// A BLAS library handle on one device: the GPU's `sgemm`.
pub struct Blas {
    handle: BlasHandle,
    api: &'static BlasApi,
    device: Device,
}

// A BLAS handle may move between threads as long as calls on it never overlap;
// `Sync` is not implemented, so one thread at a time holds it.
// SAFETY: every call sets the stream first and goes through `&self` on one thread.
unsafe impl Send for Blas {}

fn check(call: &'static str, status: BlasStatus) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Blas { call, status })
    }
}

fn dim(value: usize, what: &'static str) -> Result<i32> {
    i32::try_from(value)
        .map_err(|_| Error::Invalid(format!("{what} {value} exceeds the BLAS limit")))
}

impl Blas {
    /// Opens the vendor's BLAS library (once per process) and makes a handle on
    /// `device`; an error when the library is missing names every path tried.
    pub fn new(device: &Device) -> Result<Blas> {
        let api = rocmforge_hip_sys::blas()?;
        device.activate()?;
        let mut handle: BlasHandle = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer; the device's context is current.
        check("blas create", unsafe { (api.create)(&mut handle) })?;
        Ok(Blas {
            handle,
            api,
            device: device.clone(),
        })
    }

    /// The library that was opened.
    pub fn library(&self) -> &str {
        &self.api.library
    }

    /// `c[j][i] = Σ_p a[i][p] · b[j][p]` for `i < m`, `j < n`, `p < k`: `a` holds
    /// `m` rows of `k` halves, `b` holds `n` rows of `k` halves (both row-major),
    /// `c` holds `n` rows of `ldc >= m` floats of which the first `m` are written.
    /// Products are summed in f32. Queued on `stream`.
    ///
    /// # Safety
    /// The library writes `c` asynchronously, like a kernel launch: nothing may
    /// read or write `c` on another stream until `stream` has passed this call,
    /// and all three buffers must outlive that point.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_nt_f16_f32(
        &self,
        stream: &Stream,
        (m, n, k): (usize, usize, usize),
        a: &DeviceView<'_, u16>,
        b: &DeviceView<'_, u16>,
        c: &DeviceView<'_, f32>,
        ldc: usize,
    ) -> Result<()> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        let needs = |what: &'static str, have: usize, need: Option<usize>| match need {
            Some(need) if need <= have => Ok(()),
            _ => Err(Error::Invalid(format!(
                "matrix product: {what} holds {have} values, too few for {m}x{n}x{k} (ldc {ldc})"
            ))),
        };
        needs("a", a.len(), m.checked_mul(k))?;
        needs("b", b.len(), n.checked_mul(k))?;
        let c_need = (n - 1).checked_mul(ldc).and_then(|v| v.checked_add(m));
        needs("c", c.len(), c_need.filter(|_| ldc >= m))?;
        for view_device in [a.device(), b.device(), c.device(), stream.device()] {
            self.device.same(view_device)?;
        }
        let (mi, ni, ki, ldci) = (
            dim(m, "rows")?,
            dim(n, "columns")?,
            dim(k, "depth")?,
            dim(ldc, "ldc")?,
        );
        self.device.activate()?;
        let (alpha, beta) = (1.0f32, 0.0f32);
        let alpha = (&alpha as *const f32).cast::<c_void>();
        let beta = (&beta as *const f32).cast::<c_void>();
        // SAFETY: a live handle and stream of this device.
        check("blas set stream", unsafe {
            (self.api.set_stream)(self.handle, stream.raw())
        })?;
        // Column-major view: c (m x n, ldc) = a^T (a is k x m, lda = k) times b
        // (k x n, ldb = k); the sizes were checked above.
        let status = match self.api.gemm {
            // SAFETY: pointers into live device buffers of the checked sizes; the
            // caller keeps them alive and unaliased until the stream passes.
            Gemm::Rocblas(gemm) => unsafe {
                gemm(
                    self.handle,
                    codes::ROCBLAS_OP_T,
                    codes::ROCBLAS_OP_N,
                    mi,
                    ni,
                    ki,
                    alpha,
                    a.raw(),
                    codes::ROCBLAS_F16,
                    ki,
                    b.raw(),
                    codes::ROCBLAS_F16,
                    ki,
                    beta,
                    c.raw(),
                    codes::ROCBLAS_F32,
                    ldci,
                    c.raw(),
                    codes::ROCBLAS_F32,
                    ldci,
                    codes::ROCBLAS_F32,
                    codes::ROCBLAS_ALGO_STANDARD,
                    0,
                    0,
                )
            },
            // SAFETY: as above.
            Gemm::Cublas(gemm) => unsafe {
                gemm(
                    self.handle,
                    codes::CUBLAS_OP_T,
                    codes::CUBLAS_OP_N,
                    mi,
                    ni,
                    ki,
                    alpha,
                    a.raw(),
                    codes::CUDA_R_16F,
                    ki,
                    b.raw(),
                    codes::CUDA_R_16F,
                    ki,
                    beta,
                    c.raw(),
                    codes::CUDA_R_32F,
                    ldci,
                    codes::CUBLAS_COMPUTE_32F,
                    codes::CUBLAS_GEMM_DEFAULT,
                )
            },
        };
        check("blas gemm", status)
    }

    /// Which runtime the library belongs to.
    pub fn platform(&self) -> Platform {
        self.api.platform
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        self.device.release(|| {
            self.device.activate()?;
            // SAFETY: a live handle, destroyed once.
            check("blas destroy", unsafe { (self.api.destroy)(self.handle) })
        });
    }
}
