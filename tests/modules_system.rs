//! System modules against real lab hosts (Debian 12, systemd, sshd, the lab's apt repo with
//! `lab-hello` 1.0 and 1.1). Each module: first run changed and the host is in the asked state;
//! second run ok and nothing moved (and it costs one probe round trip); check mode predicts the
//! change and changes nothing; diff where Ansible has one; Ansible's failure messages.
//!
//! Environment (each test prints why it skips when something is missing):
//! - `RIG_LAB_SSH_CONFIG`: an ssh_config naming the lab hosts (tests/lab writes one);
//! - `RIG_LAB_HOSTS`: host names, space-separated (default `h1`; two hosts spread the load);
//! - `RIG_LAB_REPO_DIR` / `RIG_LAB_REPO_URL`: a directory the lab's http server serves (the
//!   apt repo dir) and its URL as both the hosts and this controller reach it (e.g.
//!   `http://10.231.0.1:8080`); fixtures are written under `rigtest/` there;
//! - cron needs `cron` installable from the lab repo (or already present), else it skips.
//!
//! Targets are changed (packages, users, units, /tmp files, a hidden curl for a moment): run
//! these only against disposable lab hosts, never against the machine running the tests.

mod common_system;

use common_system::{failure, field, lab, module};
use serde_json::json;

#[tokio::test]
async fn apt_then_systemd_and_service() {
    let Some(lab) = lab("apt_then_systemd_and_service", 0) else {
        return;
    };
    let apt = module("apt");
    lab.sh("systemctl disable --now lab-hello >/dev/null 2>&1; systemctl unmask lab-hello >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get purge -y -q lab-hello >/dev/null 2>&1; true").await;
    let version = || async {
        lab.sh("dpkg-query -W -f='${db:Status-Abbrev}${Version}' lab-hello 2>/dev/null")
            .await
    };
    assert_eq!(version().await.trim_start_matches("un "), "");

    // update_cache alone (check mode does not update, as in Ansible: a fresh host needs this)
    let r = lab
        .run(&apt, json!({"update_cache": true}), false, false)
        .await
        .unwrap();
    assert!(r.data.contains_key("cache_update_time"), "{r:?}");
    // check mode: predicts the install (with the apt-get summary as diff), installs nothing
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello=1.0", "update_cache": true}),
            true,
            true,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let diff = r.data["diff"].get_attr("prepared").unwrap().to_string();
    assert!(diff.contains("lab-hello"), "diff: {diff}");
    assert_eq!(version().await.trim_start_matches("un "), "");

    // first run installs 1.0, second run is ok
    let r = lab
        .run(
            &apt,
            json!({"name": ["lab-hello=1.0*"], "update_cache": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed, "{r:?}");
    assert!(r.data.contains_key("cache_update_time"));
    assert_eq!(version().await, "ii 1.0");
    let (r, trips) = lab
        .run_counted(&apt, json!({"name": "lab-hello", "cache_valid_time": 3600}))
        .await;
    assert!(!r.changed, "{r:?}");
    assert_eq!(trips, 1, "a no-op apt run is one probe");
    assert!(!r.data["cache_updated"].is_true());
    assert_eq!(version().await, "ii 1.0");

    // upgrade=dist in check mode: sees lab-hello 1.1, changes nothing
    let r = lab
        .run(&apt, json!({"upgrade": "dist"}), true, true)
        .await
        .unwrap();
    assert!(r.changed, "{r:?}");
    assert!(field(&r, "stdout").contains("Inst lab-hello"), "{r:?}");
    assert_eq!(version().await, "ii 1.0");
    // latest: check mode predicts, the run upgrades, the rerun is ok
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.0");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.1");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);

    // nothing left to upgrade: upgrade=dist and name='*' state=latest are ok
    let r = lab
        .run(&apt, json!({"upgrade": "dist"}), false, false)
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    let r = lab
        .run(&apt, json!({"name": "*", "state": "latest"}), false, false)
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    // unknown package: Ansible's message, also in check mode
    for check in [false, true] {
        let e = failure(
            lab.run(
                &apt,
                json!({"name": ["lab-hello", "no-such-package-x"]}),
                check,
                false,
            )
            .await,
        );
        assert_eq!(e, "No package matching 'no-such-package-x' is available");
    }

    // systemd: the package ships lab-hello.service, not enabled, not started
    let sd = module("systemd");
    let pid = || async {
        lab.sh("systemctl show -P MainPID lab-hello")
            .await
            .trim()
            .to_string()
    };
    let state = || async {
        lab.sh("echo $(systemctl is-active lab-hello) $(systemctl is-enabled lab-hello)")
            .await
            .trim()
            .to_string()
    };
    assert_eq!(state().await, "inactive disabled");
    let a = json!({"name": "lab-hello", "state": "started", "enabled": true});
    let r = lab.run(&sd, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(state().await, "inactive disabled");
    let r = lab.run(&sd, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert!(r.data["enabled"].is_true());
    assert_eq!(field(&r, "state"), "started");
    assert_eq!(
        r.data["status"]
            .get_attr("ActiveState")
            .unwrap()
            .to_string(),
        "inactive"
    );
    assert_eq!(state().await, "active enabled");
    let p1 = pid().await;
    assert_ne!(p1, "0");
    let (r, trips) = lab.run_counted(&sd, a.clone()).await;
    assert!(!r.changed);
    assert_eq!(trips, 1, "a no-op systemd run is one probe");
    assert_eq!(
        r.data["status"].get_attr("MainPID").unwrap().to_string(),
        p1
    );
    assert_eq!(pid().await, p1);
    // restarted: always a change, new MainPID (check mode keeps the old one)
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "state": "restarted"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(pid().await, p1);
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "state": "restarted"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let p2 = pid().await;
    assert_ne!(p2, p1);
    // unknown unit: Ansible's message, in check mode too
    for check in [false, true] {
        let e = failure(
            lab.run(
                &sd,
                json!({"name": "no-such-unit-x", "state": "started"}),
                check,
                false,
            )
            .await,
        );
        assert_eq!(
            e,
            "Could not find the requested service no-such-unit-x: host"
        );
    }
    // masked
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": true, "state": "stopped"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("systemctl is-enabled lab-hello").await.trim(),
        "masked"
    );
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": true, "state": "stopped"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": false, "daemon_reload": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);

    // service maps to systemd: ignored args are warned about
    let svc = module("service");
    let a = json!({"name": "lab-hello", "state": "started", "sleep": 1});
    let r = lab.run(&svc, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert!(
        field(&r, "warnings").contains("Ignoring \\\"sleep\\\"")
            || field(&r, "warnings").contains("Ignoring \"sleep\""),
        "{:?}",
        r.data
    );
    assert_eq!(
        lab.sh("systemctl is-active lab-hello").await.trim(),
        "active"
    );
    let r = lab.run(&svc, a, false, false).await.unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &svc,
            json!({"name": "lab-hello", "state": "stopped", "enabled": false}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(state().await, "inactive disabled");

    // absent: check mode keeps it, the run removes it, the rerun is ok
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.1");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent", "purge": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await.trim_start_matches("un "), "");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    // deb: a local .deb (the lab repo is mounted at /srv/lab-repo), then the same version again
    let deb = json!({"deb": "/srv/lab-repo/lab-hello_1.0_all.deb"});
    let r = lab.run(&apt, deb.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(version().await.trim_start_matches("un "), "");
    let r = lab.run(&apt, deb.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(version().await, "ii 1.0");
    let r = lab.run(&apt, deb, false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    lab.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q lab-hello >/dev/null 2>&1")
        .await;
}

#[tokio::test]
async fn user_and_group() {
    let Some(lab) = lab("user_and_group", 1) else {
        return;
    };
    lab.sh("userdel -r rigtest >/dev/null 2>&1; groupdel rigtestg >/dev/null 2>&1; true")
        .await;
    let group = module("group");
    let user = module("user");
    let a = json!({"name": "rigtestg", "gid": 23451});
    let r = lab.run(&group, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("getent group rigtestg").await, "");
    let r = lab.run(&group, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "gid"), "23451");
    assert_eq!(
        lab.sh("getent group rigtestg").await.trim(),
        "rigtestg:x:23451:"
    );
    let (r, trips) = lab.run_counted(&group, a.clone()).await;
    assert!(!r.changed);
    assert_eq!(trips, 1, "a no-op group run is one probe");

    let hash = "$6$rigsalt$Q9Wq0cTj4o7lH3s1z8aUqfHn3xWf6yQ2eK0mG8wqg3o0o8rQyqz6z4m8XlWm4tH3m1b3y5f5bQ3s0vT2cYk4x.";
    let a = json!({"name": "rigtest", "groups": ["rigtestg", "sudo"], "shell": "/bin/bash",
                   "comment": "Rig Test", "password": hash, "uid": 2399});
    let r = lab.run(&user, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("getent passwd rigtest").await, "");
    let r = lab.run(&user, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "uid"), "2399");
    assert_eq!(field(&r, "home"), "/home/rigtest");
    assert_eq!(field(&r, "password"), "NOT_LOGGING_PASSWORD");
    assert_eq!(
        lab.sh("getent passwd rigtest").await.trim(),
        "rigtest:x:2399:2399:Rig Test:/home/rigtest:/bin/bash"
    );
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg sudo"
    );
    assert_eq!(
        lab.sh("getent shadow rigtest | cut -d: -f2").await.trim(),
        hash
    );
    assert_eq!(lab.sh("stat -c %U /home/rigtest").await.trim(), "rigtest");
    let (r, trips) = lab.run_counted(&user, a.clone()).await;
    assert!(!r.changed, "{r:?}");
    assert_eq!(trips, 1, "a no-op user run is one probe");
    // groups without append replaces; with append adds only
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": "rigtestg"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg sudo"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    // a missing group: Ansible's message
    let e = failure(
        lab.run(
            &user,
            json!({"name": "rigtest", "group": "no-such-group"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "Group no-such-group does not exist");
    // absent + remove
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent", "remove": true}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_ne!(lab.sh("getent passwd rigtest").await, "");
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent", "remove": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("getent passwd rigtest; ls -d /home/rigtest 2>/dev/null")
            .await,
        ""
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &group,
            json!({"name": "rigtestg", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let r = lab
        .run(
            &group,
            json!({"name": "rigtestg", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
}

#[tokio::test]
async fn get_url_downloads_verifies_and_keeps_dest_on_mismatch() {
    let Some(lab) = lab("get_url", 1) else { return };
    let Some((dir, base)) = common_system::http_fixture("get_url") else {
        return;
    };
    let hex = common_system::write_fixtures(&dir);
    let url = format!("{base}/rigtest/payload.tar.gz");
    let gu = module("get_url");
    lab.sh("rm -rf /tmp/rig-gu; mkdir -p /tmp/rig-gu/dir").await;
    let dest = "/tmp/rig-gu/payload.tar.gz";
    let a = json!({"url": url, "dest": dest, "checksum": format!("sha256:{hex}"), "mode": "0640"});
    // check mode: a HEAD request, nothing written
    let r = lab.run(&gu, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("ls -A /tmp/rig-gu").await.trim(), "dir");
    // first run downloads, verifies, sets the mode
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "status_code"), "200");
    assert!(field(&r, "msg").starts_with("OK ("), "{r:?}");
    assert_eq!(field(&r, "mode"), "0640");
    let stamp = || async {
        lab.sh(&format!(
            "sha256sum < {dest} | cut -c1-64; stat -c '%a %Y' {dest}"
        ))
        .await
    };
    let before = stamp().await;
    assert!(before.starts_with(&hex), "{before}");
    assert!(before.contains("\n640 "), "{before}");
    // second run: the digest matches, nothing downloaded
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    assert_eq!(field(&r, "msg"), "file already exists");
    // ALGO:URL with a one-token file and with a GNU file using '*./' prefixes
    for ck in ["payload.tar.gz.sha256", "SHA256SUMS"] {
        let r = lab
            .run(&gu, json!({"url": url, "dest": dest, "checksum": format!("sha256:{base}/rigtest/{ck}")}), false, false)
            .await
            .unwrap();
        assert!(!r.changed, "{ck}");
        assert_eq!(field(&r, "msg"), "file already exists");
    }
    // without checksum: If-Modified-Since, 304, not changed
    let r = lab
        .run(&gu, json!({"url": url, "dest": dest}), false, false)
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(stamp().await, before);
    // a wrong checksum: fails naming both digests, dest untouched, no temp file left
    let wrong = "0".repeat(64);
    let e = failure(
        lab.run(
            &gu,
            json!({"url": url, "dest": dest, "checksum": format!("sha256:{wrong}")}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.contains(&format!("did not match {wrong}; it was {hex}.")),
        "{e}"
    );
    assert_eq!(stamp().await, before);
    assert_eq!(
        lab.sh("ls -A /tmp/rig-gu | xargs").await.trim(),
        "dir payload.tar.gz"
    );
    // a bad checksum spec and a missing checksum entry
    let e = failure(
        lab.run(
            &gu,
            json!({"url": url, "dest": dest, "checksum": "nocolon"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "The checksum parameter has to be in format <algorithm>:<checksum>"
    );
    // dest is a directory: the URL's file name, always fetched, replaced only if different
    let a = json!({"url": url, "dest": "/tmp/rig-gu/dir"});
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "dest"), "/tmp/rig-gu/dir/payload.tar.gz");
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    // a 404
    let e = failure(
        lab.run(
            &gu,
            json!({"url": format!("{base}/rigtest/nope"), "dest": "/tmp/rig-gu/x"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "Request failed");
    let r = lab
        .run(&gu, json!({"url": url, "dest": dest}), false, false)
        .await
        .unwrap();
    assert_eq!(field(&r, "msg"), "HTTP Error 304: Not Modified");
    assert_eq!(field(&r, "mode"), "0640");
    // no curl on the target: downloaded on the controller (cached by checksum), pushed,
    // verified on the target before the rename
    lab.sh("mv /usr/bin/curl /usr/bin/curl.rig-hidden").await;
    if lab.sh("command -v wget").await.trim().is_empty() {
        eprintln!("get_url: no wget on {}, wget path not exercised", lab.host);
    } else {
        let wd = "/tmp/rig-gu/wget.tgz";
        let a = json!({"url": url, "dest": wd, "checksum": format!("sha256:{base}/rigtest/SHA256SUMS"), "mode": "0600"});
        let w1 = lab.run(&gu, a.clone(), false, false).await;
        let w2 = lab.run(&gu, a.clone(), false, false).await;
        let w3 = lab
            .run(
                &gu,
                json!({"url": url, "dest": wd, "checksum": format!("sha256:{wrong}")}),
                false,
                false,
            )
            .await;
        let w4 = lab
            .run(
                &gu,
                json!({"url": format!("{base}/rigtest/nope"), "dest": "/tmp/rig-gu/x"}),
                false,
                false,
            )
            .await;
        let content = lab.sh(&format!("sha256sum < {wd}; stat -c %a {wd}")).await;
        lab.sh(&format!("rm -f {wd}")).await;
        let w1 = w1.unwrap();
        assert!(w1.changed, "{w1:?}");
        assert!(
            content.starts_with(&hex) && content.ends_with("\n600\n"),
            "{content}"
        );
        assert_eq!(field(&w2.unwrap(), "msg"), "file already exists");
        assert!(failure(w3).contains(&format!("did not match {wrong}; it was {hex}.")));
        assert_eq!(failure(w4), "Request failed");
    }
    lab.sh("[ -e /usr/bin/wget ] && mv /usr/bin/wget /usr/bin/wget.rig-hidden; true")
        .await;
    let fb = "/tmp/rig-gu/fallback.tgz";
    let a =
        json!({"url": url, "dest": fb, "checksum": format!("sha256:{base}/rigtest/SHA256SUMS")});
    let r1 = lab.run(&gu, a.clone(), false, false).await;
    let r2 = lab.run(&gu, a.clone(), false, false).await;
    let bad = lab.run(&gu, json!({"url": url, "dest": "/tmp/rig-gu/bad.tgz", "checksum": format!("sha256:{wrong}")}), false, false).await;
    lab.sh("mv /usr/bin/curl.rig-hidden /usr/bin/curl; [ -e /usr/bin/wget.rig-hidden ] && mv /usr/bin/wget.rig-hidden /usr/bin/wget; true").await;
    let r1 = r1.unwrap();
    assert!(r1.changed, "{r1:?}");
    assert_eq!(field(&r1, "status_code"), "200");
    assert!(lab.sh(&format!("sha256sum < {fb}")).await.starts_with(&hex));
    let r2 = r2.unwrap();
    assert!(!r2.changed);
    assert_eq!(field(&r2, "msg"), "file already exists");
    let e = failure(bad);
    assert!(
        e.contains(&format!("did not match {wrong}; it was {hex}.")),
        "{e}"
    );
    assert_eq!(
        lab.sh("ls -A /tmp/rig-gu | xargs").await.trim(),
        "dir fallback.tgz payload.tar.gz"
    );
}

#[tokio::test]
async fn unarchive_extracts_once_and_refuses_corrupt_archives() {
    let Some(mut lab) = lab("unarchive", 0) else {
        return;
    };
    let Some((dir, base)) = common_system::http_fixture("unarchive") else {
        return;
    };
    common_system::write_fixtures(&dir);
    lab.files = common_system::DirFiles(dir.join("rigtest"));
    let ua = module("unarchive");
    lab.sh("rm -rf /tmp/rig-ua /tmp/rig-ua2; mkdir -p /tmp/rig-ua /tmp/rig-ua2")
        .await;
    let a = json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "list_files": true});
    // check mode: Ansible's tar handlers skip
    let r = lab.run(&ua, a.clone(), true, false).await.unwrap();
    assert!(r.skipped);
    assert_eq!(lab.sh("ls -A /tmp/rig-ua").await, "");
    // first run extracts
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "handler"), "TgzArchive");
    assert_eq!(
        r.data["extract_results"]
            .get_attr("rc")
            .unwrap()
            .to_string(),
        "0"
    );
    assert!(field(&r, "files").contains("top/sub/b.txt"), "{r:?}");
    let snap = || async {
        lab.sh("cd /tmp/rig-ua && find . -printf '%p %s %T@ %m\\n' | sort; cat top/a.txt")
            .await
    };
    let s1 = snap().await;
    assert!(s1.contains("./top/sub/b.txt 5 1704067200"), "{s1}");
    assert!(s1.ends_with("alpha\n"));
    // second run: tar --diff finds nothing, nothing touched
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(snap().await, s1);
    // a changed member is restored
    lab.sh("echo changed > /tmp/rig-ua/top/a.txt").await;
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("cat /tmp/rig-ua/top/a.txt").await, "alpha\n");
    // mode on every member and the top folder
    let r = lab
        .run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "mode": "u+rwX,go-rwx"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("stat -c %a /tmp/rig-ua/top /tmp/rig-ua/top/a.txt | xargs")
            .await
            .trim(),
        "700 600"
    );
    let r = lab
        .run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "mode": "u+rwX,go-rwx"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    // remote_src, creates, exclude
    lab.sh(&format!(
        "curl -fsS -o /tmp/rig-ua-src.tgz {base}/rigtest/payload.tar.gz"
    ))
    .await;
    let a = json!({"src": "/tmp/rig-ua-src.tgz", "dest": "/tmp/rig-ua2", "remote_src": true, "exclude": ["top/sub/*"]});
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("cd /tmp/rig-ua2 && find . -type f | sort | xargs")
            .await
            .trim(),
        "./top/a.txt"
    );
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    let r = lab.run(&ua, json!({"src": "/tmp/nope.tgz", "dest": "/tmp/rig-ua2", "remote_src": true, "creates": "/tmp/rig-ua2/top"}), false, false).await.unwrap();
    assert!(r.skipped);
    // failures: corrupt archive (dest untouched), missing dest
    lab.sh("rm -rf /tmp/rig-ua3; mkdir /tmp/rig-ua3").await;
    let e = failure(
        lab.run(
            &ua,
            json!({"src": "corrupt.tar.gz", "dest": "/tmp/rig-ua3"}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.starts_with("Failed to find handler for \"/tmp/.rig-unarchive."),
        "{e}"
    );
    assert!(e.contains("could not handle archive"), "{e}");
    assert_eq!(
        lab.sh("ls -A /tmp/rig-ua3; ls -d /tmp/.rig-unarchive.* 2>/dev/null")
            .await,
        ""
    );
    let e = failure(
        lab.run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-nodir"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "dest '/tmp/rig-nodir' must be an existing dir");
}

#[tokio::test]
async fn apt_repository_adds_file_updates_cache_and_reverts_on_failure() {
    let Some(lab) = lab("apt_repository", 1) else {
        return;
    };
    let Some((dir, url)) = common_system::http_fixture("apt_repository") else {
        return;
    };
    common_system::write_fixtures(&dir);
    let ar = module("apt_repository");
    // an (empty) flat repository under the lab's http server
    let repo = format!("deb [trusted=yes] {url}/rigtest/ ./");
    let stem: String = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .chars()
        .chain("/rigtest/".chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    let file = format!("/etc/apt/sources.list.d/{stem}.list");
    let file = file.as_str();
    lab.sh(&format!(
        "rm -f {file} /etc/apt/sources.list.d/rig-bad.list"
    ))
    .await;
    let a = json!({"repo": repo});
    let r = lab.run(&ar, a.clone(), true, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs.len(), 1);
    assert_eq!(r.diffs[0].before_header, "/dev/null");
    assert_eq!(r.diffs[0].after_header, file);
    assert_eq!(r.diffs[0].after, format!("{repo}\n"));
    assert_eq!(lab.sh(&format!("ls {file} 2>/dev/null")).await, "");
    let r = lab.run(&ar, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "sources_added"), format!("['{file}']"));
    assert_eq!(
        lab.sh(&format!("stat -c %a {file}; cat {file}")).await,
        format!("644\n{repo}\n")
    );
    let mtime = lab.sh(&format!("stat -c %Y {file}")).await;
    let r = lab.run(&ar, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    assert_eq!(lab.sh(&format!("stat -c %Y {file}")).await, mtime);
    // absent removes the emptied file
    let a = json!({"repo": repo, "state": "absent", "update_cache": false});
    let r = lab.run(&ar, a.clone(), false, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].after_header, "/dev/null");
    assert_eq!(lab.sh(&format!("ls {file} 2>/dev/null")).await, "");
    let r = lab.run(&ar, a, false, false).await.unwrap();
    assert!(!r.changed);
    // an unreachable repository: the update fails and the file goes away again
    let bad = json!({"repo": "deb [trusted=yes] http://127.0.0.1:9/ ./", "filename": "rig-bad", "update_cache_retries": 1});
    let e = failure(lab.run(&ar, bad, false, false).await);
    assert!(
        e.starts_with("Failed to update apt cache after 1 retries"),
        "{e}"
    );
    assert_eq!(
        lab.sh("ls /etc/apt/sources.list.d/").await.trim(),
        "lab2.list"
    );
}

#[tokio::test]
async fn pip_in_a_new_virtualenv() {
    let Some(lab) = lab("pip", 1) else { return };
    let Some((dir, base)) = common_system::http_fixture("pip") else {
        return;
    };
    if !common_system::write_wheel(&dir) {
        eprintln!("skipping pip: no python3 on the controller to build the test wheel");
        return;
    }
    let pip = module("pip");
    lab.sh("rm -rf /tmp/rig-venv").await;
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split([':', '/'])
        .next()
        .unwrap_or("");
    let links = format!("--no-index --trusted-host {host} --find-links {base}/rigtest/wheels/");
    let a = json!({"name": "rigdemo", "virtualenv": "/tmp/rig-venv", "virtualenv_command": "python3 -m venv", "extra_args": links});
    // check mode: the virtualenv is missing, so changed, and nothing is created
    let r = lab.run(&pip, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("ls -d /tmp/rig-venv 2>/dev/null").await, "");
    let r = lab.run(&pip, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert!(
        field(&r, "stdout").contains("Successfully installed rigdemo-1.0"),
        "{r:?}"
    );
    let freeze = || async {
        lab.sh("/tmp/rig-venv/bin/pip list --format=freeze 2>/dev/null | grep -i rigdemo")
            .await
    };
    assert_eq!(freeze().await.trim(), "rigdemo==1.0");
    let r = lab.run(&pip, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // without extra_args, check mode compares the freeze list with the specs
    lab.sh(&format!("printf '[global]\\nno-index = true\\ntrusted-host = {host}\\nfind-links = {base}/rigtest/wheels/\\n' > /tmp/rig-venv/pip.conf")).await;
    let plain = json!({"name": ["rigdemo>=1.0"], "virtualenv": "/tmp/rig-venv"});
    let r = lab.run(&pip, plain.clone(), true, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    let r = lab
        .run(
            &pip,
            json!({"name": "rigdemo", "version": "2.0", "virtualenv": "/tmp/rig-venv"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    // absent: check mode predicts, the run uninstalls, the rerun is ok
    let gone = json!({"name": "rigdemo", "virtualenv": "/tmp/rig-venv", "state": "absent"});
    let r = lab.run(&pip, gone.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(freeze().await.trim(), "rigdemo==1.0");
    let r = lab.run(&pip, gone.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(freeze().await.trim(), "");
    let r = lab.run(&pip, gone, false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // a missing package: pip's failure is reported
    let e = failure(
        lab.run(
            &pip,
            json!({"name": "no-such-dist-x", "virtualenv": "/tmp/rig-venv"}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.contains("No matching distribution found for no-such-dist-x"),
        "{e}"
    );
}

#[tokio::test]
async fn wait_for_files_and_ports() {
    let Some(lab) = lab("wait_for", 0) else {
        return;
    };
    let Some((_, base)) = common_system::http_fixture("wait_for") else {
        return;
    };
    let wf = module("wait_for");
    lab.sh("rm -f /tmp/rig-wf; setsid sh -c 'sleep 2; echo \"port=8082 up\" > /tmp/rig-wf' >/dev/null 2>&1 < /dev/null &").await;
    let r = lab
        .run(&wf, json!({"path": "/tmp/rig-wf", "search_regex": "port=(?P<port>\\d+) (\\w+)", "timeout": 30}), false, false)
        .await
        .unwrap();
    assert!(!r.changed);
    assert_eq!(
        r.data["match_groupdict"]
            .get_attr("port")
            .unwrap()
            .to_string(),
        "8082"
    );
    assert_eq!(field(&r, "match_groups"), "['8082', 'up']");
    assert_eq!(field(&r, "state"), "file");
    assert!(field(&r, "elapsed").parse::<i64>().unwrap() >= 1, "{r:?}");
    let gw = base
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let (h, p) = gw.split_once(':').unwrap_or((gw, "80"));
    let r = lab
        .run(
            &wf,
            json!({"host": h, "port": p.parse::<i64>().unwrap(), "timeout": 10}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(field(&r, "state"), "started");
    let r = lab
        .run(
            &wf,
            json!({"port": 9, "state": "stopped", "timeout": 10}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let e = failure(
        lab.run(&wf, json!({"port": 9, "timeout": 2}), false, false)
            .await,
    );
    assert_eq!(e, "Timeout when waiting for 127.0.0.1:9");
    let e = failure(
        lab.run(
            &wf,
            json!({"path": "/tmp/rig-wf", "state": "absent", "timeout": 2, "msg": "still there"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "still there");
}

#[tokio::test]
async fn uri_requests_from_the_target() {
    let Some(lab) = lab("uri", 0) else { return };
    let Some((dir, base)) = common_system::http_fixture("uri") else {
        return;
    };
    let hex = common_system::write_fixtures(&dir);
    let uri = module("uri");
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/payload.tar.gz.sha256"), "return_content": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    assert_eq!(field(&r, "status"), "200");
    assert_eq!(field(&r, "content"), format!("{hex}\n"));
    assert_eq!(field(&r, "msg"), "OK (65 bytes)");
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/data.json")}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.data["json"].get_attr("name").unwrap().to_string(), "rig");
    assert_eq!(field(&r, "content_type"), "application/json");
    let e = failure(
        lab.run(
            &uri,
            json!({"url": format!("{base}/rigtest/nope")}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "Status code was 404 and not [200]: HTTP Error 404: File not found"
    );
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/nope"), "status_code": [200, 404]}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(field(&r, "status"), "404");
    lab.sh("rm -f /tmp/rig-uri.json").await;
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/data.json"), "dest": "/tmp/rig-uri.json"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("cat /tmp/rig-uri.json").await,
        "{\"name\": \"rig\", \"n\": [1, 2]}\n"
    );
    // a POST with a JSON body: python's http.server answers 501, which the task accepts here
    let r = lab.run(&uri, json!({"url": format!("{base}/"), "method": "POST", "body_format": "json", "body": {"a": 1}, "status_code": 501}), false, false).await.unwrap();
    assert_eq!(field(&r, "status"), "501");
}

#[tokio::test]
async fn hostname_with_hostnamectl() {
    let Some(lab) = lab("hostname", 1) else {
        return;
    };
    let hn = module("hostname");
    let orig = lab
        .sh("hostnamectl --static status")
        .await
        .trim()
        .to_string();
    let names = || async {
        lab.sh("echo $(hostnamectl --static status) $(hostnamectl --transient status)")
            .await
            .trim()
            .to_string()
    };
    let r = lab
        .run(&hn, json!({"name": "rig-host.example"}), true, true)
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].before, format!("hostname = {orig}\n"));
    assert_eq!(r.diffs[0].after, "hostname = rig-host.example\n");
    assert_eq!(names().await, format!("{orig} {orig}"));
    let r1 = lab
        .run(&hn, json!({"name": "rig-host.example"}), false, false)
        .await;
    let after = names().await;
    let before2 = lab.trips();
    let r2 = lab
        .run(&hn, json!({"name": "rig-host.example"}), false, false)
        .await;
    let trips2 = lab.trips() - before2;
    let back = lab.run(&hn, json!({"name": orig}), false, false).await;
    assert!(r1.unwrap().changed);
    assert_eq!(after, "rig-host.example rig-host.example");
    let r2 = r2.unwrap();
    assert!(!r2.changed);
    assert_eq!(trips2, 1, "a no-op hostname run is one probe");
    assert_eq!(
        r2.data["ansible_facts"]
            .get_attr("ansible_hostname")
            .unwrap()
            .to_string(),
        "rig-host"
    );
    assert!(back.unwrap().changed);
    assert_eq!(names().await, format!("{orig} {orig}"));
}

#[tokio::test]
async fn cron_jobs_in_user_crontab_and_cron_file() {
    let Some(lab) = lab("cron", 0) else { return };
    if lab.sh("for i in 1 2 3 4 5; do command -v crontab && break; apt-get -o DPkg::Lock::Timeout=60 update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends cron >/dev/null 2>&1 || sleep 3; done; command -v crontab").await.trim().is_empty() {
        eprintln!("skipping cron: no crontab on the host and no cron package in the lab repo");
        return;
    }
    let cron = module("cron");
    lab.sh("crontab -r 2>/dev/null; rm -f /etc/cron.d/rig-test; true")
        .await;
    let a = json!({"name": "backup", "minute": "5", "hour": "2", "job": "/usr/local/bin/backup"});
    let r = lab.run(&cron, a.clone(), true, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        r.diffs[0].after,
        "#Ansible: backup\n5 2 * * * /usr/local/bin/backup\n"
    );
    assert_eq!(lab.sh("crontab -l 2>/dev/null").await, "");
    let r = lab.run(&cron, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "jobs"), "['backup']");
    assert!(
        lab.sh("crontab -l")
            .await
            .ends_with("#Ansible: backup\n5 2 * * * /usr/local/bin/backup\n")
    );
    let r = lab.run(&cron, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // an env var goes first; changing the time updates the job in place
    let r = lab
        .run(
            &cron,
            json!({"name": "MAILTO", "env": true, "job": "ops@example.org"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let r = lab
        .run(
            &cron,
            json!({"name": "backup", "minute": "7", "hour": "2", "job": "/usr/local/bin/backup"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let tab = lab.sh("crontab -l | grep -v '^# '").await;
    assert_eq!(
        tab,
        "MAILTO=\"ops@example.org\"\n#Ansible: backup\n7 2 * * * /usr/local/bin/backup\n"
    );
    let r = lab
        .run(
            &cron,
            json!({"name": "backup", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("crontab -l | grep -v '^# '").await,
        "MAILTO=\"ops@example.org\"\n"
    );
    // cron_file: needs user, written with the user column, removed when emptied
    let e = failure(
        lab.run(
            &cron,
            json!({"name": "x", "cron_file": "rig-test", "job": "true"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "To use cron_file=... parameter you must specify user=... as well"
    );
    let f = json!({"name": "daily", "cron_file": "rig-test", "user": "root", "special_time": "daily", "job": "/bin/true"});
    let r = lab.run(&cron, f.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("stat -c %a /etc/cron.d/rig-test; cat /etc/cron.d/rig-test")
            .await,
        "644\n#Ansible: daily\n@daily root /bin/true\n"
    );
    let r = lab.run(&cron, f, false, false).await.unwrap();
    assert!(!r.changed);
    let g = json!({"name": "daily", "cron_file": "rig-test", "state": "absent"});
    let r = lab.run(&cron, g.clone(), false, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].after_header, "/dev/null");
    assert_eq!(lab.sh("ls /etc/cron.d/rig-test 2>/dev/null").await, "");
    lab.sh("crontab -r").await;
}

#[tokio::test]
async fn sysctl_file_and_live_value() {
    let Some(lab) = lab("sysctl", 1) else { return };
    let sc = module("sysctl");
    let f = "/etc/sysctl.d/99-rig-test.conf";
    lab.sh(&format!(
        "printf '# rig\\nvm.swappiness = 10\\nnet.x=1\\nnet.x=2\\n' > {f}"
    ))
    .await;
    let a = json!({"name": "vm.swappiness", "value": "20", "sysctl_file": f, "reload": false});
    let r = lab.run(&sc, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert!(
        lab.sh(&format!("cat {f}"))
            .await
            .contains("vm.swappiness = 10")
    );
    let r = lab.run(&sc, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh(&format!("cat {f}")).await,
        "# rig\nvm.swappiness=20\nnet.x=1\n"
    );
    let (r, trips) = lab.run_counted(&sc, a.clone()).await;
    assert!(!r.changed);
    assert_eq!(trips, 1);
    let r = lab
        .run(
            &sc,
            json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": f, "reload": false}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh(&format!("cat {f}")).await, "# rig\nnet.x=1\n");
    // the lab's /proc/sys is read-only: setting the live value fails with sysctl's reason
    let live = lab.sh("sysctl -n vm.swappiness").await.trim().to_string();
    let other = if live == "33" { "34" } else { "33" };
    let e = failure(lab.run(&sc, json!({"name": "vm.swappiness", "value": other, "sysctl_file": f, "sysctl_set": true, "reload": false}), false, false).await);
    assert!(e.starts_with("setting vm.swappiness failed: "), "{e}");
    lab.sh(&format!("rm -f {f}")).await;
}
