//! The condition grammar.
//!
//! Precedence, least to most binding: `or`, `and`, `not`, `x of pattern`, `( … )`.
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" expr ")" | quant "of" target | IDENT
//! quant   := "all" | NUMBER          target := "them" | PATTERN (with * wildcards)
//! ```
//! Conditions longer than [`MAX_CONDITION_LEN`] bytes or nested deeper than
//! [`MAX_CONDITION_DEPTH`] are refused. Aggregations (`| count() by x > 5`) and `near` belong to
//! the obsolete Sigma 1 syntax and are refused with a pointer to correlation rules.

use crate::ast::Cond;

/// Longest condition accepted, in bytes.
pub const MAX_CONDITION_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not` accepted in a condition.
pub const MAX_CONDITION_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    And,
    Or,
    Not,
    Of,
    All,
    Open,
    Close,
    Number(usize),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '|' => {
                return Err(
                    "aggregation expressions ('| count() ...') are the obsolete Sigma 1 syntax; \
                     write a correlation rule instead"
                        .into(),
                )
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') => {
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                let token = match word.to_ascii_lowercase().as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "of" => Token::Of,
                    "all" => Token::All,
                    "near" => {
                        return Err("'near' is the obsolete Sigma 1 syntax; write a temporal \
                                    correlation rule instead"
                            .into())
                    }
                    _ if word.bytes().all(|b| b.is_ascii_digit()) => Token::Number(
                        word.parse()
                            .map_err(|_| format!("number too large: {word}"))?,
                    ),
                    _ => Token::Word(word.to_string()),
                };
                out.push(token);
            }
            other => return Err(format!("unexpected character '{other}' in condition")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    names: &'a [String],
    depth: usize,
}

/// Parses a condition against the detection's search identifiers (`names`).
pub(crate) fn parse_condition(text: &str, names: &[String]) -> Result<Cond, String> {
    if text.len() > MAX_CONDITION_LEN {
        return Err(format!(
            "condition is {} bytes long, more than {MAX_CONDITION_LEN} (MAX_CONDITION_LEN)",
            text.len()
        ));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("condition is empty".into());
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        names,
        depth: 0,
    };
    let cond = p.expr()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!("unexpected {} in condition", describe(t)));
    }
    Ok(cond)
}

fn describe(t: &Token) -> String {
    match t {
        Token::And => "'and'".into(),
        Token::Or => "'or'".into(),
        Token::Not => "'not'".into(),
        Token::Of => "'of'".into(),
        Token::All => "'all'".into(),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Number(n) => format!("'{n}'"),
        Token::Word(w) => format!("'{w}'"),
    }
}

/// Whether `name` matches an `x of` pattern (`*` = any run of characters).
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.len() >= part.len() && rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(format!(
                "condition nested deeper than {MAX_CONDITION_DEPTH} (MAX_CONDITION_DEPTH)"
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| "condition ends too early".to_string())?;
        self.pos += 1;
        match token {
            Token::Open => {
                self.enter()?;
                let inner = self.expr()?;
                self.depth -= 1;
                if self.peek() != Some(&Token::Close) {
                    return Err("missing ')' in condition".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::All | Token::Number(_) => {
                if self.peek() != Some(&Token::Of) {
                    return Err(format!("expected 'of' after {}", describe(&token)));
                }
                self.pos += 1;
                let target = match self.peek().cloned() {
                    Some(Token::Word(w)) => w,
                    Some(t) => {
                        return Err(format!(
                            "expected a pattern after 'of', got {}",
                            describe(&t)
                        ))
                    }
                    None => return Err("expected a pattern after 'of'".into()),
                };
                self.pos += 1;
                let members: Vec<usize> = if target.eq_ignore_ascii_case("them") {
                    (0..self.names.len())
                        .filter(|&i| !self.names[i].starts_with('_'))
                        .collect()
                } else {
                    (0..self.names.len())
                        .filter(|&i| pattern_matches(&target, &self.names[i]))
                        .collect()
                };
                if members.is_empty() {
                    return Err(format!("'{target}' matches no search identifier"));
                }
                let need = match token {
                    Token::All => members.len(),
                    Token::Number(0) => return Err("'0 of' never means anything".into()),
                    Token::Number(n) => n,
                    _ => members.len(),
                };
                Ok(Cond::AtLeast(need, members))
            }
            Token::Word(w) => match self.names.iter().position(|n| *n == w) {
                Some(i) => Ok(Cond::Sel(i)),
                None => Err(format!(
                    "condition names '{w}', which the detection does not define"
                )),
            },
            other => Err(format!("unexpected {} in condition", describe(&other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_than_or() {
        let n = names(&["a", "b", "c"]);
        assert_eq!(
            parse_condition("a or b and not c", &n),
            Ok(Cond::Or(vec![
                Cond::Sel(0),
                Cond::And(vec![Cond::Sel(1), Cond::Not(Box::new(Cond::Sel(2)))])
            ]))
        );
        assert_eq!(
            parse_condition("(a or b) and c", &n),
            Ok(Cond::And(vec![
                Cond::Or(vec![Cond::Sel(0), Cond::Sel(1)]),
                Cond::Sel(2)
            ]))
        );
    }

    #[test]
    fn quantifiers_and_patterns() {
        let n = names(&["selection_a", "selection_b", "filter_x", "_hidden"]);
        assert_eq!(
            parse_condition("1 of selection_* and not all of filter*", &n),
            Ok(Cond::And(vec![
                Cond::AtLeast(1, vec![0, 1]),
                Cond::Not(Box::new(Cond::AtLeast(1, vec![2])))
            ]))
        );
        assert_eq!(
            parse_condition("all of them", &n),
            Ok(Cond::AtLeast(3, vec![0, 1, 2]))
        );
        assert_eq!(
            parse_condition("2 of *_*", &n),
            Ok(Cond::AtLeast(2, vec![0, 1, 2, 3]))
        );
        assert!(parse_condition("1 of nothing*", &n).is_err());
        assert!(pattern_matches("sel*tion*b", "selection_b"));
        assert!(!pattern_matches("sel*x", "selection_b"));
    }

    #[test]
    fn refuses_unknown_names_and_old_syntax() {
        let n = names(&["a"]);
        assert!(parse_condition("a and b", &n).unwrap_err().contains("'b'"));
        assert!(parse_condition("a | count() by x > 5", &n)
            .unwrap_err()
            .contains("correlation"));
        assert!(parse_condition("a near a", &n).is_err());
        assert!(parse_condition("(a", &n).is_err());
        assert!(parse_condition("a)", &n).is_err());
        assert!(parse_condition("", &n).is_err());
    }

    #[test]
    fn length_limit() {
        let n = names(&["a"]);
        let mut long = String::from("a");
        while long.len() <= MAX_CONDITION_LEN {
            long.push_str(" or a");
        }
        assert!(parse_condition(&long, &n)
            .unwrap_err()
            .contains("MAX_CONDITION_LEN"));
        let ok = "a or ".repeat((MAX_CONDITION_LEN - 1) / 5) + "a";
        assert!(ok.len() <= MAX_CONDITION_LEN);
        assert!(parse_condition(&ok, &n).is_ok());
    }

    #[test]
    fn depth_limit() {
        let n = names(&["a"]);
        let deep = "(".repeat(MAX_CONDITION_DEPTH + 1) + "a" + &")".repeat(MAX_CONDITION_DEPTH + 1);
        assert!(parse_condition(&deep, &n)
            .unwrap_err()
            .contains("MAX_CONDITION_DEPTH"));
        let ok = "(".repeat(MAX_CONDITION_DEPTH) + "a" + &")".repeat(MAX_CONDITION_DEPTH);
        assert!(parse_condition(&ok, &n).is_ok());
        let nots = "not ".repeat(MAX_CONDITION_DEPTH + 1) + "a";
        assert!(parse_condition(&nots, &n).is_err());
    }
}
