//! Ansible's variable precedence and per-host resolution, with lazy templating.
