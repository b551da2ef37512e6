#![forbid(unsafe_code)]
//! The `steward` command: everything is in the library's [`steward::cli`].

fn main() -> std::process::ExitCode {
    steward::cli::main()
}
