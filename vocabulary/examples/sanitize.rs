//! Prints what the sanitizer understands of each argument (or of each line of stdin),
//! with the time each took:
//! `cargo run -p faurge-vocabulary --example sanitize -- "make it phat pls"`.

use std::io::BufRead;

fn main() -> Result<(), faurge_vocabulary::VocabularyError> {
    let s = faurge_vocabulary::sanitizer::Sanitizer::embedded()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: Vec<String> = if args.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect()
    } else {
        args
    };
    for line in lines {
        let start = std::time::Instant::now();
        let r = s.sanitize(&line);
        let elapsed = start.elapsed();
        let shown: String = r.original.chars().take(60).collect();
        println!(
            "{shown:?} ({} bytes, {elapsed:?}) -> {:?} anchor={}",
            r.original.len(),
            r.understood,
            r.anchor
        );
        for e in &r.edits {
            println!("    {:?}: {:?} -> {:?}", e.kind, e.from, e.to);
        }
    }
    Ok(())
}
