//! The benchmark harness's smoke path: `bench/run --smoke` runs one measure
//! with this build's rbpf, once, and writes its report. Benchmarks are never
//! timed tests; this only checks that the harness runs.

mod common;

use std::process::Command;

#[test]
fn harness_smoke_path_writes_its_report() {
    if !common::kernel_tests_enabled("harness_smoke_path_writes_its_report") {
        return;
    }
    let out = std::env::temp_dir().join(format!("rbpf-bench-smoke-{}", std::process::id()));
    let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/run"))
        .args(["--smoke", "--rbpf", env!("CARGO_BIN_EXE_rbpf"), "--out"])
        .arg(&out)
        .status()
        .expect("bench/run starts (python3)");
    assert!(status.success(), "bench/run --smoke failed: {status}");
    let report = std::fs::read_to_string(out.join("BENCHMARKS.md")).expect("BENCHMARKS.md written");
    assert!(report.contains("## 1. Startup and exit"), "{report}");
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("results.json written"))
            .expect("results.json is JSON");
    assert_eq!(raw["mode"], "smoke");
    assert!(raw["measures"][0]["rows"][0]["values"]["rbpf"][0].as_f64().is_some(), "{raw}");
    let _ = std::fs::remove_dir_all(&out);
}
