//! login_duo's `send_gecos`: take the Duo username from a field of the GECOS entry.

/// The Duo username from `gecos`: the whole field, or field `pos` (1-based) split on `delim`; `None` when empty.
pub fn username(gecos: &str, pos: Option<u32>, delim: char) -> Option<String> {
    let value = match pos {
        None => gecos.trim(),
        Some(p) => gecos.split(delim).nth(p.checked_sub(1)? as usize)?.trim(),
    };
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::username;

    #[test]
    fn fields() {
        assert_eq!(
            username("Alice Smith", None, ','),
            Some("Alice Smith".into())
        );
        assert_eq!(
            username("Alice,asmith,room 1", Some(2), ','),
            Some("asmith".into())
        );
        assert_eq!(username("a/b/c", Some(3), '/'), Some("c".into()));
        assert_eq!(username("a,b", Some(5), ','), None);
        assert_eq!(username("", None, ','), None);
        assert_eq!(username("a,b", Some(0), ','), None);
    }
}
