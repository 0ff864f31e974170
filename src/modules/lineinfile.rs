//! lineinfile
