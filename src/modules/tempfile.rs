//! tempfile
