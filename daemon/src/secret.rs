//! A string that must never reach a log: the Duo `skey`, proxy credentials.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A secret string: zeroed when dropped, printed as `[redacted]` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Take ownership of a secret value.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret itself; only the request signer and connection setup should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string (a config error for `skey`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn never_printed() {
        let s = Secret::new("yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo".into());
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo");
    }

    #[test]
    fn from_toml_string() {
        #[derive(serde::Deserialize)]
        struct T {
            skey: Secret,
        }
        let t: T = toml::from_str("skey = \"abc\"").unwrap();
        assert_eq!(t.skey.expose(), "abc");
        assert!(!t.skey.is_empty());
    }
}
