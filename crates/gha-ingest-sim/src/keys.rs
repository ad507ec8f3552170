//! RSA key pairs for GitHub App tests and benchmarks: the private half signs the App's JWTs
//! (the client's job), the public half is registered with `SimHandle::add_app`.
//!
//! Generated with aws-lc-rs, the build's one crypto backend. The private key comes as PKCS#8
//! (`-----BEGIN PRIVATE KEY-----`), but **GitHub hands out PKCS#1 files**
//! (`-----BEGIN RSA PRIVATE KEY-----`): a client must accept both, and
//! `AppKeyPair::private_pem_pkcs1` gives the same key in GitHub's form to test that.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;

/// An RSA-2048 key pair in PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct AppKeyPair {
    /// PKCS#8 `PRIVATE KEY` PEM: what a client signs its JWTs with.
    pub private_pem: String,
    /// SPKI `PUBLIC KEY` PEM: what `SimHandle::add_app` takes.
    pub public_pem: String,
}

impl fmt::Debug for AppKeyPair {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AppKeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl AppKeyPair {
    /// A fresh RSA-2048 key pair (tens of milliseconds).
    ///
    /// # Panics
    /// If the crypto library cannot generate a key, which only a broken build does.
    pub fn generate() -> Self {
        let key_pair = KeyPair::generate(KeySize::Rsa2048).expect("aws-lc-rs generates RSA keys");
        let private_der: Pkcs8V1Der<'static> = key_pair
            .as_der()
            .expect("an RSA key pair encodes as PKCS#8");
        let public_der: PublicKeyX509Der<'static> = key_pair
            .public_key()
            .as_der()
            .expect("an RSA public key encodes as SPKI");
        Self {
            private_pem: to_pem("PRIVATE KEY", private_der.as_ref()),
            public_pem: to_pem("PUBLIC KEY", public_der.as_ref()),
        }
    }

    /// The private key as PKCS#1 `RSA PRIVATE KEY` PEM, the form of the `.pem` file GitHub lets
    /// an App owner download.
    ///
    /// # Panics
    /// If `private_pem` is not the PKCS#8 RSA key `generate` made.
    pub fn private_pem_pkcs1(&self) -> String {
        let pkcs8 = pem::parse(&self.private_pem).expect("private_pem is PEM");
        let pkcs1 = pkcs1_of_pkcs8(pkcs8.contents()).expect("private_pem is a PKCS#8 RSA key");
        to_pem("RSA PRIVATE KEY", pkcs1)
    }

    /// The public key as PKCS#1 `RSA PUBLIC KEY` PEM, the other form `SimHandle::add_app`
    /// takes.
    ///
    /// # Panics
    /// If `public_pem` is not the SPKI RSA key `generate` made.
    pub fn public_pem_pkcs1(&self) -> String {
        let spki = pem::parse(&self.public_pem).expect("public_pem is PEM");
        let pkcs1 = pkcs1_of_spki(spki.contents()).expect("public_pem is an SPKI RSA key");
        to_pem("RSA PUBLIC KEY", pkcs1)
    }
}

fn to_pem(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

/// One DER element: `(tag, contents, rest)`.
fn der_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first_length_byte, rest) = rest.split_first()?;
    let (length, rest) = if first_length_byte < 0x80 {
        (usize::from(first_length_byte), rest)
    } else {
        let length_bytes = usize::from(first_length_byte & 0x7f);
        if length_bytes == 0 || length_bytes > 4 || rest.len() < length_bytes {
            return None;
        }
        let (length_field, rest) = rest.split_at(length_bytes);
        let length = length_field
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

/// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey
/// OCTET STRING, … }`: for RSA the octet string is the PKCS#1 `RSAPrivateKey`.
fn pkcs1_of_pkcs8(pkcs8: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (SEQUENCE, info, _) = der_element(pkcs8)? else {
        return None;
    };
    let (INTEGER, _, rest) = der_element(info)? else {
        return None;
    };
    let (SEQUENCE, _, rest) = der_element(rest)? else {
        return None;
    };
    let (OCTET_STRING, private_key, _) = der_element(rest)? else {
        return None;
    };
    Some(private_key)
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE, subjectPublicKey BIT STRING }`:
/// for RSA the bit string (after its unused-bits byte, 0) is the PKCS#1 `RSAPublicKey`.
fn pkcs1_of_spki(spki: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const BIT_STRING: u8 = 0x03;
    let (SEQUENCE, info, _) = der_element(spki)? else {
        return None;
    };
    let (SEQUENCE, _, rest) = der_element(info)? else {
        return None;
    };
    let (BIT_STRING, bits, _) = der_element(rest)? else {
        return None;
    };
    match bits.split_first() {
        Some((0, public_key)) => Some(public_key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_pem_in_both_private_forms() {
        let pair = AppKeyPair::generate();
        assert!(pair.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let pkcs1 = pair.private_pem_pkcs1();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let parsed = pem::parse(&pkcs1).expect("pem");
        // RSAPrivateKey ::= SEQUENCE { version 0, modulus, … }
        let (tag, contents, rest) = der_element(parsed.contents()).expect("der");
        assert_eq!((tag, rest.len()), (0x30, 0));
        assert_eq!(
            der_element(contents).map(|(tag, value, _)| (tag, value)),
            Some((0x02, &[0u8][..]))
        );
        let public = pair.public_pem_pkcs1();
        assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let parsed = pem::parse(&public).expect("pem");
        assert_eq!(
            der_element(parsed.contents()).map(|(tag, _, rest)| (tag, rest.len())),
            Some((0x30, 0))
        );
    }

    #[test]
    fn long_der_lengths_are_read() {
        let mut bytes = vec![0x04, 0x82, 0x01, 0x00];
        bytes.extend(std::iter::repeat_n(7u8, 256));
        let (tag, contents, rest) = der_element(&bytes).expect("der");
        assert_eq!((tag, contents.len(), rest.len()), (0x04, 256, 0));
        assert_eq!(der_element(&[0x04, 0x05, 1]), None);
    }
}
