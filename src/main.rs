//! Entry point: build the runtime, hand the process environment and arguments to
//! [`package_publisher::app::main`], and turn the outcome into an exit code. Nothing
//! else lives here.

use std::process::ExitCode;

#[allow(
    clippy::disallowed_methods,
    reason = "the one place the process environment is read (see clippy.toml)"
)]
fn main() -> ExitCode {
    // Values that are not UTF-8 are passed on by name, so the run can say what is
    // wrong with them instead of treating them as unset.
    let mut vars = Vec::new();
    let mut not_utf8 = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Ok(k) = k.into_string() else { continue };
        match v.into_string() {
            Ok(v) => vars.push((k, v)),
            Err(_) => not_utf8.push(k),
        }
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("package-publisher: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let status = runtime.block_on(package_publisher::app::main(args, vars, not_utf8));
    // Work still running on blocking threads (a hash a cancelled run no longer needs)
    // must not hold up the exit.
    runtime.shutdown_background();
    ExitCode::from(status.code())
}
