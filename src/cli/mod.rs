//! The command line: one file per subcommand, each a thin layer that parses arguments and calls
//! the library.

pub mod apply;
pub mod completions;
pub mod inventory;
mod one_host;
pub mod output;
pub mod plan;
pub mod playbook;
pub mod render;
pub mod secrets;
pub mod vars;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `rig --version`: the package version and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("RIG_GIT_SHA"), ")");

const EXAMPLES: &str = "\
Examples:
  rig deploy --inventory staging                  run site.yml on inventories/staging
  rig playbook -i inventories/prod site.yml --check --diff
  rig playbook -i hosts.ini site.yml --junit report.xml --output json
  rig vars -i inventories/staging --host staging-1.internal otel_sampling_percentage
  rig render roles/app/templates/app.conf.j2 -i inventories/prod --host web-1
  rig inventory -i inventories/prod --graph
  rig plan -o plan.json -i inventories/prod site.yml && rig apply plan.json
  rig completions bash > /etc/bash_completion.d/rig";

/// rig runs Ansible inventories, playbooks and roles unchanged, over SSH, with no Python on
/// the targets.
#[derive(Debug, Parser)]
#[command(name = "rig", version = VERSION, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run playbooks, as ansible-playbook does.
    #[command(
        after_help = "Examples:\n  rig playbook -i inventories/prod site.yml\n  rig playbook -i hosts.ini site.yml --limit web --tags deploy --check --diff\n  rig playbook -i hosts.ini site.yml -e version=1.2.3 --junit junit.xml"
    )]
    Playbook(PlaybookArgs),
    /// Run site.yml on inventories/NAME (= rig playbook -i inventories/NAME site.yml).
    #[command(
        after_help = "Examples:\n  rig deploy --inventory staging\n  rig deploy --inventory prod --limit 'web-*' --check --diff"
    )]
    Deploy(DeployArgs),
    /// Print a template exactly as the template module would write it for one host.
    #[command(
        after_help = "Examples:\n  rig render roles/app/templates/app.conf.j2 -i inventories/prod --host web-1\n  rig render motd.j2 -i hosts.ini --host db1 -e owner=ops"
    )]
    Render(RenderArgs),
    /// Show the inventory, as ansible-inventory does.
    #[command(
        after_help = "Examples:\n  rig inventory -i inventories/prod --list\n  rig inventory -i inventories/prod --graph\n  rig inventory -i inventories/prod --host web-1"
    )]
    Inventory(InventoryArgs),
    /// Show a host's variables, their values and where each comes from (precedence level, file, line).
    #[command(
        after_help = "Examples:\n  rig vars -i inventories/staging --host staging-1.internal\n  rig vars -i inventories/staging --host staging-1.internal otel_sampling_percentage\n  rig vars -i inventories/prod --host web-1 --playbook site.yml --output json"
    )]
    Vars(VarsArgs),
    /// Record what a check run would change, with fingerprints of each host's state, to a plan file.
    #[command(
        after_help = "Examples:\n  rig plan -o plan.json -i inventories/prod site.yml\n  rig plan -o plan.json -i hosts.ini site.yml --limit web --tags deploy -e version=1.2.3\n  rig apply plan.json"
    )]
    Plan(plan::PlanArgs),
    /// Apply a plan file exactly; refuses, changing nothing, if any host drifted since the plan.
    #[command(
        after_help = "Examples:\n  rig plan -o plan.json -i inventories/prod site.yml && rig apply plan.json\n  rig apply plan.json   # exit 1 and the drifted host and file when a host changed since"
    )]
    Apply(apply::ApplyArgs),
    /// Print a shell completion script (bash, zsh, fish, ...).
    #[command(
        after_help = "Examples:\n  rig completions bash > ~/.local/share/bash-completion/completions/rig\n  rig completions zsh > ~/.zfunc/_rig\n  rig completions fish > ~/.config/fish/completions/rig.fish"
    )]
    Completions(CompletionsArgs),
}

/// Options shared by `playbook` and `deploy`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunOptions {
    /// Further limit selected hosts to an additional pattern.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Only run plays and tasks tagged with these values.
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Only run plays and tasks whose tags do not match these values.
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Set additional variables as key=value, YAML/JSON, or @file.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Don't make any changes; predict some of the changes that may occur.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show the differences in files and templates that change.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Number of parallel processes (hosts at once).
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Start the playbook at the task matching this name.
    #[arg(long = "start-at-task")]
    pub start_at_task: Option<String>,
    /// Outputs a list of matching hosts; does not execute anything else.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List all tasks that would be executed.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List all available tags.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Perform a syntax check on the playbook, but do not execute it.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// Run handlers even if a task fails.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,
    /// Skip pre-flight: rendering every template and task argument for every host before the
    /// first task (a certain error then stops the run before any change, exit 2).
    #[arg(long = "no-preflight")]
    pub no_preflight: bool,
    /// Connect as this user (ansible_user beats it).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Use this file to authenticate the connection (ansible_ssh_private_key_file beats it).
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<String>,
    /// Connection type to use (ssh, local) when ansible_connection does not say.
    #[arg(short = 'c', long = "connection")]
    pub connection: Option<String>,
    /// Override the connection timeout in seconds.
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// Run operations with become (does not imply password prompting).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// Run operations as this user (default root).
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    /// Privilege escalation method to use (sudo, su).
    #[arg(long = "become-method")]
    pub become_method: Option<String>,
    /// Ask for the privilege escalation password.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Ask for the connection password (SSH password login; ansible_password beats it).
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Show values that came from the vault instead of masking them as ******** (see README
    /// "Secrets"); no_log results stay hidden.
    #[arg(long = "show-secrets")]
    pub show_secrets: bool,
    /// Vault password file (may be repeated); an executable file is run and its output used.
    #[arg(long = "vault-password-file", visible_alias = "vault-pass-file")]
    pub vault_password_files: Vec<String>,
    /// Vault identity: LABEL@FILE, LABEL@prompt, or FILE (may be repeated).
    #[arg(long = "vault-id")]
    pub vault_ids: Vec<String>,
    /// Ask for the vault password.
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password"
    )]
    pub ask_vault_pass: bool,
    /// Verbose mode (-vvv for more).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Output: `human` (as ansible-playbook) or `json` (one event per line; see README "JSON
    /// events"). Also RIG_OUTPUT=json.
    #[arg(long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// Also write a JUnit XML report to FILE (a testsuite per play, a testcase per host and task).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// No progress line on the terminal (it is shown only when stdout is a terminal).
    #[arg(long = "no-progress")]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct PlaybookArgs {
    /// Inventory host path or comma-separated host list (may be repeated).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// Playbook(s) to run.
    #[arg(required = true)]
    pub playbooks: Vec<PathBuf>,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The environment: runs site.yml on inventories/NAME.
    #[arg(long = "inventory")]
    pub inventory: String,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The template file.
    pub template: PathBuf,
    /// Inventory (may be repeated).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// The host to render for.
    #[arg(long = "host")]
    pub host: String,
    /// Extra variables as key=value, YAML/JSON, or @file.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Render as in this playbook: its directory's group_vars/host_vars, and the play vars,
    /// role defaults and role vars of the plays that target the host (vars_files: use -e @FILE).
    #[arg(long = "playbook")]
    pub playbook: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Inventory (may be repeated).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// Output all hosts info as JSON.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,
    /// Create inventory graph.
    #[arg(long, conflicts_with_all = ["list", "host"])]
    pub graph: bool,
    /// Output specific host info.
    #[arg(long)]
    pub host: Option<String>,
    /// Group to start the graph from.
    pub group: Option<String>,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Human,
    /// JSON, for programs.
    Json,
}

#[derive(Debug, Args)]
pub struct VarsArgs {
    /// Inventory (may be repeated).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// The host whose variables to show.
    #[arg(long = "host")]
    pub host: String,
    /// Only this variable: its templated value and every definition, highest precedence first.
    pub var: Option<String>,
    /// Extra variables as key=value, YAML/JSON, or @file.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Also the playbook directory's group_vars/host_vars and the role defaults of the plays
    /// that target the host.
    #[arg(long = "playbook")]
    pub playbook: Option<PathBuf>,
    /// Output format.
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
