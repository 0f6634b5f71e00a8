//! SOPS's encryption of one value (`aes/cipher.go`): the `ENC[AES256_GCM,data:…,iv:…,tag:…,
//! type:…]` text, AES-256-GCM with a 32-byte nonce and the value's key path as authenticated
//! data, the types a plaintext may have, and the bytes each value adds to the MAC
//! (`ToBytes` in `sops.go`). Never prints a plaintext, and never keeps one past the call that
//! hands it back.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::tree::Value;

/// SOPS's nonce size (`nonceSize` in `aes/cipher.go`); GCM's tag is 16 bytes.
const NONCE: usize = 32;
const TAG: usize = 16;

/// AES-256-GCM as SOPS runs it: 32-byte nonces.
type Cipher = AesGcm<Aes256, U32>;

/// The 32-byte data key every value of a file is encrypted with; wiped when dropped.
pub(super) type DataKey = Zeroizing<[u8; 32]>;

/// One encrypted value, as the file writes it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Enc {
    pub data: Vec<u8>,
    iv: [u8; NONCE],
    tag: [u8; TAG],
    /// `str`, `int`, `float`, `bool`, ... as SOPS names the plaintext's type.
    pub kind: String,
}

impl Enc {
    /// Reads `ENC[AES256_GCM,data:<base64>,iv:<base64>,tag:<base64>,type:<name>]`; `None` for
    /// any other text. The ciphertext is as long as the plaintext (GCM is a stream mode).
    pub fn parse(text: &str) -> Option<Enc> {
        let inner = text
            .strip_prefix("ENC[AES256_GCM,data:")?
            .strip_suffix(']')?;
        let (data, rest) = inner.split_once(",iv:")?;
        let (iv, rest) = rest.split_once(",tag:")?;
        let (tag, kind) = rest.split_once(",type:")?;
        if data.is_empty() || kind.is_empty() {
            return None;
        }
        Some(Enc {
            data: STANDARD.decode(data).ok()?,
            iv: STANDARD.decode(iv).ok()?.try_into().ok()?,
            tag: STANDARD.decode(tag).ok()?.try_into().ok()?,
            kind: kind.to_owned(),
        })
    }

    /// The plaintext, or `None` when AES-GCM's authentication fails: a changed ciphertext,
    /// nonce or tag, another key, or another key path.
    pub fn open(&self, key: &DataKey, aad: &str) -> Option<Zeroizing<Vec<u8>>> {
        let cipher = Cipher::new_from_slice(&key[..]).ok()?;
        let mut buffer = Zeroizing::new(self.data.clone());
        cipher
            .decrypt_in_place_detached(
                Nonce::<U32>::from_slice(&self.iv),
                aad.as_bytes(),
                &mut buffer,
                Tag::from_slice(&self.tag),
            )
            .ok()?;
        Some(buffer)
    }
}

/// A value's authenticated data: the keys of the maps above it, each followed by `:`
/// (`pathString` in `sops.go`); a list adds nothing, so every element of a list shares it.
pub(super) fn aad(path: &[&str]) -> String {
    path.iter().map(|key| format!("{key}:")).collect()
}

/// Why a plaintext is not a value of its `type`.
#[derive(Debug, PartialEq)]
pub(super) enum TypeError {
    /// A type SOPS does not write for a value.
    Unknown,
    /// The plaintext does not read as its type.
    Malformed,
}

/// A plaintext as the value its `type` says (`Decrypt` in `aes/cipher.go`). A `time` stays
/// the text SOPS encrypted (RFC 3339).
pub(super) fn typed(kind: &str, plaintext: &[u8]) -> Result<Value, TypeError> {
    let text = std::str::from_utf8(plaintext).map_err(|_| TypeError::Malformed);
    match kind {
        "str" | "time" => Ok(Value::Str(text?.to_owned())),
        "int" => text?
            .parse()
            .map(Value::Int)
            .map_err(|_| TypeError::Malformed),
        "float" => text?
            .parse()
            .map(Value::Float)
            .map_err(|_| TypeError::Malformed),
        // Go's `strconv.ParseBool`.
        "bool" => match text? {
            "1" | "t" | "T" | "true" | "True" | "TRUE" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "false" | "False" | "FALSE" => Ok(Value::Bool(false)),
            _ => Err(TypeError::Malformed),
        },
        _ => Err(TypeError::Unknown),
    }
}

/// The bytes a scalar adds to the MAC (`ToBytes` in `sops.go`): a string itself, an integer
/// in decimal, a float in Go's shortest decimal form, a boolean as `True` or `False`. Null,
/// maps and lists add nothing of their own.
pub(super) fn mac_bytes(value: &Value) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match value {
        Value::Str(text) => text.as_bytes().to_vec(),
        Value::Int(int) => int.to_string().into_bytes(),
        Value::Float(float) => go_float(*float).into_bytes(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Null | Value::Map(_) | Value::List(_) => Vec::new(),
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back the same,
/// never with an exponent; Rust's `Display` for `f64` writes the same digits.
fn go_float(float: f64) -> String {
    if float.is_nan() {
        "NaN".into()
    } else if float.is_infinite() {
        if float > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        float.to_string()
    }
}

/// The text of `lastmodified` as SOPS authenticates the MAC with it: parsed and written back
/// in Go's RFC 3339 layout (`DecryptTree` in `cmd/sops/common/common.go`), which drops
/// fractional seconds and writes a zero offset as `Z`. `None` for text that is not RFC 3339.
pub(super) fn mac_aad(lastmodified: &str) -> Option<String> {
    let bytes = lastmodified.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let layout = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    let shaped = digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
        && layout.iter().all(|(i, c)| bytes.get(*i) == Some(c));
    if !shaped {
        return None;
    }
    let mut rest = &lastmodified[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let zone = match rest {
        "Z" | "+00:00" | "-00:00" => "Z",
        offset => {
            let b = offset.as_bytes();
            let valid = b.len() == 6
                && matches!(b[0], b'+' | b'-')
                && b[3] == b':'
                && [1, 2, 4, 5].iter().all(|i| b[*i].is_ascii_digit());
            if !valid {
                return None;
            }
            offset
        }
    };
    Some(format!("{}{zone}", &lastmodified[..19]))
}

#[cfg(test)]
pub(super) mod tests {
    use aes_gcm::aead::AeadInPlace;

    use super::*;

    /// What SOPS's `Encrypt` writes for `plaintext` (a fixed nonce: tests only).
    pub(in crate::kinds::sops) fn seal(
        key: &DataKey,
        aad: &str,
        plaintext: &str,
        kind: &str,
    ) -> String {
        let cipher = Cipher::new_from_slice(&key[..]).expect("key");
        let iv = [7u8; NONCE];
        let mut data = plaintext.as_bytes().to_vec();
        let tag = cipher
            .encrypt_in_place_detached(Nonce::<U32>::from_slice(&iv), aad.as_bytes(), &mut data)
            .expect("seal");
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            STANDARD.encode(&data),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }

    #[test]
    fn enc_values_parse_strictly() {
        let key = Zeroizing::new([1u8; 32]);
        let text = seal(&key, "a:", "hunter2", "str");
        let enc = Enc::parse(&text).expect("ENC");
        assert_eq!(enc.kind, "str");
        assert_eq!(enc.data.len(), "hunter2".len(), "as long as the plaintext");
        assert_eq!(
            enc.open(&key, "a:").as_deref().map(Vec::as_slice),
            Some(&b"hunter2"[..])
        );
        for bad in [
            "hunter2",
            "ENC[AES256_GCM,data:,iv:AA==,tag:AA==,type:str]",
            &text.replace("AES256_GCM", "AES128_GCM"),
            &text.replace("type:str]", "type:]"),
            &text.replace(",tag:", ",tog:"),
            &text.replacen("data:", "data:!", 1),
            &text[..text.len() - 1],
        ] {
            assert_eq!(Enc::parse(bad), None, "{bad}");
        }
        let short_iv = format!(
            "ENC[AES256_GCM,data:AA==,iv:{},tag:{},type:str]",
            STANDARD.encode([0u8; 12]),
            STANDARD.encode([0u8; 16])
        );
        assert_eq!(Enc::parse(&short_iv), None, "SOPS's nonces are 32 bytes");
    }

    #[test]
    fn the_key_path_is_authenticated() {
        let key = Zeroizing::new([1u8; 32]);
        let enc = Enc::parse(&seal(&key, "items:db:", "x", "str")).expect("ENC");
        assert!(enc.open(&key, "items:db:").is_some());
        assert!(
            enc.open(&key, "items:other:").is_none(),
            "moved to another key"
        );
        assert!(enc.open(&Zeroizing::new([2u8; 32]), "items:db:").is_none());
        assert_eq!(aad(&["items", "db"]), "items:db:");
        assert_eq!(aad(&["a"]), "a:");
    }

    #[test]
    fn types_and_mac_bytes_follow_sops() {
        assert_eq!(typed("str", b"x"), Ok(Value::Str("x".into())));
        assert_eq!(typed("int", b"-42"), Ok(Value::Int(-42)));
        assert_eq!(typed("float", b"1.5"), Ok(Value::Float(1.5)));
        assert_eq!(typed("bool", b"True"), Ok(Value::Bool(true)));
        assert_eq!(typed("int", b"x"), Err(TypeError::Malformed));
        assert_eq!(typed("secret", b"x"), Err(TypeError::Unknown));
        assert_eq!(typed("comment", b"x"), Err(TypeError::Unknown));
        let bytes = |v: Value| String::from_utf8(mac_bytes(&v).to_vec()).expect("utf-8");
        assert_eq!(bytes(Value::Bool(false)), "False");
        assert_eq!(bytes(Value::Int(8080)), "8080");
        assert_eq!(bytes(Value::Float(1.0)), "1");
        assert_eq!(bytes(Value::Float(1e21)), "1000000000000000000000");
        assert_eq!(bytes(Value::Float(1e-7)), "0.0000001");
        assert_eq!(bytes(Value::Float(0.1)), "0.1");
        assert_eq!(bytes(Value::Float(f64::NEG_INFINITY)), "-Inf");
        assert_eq!(bytes(Value::Null), "");
    }

    #[test]
    fn lastmodified_as_go_writes_it_back() {
        assert_eq!(
            mac_aad("2024-05-01T10:20:30Z").as_deref(),
            Some("2024-05-01T10:20:30Z")
        );
        assert_eq!(
            mac_aad("2024-05-01T10:20:30.123456Z").as_deref(),
            Some("2024-05-01T10:20:30Z")
        );
        assert_eq!(
            mac_aad("2024-05-01T10:20:30+00:00").as_deref(),
            Some("2024-05-01T10:20:30Z")
        );
        assert_eq!(
            mac_aad("2024-05-01T10:20:30+02:00").as_deref(),
            Some("2024-05-01T10:20:30+02:00")
        );
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01 10:20:30Z",
            "2024-05-01T10:20:30",
            "2024-05-01T10:20:30.Z",
        ] {
            assert_eq!(mac_aad(bad), None, "{bad}");
        }
    }
}
