//! Value transformations of the Sigma modifiers: wildcard strings, base64, base64offset, UTF-16,
//! windash and placeholder expansion.

use crate::ast::Tok;

/// Most values one rule value may expand into (windash permutations, placeholder values).
pub const MAX_VALUE_EXPANSION: usize = 4096;

/// Parses a Sigma string into tokens: `*` and `?` are wildcards; `\` escapes `*`, `?` and `\`
/// (a backslash before any other character is a plain backslash).
pub(crate) fn parse_sigma_string(text: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    lit.push(next);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                let tok = if c == '*' { Tok::Star } else { Tok::One };
                // Consecutive stars are one star.
                if !(tok == Tok::Star && toks.last() == Some(&Tok::Star)) {
                    toks.push(tok);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

/// The plain text of tokens without wildcards; `None` when a wildcard is present.
pub(crate) fn plain_text(toks: &[Tok]) -> Option<String> {
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Lit(s) => out.push_str(s),
            Tok::Star | Tok::One => return None,
        }
    }
    Some(out)
}

/// Puts `*` at the start and/or end of a pattern (no doubled stars).
pub(crate) fn wrap(mut toks: Vec<Tok>, start: bool, end: bool) -> Vec<Tok> {
    if start && toks.first() != Some(&Tok::Star) {
        toks.insert(0, Tok::Star);
    }
    if end && toks.last() != Some(&Tok::Star) {
        toks.push(Tok::Star);
    }
    toks
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three base64 renderings of `bytes` at stream offsets 0, 1 and 2, trimmed to the
/// characters that do not depend on the surrounding bytes (pySigma's `base64offset`).
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(bytes);
            let encoded = base64(&shifted);
            let trim_end = match (bytes.len() + shift) % 3 {
                0 => 0,
                1 => 3,
                _ => 2,
            };
            let end = encoded.len().saturating_sub(trim_end);
            encoded.get(START[shift]..end).unwrap_or("").to_string()
        })
        .collect()
}

/// UTF-16 encodings of the `utf16le`/`wide`, `utf16be` and `utf16` (BOM + little endian)
/// modifiers.
pub(crate) fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in text.encode_utf16() {
        if big_endian {
            out.extend_from_slice(&unit.to_be_bytes());
        } else {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
    out
}

/// The characters `windash` swaps for each other.
pub(crate) const WINDASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every permutation of the dashes that begin a command-line flag (pySigma's `\B[-/]\b`: a dash
/// not preceded by a word character and followed by one; as the spec has the five characters
/// interchangeable, any of them counts as a dash) with `-`, `/`, en dash, em dash and
/// horizontal bar. Wildcards next to a dash count as non-word characters.
pub(crate) fn windash(toks: &[Tok]) -> Result<Vec<Vec<Tok>>, String> {
    // Flatten to (char or wildcard) so that neighbours across token boundaries are seen.
    enum Unit {
        Char(char),
        Wild(Tok),
    }
    let mut units = Vec::new();
    for t in toks {
        match t {
            Tok::Lit(s) => units.extend(s.chars().map(Unit::Char)),
            other => units.push(Unit::Wild(other.clone())),
        }
    }
    let positions: Vec<usize> = (0..units.len())
        .filter(|&i| {
            let Unit::Char(c) = units[i] else {
                return false;
            };
            if !WINDASHES.contains(&c) {
                return false;
            }
            let before_is_word = i > 0 && matches!(units[i - 1], Unit::Char(p) if is_word(p));
            let after_is_word = matches!(units.get(i + 1), Some(Unit::Char(n)) if is_word(*n));
            !before_is_word && after_is_word
        })
        .collect();
    let count = WINDASHES
        .len()
        .checked_pow(u32::try_from(positions.len()).unwrap_or(u32::MAX))
        .filter(|&n| n <= MAX_VALUE_EXPANSION)
        .ok_or_else(|| {
            format!(
                "windash would expand {} dashes into more than {MAX_VALUE_EXPANSION} values \
                 (MAX_VALUE_EXPANSION)",
                positions.len()
            )
        })?;
    let mut out = Vec::with_capacity(count);
    for mut n in 0..count {
        let mut choice = vec![0usize; units.len()];
        for &p in &positions {
            choice[p] = n % WINDASHES.len();
            n /= WINDASHES.len();
        }
        let mut toks = Vec::new();
        let mut lit = String::new();
        for (i, u) in units.iter().enumerate() {
            match u {
                Unit::Char(c) => {
                    if positions.contains(&i) {
                        lit.push(WINDASHES[choice[i]]);
                    } else {
                        lit.push(*c);
                    }
                }
                Unit::Wild(w) => {
                    if !lit.is_empty() {
                        toks.push(Tok::Lit(std::mem::take(&mut lit)));
                    }
                    toks.push(w.clone());
                }
            }
        }
        if !lit.is_empty() {
            toks.push(Tok::Lit(lit));
        }
        out.push(toks);
    }
    Ok(out)
}

/// Result of expanding a value's `%placeholders%`.
pub(crate) enum Expanded {
    /// The values to use instead.
    Values(Vec<String>),
    /// A placeholder has no values.
    Missing(String),
}

/// Replaces every `%name%` with each of its values (cartesian product for several
/// placeholders). `\%` is a plain percent sign.
pub(crate) fn expand_placeholders(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<Expanded, String> {
    let mut results = vec![String::new()];
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\%") {
            results.iter_mut().for_each(|s| s.push('%'));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('%') {
            let Some(end) = r.find('%') else {
                results.iter_mut().for_each(|s| s.push('%'));
                rest = r;
                continue;
            };
            let name = &r[..end];
            rest = &r[end + 1..];
            let Some(values) = lookup(name).filter(|v| !v.is_empty()) else {
                return Ok(Expanded::Missing(name.to_string()));
            };
            if results.len().saturating_mul(values.len()) > MAX_VALUE_EXPANSION {
                return Err(format!(
                    "placeholders expand into more than {MAX_VALUE_EXPANSION} values \
                     (MAX_VALUE_EXPANSION)"
                ));
            }
            results = results
                .iter()
                .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}{v}")))
                .collect();
        } else {
            let c = rest.chars().next().unwrap_or('%');
            results.iter_mut().for_each(|s| s.push(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(Expanded::Values(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Tok {
        Tok::Lit(s.into())
    }

    #[test]
    fn escapes_follow_the_spec_table() {
        assert_eq!(parse_sigma_string(r"a\*b"), vec![lit("a*b")]);
        assert_eq!(parse_sigma_string(r"a\?b"), vec![lit("a?b")]);
        assert_eq!(parse_sigma_string(r"C:\\*"), vec![lit(r"C:\"), Tok::Star]);
        assert_eq!(parse_sigma_string(r"\\\*"), vec![lit(r"\*")]);
        assert_eq!(parse_sigma_string(r"\\\\"), vec![lit(r"\\")]);
        assert_eq!(parse_sigma_string(r"\cmd.exe"), vec![lit(r"\cmd.exe")]);
        assert_eq!(
            parse_sigma_string(r"a**?"),
            vec![lit("a"), Tok::Star, Tok::One]
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn base64offset_gives_the_three_stable_cores() {
        // pySigma's documented example: 'http://' at the three offsets.
        assert_eq!(
            base64_offsets(b"http://"),
            vec!["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
        );
        // Each rendering occurs inside the base64 of any stream holding the value at that offset.
        for (shift, core) in base64_offsets(b"Invoke-Mimikatz").into_iter().enumerate() {
            for suffix in ["", "x", "xy", "xyz"] {
                let mut data = b"ab"[..shift].to_vec();
                data.extend_from_slice(b"Invoke-Mimikatz");
                data.extend_from_slice(suffix.as_bytes());
                assert!(
                    base64(&data).contains(&core),
                    "shift {shift} suffix {suffix:?}: {core}"
                );
            }
        }
    }

    #[test]
    fn utf16_variants() {
        assert_eq!(utf16("cmd", false, false), b"c\0m\0d\0");
        assert_eq!(utf16("cmd", true, false), b"\0c\0m\0d");
        assert_eq!(utf16("cmd", false, true), b"\xFF\xFEc\0m\0d\0");
    }

    #[test]
    fn windash_permutes_flag_dashes_only() {
        let out = windash(&parse_sigma_string(" -enc a-b /c")).expect("expands");
        assert_eq!(out.len(), 25);
        let texts: Vec<String> = out.iter().filter_map(|t| plain_text(t)).collect();
        assert!(texts.contains(&" \u{2013}enc a-b \u{2014}c".to_string()));
        assert!(texts.contains(&" \u{2015}enc a-b -c".to_string()));
        assert!(texts.iter().all(|t| t.contains("a-b")));
        let many = " -a".repeat(6);
        assert!(windash(&parse_sigma_string(&many))
            .unwrap_err()
            .contains("MAX_VALUE_EXPANSION"));
        assert_eq!(
            windash(&parse_sigma_string(&" -a".repeat(5))).map(|v| v.len()),
            Ok(3125)
        );
    }

    #[test]
    fn placeholders_expand_and_escape() {
        let lookup = |name: &str| match name {
            "admins" => Some(vec!["root".to_string(), "adm*".to_string()]),
            _ => None,
        };
        match expand_placeholders(r"\%x %admins%!", &lookup) {
            Ok(Expanded::Values(v)) => assert_eq!(v, vec!["%x root!", "%x adm*!"]),
            _ => panic!("expected values"),
        }
        assert!(
            matches!(expand_placeholders("%nope%", &lookup), Ok(Expanded::Missing(n)) if n == "nope")
        );
    }
}
