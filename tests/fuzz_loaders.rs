//! Time-budgeted mutation fuzzing of the loaders (YAML, INI and YAML inventories) and the
//! template engine, seeded from the real corpora (tests/conformance, tests/template,
//! tests/playbooks). Every input must load or fail with an error that carries a position; none
//! may panic.
//!
//! Budget: `RIG_FUZZ_SECS` seconds per target (default 20; CI runs it as part of
//! `cargo test --all-targets`). `RIG_FUZZ_SEED` replays a run; the seed is printed first.
//! `RIG_FUZZ_TRACE=FILE` leaves the input being checked in FILE (for inputs that abort).

use rig::yaml::YamlError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static QUIET_PANIC: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// Runs `f` with panics on this thread recorded (message and place, in [`QUIET_PANIC`]) instead
/// of printed: the default hook would symbolize a backtrace at the panic's depth, which in a
/// deep recursion can itself overflow the stack and abort the whole test binary.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                QUIET_PANIC.with(|m| m.set(info.to_string()));
            } else {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = f();
    QUIET.with(|q| q.set(false));
    r
}

fn budget() -> Duration {
    let secs = std::env::var("RIG_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(20.0);
    Duration::from_secs_f64(secs.max(0.0))
}

/// (the seed to print, the seed of this target's generator).
fn seed(target: &str) -> (u64, u64) {
    let base = std::env::var("RIG_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut h = base | 1;
    for b in target.bytes() {
        h = h.rotate_left(5) ^ u64::from(b);
    }
    (base, h | 1)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every file under `dirs` whose name ends with one of `exts`.
fn corpus(dirs: &[&str], exts: &[&str], skip: impl Fn(&str) -> bool) -> Vec<String> {
    fn walk(p: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, exts, out);
            } else if exts.iter().any(|x| {
                e.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(x))
            }) {
                out.push(e);
            }
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        walk(&root().join(d), exts, &mut files);
    }
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|t| t.len() < 20_000 && !skip(t))
        .collect()
}

/// One random edit: delete, duplicate, insert a token, or splice in a piece of another input.
fn mutate(rng: &mut Rng, text: &str, tokens: &[&str], corpus: &[String]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        let pos = rng.below(s.len() + 1);
        match rng.below(5) {
            0 => {
                let end = (pos + 1 + rng.below(8)).min(s.len());
                s.drain(pos..end);
            }
            1 => {
                let end = (pos + 1 + rng.below(16)).min(s.len());
                let piece: Vec<char> = s[pos..end].to_vec();
                let at = rng.below(s.len() + 1);
                s.splice(at..at, piece);
            }
            2 | 3 => {
                let t = tokens[rng.below(tokens.len())];
                s.splice(pos..pos, t.chars());
            }
            _ => {
                let other: Vec<char> = corpus[rng.below(corpus.len())].chars().collect();
                let a = rng.below(other.len() + 1);
                let b = (a + rng.below(40)).min(other.len());
                s.splice(pos..pos, other[a..b].iter().copied());
            }
        }
    }
    s.into_iter().collect()
}

/// Runs `check` on mutated corpus inputs until the budget is spent; panics (with the seed
/// and the input) on the first panic or missing position.
fn fuzz(
    target: &str,
    corpus: &[String],
    tokens: &[&str],
    check: impl Fn(&str) -> Result<(), String> + Sync,
) {
    // On a thread with the stack rig's runtime gives its workers (where templates are
    // rendered), not the test harness's 2 MiB.
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .stack_size(rig::exec::WORKER_STACK)
            .spawn_scoped(s, || fuzz_here(target, corpus, tokens, &check))
            .expect("fuzz thread");
        if let Err(p) = worker.join() {
            std::panic::resume_unwind(p);
        }
    });
}

fn fuzz_here(
    target: &str,
    corpus: &[String],
    tokens: &[&str],
    check: &(impl Fn(&str) -> Result<(), String> + Sync),
) {
    assert!(!corpus.is_empty(), "{target}: empty corpus");
    let (seed, own) = seed(target);
    // Printed first: a stack overflow aborts the process before any panic message.
    eprintln!("{target}: RIG_FUZZ_SEED={seed}");
    let trace = std::env::var_os("RIG_FUZZ_TRACE");
    let mut rng = Rng(own);
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    // Every corpus input once as is, then mutations.
    let mut queue: Vec<String> = corpus.to_vec();
    loop {
        let input = match queue.pop() {
            Some(i) => i,
            None => {
                if Instant::now() >= deadline {
                    break;
                }
                let base = &corpus[rng.below(corpus.len())];
                mutate(&mut rng, base, tokens, corpus)
            }
        };
        runs += 1;
        if let Some(t) = &trace {
            // RIG_FUZZ_TRACE=FILE: each input is written there before it is checked, so the
            // one that aborted the process (a stack overflow) is left in the file.
            let _ = std::fs::write(t, &input);
        }
        match quietly(|| catch_unwind(AssertUnwindSafe(|| check(&input)))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!(
                "{target}: {why}\nseed: RIG_FUZZ_SEED={seed}\ninput ({} bytes):\n{input:?}",
                input.len()
            ),
            Err(_) => panic!(
                "{target}: panicked: {}\nseed: RIG_FUZZ_SEED={seed}\ninput ({} bytes):\n{input:?}",
                QUIET_PANIC.with(|m| m.take()),
                input.len()
            ),
        }
    }
    eprintln!("{target}: {runs} inputs, no failure (RIG_FUZZ_SEED={seed})");
}

const YAML_TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!unsafe ",
    "!vault ",
    "|",
    ">-",
    "? ",
    "#",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "{{ x }}",
    "\\",
    "\u{feff}",
    "é",
    "0x",
    "~",
    "@",
    "`",
];

fn yaml_position(file: &str, e: &YamlError) -> Result<(), String> {
    match e {
        YamlError::Syntax { location, .. } => {
            if &*location.file != file || location.line == 0 || location.col == 0 {
                return Err(format!("bad position {location} for: {e}"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[test]
fn fuzz_yaml_loader() {
    let corpus = corpus(
        &["conformance", "template", "playbooks", "yaml", "inventory"],
        &[".yml", ".yaml", ".json"],
        |_| false,
    );
    fuzz(
        "yaml",
        &corpus,
        YAML_TOKENS,
        |text| match rig::yaml::load_str(text, "fuzz.yml") {
            Ok(loaded) => {
                for d in &loaded.documents {
                    let _ = d.to_value();
                }
                Ok(())
            }
            Err(e) => yaml_position("fuzz.yml", &e),
        },
    );
}

/// Loads `text` as an inventory file named `name`; every "Failed to parse" warning must name
/// the file with a line number.
fn inventory_check(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("write: {e}"))?;
    let shown = path.display().to_string();
    match rig::inventory::Inventory::load(std::slice::from_ref(&shown)) {
        Ok(inv) => {
            for w in &inv.warnings {
                let m = &w.message;
                let names_line = m.match_indices(&shown).any(|(i, _)| {
                    m[i + shown.len()..]
                        .strip_prefix(':')
                        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                });
                // Parse errors have a position; semantic ones ("no root 'plugin' key") do not,
                // in Ansible either.
                let parse_error = m.starts_with("Failed to parse inventory with 'ini'")
                    || (m.starts_with("Failed to parse inventory with")
                        && m.contains("parsing failed"));
                if parse_error && !names_line {
                    return Err(format!("warning without a position: {m}"));
                }
            }
            for host in inv.hosts.keys() {
                let _ = inv.var_layers(host, None);
            }
            let _ = inv.select("all:!web[0]:&*");
            Ok(())
        }
        Err(e) => {
            let m = e.to_string();
            if m.contains(&shown) && !m.contains(&format!("{shown}:")) {
                return Err(format!("error without a position: {m}"));
            }
            Ok(())
        }
    }
}

#[test]
fn fuzz_ini_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(
        &["inventory", "playbooks", "conformance", "bad_input"],
        &[".ini", "hosts"],
        |_| false,
    );
    let tokens = &[
        "[",
        "]",
        ":children",
        ":vars",
        "=",
        " ",
        "\n",
        "#",
        ";",
        "'",
        "\"",
        "[1:3]",
        "[a:c]",
        "ansible_host=",
        "ansible_port=x",
        ":22",
        "\\",
        "{{ }}",
        "[]",
        "[:]",
        "é",
        "\t",
    ];
    fuzz("ini-inventory", &corpus, tokens, |text| {
        inventory_check(dir.path(), "hosts.ini", text)
    });
}

#[test]
fn fuzz_yaml_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut corpus = corpus(&["inventory"], &[".yml", ".yaml"], |_| false);
    corpus.push(
        "all:\n  hosts:\n    h1:\n      a: 1\n  children:\n    web:\n      hosts:\n        w[1:3]:\n      vars:\n        x: [1, 2]\n"
            .to_string(),
    );
    fuzz("yaml-inventory", &corpus, YAML_TOKENS, |text| {
        inventory_check(dir.path(), "hosts.yml", text)
    });
}

#[test]
fn fuzz_template_engine() {
    // Lookups read files or run commands on this machine: not in the corpus (and the tokens
    // below never spell one).
    let unsafe_ = |t: &str| {
        [
            "lookup", "query", "q(", "pipe", "password", "env(", "include", "import", "extends",
        ]
        .iter()
        .any(|w| t.contains(w))
    };
    let corpus = corpus(&["template", "conformance", "playbooks"], &[".j2"], unsafe_);
    let vars_text = std::fs::read_to_string(root().join("template/vars.yml")).unwrap_or_default();
    let ctx = rig::yaml::load_str(&vars_text, "vars.yml")
        .ok()
        .and_then(|l| l.documents.first().map(|d| d.to_value()))
        .unwrap_or_default();
    let templar = rig::template::Templar::new();
    let tokens = &[
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        " if ",
        " endif ",
        " for x in ",
        " endfor ",
        " else ",
        "|",
        "(",
        ")",
        "[",
        "]",
        ".",
        ",",
        "'",
        "\"",
        " ~ ",
        " + ",
        " is ",
        " not ",
        " and ",
        "default(",
        "join(",
        "upper",
        "int",
        "float",
        "to_json",
        "from_json",
        "b64decode",
        "regex_replace(",
        "map(",
        "selectattr(",
        "items()",
        "set ",
        "macro m() ",
        "endmacro",
        "raw",
        "endraw",
        "-",
        "\n",
        "#jinja2: trim_blocks: False\n",
        "\u{0}",
        "é",
        "undefined_x",
    ];
    fuzz("template", &corpus, tokens, |text| {
        if unsafe_(text) {
            return Ok(());
        }
        match templar.render_str("fuzz.j2", text, &ctx) {
            Ok(_) => Ok(()),
            Err(e) => {
                let syntax = e.message.contains("syntax error");
                match &e.location {
                    Some(l) if l.line >= 1 && l.col >= 1 => Ok(()),
                    None if !syntax => Ok(()),
                    _ => Err(format!(
                        "syntax error without a position: {} ({:?})",
                        e.message, e.location
                    )),
                }
            }
        }
    });
}
