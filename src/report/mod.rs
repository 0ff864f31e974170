//! Events from the engine, and the printers that consume them (human, JSON).
