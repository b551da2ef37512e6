#![forbid(unsafe_code)]
//! The `steward` command: everything is in the library's [`steward::cli`].

/// mimalloc instead of glibc's malloc: a request allocates and frees many small objects (GraphQL values, futures, row
/// buffers) across two worker threads, where glibc's allocator spent a fifth of the server's time
/// (`bench/README.md`, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    steward::cli::main()
}
