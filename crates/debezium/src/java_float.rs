//! `Float.toString` exactly as the JDK 17 runtime that runs Debezium 3.6 spells a `float`.
//!
//! Why: before JDK 19, Java did not print the shortest digits that round-trip. Its generator uses a
//! symmetric half-ULP stopping test (halved again at powers of two), forces a second digit in the
//! `E` form and rounds the last digit from the remainder, so `Float.MIN_VALUE` prints `1.4E-45` and
//! `Float.MIN_NORMAL` prints `1.17549435E-38` where a shortest printer says `1e-45` and `1.1754944e-38`.
//! Read back as JSON doubles those are different numbers, so a consumer would see other values than
//! Debezium writes. This module reimplements that digit generation (same integer widths and
//! overflow behaviour in its 32- and 64-bit fast paths) from its documented behaviour.
//!
//! Invariant: finite, non-zero input only; the caller handles zero, NaN and infinities.

/// Bit length of 5^i for small i (the JDK's size estimate for its fast paths).
fn n5_bits(i: i32) -> i32 {
    const T: [i32; 27] = [
        0, 3, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33, 35, 38, 40, 42, 45, 47, 49, 52, 54, 56, 59,
        61,
    ];
    if (i as usize) < T.len() {
        T[i as usize]
    } else {
        i * 3
    }
}

/// Decimal digits that carry no information for an integer with `p2` bits beyond its precision.
fn insignificant_for_pow2(p2: i32) -> i32 {
    const T: [i32; 64] = [
        0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 9,
        10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 17, 17,
        17, 18, 18, 18, 19,
    ];
    if p2 > 1 && (p2 as usize) < T.len() {
        T[p2 as usize]
    } else {
        0
    }
}

/// Little unsigned big integer (base 2^32), just what digit generation needs.
#[derive(Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }
    fn trim(&mut self) {
        while self.0.len() > 1 && self.0.last() == Some(&0) {
            self.0.pop();
        }
    }
    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for d in self.0.iter_mut() {
            let v = *d as u64 * m as u64 + carry;
            *d = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }
    fn mul_pow5(&mut self, n: i32) {
        for _ in 0..n {
            self.mul_small(5);
        }
    }
    fn shl(&mut self, n: i32) {
        for _ in 0..n {
            self.mul_small(2);
        }
    }
    fn pow52(p5: i32, p2: i32) -> Big {
        let mut b = Big::from_u64(1);
        b.mul_pow5(p5);
        b.shl(p2);
        b
    }
    fn cmp(&self, o: &Big) -> std::cmp::Ordering {
        let (a, b) = (&self.0, &o.0);
        a.len().cmp(&b.len()).then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }
    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let v = *self.0.get(i).unwrap_or(&0) as u64 + *o.0.get(i).unwrap_or(&0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        Big(out)
    }
    fn sub_assign(&mut self, o: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = self.0[i] as i64 - *o.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            self.0[i] = v as u32;
        }
        self.trim();
    }
    /// q = self / s (a single decimal digit), self = (self % s) * 10.
    fn quo_rem_10(&mut self, s: &Big) -> u32 {
        let mut q = 0;
        while self.cmp(s) != std::cmp::Ordering::Less {
            self.sub_assign(s);
            q += 1;
        }
        self.mul_small(10);
        q
    }
}

/// Java's decimal-exponent estimate (floor of an approximation of log10).
// The JDK's own truncated constants, not LOG10_2: the estimate must round exactly as Java's does.
#[allow(clippy::approx_constant)]
fn estimate_dec_exp(fract_bits: u64, bin_exp: i32) -> i32 {
    let d2 = f64::from_bits((1023u64 << 52) | (fract_bits & ((1u64 << 52) - 1)));
    let d = (d2 - 1.5) * 0.289529654 + 0.176091259 + bin_exp as f64 * 0.301029995663981;
    d.floor() as i32
}

/// Digits and decimal exponent (value = 0.d1d2... × 10^exp) as Java generates them.
fn dtoa(bin_exp: i32, mut fract_bits: u64, n_sig_bits: i32) -> (Vec<u8>, i32) {
    const EXP_SHIFT: i32 = 52;
    let tail_zeros = fract_bits.trailing_zeros() as i32;
    let n_fract_bits = EXP_SHIFT + 1 - tail_zeros;
    let n_tiny_bits = (n_fract_bits - bin_exp - 1).max(0);
    if (-21..=62).contains(&bin_exp) && n_tiny_bits == 0 && n_fract_bits < 64 {
        // An integer: its digits, with the ones below the precision rounded away.
        let insignificant =
            if bin_exp > n_sig_bits { insignificant_for_pow2(bin_exp - n_sig_bits - 1) } else { 0 };
        let mut l = if bin_exp >= EXP_SHIFT {
            fract_bits << (bin_exp - EXP_SHIFT)
        } else {
            fract_bits >> (EXP_SHIFT - bin_exp)
        };
        if insignificant != 0 {
            let p = 10u64.pow(insignificant as u32);
            let r = l % p;
            l /= p;
            if r >= p / 2 {
                l += 1;
            }
        }
        let s = l.to_string();
        let exp = s.len() as i32 + insignificant;
        let digits = s.trim_end_matches('0').bytes().map(|c| c - b'0').collect();
        return (digits, exp);
    }
    let mut dec_exp = estimate_dec_exp(fract_bits, bin_exp);
    let b5 = (-dec_exp).max(0);
    let mut b2 = b5 + n_tiny_bits + bin_exp;
    let s5 = dec_exp.max(0);
    let mut s2 = s5 + n_tiny_bits;
    let m5 = b5;
    let mut m2 = b2 - n_sig_bits;
    fract_bits >>= tail_zeros;
    b2 -= n_fract_bits - 1;
    let common = b2.min(s2);
    b2 -= common;
    s2 -= common;
    m2 -= common;
    if n_fract_bits == 1 {
        m2 -= 1;
    }
    if m2 < 0 {
        b2 -= m2;
        s2 -= m2;
        m2 = 0;
    }
    let b_bits = n_fract_bits + b2 + n5_bits(b5);
    let ten_s_bits = s2 + 1 + n5_bits(s5 + 1);
    let e_form = |d: i32| !(-3..8).contains(&d);
    let mut digits = Vec::with_capacity(20);
    let (low, high, low_diff);
    if b_bits < 64 && ten_s_bits < 64 {
        // Fast paths in fixed-width integers, wrapping exactly where the JDK's ints and longs do.
        macro_rules! fixed {
            ($t:ty) => {{
                let pow5 = |n: i32| (5 as $t).wrapping_pow(n as u32);
                let mut b: $t = (fract_bits as $t).wrapping_mul(pow5(b5)).wrapping_shl(b2 as u32);
                let s: $t = pow5(s5).wrapping_shl(s2 as u32);
                let mut m: $t = pow5(m5).wrapping_shl(m2 as u32);
                let tens: $t = s.wrapping_mul(10);
                let q = b / s;
                b = (b % s).wrapping_mul(10);
                m = m.wrapping_mul(10);
                let mut lo = b < m;
                let mut hi = b.wrapping_add(m) > tens;
                if q == 0 && !hi {
                    dec_exp -= 1;
                } else {
                    digits.push(q as u8);
                }
                if e_form(dec_exp) {
                    lo = false;
                    hi = false;
                }
                while !lo && !hi {
                    let q = b / s;
                    b = (b % s).wrapping_mul(10);
                    m = m.wrapping_mul(10);
                    if m > 0 {
                        lo = b < m;
                        hi = b.wrapping_add(m) > tens;
                    } else {
                        lo = true;
                        hi = true;
                    }
                    digits.push(q as u8);
                }
                (lo, hi, (b.wrapping_shl(1).wrapping_sub(tens)) as i64)
            }};
        }
        (low, high, low_diff) = if b_bits < 32 && ten_s_bits < 32 { fixed!(i32) } else { fixed!(i64) };
    } else {
        let s = Big::pow52(s5, s2);
        let mut b = Big::from_u64(fract_bits);
        b.mul_pow5(b5);
        b.shl(b2);
        let mut m = Big::pow52(m5 + 1, m2 + 1);
        let ten_s = Big::pow52(s5 + 1, s2 + 1);
        let q = b.quo_rem_10(&s);
        let mut lo = b.cmp(&m).is_lt();
        let mut hi = ten_s.cmp(&b.add(&m)).is_le();
        if q == 0 && !hi {
            dec_exp -= 1;
        } else {
            digits.push(q as u8);
        }
        if e_form(dec_exp) {
            lo = false;
            hi = false;
        }
        while !lo && !hi {
            let q = b.quo_rem_10(&s);
            m.mul_small(10);
            lo = b.cmp(&m).is_lt();
            hi = ten_s.cmp(&b.add(&m)).is_le();
            digits.push(q as u8);
        }
        let diff = if hi && lo {
            let mut b2x = b.clone();
            b2x.mul_small(2);
            b2x.cmp(&ten_s) as i64
        } else {
            0
        };
        (low, high, low_diff) = (lo, hi, diff);
    }
    let mut exp = dec_exp + 1;
    let round_up =
        high && (!low || low_diff > 0 || (low_diff == 0 && digits.last().is_some_and(|d| d & 1 == 1)));
    if round_up {
        let mut i = digits.len() - 1;
        while digits[i] == 9 && i > 0 {
            digits[i] = 0;
            i -= 1;
        }
        if digits[i] == 9 {
            // Carry out of the first digit: a 1, the zeros stay, one more decade.
            digits[0] = 1;
            exp += 1;
        } else {
            digits[i] += 1;
        }
    }
    (digits, exp)
}

/// Lay out digits as `Float.toString`/`Double.toString` do.
fn layout(neg: bool, digits: &[u8], exp: i32) -> String {
    let d = |s: &[u8]| s.iter().map(|c| (b'0' + c) as char).collect::<String>();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp > 0 && exp < 8 {
        let n = (exp as usize).min(digits.len());
        out.push_str(&d(&digits[..n]));
        if n < exp as usize {
            out.extend(std::iter::repeat_n('0', exp as usize - n));
            out.push_str(".0");
        } else {
            out.push('.');
            if n < digits.len() {
                out.push_str(&d(&digits[n..]));
            } else {
                out.push('0');
            }
        }
    } else if exp <= 0 && exp > -3 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp) as usize));
        out.push_str(&d(digits));
    } else {
        out.push_str(&d(&digits[..1]));
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&d(&digits[1..]));
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(&(exp - 1).to_string());
    }
    out
}

/// `Float.toString(v)` of JDK 17 for a finite, non-zero float.
pub fn float_to_string(v: f32) -> String {
    let bits = v.to_bits();
    let neg = bits >> 31 == 1;
    let mut fract = bits & 0x7f_ffff;
    let mut bin_exp = ((bits >> 23) & 0xff) as i32;
    let n_sig;
    if bin_exp == 0 {
        let lz = fract.leading_zeros() as i32;
        let shift = lz - (31 - 23);
        fract <<= shift;
        bin_exp = 1 - shift;
        n_sig = 32 - lz;
    } else {
        fract |= 1 << 23;
        n_sig = 24;
    }
    bin_exp -= 127;
    let (digits, exp) = dtoa(bin_exp, (fract as u64) << (52 - 23), n_sig);
    layout(neg, &digits, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float4_subnormal_spelled_as_java() {
        // Values read from the real connector's output (golden/fixtures/edge_default.jsonl) and the
        // JDK's documented constants.
        assert_eq!(float_to_string(f32::from_bits(1)), "1.4E-45");
        assert_eq!(float_to_string(1e-40), "1.0E-40");
        assert_eq!(float_to_string(f32::MIN_POSITIVE), "1.17549435E-38");
        assert_eq!(float_to_string(f32::MAX), "3.4028235E38");
        assert_eq!(float_to_string(-f32::MAX), "-3.4028235E38");
        assert_eq!(float_to_string(-f32::from_bits(1)), "-1.4E-45");
    }

    #[test]
    fn float4_ordinary_values_spelled_as_java() {
        for (v, s) in [
            (3.3f32, "3.3"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (1e-5, "1.0E-5"),
            (12345678.0, "1.2345678E7"),
            (1e-7, "1.0E-7"),
            (0.001, "0.001"),
            (1e7, "1.0E7"),
            (1e-4, "1.0E-4"),
            (1.5, "1.5"),
            (1234567.0, "1234567.0"),
            (-2.25, "-2.25"),
        ] {
            assert_eq!(float_to_string(v), s, "{v:e}");
        }
    }
}
