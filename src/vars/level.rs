//! The precedence levels, numbered as in Ansible's documentation (least to greatest).

/// Where a variable was defined. Higher wins. Numbering follows
/// `playbooks_variables.rst` ("Understanding variable precedence").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 2. role defaults (`defaults/main.yml`)
    RoleDefaults = 2,
    /// 3. inventory file or script group vars
    InventoryFileGroupVars = 3,
    /// 4. inventory `group_vars/all`
    InventoryGroupVarsAll = 4,
    /// 5. playbook `group_vars/all`
    PlaybookGroupVarsAll = 5,
    /// 6. inventory `group_vars/*`
    InventoryGroupVars = 6,
    /// 7. playbook `group_vars/*`
    PlaybookGroupVars = 7,
    /// 8. inventory file or script host vars
    InventoryFileHostVars = 8,
    /// 9. inventory `host_vars/*`
    InventoryHostVars = 9,
    /// 10. playbook `host_vars/*`
    PlaybookHostVars = 10,
    /// 11. host facts and cached set_facts
    Facts = 11,
    /// 12. play vars
    PlayVars = 12,
    /// 13. play vars_prompt
    PlayVarsPrompt = 13,
    /// 14. play vars_files
    PlayVarsFiles = 14,
    /// 15. role vars (`vars/main.yml`)
    RoleVars = 15,
    /// 16. block vars (only for tasks in the block)
    BlockVars = 16,
    /// 17. task vars (only for the task)
    TaskVars = 17,
    /// 18. include_vars
    IncludeVars = 18,
    /// 19. set_facts and registered vars
    SetFacts = 19,
    /// 20. role (and include_role) params
    RoleParams = 20,
    /// 21. include params
    IncludeParams = 21,
    /// 22. extra vars (`-e`), which always win
    ExtraVars = 22,
}

impl Level {
    /// The level's number in Ansible's documentation.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// How `rig vars` and error messages name the level.
    pub fn describe(self) -> &'static str {
        match self {
            Level::RoleDefaults => "role defaults",
            Level::InventoryFileGroupVars => "inventory file group vars",
            Level::InventoryGroupVarsAll => "inventory group_vars/all",
            Level::PlaybookGroupVarsAll => "playbook group_vars/all",
            Level::InventoryGroupVars => "inventory group_vars/*",
            Level::PlaybookGroupVars => "playbook group_vars/*",
            Level::InventoryFileHostVars => "inventory file host vars",
            Level::InventoryHostVars => "inventory host_vars/*",
            Level::PlaybookHostVars => "playbook host_vars/*",
            Level::Facts => "host facts",
            Level::PlayVars => "play vars",
            Level::PlayVarsPrompt => "play vars_prompt",
            Level::PlayVarsFiles => "play vars_files",
            Level::RoleVars => "role vars",
            Level::BlockVars => "block vars",
            Level::TaskVars => "task vars",
            Level::IncludeVars => "include_vars",
            Level::SetFacts => "set_fact / register",
            Level::RoleParams => "role params",
            Level::IncludeParams => "include params",
            Level::ExtraVars => "extra vars",
        }
    }
}
