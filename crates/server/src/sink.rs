//! The bridge from the scheduler's thread to a request's handler: an unbounded
//! channel whose receiver closing (the client went away, the handler was
//! dropped) cancels the request.

use rocmforge_engine::scheduler::{Event, EventSink};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The scheduler's end.
pub struct ClientSink(UnboundedSender<Event>);

impl EventSink for ClientSink {
    fn send(&mut self, event: Event) -> bool {
        self.0.send(event).is_ok()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// A sink and the receiver the handler reads.
pub fn channel() -> (Box<ClientSink>, UnboundedReceiver<Event>) {
    let (tx, rx) = unbounded_channel();
    (Box::new(ClientSink(tx)), rx)
}
