//! Checks that a secret is fit for production: long enough, not a placeholder, not
//! low-entropy. One place, used for every secret the server is configured with.

/// Placeholder words that show a secret was copied from an example, not generated.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "your-secret-here",
    "yoursecret",
    "password",
    "placeholder",
    "example",
    "default",
    "insecure",
    "replace",
    "todo",
    "xxxxxx",
    "123456",
    "qwerty",
    "letmein",
    "supersecret",
];

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakSecret {
    /// Fewer bytes than required.
    #[error("is too short: {got} bytes, at least {min} required")]
    TooShort {
        /// Bytes present.
        got: usize,
        /// Bytes required.
        min: usize,
    },
    /// Looks like a value copied from documentation.
    #[error("is a known placeholder value")]
    Placeholder,
    /// Too few distinct byte values to have come from a random generator.
    #[error("has too little entropy (looks hand-typed or repetitive)")]
    LowEntropy,
}

/// Checks raw secret bytes: at least `min_len` bytes, no placeholder text, and a byte
/// distribution a random generator would plausibly produce.
pub fn check_secret(bytes: &[u8], min_len: usize) -> Result<(), WeakSecret> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let lower = text.to_ascii_lowercase();
        if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
            return Err(WeakSecret::Placeholder);
        }
    }
    if bytes.len() < min_len {
        return Err(WeakSecret::TooShort {
            got: bytes.len(),
            min: min_len,
        });
    }
    // Shannon entropy in bits per byte. 32 uniformly random bytes score ~4.9 (bounded by
    // log2(32) = 5); a repeated short word or a long run of one character scores far lower.
    let mut counts = [0usize; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum();
    if entropy < 4.0 {
        return Err(WeakSecret::LowEntropy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_pass() {
        use rand::RngCore;
        for _ in 0..200 {
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            assert_eq!(check_secret(&b, 32), Ok(()));
        }
    }

    #[test]
    fn weak_secrets_fail() {
        assert_eq!(
            check_secret(b"changemechangemechangemechangeme", 32),
            Err(WeakSecret::Placeholder)
        );
        assert_eq!(
            check_secret(b"your-secret-here", 32),
            Err(WeakSecret::Placeholder)
        );
        assert!(matches!(
            check_secret(b"abc", 32),
            Err(WeakSecret::TooShort { .. })
        ));
        assert_eq!(check_secret(&[b'a'; 64], 32), Err(WeakSecret::LowEntropy));
        assert_eq!(
            check_secret(b"abababababababababababababababab", 32),
            Err(WeakSecret::LowEntropy)
        );
    }
}
