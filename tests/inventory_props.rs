//! The inventory loaders never panic, whatever the file holds.

use proptest::prelude::*;
use std::io::Write;

fn load_text(name: &str, text: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    if let Ok(inv) = rig::inventory::Inventory::load(&[path.display().to_string()]) {
        for host in inv.hosts.keys() {
            let _ = inv.var_layers(host, None);
        }
        let _ = inv.select("all:!web[0]:&*");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn arbitrary_ini_never_panics(text in "(\\[[a-z:\\]]{0,12}\\n|[a-z0-9\\[\\]:.=#;'\" -]{0,30}\\n){0,12}") {
        load_text("hosts", &text);
    }

    #[test]
    fn arbitrary_text_as_ini_never_panics(text in "\\PC{0,120}") {
        load_text("hosts.ini", &text);
    }

    #[test]
    fn arbitrary_yaml_inventory_never_panics(text in "([a-z:\\[\\]{}0-9 ,-]{0,20}\\n  ){0,8}") {
        load_text("inv.yml", &text);
    }

    #[test]
    fn host_patterns_never_panic(pattern in "[a-z0-9*?~!&:,\\[\\]\\-()|.@]{0,20}") {
        let inv = rig::inventory::Inventory::load(&["a,b,web1,web2,".to_string()]).expect("host list");
        if !pattern.contains('@') {
            let _ = inv.select(&pattern);
        }
    }
}
