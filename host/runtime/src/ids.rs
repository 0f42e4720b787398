//! Container ids and generated names.

use std::io::Read;

/// A new container id: 32 random bytes as 64 lower-case hex digits, like
/// Docker's.
pub fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "calm", "clever", "crisp", "eager", "fair", "gentle", "happy",
    "keen", "kind", "lucid", "merry", "nimble", "patient", "quiet", "rapid", "sharp", "steady",
    "swift", "tidy", "vivid", "wise", "witty", "zealous",
];

/// People who shaped operating systems, security and computing.
const PEOPLE: &[&str] = &[
    "allen",
    "bach",
    "cerf",
    "corbato",
    "dijkstra",
    "engelbart",
    "hamilton",
    "hopper",
    "kahn",
    "kernighan",
    "knuth",
    "lamport",
    "liskov",
    "lovelace",
    "mccarthy",
    "mcilroy",
    "ritchie",
    "saltzer",
    "schroeder",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wheeler",
    "wirth",
];

/// A Docker-style `adjective_person` name picked from the id's bytes.
pub fn generated_name(id: &str, attempt: usize) -> String {
    let a = usize::from_str_radix(&id[0..4], 16).unwrap_or(0) + attempt;
    let p = usize::from_str_radix(&id[4..8], 16).unwrap_or(0) + attempt / ADJECTIVES.len();
    let base = format!(
        "{}_{}",
        ADJECTIVES[a % ADJECTIVES.len()],
        PEOPLE[p % PEOPLE.len()]
    );
    if attempt >= ADJECTIVES.len() * PEOPLE.len() {
        format!("{base}{attempt}")
    } else {
        base
    }
}

/// Docker's rule for `--name`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, new_id().unwrap());
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("x"));
        assert!(!valid_name("a/b"));
        let id = "00ff00ff".repeat(8);
        assert!(valid_name(&generated_name(&id, 0)));
        assert_ne!(generated_name(&id, 0), generated_name(&id, 1));
    }
}
