//! `group_vars/` and `host_vars/` as Ansible's `host_group_vars` plugin finds them: for an
//! entity `web`, the first of `web`, `web.yml`, `web.yaml`, `web.json` that exists; a directory
//! is read recursively in sorted order (hidden files and `~` backups skipped, only files with
//! no extension or a YAML/JSON one). Every directory is listed once and every file read once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use super::{InventoryError, InventoryWarning, LayerData};
use crate::error::Location;
use crate::yaml::{self, Node, NodeValue};

const EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

#[derive(Debug, Default)]
pub(crate) struct VarsDirs {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `<dir>/group_vars` → the names in it (`None`: missing or not a directory).
    listings: HashMap<PathBuf, Option<Arc<HashSet<String>>>>,
    /// Loaded files (`None`: empty file).
    files: HashMap<PathBuf, Result<Option<Arc<LayerData>>, InventoryError>>,
    /// Canonical forms of directories asked for.
    canonical: HashMap<PathBuf, PathBuf>,
    warnings: Vec<InventoryWarning>,
}

impl VarsDirs {
    pub(crate) fn warnings(&self) -> Vec<InventoryWarning> {
        self.lock().warnings.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The loaded vars files for `entity` in `<dir>/<subdir>`, in the order Ansible combines them.
    pub(crate) fn files_for(
        &self,
        dir: &Path,
        subdir: &str,
        entity: &str,
    ) -> Result<Vec<Arc<LayerData>>, InventoryError> {
        let mut st = self.lock();
        let base = match st.canonical.get(dir) {
            Some(c) => c.clone(),
            None => {
                let c = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
                st.canonical.insert(dir.to_path_buf(), c.clone());
                c
            }
        };
        let opath = base.join(subdir);
        let listing = match st.listings.get(&opath) {
            Some(l) => l.clone(),
            None => {
                let l = if opath.is_dir() {
                    let names = std::fs::read_dir(&opath)
                        .map(|rd| {
                            rd.filter_map(|e| e.ok())
                                .map(|e| e.file_name().to_string_lossy().into_owned())
                                .collect::<HashSet<String>>()
                        })
                        .unwrap_or_default();
                    Some(Arc::new(names))
                } else {
                    if opath.exists() {
                        st.warnings.push(InventoryWarning {
                            message: format!(
                                "Found {subdir} that is not a directory, skipping: {}",
                                opath.display()
                            ),
                        });
                    }
                    None
                };
                st.listings.insert(opath.clone(), l.clone());
                l
            }
        };
        let Some(listing) = listing else {
            return Ok(Vec::new());
        };
        let mut found: Vec<PathBuf> = Vec::new();
        for ext in std::iter::once("").chain(EXTENSIONS) {
            let name = format!("{entity}{ext}");
            let exists = if name.contains('/') {
                opath.join(&name).exists()
            } else {
                listing.contains(&name)
            };
            if !exists {
                continue;
            }
            let full = opath.join(&name);
            if full.is_dir() {
                dir_files(&full, &mut found, 0);
            } else {
                found.push(full);
            }
            break;
        }
        let mut out = Vec::new();
        for path in found {
            let loaded = match st.files.get(&path) {
                Some(r) => r.clone(),
                None => {
                    let r = load_vars_file(&path, &mut st.warnings);
                    st.files.insert(path.clone(), r.clone());
                    r
                }
            };
            if let Some(data) = loaded? {
                out.push(data);
            }
        }
        Ok(out)
    }
}

/// `DataLoader._get_dir_vars_files`.
fn dir_files(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = python_splitext(&name);
        let full = dir.join(&name);
        if full.is_dir() && ext.is_empty() {
            dir_files(&full, found, depth + 1);
        } else if full.is_file() && (ext.is_empty() || EXTENSIONS.contains(&ext)) {
            found.push(full);
        }
    }
}

/// `os.path.splitext(name)[1]`: leading dots do not start an extension.
fn python_splitext(name: &str) -> &str {
    let stripped = name.trim_start_matches('.');
    match stripped.rfind('.') {
        Some(i) => &stripped[i..],
        None => "",
    }
}

fn load_vars_file(
    path: &Path,
    warnings: &mut Vec<InventoryWarning>,
) -> Result<Option<Arc<LayerData>>, InventoryError> {
    let file = path.display().to_string();
    let err = |location: Location, message: String| InventoryError::VarsFile {
        location,
        file: file.clone(),
        message,
    };
    let loaded = yaml::load_data_file(path).map_err(|e| match e {
        yaml::YamlError::Syntax {
            location, message, ..
        } => err(location, message),
        yaml::YamlError::Vault { source, .. } => {
            err(Location::new(file.as_str(), 1, 1), source.to_string())
        }
        yaml::YamlError::Io { source, .. } => {
            err(Location::new(file.as_str(), 1, 1), source.to_string())
        }
    })?;
    for w in loaded.warnings {
        warnings.push(InventoryWarning {
            message: format!("{}: {}", w.location, w.message),
        });
    }
    if loaded.documents.len() > 1 {
        return Err(err(
            Location::new(file.as_str(), 1, 1),
            "expected a single document in the stream".into(),
        ));
    }
    let Some(doc) = loaded.documents.into_iter().next() else {
        return Ok(None);
    };
    match doc.value {
        NodeValue::Null => Ok(None),
        NodeValue::Map(entries) if entries.is_empty() => Ok(None),
        NodeValue::Map(entries) => Ok(Some(Arc::new(LayerData::new(
            file.clone(),
            entries_to_vars(entries),
        )))),
        NodeValue::Str(ref s) if s.is_empty() => Ok(None),
        NodeValue::Seq(ref items) if items.is_empty() => Ok(None),
        other => Err(err(
            doc.location.clone(),
            format!(
                "failed to combine variables, expected dicts but got a 'dict' and a '{}'",
                python_type_name(&other)
            ),
        )),
    }
}

/// Mapping entries → variables (keys as strings, as Ansible's variable names are).
pub(crate) fn entries_to_vars(entries: Vec<(Node, Node)>) -> IndexMap<String, Node> {
    entries
        .into_iter()
        .map(|(k, v)| (key_string(&k), v))
        .collect()
}

pub(crate) fn key_string(k: &Node) -> String {
    match &k.value {
        NodeValue::Str(s)
        | NodeValue::Unsafe(s)
        | NodeValue::Vault(s)
        | NodeValue::Timestamp(s) => s.clone(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => yaml::python_float_repr(*f),
        NodeValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        NodeValue::Null => "None".to_string(),
        NodeValue::Seq(_) | NodeValue::Map(_) => String::new(),
    }
}

fn python_type_name(v: &NodeValue) -> &'static str {
    match v {
        NodeValue::Seq(_) => "list",
        NodeValue::Str(_) | NodeValue::Unsafe(_) => "str",
        NodeValue::Int(_) => "int",
        NodeValue::Float(_) => "float",
        NodeValue::Bool(_) => "bool",
        _ => "object",
    }
}
