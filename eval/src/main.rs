//! `faurge-eval [ARGS]`: see [`faurge_eval::run`]; `cargo xtask eval [ARGS]` runs it
//! (release) from the workspace root, where relative paths are taken from.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    faurge_eval::run(&std::env::current_dir()?, &refs)
}
