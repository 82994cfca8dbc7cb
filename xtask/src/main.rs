//! `cargo xtask`: the three-line entry point of the `xtask` library (bundling,
//! installing, the dataset, training and evaluation; `cargo xtask --help`).

fn main() -> anyhow::Result<()> {
    xtask::main()
}
