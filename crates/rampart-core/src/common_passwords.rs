//! The bundled list of the most common passwords (see `data/README.md` for its source).
//! A password on it is refused at registration whatever its length: attackers try these first.

use std::collections::HashSet;
use std::sync::LazyLock;

static COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| common_passwords().collect());

/// The bundled common passwords, most common first, lowercase.
pub fn common_passwords() -> impl Iterator<Item = &'static str> {
    COMMON_LIST
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
}

/// Whether `password` (compared case-insensitively) is on the bundled list.
pub fn is_common_password(password: &str) -> bool {
    COMMON.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_and_lowercase() {
        assert!(common_passwords().count() >= 10_000);
        assert!(common_passwords().all(|p| p == p.to_lowercase()));
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(!is_common_password("a truly uncommon passphrase 8271"));
    }
}
