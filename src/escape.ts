/**
 * Escaping for the places a template puts values: inside a JavaScript string literal
 * (`escapejs`), as JSON inside a `<script>` element (`jsonForScript`) and inside a
 * double-quoted HTML attribute (`escapeAttribute`). Engine-free: every adapter uses these.
 */

/**
 * Django's `_js_escapes` table (these characters and every one below U+0020), plus `$`,
 * so that `${` cannot open a substitution inside a template literal.
 */
const JS_ESCAPED = /[\\'"><&=\-;`$\u2028\u2029\u0000-\u001f]/g;

/** Django's `json_script` escapes plus the two line separators older parsers choke on. */
const SCRIPT_JSON_ESCAPED = /[<>&\u2028\u2029]/g;

const ATTRIBUTE_ESCAPED = /[&<>"']/g;
const ATTRIBUTE_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function unicodeEscape(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Escape a value for use inside a JavaScript string literal, with Django's `escapejs`
 * semantics plus one character: each of `\ ' " > < & = - ;`, the backtick, U+2028,
 * U+2029 and every character below U+0020 becomes `\uXXXX` (upper-case hex), as in
 * Django, and so does `$` (`\u0024`), which Django keeps: a template literal would run
 * `${...}`. The result reads back as the original text inside a single-quoted,
 * double-quoted or backtick literal alike; everything else, emoji included, is kept. It
 * holds no HTML-special character, so it is also safe in HTML text and attributes; it
 * does not add the quotes around the literal.
 *
 * @param value a string; other values are converted with `String()`, `null` and `undefined` give `''`
 * @returns the escaped text
 * @example escapejs('</script>') // '\\u003C/script\\u003E'
 */
export function escapejs(value: unknown): string {
  if (value === undefined || value === null) return '';
  return String(value).replace(JS_ESCAPED, unicodeEscape);
}

/**
 * Serialise a value as JSON that is safe inside an inline `<script>` element, executable
 * or `type="application/json"`: `<`, `>` and `&` become `\u003C`, `\u003E`, `\u0026`
 * (as Django's `json_script`), so the text can neither close the element (`</script>`)
 * nor open a comment (`<!--`), and U+2028/U+2029 are escaped too. `JSON.parse` and a
 * JavaScript parser both read back the original value.
 *
 * @param value anything `JSON.stringify` accepts
 * @returns the JSON text
 * @throws TypeError when `value` has no JSON form (`undefined`, a function, a symbol)
 * @example jsonForScript({ a: '</script>' }) // '{"a":"\\u003C/script\\u003E"}'
 */
export function jsonForScript(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`jsonForScript: ${typeof value} has no JSON form`);
  }
  return json.replace(SCRIPT_JSON_ESCAPED, unicodeEscape);
}

/**
 * Escape text for a double- or single-quoted HTML attribute value (or HTML text).
 *
 * @param value the attribute value
 * @returns the value with `& < > " '` as character references
 * @example escapeAttribute('a"b') // 'a&quot;b'
 */
export function escapeAttribute(value: string): string {
  return value.replace(ATTRIBUTE_ESCAPED, (character) => ATTRIBUTE_ENTITIES[character]);
}
