import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { escapeAttribute, escapejs, jsonForScript } from '../src/escape.js';

// Expected strings written from Django's documented rules (django/utils/html.py
// `_js_escapes`: \ ' " > < & = - ; ` U+2028 U+2029 and every char below U+0020 become
// \uXXXX with upper-case hex) and the cases of Django's own escapejs filter tests.
const DJANGO_TABLE: Array<[string, string]> = [
  [
    'testing\r\njavascript \'string" <b>escaping</b>',
    String.raw`testing\u000D\u000Ajavascript \u0027string\u0022 \u003Cb\u003Eescaping\u003C/b\u003E`,
  ],
  ['\\ : backslashes, too', String.raw`\u005C : backslashes, too`],
  [
    'and lots of whitespace: \r\n\t\v\f\b',
    String.raw`and lots of whitespace: \u000D\u000A\u0009\u000B\u000C\u0008`,
  ],
  ['<script>and this</script>', String.raw`\u003Cscript\u003Eand this\u003C/script\u003E`],
  [
    'paragraph separator:\u2029and line separator:\u2028',
    String.raw`paragraph separator:\u2029and line separator:\u2028`,
  ],
  ['`', String.raw`\u0060`],
  ['a=b; c-d & e', String.raw`a\u003Db\u003B c\u002Dd \u0026 e`],
  ['<!--', String.raw`\u003C!\u002D\u002D`],
  ['\u0000\u0001\u001f\u0020', String.raw`\u0000\u0001\u001F `],
  // Kept as is: printable ASCII outside the table, DEL, Latin-1, astral characters.
  // (`$` is kept by Django too, and escaped here: see the template literal test.)
  ['/?:@!()*+,.~_#%[]{}|^', '/?:@!()*+,.~_#%[]{}|^'],
  ['\u007f é ñ ü', '\u007f é ñ ü'],
  ['😀 emoji', '😀 emoji'],
  ['%2F', '%2F'],
  ['', ''],
];

describe('escapejs', () => {
  for (const [input, expected] of DJANGO_TABLE) {
    test(`Django output for ${JSON.stringify(input)}`, () => {
      assert.equal(escapejs(input), expected);
    });
  }

  test('every character below U+0020 becomes \\u00XX with upper-case hex', () => {
    for (let code = 0; code < 0x20; code++) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      assert.equal(escapejs(String.fromCharCode(code)), `\\u${hex}`);
    }
  });

  test('converts non-strings like Django str(); null and undefined give the empty string', () => {
    assert.equal(escapejs(42), '42');
    assert.equal(escapejs(true), 'true');
    assert.equal(escapejs(null), '');
    assert.equal(escapejs(undefined), '');
    assert.equal(escapejs({ toString: () => '<a>' }), String.raw`\u003Ca\u003E`);
  });

  test('output evaluates back to the input inside either kind of JS string literal', () => {
    const input = '</script><script>alert(1)</script> "\'`;=- <!-- \u2028 😀 \\';
    assert.equal(new Function(`return '${escapejs(input)}';`)(), input);
    assert.equal(new Function(`return "${escapejs(input)}";`)(), input);
    assert.equal(new Function(`return \`${escapejs(input)}\`;`)(), input);
  });

  test('escapes $ (unlike Django): a substitution in a template literal stays text, runs nothing', () => {
    assert.equal(escapejs('$'), String.raw`\u0024`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the text a template literal would run
    const input = "${globalThis.ran = 1}${`${1}`}$${''}$";
    const sandbox: { ran?: number } = {};
    const read = (quote: string) =>
      runInNewContext(`${quote}${escapejs(input)}${quote}`, sandbox, { timeout: 1000 });
    assert.equal(read('`'), input);
    assert.equal(read("'"), input);
    assert.equal(read('"'), input);
    assert.equal(sandbox.ran, undefined, 'no substitution ran');
  });
});

describe('jsonForScript', () => {
  test('escapes < > & and the line separators with Django json_script casing', () => {
    assert.equal(
      jsonForScript({ '</script>': '<!-- a&b \u2028\u2029 😀' }),
      String.raw`{"\u003C/script\u003E":"\u003C!-- a\u0026b \u2028\u2029 😀"}`,
    );
  });

  test('JSON.parse and a JavaScript parser read the value back', () => {
    const value = {
      a: '</script><script>alert(1)</script>',
      b: ['"\'`;=-', '<!--', '\u2028'],
      c: 1,
    };
    assert.deepEqual(JSON.parse(jsonForScript(value)), value);
    assert.deepEqual(new Function(`return ${jsonForScript(value)};`)(), value);
  });

  test('refuses values without a JSON form', () => {
    assert.throws(() => jsonForScript(undefined), /jsonForScript: undefined has no JSON form/);
    assert.throws(() => jsonForScript(() => 1), TypeError);
  });
});

describe('escapeAttribute', () => {
  test('escapes the five HTML-special characters', () => {
    assert.equal(escapeAttribute(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&#39;f');
  });
});
