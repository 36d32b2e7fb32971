import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearRegex, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, MAX_REPEAT, RegexError } from './linear-regex.js';
import { seededRandom as rng } from './seeded-random.js';

function agrees(pattern: string, inputs: readonly string[], flags = ''): void {
  const ours = new LinearRegex(pattern, { ignoreCase: flags.includes('i') });
  const theirs = new RegExp(pattern, flags);
  for (const input of inputs) {
    assert.equal(ours.test(input), theirs.test(input), `/${pattern}/${flags} on ${JSON.stringify(input)}`);
  }
}

// inputs stay short: JavaScript's RegExp, the reference here, backtracks exponentially on (a+)+$ and friends
const INPUTS = [
  '',
  'a',
  'b',
  'ab',
  'ba',
  'abc',
  'aaa',
  'aab',
  'abab',
  'cab',
  'a-b',
  'a.b',
  'a b',
  'a\nb',
  'x1',
  '12',
  'A',
  'AbC',
  'orders.eu',
  'orders.us.1',
  'amq.gen-Xy_9',
  'q_1',
  'queue-01',
  '\t',
  'é',
  'É',
  'Straße',
  '[]',
  '{}',
  'a{2}',
  'aaaaaaaaaaaa!',
  'ab\u2028',
  '-',
  '_',
  '$',
  '^',
];

test('agrees with RegExp on patterns RabbitMQ users write', () => {
  const patterns = [
    '',
    'a',
    'ab',
    '^a',
    'a$',
    '^a$',
    '^$',
    '.',
    '^.$',
    'a.b',
    'a*',
    'a+',
    'a?',
    '^a*$',
    '^a+$',
    'ab*c',
    'a|b',
    '^(a|b)$',
    '(ab)+',
    '^(ab)+$',
    '(?:ab)*c',
    'a{2}',
    'a{2,}',
    'a{1,3}',
    '^a{2,3}$',
    '^a{0}$',
    'a{0,1}b',
    '[abc]',
    '[^abc]',
    '^[a-c]+$',
    '[a-]',
    '[-a]',
    '[]',
    '[^]',
    '[\\]]',
    '[\\\\]',
    '[.]',
    '\\.',
    '\\d',
    '\\D',
    '\\w+',
    '^\\W',
    '\\s',
    '\\S',
    '[\\d-z]',
    '[\\w.]+',
    '[^\\s]',
    '\\bab',
    'b\\b',
    '\\Bb',
    'a\\B',
    '^orders\\.',
    '^orders\\.(eu|us)$',
    '^amq\\.gen-',
    '^q_\\d+$',
    'queue-\\d{2}',
    '^(?<region>eu|us)',
    '(a|ab)(c|bcd)',
    '(a*)*',
    '(a+)+$',
    '(a|a)*b',
    '((a*)*b)*',
    '^(a?){3}a{3}$',
    'x*y*z*',
    '(|a)+',
    '\\x41',
    '\\u0041',
    '\\t',
    '\\n',
    '\\0',
    'a{',
    'a{,2}',
    '{',
    '}',
    ']',
    'a{2',
    '\\{',
    '\\$',
    '\\^',
    '\\/',
    '[\\b]',
    '^(?!amq\\.).*',
    '^(?!amq\\.)',
    '^(?=orders)\\w+$',
    '^(?!a)(?!b).',
    '^(?!a|b$)',
    '^(?=a)(?!ab)',
    'Straße',
    '[éÉ]',
    'a*?',
    'a+?b',
    'a{1,2}?',
    '.*',
    '^.*$',
    '(?:)',
    'a||b',
    '(a|)',
  ];
  for (const p of patterns) {
    agrees(p, INPUTS);
    agrees(p, INPUTS, 'i');
  }
});

test('agrees with RegExp on thousands of random patterns and inputs', () => {
  const random = rng(Number(process.env.REGEX_FUZZ_SEED ?? 0x5eed));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const atoms = ['a', 'b', 'c', '.', '[ab]', '[^a]', '[a-c]', '\\d', '\\w', '\\s', '\\W', 'A', '-', '\\.', '1'];
  const quantifiers = ['', '', '', '*', '+', '?', '{2}', '{0,2}', '{1,}', '*?', '{1,3}'];
  const gen = (depth: number): string => {
    const n = 1 + Math.floor(random() * 4);
    let out = '';
    for (let i = 0; i < n; i++) {
      const r = random();
      let atom: string;
      if (r < 0.15 && depth < 3) atom = `(${gen(depth + 1)})`;
      else if (r < 0.22 && depth < 3) atom = `(?:${gen(depth + 1)}|${gen(depth + 1)})`;
      else if (r < 0.26) atom = pick(['^', '$', '\\b', '\\B']);
      else atom = pick(atoms);
      out += atom;
      if (!['^', '$', '\\b', '\\B'].includes(atom)) out += pick(quantifiers);
    }
    return random() < 0.1 ? `${out}|${gen(depth + 1)}` : out;
  };
  const alphabet = ['a', 'b', 'c', 'A', '1', '-', '.', ' ', '\n', '_'];
  let matches = 0;
  let checks = 0;
  for (let i = 0; i < Number(process.env.REGEX_FUZZ_PATTERNS ?? 3_000); i++) {
    const pattern = gen(0);
    const flags = random() < 0.2 ? 'i' : '';
    const ours = new LinearRegex(pattern, { ignoreCase: flags === 'i' });
    const theirs = new RegExp(pattern, flags);
    for (let j = 0; j < 12; j++) {
      let input = '';
      for (let k = Math.floor(random() * 10); k > 0; k--) input += pick(alphabet);
      const expected = theirs.test(input);
      assert.equal(ours.test(input), expected, `/${pattern}/${flags} on ${JSON.stringify(input)}`);
      if (expected) matches++;
      checks++;
    }
  }
  // both outcomes are well represented, so the agreement means something
  assert.ok(matches > checks / 5 && matches < (checks * 4) / 5, `${matches} of ${checks} matched`);
});

test('(a+)+$ and friends stay linear: 100,000 characters are answered, and correctly', () => {
  const long = 'a'.repeat(100_000);
  assert.equal(new LinearRegex('(a+)+$').test(long + '!'), false);
  assert.equal(new LinearRegex('(a+)+$').test(long), true);
  assert.equal(new LinearRegex('^(a|a)*$').test(long + 'b'), false);
  assert.equal(new LinearRegex('(x+x+)+y').test('x'.repeat(50_000)), false);
  assert.equal(new LinearRegex('^(\\w+\\s?)*$').test('word '.repeat(10_000) + '!'), false);
});

test('backreferences, lookaround and foreign escapes are refused with a message naming them', () => {
  const refused: Array<[string, RegExp]> = [
    ['(a)\\1', /backreference '\\1'/],
    ['(?<x>a)\\k<x>', /backreference '\\k'/],
    ['a(?=b)', /lookahead '\(\?=' is supported only right after the leading '\^'/],
    ['a(?!b)', /lookahead '\(\?!'/],
    ['(?!a)b', /lookahead '\(\?!'/],
    ['^a(?!b)', /lookahead '\(\?!'/],
    ['^((?!a)b)', /lookahead '\(\?!'/],
    ['^(?!a)b|c', /without a top-level '\|'/],
    ['^(?!a)*b', /cannot take a quantifier/],
    ['(?<=a)b', /lookbehind '\(\?<='/],
    ['(?<!a)b', /lookbehind '\(\?<!'/],
    ['(?i)a', /group '\(\?i'/],
    ['\\Aabc\\z', /escape '\\A'/],
    ['\\p{L}', /escape '\\p'/],
    ['\\cJ', /escape '\\c'/],
    ['\\012', /octal/],
    ['\\x4', /two hex digits/],
    ['\\u{41}', /four hex digits/],
    ['a**', /nothing to repeat/],
    ['*a', /nothing to repeat/],
    ['^*', /nothing to repeat/],
    ['{2}', /nothing to repeat/],
    ['a{3,2}', /out of order/],
    ['[z-a]', /out of order/],
    ['(a', /unterminated group/],
    ['a)', /unmatched '\)'/],
    ['[ab', /unterminated character class/],
    ['a\\', /at the end/],
    [`a{${MAX_REPEAT + 1}}`, /counts past/],
    ['x'.repeat(MAX_PATTERN_LENGTH + 1), /longer than/],
    ['(((a{200}){200}){200})', /too large/],
  ];
  for (const [pattern, message] of refused) {
    assert.throws(
      () => new LinearRegex(pattern),
      (e: unknown) => e instanceof RegexError && message.test(e.message),
      pattern,
    );
  }
  // a program right at the limit compiles
  assert.doesNotThrow(() => new LinearRegex('a'.repeat(MAX_PATTERN_LENGTH)));
  assert.ok(MAX_PROGRAM_SIZE > MAX_PATTERN_LENGTH);
});

test('one compiled pattern can be tested many times (its scratch state is reset per call)', () => {
  const re = new LinearRegex('^orders\\.(eu|us)\\.\\d+$');
  for (let i = 0; i < 1000; i++) {
    assert.equal(re.test(`orders.eu.${i}`), true);
    assert.equal(re.test(`orders.fr.${i}`), false);
  }
});
