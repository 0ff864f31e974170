//! rig decrypts what real ansible-vault (ansible-core 2.19) encrypted: whole files (1.1),
//! inline `!vault` values, and labelled vault ids (1.2). Fixtures: tests/vault/generate.sh.

use rig::vault::{VaultSecret, decrypt};
use std::path::Path;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vault")
        .join(name);
    std::fs::read_to_string(p).expect("fixture")
}

fn secret(id: &str, file: &str) -> VaultSecret {
    VaultSecret {
        id: id.into(),
        password: fixture(file).trim_end().as_bytes().to_vec(),
    }
}

#[test]
fn whole_file_made_by_ansible_vault() {
    let plain = decrypt(
        &fixture("vars-encrypted.yml"),
        &[secret("default", "password.txt")],
    )
    .unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), fixture("vars-plain.yml"));
}

#[test]
fn inline_and_labelled_values_through_the_yaml_loader() {
    rig::vault::set_secrets(vec![
        secret("default", "password.txt"),
        secret("prod", "prod-password.txt"),
    ]);
    for (file, key, want) in [
        ("inline.yml", "api_token", "s3cr3t-api-token"),
        ("labelled.yml", "prod_token", "prod-only"),
    ] {
        let loaded = rig::yaml::load_str(&fixture(file), file).unwrap();
        let value = loaded.documents[0].get(key).expect("key").to_value();
        assert_eq!(value.as_str(), Some(want), "{file}");
    }
    assert!(rig::vault::secret_values().contains(&"s3cr3t-api-token".to_string()));
}

#[test]
fn wrong_password_names_the_fix() {
    let err = decrypt(
        &fixture("vars-encrypted.yml"),
        &[VaultSecret {
            id: "default".into(),
            password: b"nope".to_vec(),
        }],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no vault password given matches"), "{err}");
}
