//! slurp
