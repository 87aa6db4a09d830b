//! The identifier guard (SPEC §5): identifier-like column names and values.

/// Single words that make a column name identifier-like.
const WORDS: [&str; 21] = [
    "dob",
    "birth",
    "birthdate",
    "dateofbirth",
    "mrn",
    "ssn",
    "address",
    "street",
    "city",
    "zip",
    "zipcode",
    "postal",
    "phone",
    "telephone",
    "fax",
    "email",
    "ip",
    "url",
    "account",
    "license",
    "licence",
];

/// Adjacent word pairs that make a column name identifier-like.
const PAIRS: [(&str, &str); 9] = [
    ("first", "name"),
    ("last", "name"),
    ("full", "name"),
    ("patient", "name"),
    ("medical", "record"),
    ("social", "security"),
    ("insurance", "id"),
    ("member", "id"),
    ("e", "mail"),
];

/// Whether a column name is identifier-like: lower-cased, spaces, dots and
/// hyphens turned into `_`, split on `_`; `name` alone, or a listed word or
/// word pair among its parts. `clinic_name` and `milestone` pass.
pub fn is_identifier_column(name: &str) -> bool {
    let norm: String =
        name.trim().to_lowercase().chars().map(|c| if c == ' ' || c == '.' || c == '-' { '_' } else { c }).collect();
    let parts: Vec<&str> = norm.split('_').filter(|p| !p.is_empty()).collect();
    if parts == ["name"] {
        return true;
    }
    if parts.iter().any(|p| WORDS.contains(p)) {
        return true;
    }
    parts.windows(2).any(|w| PAIRS.contains(&(w[0], w[1])))
}

/// Whether an id value looks like an identifier: an SSN with dashes
/// (`123-45-6789`) or an e-mail address. Plain digit strings pass.
pub fn is_identifier_value(v: &str) -> bool {
    is_ssn(v.trim()) || is_email(v.trim())
}

fn is_ssn(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 11 && b.iter().enumerate().all(|(i, c)| if i == 3 || i == 6 { *c == b'-' } else { c.is_ascii_digit() })
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else { return false };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && !domain.contains('@')
        && !domain.contains(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_of_column_names() {
        for bad in [
            "patient_city",
            "Date of Birth",
            "name",
            "Name",
            "first_name",
            "last.name",
            "patient-name",
            "MRN",
            "medical_record_number",
            "ssn",
            "social security",
            "home_address",
            "zip",
            "zipcode",
            "phone",
            "email",
            "e-mail",
            "ip",
            "url",
            "account_no",
            "license",
            "insurance_id",
            "member id",
            "dob",
            "birthdate",
            "fax",
        ] {
            assert!(is_identifier_column(bad), "{bad} should be refused");
        }
        for ok in [
            "ethnicity",
            "clinic_name",
            "milestone",
            "patient_id",
            "prescriber_id",
            "drug",
            "hours",
            "zipper_count",
            "nickname",
        ] {
            assert!(!is_identifier_column(ok), "{ok} should pass");
        }
    }

    #[test]
    fn identifier_values() {
        assert!(is_identifier_value("123-45-6789"));
        assert!(is_identifier_value("jane.doe@example.org"));
        assert!(!is_identifier_value("123456789"));
        assert!(!is_identifier_value("P000123"));
        assert!(!is_identifier_value("12-345-6789"));
        assert!(!is_identifier_value("a@b"));
    }
}
