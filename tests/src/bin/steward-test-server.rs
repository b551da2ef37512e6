#![forbid(unsafe_code)]
//! The `steward` command, built inside the test package so process-level tests (kill -9, several instances) can start
//! real server processes (`CARGO_BIN_EXE_steward-test-server`).
//!
//! `STEWARD_TEST_ABORT_BEFORE_DEFERRED_AUDIT=1` makes the process abort right after a change in the control database
//! committed and before its audit event reaches the tenant's region (`owed::set_before_apply`): the one
//! moment between two databases. The server binary itself has no such switch.

fn main() -> std::process::ExitCode {
    if std::env::var_os("STEWARD_TEST_ABORT_BEFORE_DEFERRED_AUDIT").is_some() {
        steward::owed::set_before_apply(|| {
            eprintln!("aborting between the control commit and the region append (test hook)");
            std::process::abort()
        });
    }
    steward::cli::main()
}
