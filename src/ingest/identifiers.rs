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
const PAIRS: [(&str, &str); 17] = [
    ("first", "name"),
    ("last", "name"),
    ("full", "name"),
    ("patient", "name"),
    ("pt", "name"),
    ("given", "name"),
    ("family", "name"),
    ("middle", "name"),
    ("maiden", "name"),
    ("sur", "name"),
    ("person", "name"),
    ("client", "name"),
    ("medical", "record"),
    ("social", "security"),
    ("insurance", "id"),
    ("member", "id"),
    ("e", "mail"),
];

/// Single words besides `name` alone that are a person's name.
const NAME_WORDS: [&str; 3] = ["surname", "firstname", "lastname"];

/// Whether a column name is identifier-like: camelCase split into words
/// (`PatientName` → `patient_name`, `IPAddress` → `ip_address`), lower-cased,
/// every character that is not a letter or digit (spaces, dots, hyphens, `#`)
/// a separator; `name` alone, or a listed word or word pair among its parts.
/// `clinic_name` and `milestone` pass.
pub fn is_identifier_column(name: &str) -> bool {
    let norm = split_words(name.trim());
    let parts: Vec<&str> = norm.split('_').filter(|p| !p.is_empty()).collect();
    if parts == ["name"] {
        return true;
    }
    if parts.iter().any(|p| WORDS.contains(p) || NAME_WORDS.contains(p)) {
        return true;
    }
    parts.windows(2).any(|w| PAIRS.contains(&(w[0], w[1])))
}

/// Lower-case words joined by `_`: a break at every non-alphanumeric
/// character, before an upper-case letter that follows a lower-case letter
/// or digit, and before the last capital of an acronym that starts a word.
fn split_words(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            out.push('_');
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
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
    fn camel_case_and_punctuation_split_into_words() {
        assert_eq!(split_words("PatientName"), "patient_name");
        assert_eq!(split_words("IPAddress"), "ip_address");
        assert_eq!(split_words("SSN#"), "ssn_");
        assert_eq!(split_words("pt.name"), "pt_name");
        assert_eq!(split_words("clinic_name"), "clinic_name");
    }

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
            "PatientName",
            "FirstName",
            "PhoneNumber",
            "EmailAddress",
            "HomeAddress",
            "SSN#",
            "pt.name",
            "IPAddress",
            "ZIPCode",
            "dateOfBirth",
            "Surname",
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
            "ClinicName",
            "DaysSupply",
            "clinicID",
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
