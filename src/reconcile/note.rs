//! Event notes: Kubernetes keeps at most 1 kB of an Event's note.

/// The most an Event note may hold.
pub const MAX_NOTE: usize = 1024;

/// `text` cut to [`MAX_NOTE`] bytes at a character boundary, marked with an ellipsis.
pub fn event_note(mut text: String) -> String {
    if text.len() > MAX_NOTE {
        let cut = (0..=MAX_NOTE - 3)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let cut = event_note("ü".repeat(700));
        assert!(cut.len() <= MAX_NOTE && cut.ends_with("..."));
        assert_eq!(event_note("short".into()), "short");
    }
}
