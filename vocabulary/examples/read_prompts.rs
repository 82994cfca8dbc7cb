//! Prints how each prompt of a prompt file (default `eval/prompts.toml`) is read:
//! the sanitizer's output, the intent's summary, and whether the intent's direction
//! on a neutral input (every balance at its clean-speech reference) matches the
//! prompt's `expect` list. `cargo run -p faurge-vocabulary --example read_prompts [FILE]`.

use faurge_vocabulary::descriptors::QuantityKind;
use faurge_vocabulary::intent::{GoalKind, Measured, Reader};
use faurge_vocabulary::sanitizer::Sanitizer;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "eval/prompts.toml".into());
    let text = std::fs::read_to_string(&path).expect("prompt file");
    let doc: toml::Value = toml::from_str(&text).expect("toml");
    let reader = Reader::embedded().unwrap();
    let sanitizer = Sanitizer::embedded().unwrap();
    let t = reader.table();
    let neutral = Measured {
        balances: t
            .quantities
            .iter()
            .filter(|q| q.kind == QuantityKind::Balance)
            .map(|q| (q.id.clone(), q.reference.unwrap_or(0.0)))
            .collect(),
        lufs: Some(-26.0),
        crest_db: Some(18.0),
        snr_db: Some(25.0),
        clicks_per_s: Some(1.0),
        clipped_fraction: Some(0.01),
        room_db: None,
    };
    let (mut ok, mut n) = (0, 0);
    for p in doc["prompt"].as_array().unwrap() {
        let prompt = p["text"].as_str().unwrap();
        let s = sanitizer.sanitize(prompt);
        let intent = reader.read(&s.understood, s.anchor);
        let goals = intent.goals(t, &neutral);
        let mut good = true;
        for e in p["expect"].as_array().unwrap() {
            let e = e.as_str().unwrap();
            let pass = if e == "repair" {
                intent.repair
            } else if let Some((q, v)) = e.split_once('=') {
                let g = goals.iter().find(|g| g.quantity == q);
                match (v, g) {
                    ("in", Some(g)) => g.change.abs() < 0.5,
                    (v, Some(g)) => v.parse::<f32>().is_ok_and(|v| (g.value - v).abs() < 0.5),
                    _ => false,
                }
            } else {
                let (q, dir) = e.split_at(e.len() - 1);
                let g = goals.iter().find(|g| g.quantity == q);
                match g {
                    Some(g) if q == "room" => (dir == "+") == (g.kind == GoalKind::Exactly),
                    Some(g) if g.kind == GoalKind::AtMost && (q == "clicks" || q == "clipping") => {
                        dir == "-"
                    }
                    Some(g) => (g.change > 0.0) == (dir == "+") && g.change != 0.0,
                    None => false,
                }
            };
            good &= pass;
        }
        n += 1;
        if good {
            ok += 1;
        }
        println!(
            "{} {:45} | {:45} | {}{}",
            if good { "ok  " } else { "MISS" },
            prompt,
            s.understood.chars().take(45).collect::<String>(),
            intent.summary(t),
            if intent.unsupported.is_empty() {
                String::new()
            } else {
                format!(" [{}]", intent.unsupported.join("; "))
            }
        );
    }
    println!("{ok}/{n} prompts read as expected");
}
