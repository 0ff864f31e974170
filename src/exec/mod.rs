//! Running plays: strategies, forks, handlers, check and diff mode.
