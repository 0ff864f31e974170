//! crypt(3) password hashes as passlib writes them: `$6$` (sha512_crypt), `$5$` (sha256_crypt),
//! `$1$` (md5_crypt).

const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(ALPHABET[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

fn sha512(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha512::digest(data).to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

fn md5(data: &[u8]) -> Vec<u8> {
    use md5::Digest;
    md5::Md5::digest(data).to_vec()
}

fn repeat_to(src: &[u8], len: usize) -> Vec<u8> {
    src.iter().copied().cycle().take(len).collect()
}

fn sha_crypt_raw(
    h: fn(&[u8]) -> Vec<u8>,
    hlen: usize,
    pw: &[u8],
    salt: &[u8],
    rounds: u32,
) -> Vec<u8> {
    let b = h(&[pw, salt, pw].concat());
    let mut a = [pw, salt].concat();
    let mut n = pw.len();
    while n > hlen {
        a.extend_from_slice(&b);
        n -= hlen;
    }
    a.extend_from_slice(&b[..n]);
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            a.extend_from_slice(&b);
        } else {
            a.extend_from_slice(pw);
        }
        n >>= 1;
    }
    let a = h(&a);
    let dp = h(&pw.repeat(pw.len()));
    let p = repeat_to(&dp, pw.len());
    let ds = h(&salt.repeat(16 + a[0] as usize));
    let s = repeat_to(&ds, salt.len());
    let mut c = a;
    for i in 0..rounds {
        let mut buf = Vec::with_capacity(hlen * 2 + p.len() * 2 + s.len());
        if i % 2 == 1 {
            buf.extend_from_slice(&p);
        } else {
            buf.extend_from_slice(&c);
        }
        if i % 3 != 0 {
            buf.extend_from_slice(&s);
        }
        if i % 7 != 0 {
            buf.extend_from_slice(&p);
        }
        if i % 2 == 1 {
            buf.extend_from_slice(&c);
        } else {
            buf.extend_from_slice(&p);
        }
        c = h(&buf);
    }
    c
}

/// `$6$rounds=N$salt$hash` (passlib writes `rounds=` unless it is the implicit 5000).
pub fn sha512_crypt(pw: &str, salt: &str, rounds: u32) -> String {
    let salt: String = salt.chars().take(16).collect();
    let c = sha_crypt_raw(sha512, 64, pw.as_bytes(), salt.as_bytes(), rounds);
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = String::new();
    for (x, y, z) in ORDER {
        b64_24(&mut out, c[x], c[y], c[z], 4);
    }
    b64_24(&mut out, 0, 0, c[63], 2);
    format!("$6${}{salt}${out}", rounds_part(rounds))
}

/// `$5$rounds=N$salt$hash`.
pub fn sha256_crypt(pw: &str, salt: &str, rounds: u32) -> String {
    let salt: String = salt.chars().take(16).collect();
    let c = sha_crypt_raw(sha256, 32, pw.as_bytes(), salt.as_bytes(), rounds);
    const ORDER: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = String::new();
    for (x, y, z) in ORDER {
        b64_24(&mut out, c[x], c[y], c[z], 4);
    }
    b64_24(&mut out, 0, c[31], c[30], 3);
    format!("$5${}{salt}${out}", rounds_part(rounds))
}

fn rounds_part(rounds: u32) -> String {
    if rounds == 5000 {
        String::new()
    } else {
        format!("rounds={rounds}$")
    }
}

/// `$1$salt$hash`.
pub fn md5_crypt(pw: &str, salt: &str) -> String {
    let salt: String = salt.chars().take(8).collect();
    let (pw, sb) = (pw.as_bytes(), salt.as_bytes());
    let fin = md5(&[pw, sb, pw].concat());
    let mut ctx = [pw, b"$1$", sb].concat();
    let mut pl = pw.len() as isize;
    while pl > 0 {
        ctx.extend_from_slice(&fin[..pl.min(16) as usize]);
        pl -= 16;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.push(0);
        } else {
            ctx.push(pw.first().copied().unwrap_or(0));
        }
        i >>= 1;
    }
    let mut fin = md5(&ctx);
    for i in 0..1000 {
        let mut c = Vec::new();
        if i & 1 == 1 {
            c.extend_from_slice(pw);
        } else {
            c.extend_from_slice(&fin);
        }
        if i % 3 != 0 {
            c.extend_from_slice(sb);
        }
        if i % 7 != 0 {
            c.extend_from_slice(pw);
        }
        if i & 1 == 1 {
            c.extend_from_slice(&fin);
        } else {
            c.extend_from_slice(pw);
        }
        fin = md5(&c);
    }
    let mut out = String::new();
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        b64_24(&mut out, fin[x], fin[y], fin[z], 4);
    }
    b64_24(&mut out, 0, 0, fin[11], 2);
    format!("$1${salt}${out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // values from passlib (sha256_crypt/sha512_crypt.using(salt=..., rounds=5000))
        assert_eq!(
            sha512_crypt("Hello world!", "saltstring", 5000),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            sha256_crypt("Hello world!", "saltstring", 5000),
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        );
        // passlib: md5_crypt.using(salt='saltsalt').hash('password')
        assert_eq!(
            md5_crypt("password", "saltsalt"),
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"
        );
    }
}
