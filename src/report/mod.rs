//! Events from the engine, and the printers that consume them (human, JSON lines).
//!
//! The executor never prints: it hands [`Event`]s to a [`Sink`]. [`HumanPrinter`] reproduces
//! ansible-playbook's default callback; [`JsonPrinter`] writes one JSON object per line.

mod diff;
mod event;
mod human;
mod json;
mod junit;
mod progress;
pub mod pyjson;
pub mod redact;

pub use diff::render_diff;
pub use event::{Event, HostStats, ResultKind, TaskInfo, TaskResult};
pub use human::HumanPrinter;
pub use json::JsonPrinter;
pub use junit::JunitWriter;
pub use progress::ProgressPrinter;

/// Something that consumes engine events.
pub trait Sink: Send + Sync {
    fn emit(&self, event: &Event);
    /// `host` finished the current task. Its result events come later (a task's results are
    /// emitted in inventory order once every host is done); the progress line counts on this.
    fn host_done(&self, _host: &str) {}
}

/// Sends every event to several sinks.
pub struct Tee(pub Vec<Box<dyn Sink>>);

impl Sink for Tee {
    fn emit(&self, event: &Event) {
        for s in &self.0 {
            s.emit(event);
        }
    }
    fn host_done(&self, host: &str) {
        for s in &self.0 {
            s.host_done(host);
        }
    }
}
