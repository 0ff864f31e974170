//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` and `;1.2;AES256;LABEL` formats.
//!
//! Key derivation and layout as `ansible.parsing.vault.VaultAES256`: PBKDF2-HMAC-SHA256 with
//! 10,000 rounds over a 32-byte salt gives 80 bytes: the AES-256 key, the HMAC-SHA256 key and
//! the CTR mode's initial counter. The HMAC of the ciphertext is checked before decrypting.
//! The body is hex of `hex(salt)\nhex(hmac)\nhex(ciphertext)`; the plaintext is PKCS#7 padded.
//!
//! Decrypted values are registered as secrets ([`secret_values`]) so that every printer can
//! mask them.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::sync::{Mutex, OnceLock};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;
type HmacSha256 = hmac::Hmac<Sha256>;

const HEADER: &str = "$ANSIBLE_VAULT";

/// A vault password, with its vault id (`default` when none is given).
#[derive(Clone)]
pub struct VaultSecret {
    pub id: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultSecret({})", self.id)
    }
}

/// Vaulted data could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("not a vault file: it must start with $ANSIBLE_VAULT")]
    NotVault,
    #[error("unsupported vault format '{0}' (rig reads 1.1 and 1.2 with AES256)")]
    Format(String),
    #[error("the vaulted data is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "no vault secret can decrypt this (vault id '{id}'): pass --vault-password-file FILE, \
         --ask-vault-pass or --vault-id {id}@FILE"
    )]
    NoSecret { id: String },
    #[error("decryption failed: no vault password given matches (vault id '{id}')")]
    WrongPassword { id: String },
}

/// The vault passwords of this run, set once by the CLI before anything is loaded.
static SECRETS: OnceLock<Vec<VaultSecret>> = OnceLock::new();
/// Every value decrypted so far, so output can mask it.
static DECRYPTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sets the run's vault secrets (the first call wins).
pub fn set_secrets(secrets: Vec<VaultSecret>) {
    let _ = SECRETS.set(secrets);
}

/// The run's vault secrets.
pub fn secrets() -> &'static [VaultSecret] {
    SECRETS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Values that came from the vault (to be masked in output and diffs).
pub fn secret_values() -> Vec<String> {
    DECRYPTED.lock().map(|d| d.clone()).unwrap_or_default()
}

/// Whether `text` is vaulted data.
pub fn is_encrypted(text: &str) -> bool {
    text.trim_start().starts_with(HEADER)
}

/// Decrypts vaulted text with the run's secrets and remembers the plaintext as a secret.
pub fn decrypt_str(text: &str) -> Result<String, VaultError> {
    let plain = decrypt(text, secrets())?;
    let plain = String::from_utf8_lossy(&plain).into_owned();
    remember_secret(&plain);
    Ok(plain)
}

/// Remembers a value as a secret, to be masked in output. Very short values are not
/// remembered: masking every `on` or `22` in the output would hide more than it protects.
pub fn remember_secret(value: &str) {
    if value.chars().count() < 4 {
        return;
    }
    if let Ok(mut d) = DECRYPTED.lock()
        && !d.iter().any(|v| v == value)
    {
        d.push(value.to_string());
    }
}

/// Decrypts vaulted text with the first secret that fits (the one whose id matches first).
pub fn decrypt(text: &str, secrets: &[VaultSecret]) -> Result<Vec<u8>, VaultError> {
    let text = text.trim();
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    let fields: Vec<&str> = header.trim().split(';').collect();
    if fields.first() != Some(&HEADER) {
        return Err(VaultError::NotVault);
    }
    let version = fields.get(1).copied().unwrap_or("");
    let cipher = fields.get(2).copied().unwrap_or("");
    if !matches!(version, "1.1" | "1.2") || cipher != "AES256" {
        return Err(VaultError::Format(format!("{version};{cipher}")));
    }
    let id = fields.get(3).copied().unwrap_or("default").to_string();
    let hex_body: String = body.split_whitespace().collect();
    let inner = hex_decode(&hex_body).ok_or(VaultError::Malformed("body is not hex"))?;
    let inner = String::from_utf8(inner).map_err(|_| VaultError::Malformed("body is not text"))?;
    let mut parts = inner.split('\n');
    let salt = parts
        .next()
        .and_then(hex_decode)
        .ok_or(VaultError::Malformed("bad salt"))?;
    let mac = parts
        .next()
        .and_then(hex_decode)
        .ok_or(VaultError::Malformed("bad hmac"))?;
    let data = parts
        .next()
        .and_then(hex_decode)
        .ok_or(VaultError::Malformed("bad ciphertext"))?;
    if secrets.is_empty() {
        return Err(VaultError::NoSecret { id });
    }
    // Try the secret with the matching id first, then the others (as Ansible does).
    let ordered = secrets
        .iter()
        .filter(|s| s.id == id)
        .chain(secrets.iter().filter(|s| s.id != id));
    for secret in ordered {
        let (key, hkey, iv) = derive(&secret.password, &salt);
        let Ok(mut check) = <HmacSha256 as KeyInit>::new_from_slice(&hkey) else {
            continue;
        };
        check.update(&data);
        if check.verify_slice(&mac).is_err() {
            continue;
        }
        let mut out = data.clone();
        let mut c = Aes256Ctr::new(&key.into(), &iv.into());
        c.apply_keystream(&mut out);
        let pad = usize::from(*out.last().ok_or(VaultError::Malformed("empty plaintext"))?);
        if pad == 0 || pad > 16 || pad > out.len() {
            return Err(VaultError::Malformed("bad padding"));
        }
        out.truncate(out.len() - pad);
        return Ok(out);
    }
    Err(VaultError::WrongPassword { id })
}

/// Encrypts `plain` in the 1.1 format (1.2 with a label when `id` is not `default`).
pub fn encrypt(plain: &[u8], secret: &VaultSecret, salt: [u8; 32]) -> String {
    let (key, hkey, iv) = derive(&secret.password, &salt);
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut c = Aes256Ctr::new(&key.into(), &iv.into());
    c.apply_keystream(&mut data);
    let mac = match <HmacSha256 as KeyInit>::new_from_slice(&hkey) {
        Ok(mut m) => {
            m.update(&data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    let inner = format!("{}\n{}\n{}", hex(&salt), hex(&mac), hex(&data));
    let body = hex(inner.as_bytes());
    let header = if secret.id == "default" {
        "$ANSIBLE_VAULT;1.1;AES256".to_string()
    } else {
        format!("$ANSIBLE_VAULT;1.2;AES256;{}", secret.id)
    };
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(80)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!("{header}\n{}\n", lines.join("\n"))
}

fn derive(password: &[u8], salt: &[u8]) -> ([u8; 32], [u8; 32], [u8; 16]) {
    let mut okm = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, 10_000, &mut okm);
    let mut key = [0u8; 32];
    let mut hkey = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&okm[..32]);
    hkey.copy_from_slice(&okm[32..64]);
    iv.copy_from_slice(&okm[64..]);
    (key, hkey, iv)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, pw: &str) -> VaultSecret {
        VaultSecret {
            id: id.into(),
            password: pw.as_bytes().to_vec(),
        }
    }

    #[test]
    fn round_trip() {
        let s = secret("default", "hunter2");
        let text = encrypt(b"db_password: s3cret\n", &s, [7u8; 32]);
        assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert_eq!(decrypt(&text, &[s]).unwrap(), b"db_password: s3cret\n");
    }

    #[test]
    fn wrong_password_is_refused() {
        let text = encrypt(b"x", &secret("default", "a"), [1u8; 32]);
        assert!(matches!(
            decrypt(&text, &[secret("default", "b")]),
            Err(VaultError::WrongPassword { .. })
        ));
    }

    #[test]
    fn labelled_format_finds_the_matching_id() {
        let prod = secret("prod", "p");
        let text = encrypt(b"v", &prod, [2u8; 32]);
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        assert_eq!(decrypt(&text, &[secret("dev", "d"), prod]).unwrap(), b"v");
    }
}
