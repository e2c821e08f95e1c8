export type NormalizedHost = { ok: true; host: string } | { ok: false };

const BAD: NormalizedHost = Object.freeze({ ok: false });
const MAX_HOST = 253;
// Longest input worth looking at: a full host name, one trailing dot and `:65535`.
const MAX_RAW = MAX_HOST + 1 + 6;

const DOT = 0x2e;
const MAX_PORT = 65_535;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHostChar = (c: number) =>
  isDigit(c) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d; // 0-9 a-z A-Z -

/**
 * Turns a `Host` header into the name tenants are matched on: lowercase, no `:port`, no trailing dot.
 * The port, if any, must be a number in 1-65535; which one is not checked (behind a proxy it
 * need not be ours).
 * A single pass over the characters, so hostile headers cost at most MAX_RAW steps.
 * Only ASCII is accepted *before* lowercasing: `toLowerCase()` maps some non-ASCII
 * characters (the Kelvin sign) onto ASCII letters, which would let a lookalike host match.
 */
export function normalizeHost(raw: string | undefined | null): NormalizedHost {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_RAW) return BAD;

  let end = raw.length;
  const colon = raw.lastIndexOf(':');
  if (colon !== -1) {
    const portLength = raw.length - colon - 1;
    if (portLength < 1 || portLength > 5) return BAD;
    let port = 0;
    for (let i = colon + 1; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (!isDigit(c)) return BAD;
      port = port * 10 + (c - 0x30);
    }
    // A TCP port: 0 is no port to connect to, 65536 and up do not exist. Leading zeros are
    // accepted (`:04000` is port 4000): the value, not its spelling, is what RFC 3986 defines.
    if (port < 1 || port > MAX_PORT) return BAD;
    end = colon;
  }
  if (end > 0 && raw.charCodeAt(end - 1) === DOT) end--;
  if (end === 0 || end > MAX_HOST) return BAD;

  let labelStart = true;
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === DOT) {
      if (labelStart) return BAD; // leading dot or `a..b`
      labelStart = true;
    } else if (isHostChar(c)) {
      labelStart = false;
    } else {
      return BAD; // includes a second colon, so IPv6 literals never get here
    }
  }
  // Still at a label start: the name ended with a dot after the one we removed.
  if (labelStart) return BAD;
  return { ok: true, host: raw.slice(0, end).toLowerCase() };
}
