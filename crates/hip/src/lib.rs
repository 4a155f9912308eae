//! Safe HIP: devices, streams, events, device buffers and views, pinned host
//! memory, an arena for model-sized allocations, modules and kernel launches, and
//! graphs. The same types run on AMD GPUs (ROCm) and on NVIDIA GPUs (through the
//! CUDA driver layer of `rocmforge-hip-sys`); nothing here knows which.
//!
//! | CPU | GPU |
//! | --- | --- |
//! | `Vec<T>` | [`DeviceBuffer<T>`] (owned, or carved from an [`Arena`]) |
//! | `&[T]`, `&mut [T]` | [`DeviceView`], [`DeviceViewMut`] (checked slicing) |
//! | page-locked `Vec<T>` | [`PinnedBuffer<T>`] |
//! | a thread | [`Stream`] (ordered work) |
//! | a completion flag | [`Event`] |
//! | a `.so` and its functions | [`Module`], [`Function`] |
//! | calling a function | [`Stream::launch`] with typed arguments |
//! | a recorded macro | [`Graph`], [`GraphExec`] |
//! | `sgemm` | [`Blas`] (rocBLAS / cuBLAS, loaded at run time) |
//! | buffered writes | [`StagingRing`] (pipelined uploads through pinned memory) |
//!
//! Every HIP status is checked; failures are [`Error`]s naming the call and the
//! runtime's own status name. Resources are freed on drop; a failure while
//! freeing cannot be returned from `drop`, so it is kept on the [`Device`]
//! ([`Device::take_deferred_error`]).
//!
//! ```no_run
//! use rocmforge_hip::{Device, Stream};
//! # fn main() -> Result<(), rocmforge_hip::Error> {
//! let device = Device::new(0)?;
//! let stream = Stream::new(&device)?;
//! let mut buffer = device.alloc::<f32>(1024)?;
//! stream.upload(&mut buffer.as_view_mut(), &vec![1.0; 1024])?;
//! let mut back = vec![0.0; 1024];
//! stream.download(&buffer.as_view(), &mut back)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[macro_use]
mod runtime;
mod blas;
mod buffer;
mod device;
mod error;
mod event;
mod graph;
mod launch;
mod module;
mod pinned;
mod pool;
mod staging;
mod stream;

pub use blas::Blas;
pub use buffer::{DeviceBuffer, DeviceView, DeviceViewMut};
pub use device::{Device, DeviceInfo, device_count};
pub use error::{Error, HipError, Result};
pub use event::Event;
pub use graph::{Capture, Graph, GraphExec};
pub use launch::{KernelArg, Launch, LaunchConfig};
pub use module::{Function, Module};
pub use pinned::PinnedBuffer;
pub use pool::{Arena, ArenaStats, DEFAULT_CHUNK_BYTES};
pub use rocmforge_hip_sys::{LoadError, Platform};
pub use staging::StagingRing;
pub use stream::{Pending, Stream};
