//! The Italian codice fiscale, as the portal's forms check it: 16 characters
//! for a person (employer or worker), 11 digits for an organisation (an
//! association, a company, a public office). Both end in a check character,
//! so a typing error is caught at the form instead of at the office.
//!
//! Omocodia is understood: when two people would get the same code, digits
//! from the right are replaced by the letters `LMNPQRSTUV` (0–9), and the
//! check character is computed on the code as written.
//!
//! Only the structure is checked; whether the code was really issued is
//! for the Agenzia delle Entrate's registry to say.

use std::fmt;

/// A well-formed codice fiscale, normalised to upper case without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodiceFiscale {
    Person(PersonCode),
    /// An organisation's 11-digit code (also its partita IVA when it has one).
    Organisation(String),
}

/// Why a string is not a codice fiscale. Messages say what to correct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error(
        "a codice fiscale has 16 characters (a person) or 11 digits (an organisation); this one has {0}"
    )]
    Length(usize),
    #[error("character {position} is {found:?}, where {expected} belongs")]
    Character {
        /// 1-based, as a person counts.
        position: usize,
        found: char,
        expected: &'static str,
    },
    #[error("the month letter {0:?} is not one of A B C D E H L M P R S T")]
    Month(char),
    #[error("the day {0:02} is neither 01–31 (men) nor 41–71 (women)")]
    Day(u32),
    #[error("the last character is {found:?} but the others give {expected:?}: a typing error?")]
    Check { found: char, expected: char },
}

/// A person's 16-character code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonCode(String);

/// Letters standing for the digits 0–9 in an omocodic code.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
/// Positions (0-based) that hold digits, or their omocodia letters.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
/// Month letters, January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Check-character values of `0-9` then `A-Z` at odd (1-based) positions.
const ODD_VALUES: [u32; 36] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
    23, // A-Z
];

impl CodiceFiscale {
    /// Parses a code typed by a person: surrounding white space and lower
    /// case are accepted.
    pub fn parse(input: &str) -> Result<CodiceFiscale, CodiceFiscaleError> {
        let code = input.trim().to_ascii_uppercase();
        if let Some((i, c)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
            return Err(CodiceFiscaleError::Character {
                position: i + 1,
                found: c,
                expected: "an unaccented letter or a digit",
            });
        }
        match code.len() {
            16 => PersonCode::parse(code).map(CodiceFiscale::Person),
            11 => parse_organisation(code).map(CodiceFiscale::Organisation),
            n => Err(CodiceFiscaleError::Length(n)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CodiceFiscale::Person(p) => &p.0,
            CodiceFiscale::Organisation(o) => o,
        }
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PersonCode {
    fn parse(code: String) -> Result<PersonCode, CodiceFiscaleError> {
        let bytes = code.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let ok = if DIGIT_POSITIONS.contains(&i) {
                b.is_ascii_digit() || OMOCODIA.contains(&b)
            } else {
                b.is_ascii_uppercase()
            };
            if !ok {
                return Err(CodiceFiscaleError::Character {
                    position: i + 1,
                    found: char::from(b),
                    expected: if DIGIT_POSITIONS.contains(&i) {
                        "a digit"
                    } else {
                        "a letter"
                    },
                });
            }
        }
        if !MONTHS.contains(&bytes[8]) {
            return Err(CodiceFiscaleError::Month(char::from(bytes[8])));
        }
        let person = PersonCode(code);
        let day = person.number(9..11);
        if !(1..=31).contains(&day) && !(41..=71).contains(&day) {
            return Err(CodiceFiscaleError::Day(day));
        }
        let expected = check_character(&person.0.as_bytes()[..15]);
        let found = char::from(person.0.as_bytes()[15]);
        if found != expected {
            return Err(CodiceFiscaleError::Check { found, expected });
        }
        Ok(person)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Women's codes add 40 to the day of birth.
    pub fn is_female(&self) -> bool {
        self.number(9..11) > 40
    }

    /// The day of birth, 1–31.
    pub fn birth_day(&self) -> u32 {
        self.number(9..11) % 40
    }

    /// The month of birth, 1–12.
    pub fn birth_month(&self) -> u32 {
        let letter = self.0.as_bytes()[8];
        MONTHS
            .iter()
            .position(|&m| m == letter)
            .map_or(0, |i| i as u32 + 1)
    }

    /// The last two digits of the year of birth (the century is not coded).
    pub fn birth_year_in_century(&self) -> u32 {
        self.number(6..8)
    }

    /// True when a declared date of birth (and sex, when known) agrees with
    /// the code: the consistency check of the compilation pages.
    pub fn agrees_with(&self, year: i32, month: u32, day: u32, female: Option<bool>) -> bool {
        year.rem_euclid(100) as u32 == self.birth_year_in_century()
            && month == self.birth_month()
            && day == self.birth_day()
            && female.is_none_or(|f| f == self.is_female())
    }

    /// The decimal value of the digit positions in `range`, omocodia undone.
    fn number(&self, range: std::ops::Range<usize>) -> u32 {
        self.0.as_bytes()[range].iter().fold(0, |n, &b| {
            let digit = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                OMOCODIA.iter().position(|&l| l == b).unwrap_or(0) as u32
            };
            n * 10 + digit
        })
    }
}

fn check_character(first15: &[u8]) -> char {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let index = if b.is_ascii_digit() {
                usize::from(b - b'0')
            } else {
                usize::from(b - b'A') + 10
            };
            if i % 2 == 0 {
                ODD_VALUES[index]
            } else if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                u32::from(b - b'A')
            }
        })
        .sum();
    char::from(b'A' + (sum % 26) as u8)
}

/// Eleven digits, the last a Luhn-style check digit.
fn parse_organisation(code: String) -> Result<String, CodiceFiscaleError> {
    if let Some((i, c)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(CodiceFiscaleError::Character {
            position: i + 1,
            found: c,
            expected: "a digit (an organisation's code is 11 digits)",
        });
    }
    let digits: Vec<u32> = code.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[..10]
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    let expected = (10 - sum % 10) % 10;
    if digits[10] != expected {
        return Err(CodiceFiscaleError::Check {
            found: char::from(b'0' + digits[10] as u8),
            expected: char::from(b'0' + expected as u8),
        });
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(code: &str) -> PersonCode {
        match CodiceFiscale::parse(code) {
            Ok(CodiceFiscale::Person(p)) => p,
            other => panic!("{code}: {other:?}"),
        }
    }

    #[test]
    fn a_person_is_read_with_birth_date_and_sex() {
        let p = person("RSSMRA85T10A562S");
        assert!(!p.is_female());
        assert_eq!(
            (p.birth_year_in_century(), p.birth_month(), p.birth_day()),
            (85, 12, 10)
        );
        assert!(p.agrees_with(1985, 12, 10, Some(false)));
        assert!(!p.agrees_with(1985, 12, 11, None));
        assert!(!p.agrees_with(1985, 12, 10, Some(true)));
        let w = person("BNCLRA80A41H501D");
        assert!(w.is_female());
        assert_eq!((w.birth_month(), w.birth_day()), (1, 1));
    }

    #[test]
    fn typed_loosely_it_is_normalised() {
        let cf = CodiceFiscale::parse("  rssmra85t10a562s ").unwrap();
        assert_eq!(cf.to_string(), "RSSMRA85T10A562S");
    }

    #[test]
    fn omocodic_codes_are_valid_and_decode_to_the_same_person() {
        // The 2 of 562 written as N, and the check recomputed: H.
        let p = person("RSSMRA85T10A56NH");
        assert_eq!((p.birth_month(), p.birth_day()), (12, 10));
        assert!(p.agrees_with(1985, 12, 10, Some(false)));
    }

    #[test]
    fn every_single_character_typo_in_the_check_is_caught() {
        let good = "RSSMRA85T10A562S";
        for wrong in ('A'..='Z').filter(|c| *c != 'S') {
            let code = format!("{}{wrong}", &good[..15]);
            assert_eq!(
                CodiceFiscale::parse(&code),
                Err(CodiceFiscaleError::Check {
                    found: wrong,
                    expected: 'S'
                })
            );
        }
        // A changed letter elsewhere moves the check too.
        assert!(matches!(
            CodiceFiscale::parse("RSSMRB85T10A562S"),
            Err(CodiceFiscaleError::Check { .. })
        ));
    }

    #[test]
    fn structure_errors_name_what_is_wrong() {
        assert!(matches!(
            CodiceFiscale::parse("RSSMRA85T10"),
            Err(CodiceFiscaleError::Character {
                position: 1,
                found: 'R',
                ..
            })
        ));
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85"),
            Err(CodiceFiscaleError::Length(8))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA8XT10A562S"),
            Err(CodiceFiscaleError::Character {
                position: 8,
                found: 'X',
                expected: "a digit"
            })
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85Z10A562S"),
            Err(CodiceFiscaleError::Month('Z'))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T35A562S"),
            Err(CodiceFiscaleError::Day(35))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562Ś"),
            Err(CodiceFiscaleError::Character {
                position: 16,
                found: 'Ś',
                expected: "an unaccented letter or a digit"
            })
        );
    }

    #[test]
    fn organisations_have_eleven_digits_with_a_check_digit() {
        for code in ["80213330584", "00743110157", "97000000006"] {
            assert!(
                matches!(
                    CodiceFiscale::parse(code),
                    Ok(CodiceFiscale::Organisation(_))
                ),
                "{code}"
            );
        }
        assert_eq!(
            CodiceFiscale::parse("80213330585"),
            Err(CodiceFiscaleError::Check {
                found: '5',
                expected: '4'
            })
        );
        assert!(matches!(
            CodiceFiscale::parse("8021333058A"),
            Err(CodiceFiscaleError::Character { position: 11, .. })
        ));
    }
}
