//! Graphs: a stream's work captured once, replayed many times.

use rocmforge_hip_sys::hip::{hipGraph_t, hipGraphExec_t, hipStreamCaptureMode};

use crate::device::Device;
use crate::error::Result;
use crate::stream::Stream;

/// Capture in progress on a stream: work queued on the stream is recorded, not
/// run. Finish with [`Capture::end`]; dropping it ends and discards the capture.
#[must_use = "a capture should be ended with `end`"]
pub struct Capture<'s> {
    stream: &'s Stream,
    ended: bool,
}

impl Stream {
    /// Starts recording this stream's work into a graph (thread-local mode:
    /// other threads' unrelated HIP calls are not affected).
    pub fn begin_capture(&self) -> Result<Capture<'_>> {
        self.device().activate()?;
        // SAFETY: a live stream; the mode is one of HIP's values.
        unsafe {
            hip!(hipStreamBeginCapture(
                self.raw(),
                hipStreamCaptureMode::hipStreamCaptureModeThreadLocal
            ))
        }?;
        Ok(Capture {
            stream: self,
            ended: false,
        })
    }
}

impl Capture<'_> {
    /// Stops recording and returns the graph.
    pub fn end(mut self) -> Result<Graph> {
        self.ended = true;
        let raw = end_capture(self.stream)?;
        Ok(Graph {
            raw,
            device: self.stream.device().clone(),
        })
    }
}

fn end_capture(stream: &Stream) -> Result<hipGraph_t> {
    stream.device().activate()?;
    let mut raw: hipGraph_t = std::ptr::null_mut();
    // SAFETY: a stream in capture mode and a valid out-pointer.
    unsafe { hip!(hipStreamEndCapture(stream.raw(), &mut raw)) }?;
    Ok(raw)
}

impl Drop for Capture<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        match end_capture(self.stream) {
            Ok(raw) => drop(Graph {
                raw,
                device: self.stream.device().clone(),
            }),
            Err(error) => self.stream.device().record(error),
        }
    }
}

/// A captured graph of device work.
pub struct Graph {
    raw: hipGraph_t,
    device: Device,
}

// SAFETY: graph handles may be used from any thread.
unsafe impl Send for Graph {}

impl Graph {
    /// How many operations (kernels, copies, …) the graph holds.
    pub fn node_count(&self) -> Result<usize> {
        self.device.activate()?;
        let mut count = 0usize;
        // SAFETY: a null node array asks only for the count.
        unsafe { hip!(hipGraphGetNodes(self.raw, std::ptr::null_mut(), &mut count)) }?;
        Ok(count)
    }

    /// Prepares the graph for launching.
    pub fn instantiate(&self) -> Result<GraphExec> {
        self.device.activate()?;
        let mut raw: hipGraphExec_t = std::ptr::null_mut();
        // SAFETY: a live graph and a valid out-pointer; no error node or log.
        unsafe {
            hip!(hipGraphInstantiate(
                &mut raw,
                self.raw,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0
            ))
        }?;
        Ok(GraphExec {
            raw,
            device: self.device.clone(),
        })
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        if self.raw.is_null() {
            return;
        }
        self.device.release(|| {
            // SAFETY: a live handle, destroyed once (instantiations are independent).
            unsafe { hip!(hipGraphDestroy(self.raw)) }
        });
    }
}

/// An instantiated graph, launched as one unit of work.
pub struct GraphExec {
    raw: hipGraphExec_t,
    device: Device,
}

// SAFETY: executable graph handles may be launched from any thread.
unsafe impl Send for GraphExec {}

impl GraphExec {
    /// Queues the whole graph on `stream`.
    ///
    /// # Safety
    /// The buffers the captured kernels and copies use must still be alive and
    /// large enough (the graph holds their addresses, not borrows).
    pub unsafe fn launch(&self, stream: &Stream) -> Result<()> {
        self.device.same(stream.device())?;
        self.device.activate()?;
        // SAFETY: live handles; the caller keeps the captured buffers alive.
        unsafe { hip!(hipGraphLaunch(self.raw, stream.raw())) }
    }
}

impl Drop for GraphExec {
    fn drop(&mut self) {
        self.device.release(|| {
            // SAFETY: a live handle, destroyed once.
            unsafe { hip!(hipGraphExecDestroy(self.raw)) }
        });
    }
}
