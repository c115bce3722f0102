//! Configuration from the environment, checked on a real process (`log-probe`) that configures
//! itself with `init_from_env()` as a user's `main` does: each sink, each level variable, and
//! each bad value.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

use audit_runtime::logging::{ConfigError, LogConfig};
use serde_json::Value;

/// Runs the probe with only the given logging variables set.
fn probe(vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_log-probe"));
    for name in [
        "LOG_LEVEL",
        "LOG_FORMAT",
        "CONSOLE_LOG_LEVEL",
        "LOGFILE",
        "LOGFILE_LOG_LEVEL",
        "LOG_ERRORS",
        "LOG_SOURCE",
        "NO_COLOR",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied()).args(args);
    command.output().expect("the probe runs")
}

fn json_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(map)) => map,
            other => panic!("not a JSON object line: {line:?} ({other:?})"),
        })
        .collect()
}

fn events(text: &str) -> Vec<String> {
    json_lines(text).iter().map(|l| l["event"].as_str().unwrap().to_owned()).collect()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "probe failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn file_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn defaults_are_json_at_info_on_stdout() {
    let out = stdout(&probe(&[], &[]));
    assert_eq!(events(&out), ["probe_info", "probe_warning", "probe_error", "probe_critical"]);
    let lines = json_lines(&out);
    assert!(lines.iter().all(|l| l["source"] == "app" && l["request_id"] == "7f0c1d2e"));
    assert_eq!(lines[2]["exception"], "upstream timed out");
    assert_eq!(lines[3]["level"], "critical");
}

#[test]
fn log_level_accepts_levels_and_directives() {
    let out = stdout(&probe(&[("LOG_LEVEL", "WARNING")], &[]));
    assert_eq!(events(&out), ["probe_warning", "probe_error", "probe_critical"]);
    let out = stdout(&probe(&[("LOG_LEVEL", "error,log_probe=debug")], &[]));
    assert_eq!(events(&out), ["probe_debug", "probe_info", "probe_warning", "probe_error", "probe_critical"]);
    let out = stdout(&probe(&[("LOG_LEVEL", "critical")], &[]));
    assert_eq!(events(&out), ["probe_critical"]);
}

#[test]
fn log_errors_file_gets_only_error_and_critical() {
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.log");
    let out = stdout(&probe(&[("LOG_LEVEL", "debug"), ("LOG_ERRORS", errors.to_str().unwrap())], &[]));
    assert_eq!(events(&out).len(), 5, "stdout still gets everything");
    let lines = json_lines(&file_text(&errors));
    let levels: Vec<&str> = lines.iter().map(|l| l["level"].as_str().unwrap()).collect();
    assert_eq!(levels, ["error", "critical"]);
}

#[test]
fn logfile_level_filters_independently_of_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    let vars = [
        ("LOG_LEVEL", "info"),
        ("CONSOLE_LOG_LEVEL", "error"),
        ("LOGFILE", logfile.to_str().unwrap()),
        ("LOGFILE_LOG_LEVEL", "debug"),
    ];
    let out = stdout(&probe(&vars, &[]));
    assert_eq!(events(&out), ["probe_error", "probe_critical"]);
    assert_eq!(
        events(&file_text(&logfile)),
        ["probe_debug", "probe_info", "probe_warning", "probe_error", "probe_critical"]
    );
    // And the other way round: a quiet file beside a chatty console.
    let quiet = dir.path().join("quiet.log");
    let vars = [("CONSOLE_LOG_LEVEL", "debug"), ("LOGFILE", quiet.to_str().unwrap()), ("LOGFILE_LOG_LEVEL", "warning")];
    let out = stdout(&probe(&vars, &[]));
    assert_eq!(events(&out).len(), 5);
    assert_eq!(events(&file_text(&quiet)), ["probe_warning", "probe_error", "probe_critical"]);
}

#[test]
fn the_guard_writes_every_queued_line_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("burst.log");
    let vars = [("LOGFILE", logfile.to_str().unwrap()), ("CONSOLE_LOG_LEVEL", "error")];
    let out = stdout(&probe(&vars, &["burst", "20000"]));
    assert_eq!(out, "");
    let lines = json_lines(&file_text(&logfile));
    assert_eq!(lines.len(), 20_000);
    let sequences: Vec<u64> = lines.iter().map(|l| l["sequence"].as_u64().unwrap()).collect();
    assert!(sequences.iter().copied().eq(0..20_000), "lines in order, none lost");
}

#[test]
fn log_source_and_console_format() {
    let out = stdout(&probe(&[("LOG_SOURCE", "worker")], &[]));
    assert!(json_lines(&out).iter().all(|l| l["source"] == "worker"));

    let out = stdout(&probe(&[("LOG_FORMAT", "console")], &[]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(!out.contains('\u{1b}'), "no colours when stdout is not a terminal");
    assert!(lines[0].contains(" info     probe_info object_id=17 request_id=7f0c1d2e [log_probe]"), "{out}");
    assert!(lines[2].contains("exception=\"upstream timed out\""), "{out}");
}

fn probe_error(vars: &[(&str, &str)]) -> String {
    let output = probe(vars, &[]);
    assert_eq!(output.status.code(), Some(2), "expected a configuration error for {vars:?}");
    assert!(output.stdout.is_empty(), "nothing is logged with a bad configuration");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn each_bad_value_is_an_error_naming_the_variable_value_and_what_is_accepted() {
    let cases: [(&str, &str, &str); 6] = [
        ("LOG_LEVEL", "verbose", "debug, info, warning, error, critical"),
        ("LOG_LEVEL", "info,hyper=loud", "EnvFilter directives"),
        ("CONSOLE_LOG_LEVEL", "7", "debug, info, warning, error, critical"),
        ("LOGFILE_LOG_LEVEL", "all", "debug, info, warning, error, critical"),
        ("LOG_FORMAT", "xml", "json or console"),
        ("LOG_FORMAT", "JSONN", "json or console"),
    ];
    for (variable, value, accepted) in cases {
        let message = probe_error(&[(variable, value)]);
        assert!(message.contains(&format!("{variable}={value:?}")), "{message}");
        assert!(message.contains(accepted), "{message}");
    }
}

#[test]
fn a_log_file_that_cannot_be_opened_is_an_error_at_init() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir").join("app.log");
    let message = probe_error(&[("LOGFILE", missing_dir.to_str().unwrap())]);
    assert!(message.contains("LOGFILE="), "{message}");
    assert!(message.contains("does not exist (create it first)"), "{message}");

    let message = probe_error(&[("LOG_ERRORS", dir.path().to_str().unwrap())]);
    assert!(message.contains("LOG_ERRORS="), "{message}");
    assert!(message.contains("is a directory"), "{message}");

    let under_a_file = dir.path().join("file");
    std::fs::write(&under_a_file, "").unwrap();
    let message = probe_error(&[("LOGFILE", under_a_file.join("app.log").to_str().unwrap())]);
    assert!(message.contains("cannot open the log file"), "{message}");
}

#[test]
fn a_value_that_is_not_unicode_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let env: HashMap<&str, OsString> = HashMap::from([("LOG_LEVEL", OsString::from_vec(vec![0x69, 0x6e, 0xff]))]);
    let error = LogConfig::from_lookup(|name| env.get(name).cloned()).unwrap_err();
    assert!(matches!(error, ConfigError::NotUnicode { .. }));
    assert!(error.to_string().starts_with("LOG_LEVEL is not valid UTF-8"), "{error}");
}

#[test]
fn empty_values_take_the_defaults() {
    let env: HashMap<&str, OsString> =
        HashMap::from([("LOG_LEVEL", OsString::from("")), ("LOG_FORMAT", OsString::from("  "))]);
    let config = LogConfig::from_lookup(|name| env.get(name).cloned()).unwrap();
    assert_eq!(config, LogConfig::default());
}

#[test]
fn a_main_returning_the_error_prints_its_message_not_its_struct() {
    let output = Command::new(env!("CARGO_BIN_EXE_main-result-probe"))
        .env_remove("LOG_FORMAT")
        .env("LOG_LEVEL", "verbose")
        .output()
        .expect("the probe runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("Error: LOG_LEVEL=\"verbose\" is not valid: expected "), "{stderr}");
    assert!(!stderr.contains("InvalidValue") && !stderr.contains("variable:"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
