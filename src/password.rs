//! Temporary passwords: long, from the OS's secure random source, and compliant with Entra's
//! complexity rule (three of four character classes; we always use all four).

use std::fmt;

/// Length of generated passwords; the procedure asks for at least 12.
pub const LENGTH: usize = 16;

// Look-alike characters (0/O, 1/l/I) are left out: people type these from a mail.
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#$%&*+-=?@^_";

/// A password that never prints itself: `Debug` and `Display` show a placeholder, so it
/// cannot slip into a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password read back from its Secret.
    pub fn from_secret(value: String) -> Self {
        Password(value)
    }

    /// The password itself, for the Secret and the Graph create call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// A new random temporary password with every character class present.
pub fn generate() -> Result<Password, getrandom::Error> {
    let classes = [LOWER, UPPER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    let mut chars: Vec<u8> = classes
        .iter()
        .map(|class| pick(class))
        .collect::<Result<_, _>>()?;
    while chars.len() < LENGTH {
        chars.push(pick(&all)?);
    }
    shuffle(&mut chars)?;
    Ok(Password(
        String::from_utf8(chars).expect("alphabet is ASCII"),
    ))
}

/// A uniform index below `bound`, by rejection so that no value is favoured.
fn uniform(bound: usize) -> Result<usize, getrandom::Error> {
    let bound = u32::try_from(bound).expect("small alphabet");
    let zone = u32::MAX - u32::MAX % bound;
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf)?;
        let n = u32::from_le_bytes(buf);
        if n < zone {
            return Ok((n % bound) as usize);
        }
    }
}

fn pick(alphabet: &[u8]) -> Result<u8, getrandom::Error> {
    Ok(alphabet[uniform(alphabet.len())?])
}

fn shuffle(chars: &mut [u8]) -> Result<(), getrandom::Error> {
    for i in (1..chars.len()).rev() {
        chars.swap(i, uniform(i + 1)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meets_entra_complexity() {
        for _ in 0..200 {
            let p = generate().unwrap();
            let s = p.expose();
            assert_eq!(s.len(), LENGTH);
            assert!(s.bytes().any(|b| LOWER.contains(&b)));
            assert!(s.bytes().any(|b| UPPER.contains(&b)));
            assert!(s.bytes().any(|b| DIGITS.contains(&b)));
            assert!(s.bytes().any(|b| SYMBOLS.contains(&b)));
        }
    }

    #[test]
    fn differs_every_time() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn never_formats_itself() {
        let p = generate().unwrap();
        assert!(!format!("{p:?} {p}").contains(p.expose()));
    }
}
