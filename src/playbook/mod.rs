//! Playbooks, plays, roles, blocks and tasks loaded from YAML, with positions.
