//! Entry point: build the runtime, hand the process environment and arguments to
//! [`package_publisher::app::main`], and turn the outcome into an exit code. Nothing
//! else lives here.

use std::process::ExitCode;

fn main() -> ExitCode {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("package-publisher: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let status = runtime.block_on(package_publisher::app::main(args, vars));
    ExitCode::from(status.code())
}
