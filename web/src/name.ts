/**
 * The one name rule, as the server applies it (server/swell/collab/names.py): every display name
 * this app sends (awareness `user.name`, the viewer stream's `?name=`, the X-Swell-User header)
 * goes through `cleanName` first, so that what others see is what this browser shows.
 *
 * NFC, no control or format characters (Unicode category C), no lone surrogates, whitespace
 * collapsed to single spaces, at most `MAX_NAME` characters (code points), `FALLBACK_NAME` when
 * nothing is left. Colors are `#rrggbb`, lower case.
 */

export const MAX_NAME = 100;
export const FALLBACK_NAME = "Anonymous";

/** The characters Python's `str.isspace()` accepts (the server splits on these). */
const PY_SPACE = /^[\t\n\v\f\r\x1c-\x1f\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const SPACE_SEPARATOR = /^\p{Zs}$/u;
/** Cc control, Cf format, Cs surrogate, Co private use, Cn unassigned. */
const OTHER = /^\p{C}$/u;
const COLOR = /^#[0-9a-fA-F]{6}$/;

export function cleanName(raw: unknown, fallback: string = FALLBACK_NAME): string {
  if (typeof raw !== "string") return fallback;
  // iterating a string yields code points; a lone surrogate comes out as one code unit
  let text = "";
  for (const ch of raw) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch.length === 1 && code >= 0xd800 && code <= 0xdfff) continue;
    text += ch;
  }
  text = text.normalize("NFC");
  let kept = "";
  for (const ch of text) {
    if (PY_SPACE.test(ch) || SPACE_SEPARATOR.test(ch)) kept += " ";
    else if (!OTHER.test(ch)) kept += ch;
  }
  const collapsed = kept.split(" ").filter(Boolean).join(" ");
  const name = Array.from(collapsed).slice(0, MAX_NAME).join("").trimEnd();
  return name || fallback;
}

/** `#rrggbb` in lower case, or null for anything else. */
export function cleanColor(raw: unknown): string | null {
  return typeof raw === "string" && COLOR.test(raw) ? raw.toLowerCase() : null;
}
