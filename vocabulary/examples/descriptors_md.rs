//! Prints `docs/DESCRIPTORS.md`, the descriptor table as documentation:
//! `cargo run -p faurge-vocabulary --example descriptors_md > docs/DESCRIPTORS.md`
//! (a test in faurge-vocabulary checks the committed file is current).

fn main() {
    let table = faurge_vocabulary::descriptors::Descriptors::embedded().expect("the shipped table");
    print!("{}", table.markdown());
}
