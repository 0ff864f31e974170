//! `ansible.cfg` and `ANSIBLE_*` environment variables, for the settings rig supports.
//!
//! Where Ansible looks, first found wins: `$ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`,
//! `/etc/ansible/ansible.cfg`. An environment variable beats the file; a command-line option
//! beats both (the CLI applies those).

use std::path::{Path, PathBuf};

/// The settings rig reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The file the settings came from, if any.
    pub path: Option<PathBuf>,
    pub forks: Option<usize>,
    pub inventory: Vec<String>,
    pub roles_path: Vec<PathBuf>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<String>,
    pub host_key_checking: Option<bool>,
    pub timeout: Option<u64>,
    pub vault_password_file: Option<String>,
    pub vault_identity_list: Vec<String>,
    pub force_handlers: Option<bool>,
    pub become_: Option<bool>,
    pub become_method: Option<String>,
    pub become_user: Option<String>,
    pub become_ask_pass: Option<bool>,
    pub ssh_args: Option<String>,
    /// `-K`: the become password typed at the prompt (ansible_become_password beats it).
    pub become_password: Option<String>,
    /// `-k`: the connection password typed at the prompt (`ansible_password` beats it).
    pub remote_password: Option<String>,
    /// `-c`: the connection when no `ansible_connection` says otherwise.
    pub connection: Option<String>,
    pub ssh_common_args: Option<String>,
    pub ssh_extra_args: Option<String>,
    pub gathering: Option<String>,
    pub error_on_missing_handler: Option<bool>,
    pub any_errors_fatal: Option<bool>,
}

/// The config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
}

impl Config {
    /// Reads the config file Ansible would read, then the environment.
    pub fn load() -> Result<Config, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        let path = find_config_file(
            env("ANSIBLE_CONFIG"),
            std::env::current_dir().ok(),
            env("HOME"),
        );
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                let mut c = Config::from_ini(&text, p)?;
                c.path = Some(p.clone());
                c
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok());
        Ok(config)
    }

    /// Parses `ansible.cfg` text; relative paths are taken from the file's directory.
    pub fn from_ini(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut c = Config::default();
        let mut section = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let Some(name) = name.strip_suffix(']') else {
                    return Err(ConfigError::Syntax {
                        path: path.display().to_string(),
                        line: n + 1,
                        message: format!("a section header must end with ']': {line}"),
                    });
                };
                section = name.trim().to_string();
                continue;
            }
            // configparser splits on the first '=' or ':', whichever comes first.
            let Some((key, value)) = line.find(['=', ':']).map(|i| (&line[..i], &line[i + 1..]))
            else {
                return Err(ConfigError::Syntax {
                    path: path.display().to_string(),
                    line: n + 1,
                    message: format!("expected 'key = value': {line}"),
                });
            };
            let (key, value) = (key.trim(), strip_inline_comment(value.trim()));
            c.set(&section, key, value, base);
        }
        Ok(c)
    }

    fn set(&mut self, section: &str, key: &str, value: &str, base: &Path) {
        let path_list = |v: &str| -> Vec<PathBuf> {
            v.split(':')
                .filter(|p| !p.is_empty())
                .map(|p| resolve(base, p))
                .collect()
        };
        match (section, key) {
            ("defaults", "forks") => self.forks = value.parse().ok(),
            ("defaults", "inventory" | "hostfile") => {
                self.inventory = value
                    .split(',')
                    .map(|p| resolve(base, p.trim()).display().to_string())
                    .collect()
            }
            ("defaults", "roles_path") => self.roles_path = path_list(value),
            ("defaults", "remote_user") => self.remote_user = Some(value.into()),
            ("defaults", "private_key_file") => {
                self.private_key_file = Some(resolve(base, value).display().to_string())
            }
            ("defaults", "host_key_checking") => self.host_key_checking = parse_bool(value),
            ("defaults", "timeout") => self.timeout = value.parse().ok(),
            ("defaults", "vault_password_file") => {
                self.vault_password_file = Some(resolve(base, value).display().to_string())
            }
            ("defaults", "vault_identity_list") => {
                self.vault_identity_list = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            ("defaults", "force_handlers") => self.force_handlers = parse_bool(value),
            ("defaults", "gathering") => self.gathering = Some(value.into()),
            ("defaults", "error_on_missing_handler") => {
                self.error_on_missing_handler = parse_bool(value)
            }
            ("defaults", "any_errors_fatal") => self.any_errors_fatal = parse_bool(value),
            ("privilege_escalation", "become") => self.become_ = parse_bool(value),
            ("privilege_escalation", "become_method") => self.become_method = Some(value.into()),
            ("privilege_escalation", "become_user") => self.become_user = Some(value.into()),
            ("privilege_escalation", "become_ask_pass") => self.become_ask_pass = parse_bool(value),
            ("ssh_connection", "ssh_args") => self.ssh_args = Some(value.into()),
            ("ssh_connection", "ssh_common_args") => self.ssh_common_args = Some(value.into()),
            ("ssh_connection", "ssh_extra_args") => self.ssh_extra_args = Some(value.into()),
            _ => {}
        }
    }

    /// `ANSIBLE_*` variables beat the file.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        let cwd = std::env::current_dir().unwrap_or_default();
        if let Some(v) = get("ANSIBLE_FORKS") {
            self.forks = v.parse().ok().or(self.forks);
        }
        if let Some(v) = get("ANSIBLE_INVENTORY") {
            self.inventory = v.split(',').map(|s| s.trim().to_string()).collect();
        }
        if let Some(v) = get("ANSIBLE_ROLES_PATH") {
            self.roles_path = v
                .split(':')
                .filter(|p| !p.is_empty())
                .map(|p| resolve(&cwd, p))
                .collect();
        }
        if let Some(v) = get("ANSIBLE_REMOTE_USER") {
            self.remote_user = Some(v);
        }
        if let Some(v) = get("ANSIBLE_PRIVATE_KEY_FILE") {
            self.private_key_file = Some(v);
        }
        if let Some(v) = get("ANSIBLE_HOST_KEY_CHECKING") {
            self.host_key_checking = parse_bool(&v).or(self.host_key_checking);
        }
        if let Some(v) = get("ANSIBLE_TIMEOUT") {
            self.timeout = v.parse().ok().or(self.timeout);
        }
        if let Some(v) = get("ANSIBLE_VAULT_PASSWORD_FILE") {
            self.vault_password_file = Some(v);
        }
        if let Some(v) = get("ANSIBLE_FORCE_HANDLERS") {
            self.force_handlers = parse_bool(&v).or(self.force_handlers);
        }
        if let Some(v) = get("ANSIBLE_BECOME") {
            self.become_ = parse_bool(&v).or(self.become_);
        }
        if let Some(v) = get("ANSIBLE_BECOME_METHOD") {
            self.become_method = Some(v);
        }
        if let Some(v) = get("ANSIBLE_BECOME_USER") {
            self.become_user = Some(v);
        }
        if let Some(v) = get("ANSIBLE_SSH_ARGS") {
            self.ssh_args = Some(v);
        }
        if let Some(v) = get("ANSIBLE_GATHERING") {
            self.gathering = Some(v);
        }
        if let Some(v) = get("ANSIBLE_ERROR_ON_MISSING_HANDLER") {
            self.error_on_missing_handler = parse_bool(&v).or(self.error_on_missing_handler);
        }
    }
}

/// Ansible's config booleans: yes/no, true/false, on/off, 1/0 (any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn strip_inline_comment(v: &str) -> &str {
    // configparser (as Ansible uses it) treats ` ;` and ` #` after a value as a comment.
    for marker in [" ;", " #"] {
        if let Some(i) = v.find(marker) {
            return v[..i].trim_end();
        }
    }
    v
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = p.trim();
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn find_config_file(
    env: Option<String>,
    cwd: Option<PathBuf>,
    home: Option<String>,
) -> Option<PathBuf> {
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let p = if p.is_dir() { p.join("ansible.cfg") } else { p };
        return p.exists().then_some(p);
    }
    let candidates = [
        cwd.map(|d| d.join("ansible.cfg")),
        home.map(|h| PathBuf::from(h).join(".ansible.cfg")),
        Some(PathBuf::from("/etc/ansible/ansible.cfg")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_supported_settings() {
        let text = "[defaults]\nforks = 25 ; comment\ninventory = inventories/prod\nroles_path = roles:/opt/roles\nhost_key_checking = False\nvault_password_file = ~/.vault\n\n[privilege_escalation]\nbecome = yes\nbecome_user = deploy\n\n[ssh_connection]\nssh_args = -o ControlMaster=auto\n";
        let c = Config::from_ini(text, Path::new("/proj/ansible.cfg")).unwrap();
        assert_eq!(c.forks, Some(25));
        assert_eq!(c.inventory, vec!["/proj/inventories/prod".to_string()]);
        assert_eq!(
            c.roles_path,
            vec![PathBuf::from("/proj/roles"), PathBuf::from("/opt/roles")]
        );
        assert_eq!(c.host_key_checking, Some(false));
        assert_eq!(c.become_, Some(true));
        assert_eq!(c.become_user.as_deref(), Some("deploy"));
        assert_eq!(c.ssh_args.as_deref(), Some("-o ControlMaster=auto"));
    }

    #[test]
    fn environment_beats_the_file() {
        let mut c = Config {
            forks: Some(5),
            host_key_checking: Some(true),
            ..Default::default()
        };
        c.apply_env(|k| match k {
            "ANSIBLE_FORKS" => Some("50".into()),
            "ANSIBLE_HOST_KEY_CHECKING" => Some("False".into()),
            _ => None,
        });
        assert_eq!(c.forks, Some(50));
        assert_eq!(c.host_key_checking, Some(false));
    }

    #[test]
    fn a_broken_line_names_file_and_line() {
        let err =
            Config::from_ini("[defaults]\nforks 5\n", Path::new("/p/ansible.cfg")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/p/ansible.cfg:2: expected 'key = value': forks 5"
        );
    }
}
