//! The `intake` binary's command line (issue 14: `intake --help` used to start a service and write ./data).

#![allow(clippy::unwrap_used)]

#[test]
fn help_lists_the_settings_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .arg("--help")
        .current_dir(dir.path())
        .env_remove("CONTINUUM_DATA_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for setting in ["CONTINUUM_LISTEN_ADDR", "CONTINUUM_DATABASE_URL", "CONTINUUM_MATCHING_ADDR"] {
        assert!(help.contains(setting), "{setting} missing from --help");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "--help wrote files");
}
