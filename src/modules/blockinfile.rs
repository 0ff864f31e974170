//! blockinfile
