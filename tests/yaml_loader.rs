//! Positions, warnings, errors and Ansible tags of the YAML loader.

use rig::yaml::{self, NodeValue, YamlError};

#[test]
fn every_node_has_its_position() {
    let loaded = yaml::load_str("a: 1\nb:\n  - x\n  - {c: d}\n", "f.yml").unwrap();
    let doc = &loaded.documents[0];
    assert_eq!(doc.location.to_string(), "f.yml:1:1");
    let NodeValue::Map(entries) = &doc.value else {
        panic!("not a map")
    };
    assert_eq!(entries[1].0.location.to_string(), "f.yml:2:1");
    let b = doc.get("b").unwrap();
    let NodeValue::Seq(items) = &b.value else {
        panic!("not a seq")
    };
    assert_eq!(items[0].location.to_string(), "f.yml:3:5");
    assert_eq!(items[1].location.to_string(), "f.yml:4:5");
    assert_eq!(items[1].get("c").unwrap().location.to_string(), "f.yml:4:9");
}

#[test]
fn duplicate_keys_warn_at_the_later_key_and_keep_the_first_position() {
    let loaded = yaml::load_str("a: 1\nb: 2\na: 3\n", "d.yml").unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].location.to_string(), "d.yml:3:1");
    assert_eq!(
        loaded.warnings[0].message,
        "Found duplicate mapping key 'a'."
    );
    let doc = &loaded.documents[0];
    let NodeValue::Map(entries) = &doc.value else {
        panic!("not a map")
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0.location.line, 1);
    assert_eq!(entries[0].1.value, NodeValue::Int(3));
}

#[test]
fn unsafe_and_vault_tags_are_kept() {
    let text = "a: !unsafe '{{ x }}'\nb: !unsafe {c: '{{ y }}', d: [1]}\nv: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3131\n";
    let loaded = yaml::load_str(text, "t.yml").unwrap();
    let doc = &loaded.documents[0];
    assert_eq!(
        doc.get("a").unwrap().value,
        NodeValue::Unsafe("{{ x }}".into())
    );
    let b = doc.get("b").unwrap();
    assert_eq!(
        b.get("c").unwrap().value,
        NodeValue::Unsafe("{{ y }}".into())
    );
    assert_eq!(
        doc.get("v").unwrap().value,
        NodeValue::Vault("$ANSIBLE_VAULT;1.1;AES256\n3131\n".into())
    );
    assert!(doc.get("a").unwrap().to_value().is_safe());
}

#[test]
fn syntax_errors_name_the_position_and_line() {
    let err = yaml::load_str("a: 1\nb: [1, 2\nc: 3\n", "bad.yml").unwrap_err();
    let YamlError::Syntax {
        location,
        source_line,
        ..
    } = &err
    else {
        panic!("not a syntax error: {err}")
    };
    assert_eq!(&*location.file, "bad.yml");
    assert!(location.line >= 2, "{location}");
    assert!(source_line.is_some());
}

#[test]
fn empty_and_comment_only_files_have_no_documents() {
    assert!(yaml::load_str("", "e.yml").unwrap().documents.is_empty());
    assert!(
        yaml::load_str("# hi\n\n", "e.yml")
            .unwrap()
            .documents
            .is_empty()
    );
}

#[test]
fn load_file_reports_missing_files() {
    let err = yaml::load_file(std::path::Path::new("/nonexistent/x.yml")).unwrap_err();
    assert!(matches!(err, YamlError::Io { .. }));
}

#[test]
fn alias_bombs_are_refused_not_exploded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(yaml::load_str(&text, "bomb.yml").is_err());
}

#[test]
fn float_repr_is_pythons() {
    for (f, s) in [
        (1.0, "1.0"),
        (1e16, "1e+16"),
        (1234567890123456.0, "1234567890123456.0"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (6.02e23, "6.02e+23"),
    ] {
        assert_eq!(yaml::python_float_repr(f), s);
    }
}
