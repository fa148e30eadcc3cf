//! A small seeded random source, so a test that sets a seed meets the same faults every run.

/// SplitMix64: tiny, fast and good enough to decide which requests fail; not for secrets.
#[derive(Clone, Debug)]
pub struct Dice {
    state: u64,
}

impl Dice {
    /// Dice that roll the same sequence for the same seed.
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Dice seeded from the operating system's random source.
    pub fn from_entropy() -> Self {
        let mut bytes = [0u8; 8];
        // Faults are a test aid; without the OS source a fixed seed still gives varied rolls.
        let _ = getrandom::fill(&mut bytes);
        Self::seeded(u64::from_le_bytes(bytes))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `[low, high)`.
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = (self.next_u64() % items.len() as u64) as usize;
        &items[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_rolls_the_same_sequence() {
        let (mut a, mut b) = (Dice::seeded(42), Dice::seeded(42));
        let rolls: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(rolls, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(rolls[0], Dice::seeded(43).next_u64());
    }

    #[test]
    fn unit_rolls_stay_in_range_and_spread() {
        let mut dice = Dice::seeded(7);
        let rolls: Vec<f64> = (0..1000).map(|_| dice.unit()).collect();
        assert!(rolls.iter().all(|r| (0.0..1.0).contains(r)));
        let low = rolls.iter().filter(|r| **r < 0.5).count();
        assert!((400..600).contains(&low), "{low}");
    }
}
