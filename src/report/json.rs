//! The JSON-lines printer: one event per line, the [`Event`] serialized with serde.
//!
//! Each line is an object with an `event` field naming the variant (`play_start`,
//! `task_start`, `host_result`, `item_result`, `diff`, `recap`, ...) and that variant's fields.

use super::{Event, Sink};
use std::io::Write;
use std::sync::Mutex;

/// Writes events as JSON lines.
pub struct JsonPrinter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonPrinter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonPrinter {
            out: Mutex::new(out),
        }
    }
}

impl Sink for JsonPrinter {
    fn emit(&self, event: &Event) {
        if let (Ok(line), Ok(mut out)) = (serde_json::to_string(event), self.out.lock()) {
            let _ = writeln!(out, "{line}");
        }
    }
}
