//! Tokens of SHISA's `cftoken.l`: words, quoted strings, `{`, `}`, `;`; `#` comments.

use std::fmt;

use crate::error::{ConfigError, Pos};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword, number, address, prefix or interface name: SHISA's lexer tells them apart
    /// by context, so we keep them as one kind and let the parser decide.
    Word(String),
    /// A double-quoted string (file names).
    Str(String),
    LBrace,
    RBrace,
    Semi,
    Eof,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Word(w) => write!(f, "'{w}'"),
            TokenKind::Str(s) => write!(f, "string \"{s}\""),
            TokenKind::LBrace => f.write_str("'{'"),
            TokenKind::RBrace => f.write_str("'}'"),
            TokenKind::Semi => f.write_str("';'"),
            TokenKind::Eof => f.write_str("end of file"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub pos: Pos,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

/// Splits `text` into tokens; the last one is always `Eof`.
pub fn tokenize(text: &str, file: &str) -> Result<Vec<Token>, ConfigError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut pos = Pos { line: 1, col: 1 };
    let advance = |pos: &mut Pos, c: char| {
        if c == '\n' {
            pos.line += 1;
            pos.col = 1;
        } else {
            pos.col += 1;
        }
    };
    while let Some(&c) = chars.peek() {
        let start = pos;
        match c {
            c if c.is_whitespace() => {
                chars.next();
                advance(&mut pos, c);
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                    advance(&mut pos, c);
                }
            }
            '{' | '}' | ';' => {
                chars.next();
                advance(&mut pos, c);
                let kind = match c {
                    '{' => TokenKind::LBrace,
                    '}' => TokenKind::RBrace,
                    _ => TokenKind::Semi,
                };
                tokens.push(Token { kind, pos: start });
            }
            '"' => {
                chars.next();
                advance(&mut pos, c);
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => {
                            advance(&mut pos, '"');
                            break;
                        }
                        Some('\n') | None => {
                            return Err(ConfigError::at(file, start, "unterminated string"));
                        }
                        Some(c) => {
                            advance(&mut pos, c);
                            s.push(c);
                        }
                    }
                }
                tokens.push(Token {
                    kind: TokenKind::Str(s),
                    pos: start,
                });
            }
            c if is_word_char(c) => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    chars.next();
                    advance(&mut pos, c);
                    w.push(c);
                }
                tokens.push(Token {
                    kind: TokenKind::Word(w),
                    pos: start,
                });
            }
            other => {
                return Err(ConfigError::at(
                    file,
                    start,
                    format!("unexpected character {other:?}"),
                ));
            }
        }
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        pos,
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_columns() {
        let toks = tokenize("debug 1; # c\n  x {\n}", "t").unwrap();
        let got: Vec<(String, u32, u32)> = toks
            .iter()
            .map(|t| (t.kind.to_string(), t.pos.line, t.pos.col))
            .collect();
        assert_eq!(
            got,
            vec![
                ("'debug'".into(), 1, 1),
                ("'1'".into(), 1, 7),
                ("';'".into(), 1, 8),
                ("'x'".into(), 2, 3),
                ("'{'".into(), 2, 5),
                ("'}'".into(), 3, 1),
                ("end of file".into(), 3, 2),
            ]
        );
    }
}
