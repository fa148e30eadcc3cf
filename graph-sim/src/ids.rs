//! Random identifiers: object ids, request ids, message ids and opaque access tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A random version-4 GUID in the lowercase 8-4-4-4-12 form Entra uses for object ids.
pub fn guid() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = to_hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An opaque bearer token. Real tokens are JWTs, but clients must not look inside them, so an
/// opaque value keeps clients honest.
pub fn access_token() -> String {
    let b: [u8; 32] = random_bytes();
    format!("sim.{}", to_hex(&b))
}

/// An app role assignment id: Entra writes them as 43 URL-safe base64 characters.
pub fn assignment_id() -> String {
    let b: [u8; 32] = random_bytes();
    URL_SAFE_NO_PAD.encode(b)
}

/// A message id in the long URL-safe base64 shape Exchange uses, with a recognisable prefix.
pub fn message_id() -> String {
    let b: [u8; 48] = random_bytes();
    format!("AAMk{}", URL_SAFE_NO_PAD.encode(b))
}

/// The characters of a Temporary Access Pass: letters, digits and a few symbols, like the
/// passes Entra hands out.
const PASS_ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-*#@$%&!?";

/// A new Temporary Access Pass of `length` characters.
pub fn temporary_access_pass(length: usize) -> String {
    let mut bytes = vec![0u8; length];
    fill(&mut bytes);
    // 256 is not a multiple of the alphabet's size; the slight bias does not matter for a
    // simulator, which protects nothing with these passes.
    bytes
        .iter()
        .map(|b| char::from(PASS_ALPHABET[usize::from(*b) % PASS_ALPHABET.len()]))
        .collect()
}

/// Whether `s` has the 8-4-4-4-12 hexadecimal shape of a GUID.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill(&mut bytes);
    bytes
}

fn fill(bytes: &mut [u8]) {
    // Without an operating-system random source no id or token could be trusted to be unique;
    // there is nothing sensible to fall back to.
    getrandom::fill(bytes).expect("the operating system's random source failed");
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_have_the_entra_shape_and_differ() {
        let (a, b) = (guid(), guid());
        assert!(is_guid(&a), "{a}");
        assert_eq!(a.as_bytes()[14], b'4', "version nibble in {a}");
        assert_ne!(a, b);
    }

    #[test]
    fn assignment_and_message_ids_are_url_safe_and_differ() {
        let id = assignment_id();
        assert_eq!(id.len(), 43, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(id, assignment_id());
        assert!(message_id().starts_with("AAMk"));
    }

    #[test]
    fn passes_have_the_asked_length_and_differ() {
        let pass = temporary_access_pass(12);
        assert_eq!(pass.len(), 12);
        assert!(pass.bytes().all(|c| PASS_ALPHABET.contains(&c)), "{pass}");
        assert_ne!(pass, temporary_access_pass(12));
    }

    #[test]
    fn is_guid_rejects_other_shapes() {
        assert!(is_guid("6fd2c87f-b296-42f0-b197-1e91e994b900"));
        assert!(!is_guid("6fd2c87f-b296-42f0-b197-1e91e994b90"));
        assert!(!is_guid("6fd2c87f-b296-42f0-b197-1e91e994b90g"));
        assert!(!is_guid("alice@contoso.example"));
    }
}
