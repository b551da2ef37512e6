#![forbid(unsafe_code)]
//! The `steward` command, built inside the test package so process-level tests (kill -9, several instances) can start
//! real server processes (`CARGO_BIN_EXE_steward-test-server`).

fn main() -> std::process::ExitCode {
    steward::cli::main()
}
