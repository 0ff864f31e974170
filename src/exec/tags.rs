//! `--tags` / `--skip-tags` selection, as Ansible's `evaluate_tags`.

/// Whether a task with `tags` runs for these `--tags` (empty = all) and `--skip-tags`.
pub(crate) fn should_run(tags: &[String], only: &[String], skip: &[String]) -> bool {
    let untagged = tags.is_empty();
    let has = |t: &str| tags.iter().any(|x| x == t);
    let meets = |set: &[String]| tags.iter().any(|t| set.contains(t));
    let all_default = ["all".to_string()];
    let only: &[String] = if only.is_empty() { &all_default } else { only };
    let only_has = |t: &str| only.iter().any(|x| x == t);
    let mut run = (has("always") && !skip.iter().any(|s| s == "always"))
        || (only_has("all") && !has("never"))
        || meets(only)
        || (only_has("tagged") && !untagged && !has("never"))
        || (only_has("untagged") && untagged);
    if run && !skip.is_empty() {
        let skip_has = |t: &str| skip.iter().any(|x| x == t);
        let skipped = if skip_has("all") {
            !has("always") || skip_has("always")
        } else {
            meets(skip) || (skip_has("tagged") && !untagged) || (skip_has("untagged") && untagged)
        };
        if skipped {
            run = false;
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::should_run;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn never_and_always() {
        assert!(!should_run(&v(&["never"]), &[], &[]));
        assert!(should_run(&v(&["never", "x"]), &v(&["x"]), &[]));
        assert!(should_run(&v(&["always"]), &v(&["x"]), &[]));
        assert!(!should_run(&v(&["always"]), &v(&["x"]), &v(&["always"])));
        assert!(!should_run(&v(&["a"]), &v(&["b"]), &[]));
        assert!(!should_run(&v(&["a"]), &[], &v(&["a"])));
    }
}
