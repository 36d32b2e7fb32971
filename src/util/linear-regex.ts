/**
 * A regular-expression matcher that runs in time linear in the input: patterns supplied by users (listing
 * filters, alert rules, permissions, policies) are matched with it instead of JavaScript's backtracking
 * RegExp, where `(a+)+$` against 30 characters takes seconds.
 *
 * The pattern is parsed into a small tree, compiled to a Thompson NFA program, and matched by a Pike VM:
 * every thread advances in lock step, one input code unit at a time, and each instruction runs at most once
 * per position, so a match costs O(input length × program size) whatever the pattern. Only `test` is
 * offered (is there a match anywhere, as RegExp.prototype.test and Erlang's re:run answer it); no captures.
 *
 * The subset (JavaScript syntax and meaning, without the `u` flag; the regex RabbitMQ users write):
 *   literals, `.`, `[...]` / `[^...]` with ranges, `\d \D \w \W \s \S`, `\b \B`, `^ $` (whole input),
 *   `(...)`, `(?:...)`, `(?<name>...)`, `|`, `* + ? {m} {m,} {m,n}` (lazy `?` accepted; it cannot change
 *   whether there is a match), escapes `\t \n \r \f \v \0 \xHH \uHHHH` and any escaped punctuation.
 * Lookahead (`(?=...)`, `(?!...)`) only right after the pattern's leading `^` (as in `^(?!amq\.).*`, the
 * way RabbitMQ's docs exclude amq.* names); it is checked once, at the start, by a second anchored program.
 * Refused with a RegexError naming the construct: backreferences (`\1`, `\k<name>`), lookahead anywhere
 * else, lookbehind (`(?<=`, `(?<!`), other `(?` groups, `\p{...}`, `\cX`, escapes of letters that
 * mean something else elsewhere (PCRE's `\A \z \Z \h`, ...), patterns longer than MAX_PATTERN_LENGTH and
 * programs larger than MAX_PROGRAM_SIZE (a big `{m,n}` copies its operand).
 */

/** Longest pattern accepted, UTF-16 code units: far above any real name filter, and it bounds parse work. */
export const MAX_PATTERN_LENGTH = 512;
/** Largest count in `{m,n}`; RabbitMQ names are at most 255 bytes, so larger counts mean nothing useful. */
export const MAX_REPEAT = 255;
/**
 * Most NFA instructions a pattern may compile to. Matching costs at most this many steps per input code
 * unit, so a 255-character queue name costs at most ~500k steps (a few ms) with the worst pattern.
 */
export const MAX_PROGRAM_SIZE = 2048;

/** A pattern outside the supported subset or malformed: the message names the construct (an HTTP 400). */
export class RegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Character sets: sorted, merged, inclusive [lo, hi] code-unit ranges
// ---------------------------------------------------------------------------------------------------------

type Ranges = number[];

const MAX_CODE_UNIT = 0xffff;
/** the position generation counter is reset (and the marks cleared) before it could overflow an Int32 */
const GENERATION_RESET = 0x3fff0000;
const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
// JavaScript's \s: WhiteSpace and LineTerminator
const SPACE: Ranges = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff,
];
// what `.` does not match (without the `s` flag)
const LINE_TERMINATORS: Ranges = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];

function normalise(ranges: Ranges): Ranges {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(ranges: Ranges): Ranges {
  const sorted = normalise(ranges);
  const out: Ranges = [];
  let next = 0;
  for (let i = 0; i < sorted.length; i += 2) {
    if (sorted[i]! > next) out.push(next, sorted[i]! - 1);
    next = sorted[i + 1]! + 1;
  }
  if (next <= MAX_CODE_UNIT) out.push(next, MAX_CODE_UNIT);
  return out;
}

function inRanges(ranges: Int32Array, c: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (c < ranges[i]!) return false;
    if (c <= ranges[i + 1]!) return true;
  }
  return false;
}

function isWordUnit(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** JavaScript's Canonicalize for a case-insensitive match without `u`: the upper case, when it is one unit */
function canonical(c: number): number {
  if (c < 0x80) return c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
  const upper = String.fromCharCode(c).toUpperCase();
  if (upper.length !== 1) return c;
  const u = upper.charCodeAt(0);
  return u < 0x80 ? c : u;
}

// ---------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------

type Node =
  | { readonly kind: 'char'; readonly c: number }
  | { readonly kind: 'set'; readonly ranges: Ranges; readonly negate: boolean }
  | { readonly kind: 'assert'; readonly what: 'bol' | 'eol' | 'word' | 'nonword' }
  | { readonly kind: 'seq'; readonly items: Node[] }
  | { readonly kind: 'alt'; readonly items: Node[] }
  | { readonly kind: 'repeat'; readonly min: number; readonly max: number; readonly sub: Node };

const ANY_BUT_LINE_TERMINATOR: Node = { kind: 'set', ranges: LINE_TERMINATORS, negate: true };

class Parser {
  private pos = 0;
  /** group nesting at the current position */
  private depth = 0;
  /** lookaheads found right after the leading `^` (see StartCondition) */
  readonly startConditions: Array<{ node: Node; negate: boolean }> = [];

  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.pos < this.src.length) throw new RegexError(`unmatched ')' at position ${this.pos}`);
    if (this.startConditions.length > 0 && node.kind === 'alt') {
      throw new RegexError("lookahead is supported only right after the leading '^' of a pattern without a top-level '|'");
    }
    return node;
  }

  /** a lookahead group starting here is one the matcher supports: top level, right after the leading ^ */
  private atStartCondition(groupStart: number): boolean {
    if (this.depth !== 0 || this.src.charCodeAt(0) !== 0x5e) return false;
    // the first one right after the ^, each further one where the previous one ended
    const expected = this.conditionEnds.length === 0 ? 1 : this.conditionEnds[this.conditionEnds.length - 1]!;
    return expected === groupStart;
  }

  private readonly conditionEnds: number[] = [];

  private peek(offset = 0): number {
    return this.pos + offset < this.src.length ? this.src.charCodeAt(this.pos + offset) : -1;
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.peek() === 0x7c /* | */) {
      this.pos++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { kind: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === -1 || c === 0x7c || c === 0x29 /* ) */) break;
      items.push(this.quantified());
    }
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  private quantified(): Node {
    const at = this.pos;
    const atom = this.atom();
    const q = this.quantifier();
    if (q === null) return atom;
    if (atom.kind === 'assert') throw new RegexError(`nothing to repeat at position ${at + 1}: an anchor or \\b cannot take a quantifier`);
    if (this.peek() === 0x3f /* ? lazy */) this.pos++;
    if (this.quantifierAhead()) throw new RegexError(`nothing to repeat at position ${this.pos}: a quantifier follows a quantifier`);
    return { kind: 'repeat', min: q[0], max: q[1], sub: atom };
  }

  /** true when a quantifier starts at the current position */
  private quantifierAhead(): boolean {
    const c = this.peek();
    if (c === 0x2a || c === 0x2b || c === 0x3f) return true;
    return c === 0x7b && this.braces(false) !== null;
  }

  /** `{m}`, `{m,}` or `{m,n}` at the current position; consumes it only when `consume` */
  private braces(consume: boolean): [number, number] | null {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos, this.pos + 24));
    if (m === null) return null;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (consume) {
      if (min > max) throw new RegexError(`numbers out of order in quantifier ${m[0]}`);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw new RegexError(`quantifier ${m[0]} counts past ${MAX_REPEAT}`);
      this.pos += m[0].length;
    }
    return [min, max];
  }

  private quantifier(): [number, number] | null {
    switch (this.peek()) {
      case 0x2a: // *
        this.pos++;
        return [0, Infinity];
      case 0x2b: // +
        this.pos++;
        return [1, Infinity];
      case 0x3f: // ?
        this.pos++;
        return [0, 1];
      case 0x7b: // {
        return this.braces(true);
      default:
        return null;
    }
  }

  private atom(): Node {
    const c = this.src.charCodeAt(this.pos);
    switch (c) {
      case 0x5e: // ^
        this.pos++;
        return { kind: 'assert', what: 'bol' };
      case 0x24: // $
        this.pos++;
        return { kind: 'assert', what: 'eol' };
      case 0x2e: // .
        this.pos++;
        return ANY_BUT_LINE_TERMINATOR;
      case 0x28: // (
        return this.group();
      case 0x5b: // [
        return this.characterClass();
      case 0x5c: // \
        return this.escape();
      case 0x2a:
      case 0x2b:
      case 0x3f:
        throw new RegexError(`nothing to repeat at position ${this.pos}`);
      case 0x7b: // {: a quantifier here has nothing to repeat; otherwise a literal brace
        if (this.braces(false) !== null) throw new RegexError(`nothing to repeat at position ${this.pos}`);
        this.pos++;
        return { kind: 'char', c };
      default:
        this.pos++;
        return { kind: 'char', c };
    }
  }

  private group(): Node {
    const start = this.pos;
    this.pos++;
    if (this.peek() === 0x3f /* ? */) {
      const rest = this.src.slice(this.pos, this.pos + 3);
      if (rest.startsWith('?:')) this.pos += 2;
      else if (rest.startsWith('?=') || rest.startsWith('?!')) {
        if (!this.atStartCondition(start)) throw new RegexError(`lookahead '(${rest.slice(0, 2)}' is supported only right after the leading '^'`);
        this.pos += 2;
        this.depth++;
        const node = this.alternation();
        this.depth--;
        if (this.peek() !== 0x29) throw new RegexError(`unterminated group opened at position ${start}`);
        this.pos++;
        // JavaScript lets a quantifier make a lookahead optional; that is not a start condition any more
        if (this.quantifierAhead()) throw new RegexError(`a lookahead cannot take a quantifier (position ${this.pos})`);
        this.startConditions.push({ node, negate: rest[1] === '!' });
        this.conditionEnds.push(this.pos);
        return { kind: 'seq', items: [] };
      } else if (rest === '?<=' || rest === '?<!') throw new RegexError(`lookbehind '(${rest}' is not supported`);
      else if (rest.startsWith('?<')) {
        const m = /^\?<[A-Za-z_$][A-Za-z0-9_$]*>/.exec(this.src.slice(this.pos));
        if (m === null) throw new RegexError(`invalid group name at position ${start}`);
        this.pos += m[0].length;
      } else {
        throw new RegexError(`group '(${rest.slice(0, 2)}' is not supported`);
      }
    }
    this.depth++;
    const inner = this.alternation();
    this.depth--;
    if (this.peek() !== 0x29) throw new RegexError(`unterminated group opened at position ${start}`);
    this.pos++;
    // wrapped, so that a group holding only an anchor, `(^)*`, can take a quantifier as in JavaScript
    return { kind: 'seq', items: [inner] };
  }

  /** an escape outside a class */
  private escape(): Node {
    const at = this.pos;
    this.pos++;
    const c = this.peek();
    if (c === -1) throw new RegexError('\\ at the end of the pattern');
    switch (c) {
      case 0x62: // b
        this.pos++;
        return { kind: 'assert', what: 'word' };
      case 0x42: // B
        this.pos++;
        return { kind: 'assert', what: 'nonword' };
      case 0x6b: // k
        throw new RegexError(`backreference '\\k' at position ${at} is not supported`);
      default: {
        if (c >= 0x31 && c <= 0x39) throw new RegexError(`backreference '\\${String.fromCharCode(c)}' at position ${at} is not supported`);
        const set = this.classEscape();
        if (set !== null) return { kind: 'set', ranges: set, negate: false };
        return { kind: 'char', c: this.characterEscape(at) };
      }
    }
  }

  /** \d \D \w \W \s \S at the current position (after the backslash), consumed; null when it is not one */
  private classEscape(): Ranges | null {
    let set: Ranges;
    switch (this.peek()) {
      case 0x64:
        set = DIGIT;
        break;
      case 0x44:
        set = complement(DIGIT);
        break;
      case 0x77:
        set = WORD;
        break;
      case 0x57:
        set = complement(WORD);
        break;
      case 0x73:
        set = SPACE;
        break;
      case 0x53:
        set = complement(SPACE);
        break;
      default:
        return null;
    }
    this.pos++;
    return set;
  }

  /** the code unit of a character escape at the current position (after the backslash), consumed */
  private characterEscape(at: number): number {
    const c = this.src.charCodeAt(this.pos);
    this.pos++;
    switch (c) {
      case 0x74:
        return 0x09; // t
      case 0x6e:
        return 0x0a; // n
      case 0x76:
        return 0x0b; // v
      case 0x66:
        return 0x0c; // f
      case 0x72:
        return 0x0d; // r
      case 0x30: // 0, not followed by a digit (that would be an octal escape)
        if (this.peek() >= 0x30 && this.peek() <= 0x39) throw new RegexError(`octal escape at position ${at} is not supported`);
        return 0;
      case 0x78: {
        // xHH
        const m = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.pos, this.pos + 2));
        if (m === null) throw new RegexError(`'\\x' at position ${at} needs two hex digits`);
        this.pos += 2;
        return parseInt(m[0], 16);
      }
      case 0x75: {
        // uHHHH
        const m = /^[0-9A-Fa-f]{4}/.exec(this.src.slice(this.pos, this.pos + 4));
        if (m === null) throw new RegexError(`'\\u' at position ${at} needs four hex digits`);
        this.pos += 4;
        return parseInt(m[0], 16);
      }
      default:
        // escaped punctuation stands for itself; an escaped letter or digit would mean something else in
        // another dialect (PCRE's \A \z \h, octal \1...), so it is refused rather than guessed
        if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
          throw new RegexError(`escape '\\${String.fromCharCode(c)}' at position ${at} is not supported`);
        }
        return c;
    }
  }

  private characterClass(): Node {
    const start = this.pos;
    this.pos++;
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.pos++;
    }
    const ranges: Ranges = [];
    for (;;) {
      const c = this.peek();
      if (c === -1) throw new RegexError(`unterminated character class opened at position ${start}`);
      if (c === 0x5d /* ] */) {
        this.pos++;
        break;
      }
      const lo = this.classAtom();
      if (this.peek() === 0x2d /* - */ && this.peek(1) !== 0x5d && this.peek(1) !== -1) {
        this.pos++;
        const hi = this.classAtom();
        if (typeof lo === 'number' && typeof hi === 'number') {
          if (lo > hi) throw new RegexError(`range out of order in character class at position ${start}`);
          ranges.push(lo, hi);
        } else {
          // a class escape at either end: the '-' is literal (as JavaScript reads it without `u`)
          for (const part of [lo, hi]) {
            if (typeof part === 'number') ranges.push(part, part);
            else ranges.push(...part);
          }
          ranges.push(0x2d, 0x2d);
        }
      } else if (typeof lo === 'number') {
        ranges.push(lo, lo);
      } else {
        ranges.push(...lo);
      }
    }
    const merged = normalise(ranges);
    return { kind: 'set', ranges: merged, negate };
  }

  /** one member of a class: a code unit or a set (\d and friends) */
  private classAtom(): number | Ranges {
    const c = this.src.charCodeAt(this.pos);
    if (c !== 0x5c) {
      this.pos++;
      return c;
    }
    const at = this.pos;
    this.pos++;
    if (this.peek() === -1) throw new RegexError('\\ at the end of the pattern');
    const set = this.classEscape();
    if (set !== null) return set;
    if (this.peek() === 0x62 /* b: backspace inside a class */) {
      this.pos++;
      return 0x08;
    }
    if (this.peek() === 0x2d /* \- */) {
      this.pos++;
      return 0x2d;
    }
    return this.characterEscape(at);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Compiling to a Thompson NFA program
// ---------------------------------------------------------------------------------------------------------

const OP_CHAR = 0;
const OP_SET = 1;
const OP_SPLIT = 2;
const OP_JUMP = 3;
const OP_MATCH = 4;
const OP_BOL = 5;
const OP_EOL = 6;
const OP_WORD = 7;
const OP_NONWORD = 8;

/** instructions `node` compiles to (checked against MAX_PROGRAM_SIZE before anything is emitted) */
function programSize(node: Node): number {
  switch (node.kind) {
    case 'char':
    case 'set':
    case 'assert':
      return 1;
    case 'seq':
      return node.items.reduce((n, item) => n + programSize(item), 0);
    case 'alt':
      // a split and a jump per extra branch
      return node.items.reduce((n, item) => n + programSize(item), 0) + 2 * (node.items.length - 1);
    case 'repeat': {
      const sub = programSize(node.sub);
      const optional = node.max === Infinity ? 1 : node.max - node.min;
      // min copies, then either a star (split, sub, jump) or max-min optional copies (split, sub each)
      const size = node.min * sub + optional * (sub + 1) + (node.max === Infinity ? 1 : 0);
      return size > MAX_PROGRAM_SIZE ? MAX_PROGRAM_SIZE + 1 : size;
    }
  }
}

class Compiler {
  readonly op: number[] = [];
  readonly arg1: number[] = [];
  readonly arg2: number[] = [];
  readonly sets: Int32Array[] = [];

  constructor(private readonly ignoreCase: boolean) {}

  private emit(op: number, a = 0, b = 0): number {
    this.op.push(op);
    this.arg1.push(a);
    this.arg2.push(b);
    return this.op.length - 1;
  }

  compile(node: Node): void {
    switch (node.kind) {
      case 'char':
        this.emit(OP_CHAR, this.ignoreCase ? canonical(node.c) : node.c);
        return;
      case 'set':
        this.sets.push(Int32Array.from(node.ranges));
        this.emit(OP_SET, this.sets.length - 1, node.negate ? 1 : 0);
        return;
      case 'assert':
        this.emit(node.what === 'bol' ? OP_BOL : node.what === 'eol' ? OP_EOL : node.what === 'word' ? OP_WORD : OP_NONWORD);
        return;
      case 'seq':
        for (const item of node.items) this.compile(item);
        return;
      case 'alt': {
        // split L1, next; L1: a; jump end; next: split L2, next2; ... last branch; end:
        const jumps: number[] = [];
        for (let i = 0; i < node.items.length; i++) {
          if (i < node.items.length - 1) {
            const split = this.emit(OP_SPLIT);
            this.arg1[split] = split + 1;
            this.compile(node.items[i]!);
            jumps.push(this.emit(OP_JUMP));
            this.arg2[split] = this.op.length;
          } else {
            this.compile(node.items[i]!);
          }
        }
        for (const j of jumps) this.arg1[j] = this.op.length;
        return;
      }
      case 'repeat': {
        for (let i = 0; i < node.min; i++) this.compile(node.sub);
        if (node.max === Infinity) {
          const split = this.emit(OP_SPLIT);
          this.arg1[split] = split + 1;
          this.compile(node.sub);
          this.emit(OP_JUMP, split);
          this.arg2[split] = this.op.length;
          return;
        }
        const splits: number[] = [];
        for (let i = node.min; i < node.max; i++) {
          const split = this.emit(OP_SPLIT);
          this.arg1[split] = split + 1;
          splits.push(split);
          this.compile(node.sub);
        }
        for (const s of splits) this.arg2[s] = this.op.length;
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Matching: a Pike VM (all threads in lock step; each instruction at most once per position)
// ---------------------------------------------------------------------------------------------------------

export interface LinearRegexOptions {
  /** case-insensitive, as JavaScript's `i` flag (without `u`) */
  readonly ignoreCase?: boolean;
}

/**
 * A lookahead right after the pattern's leading `^` (`^(?!amq\.).*`, as RabbitMQ's docs write policy
 * patterns): `^` matches only at the start, so it is only ever tried there, and is one more anchored pass.
 */
interface StartCondition {
  readonly program: Program;
  readonly negate: boolean;
}

export class LinearRegex {
  readonly source: string;
  private readonly main: Program;
  private readonly conditions: readonly StartCondition[];

  /** Compiles `pattern`; throws RegexError when it is malformed, unsupported or too large. */
  constructor(pattern: string, options: LinearRegexOptions = {}) {
    if (pattern.length > MAX_PATTERN_LENGTH) throw new RegexError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
    const parser = new Parser(pattern);
    const tree = parser.parse();
    const ignoreCase = options.ignoreCase === true;
    this.source = pattern;
    this.main = new Program(tree, ignoreCase);
    const bol: Node = { kind: 'assert', what: 'bol' };
    this.conditions = parser.startConditions.map((c) => ({ program: new Program({ kind: 'seq', items: [bol, c.node] }, ignoreCase), negate: c.negate }));
  }

  /** Whether the pattern matches anywhere in `input` (RegExp.prototype.test without the `g` flag). */
  test(input: string): boolean {
    for (const c of this.conditions) if (c.program.test(input) === c.negate) return false;
    return this.main.test(input);
  }
}

/** One compiled NFA and the scratch state its matcher reuses. */
class Program {
  private readonly op: Int32Array;
  private readonly arg1: Int32Array;
  private readonly arg2: Int32Array;
  private readonly sets: Int32Array[];
  private readonly ignoreCase: boolean;
  // scratch reused by every test() (matching is synchronous, so never shared by two calls at once)
  private current: Int32Array;
  private next: Int32Array;
  private readonly mark: Int32Array;
  private readonly stack: Int32Array;
  private generation = 0;

  constructor(tree: Node, ignoreCase: boolean) {
    if (programSize(tree) + 1 > MAX_PROGRAM_SIZE) throw new RegexError(`pattern too large: it compiles to more than ${MAX_PROGRAM_SIZE} instructions`);
    this.ignoreCase = ignoreCase;
    const compiler = new Compiler(ignoreCase);
    compiler.compile(tree);
    compiler.op.push(OP_MATCH);
    compiler.arg1.push(0);
    compiler.arg2.push(0);
    this.op = Int32Array.from(compiler.op);
    this.arg1 = Int32Array.from(compiler.arg1);
    this.arg2 = Int32Array.from(compiler.arg2);
    this.sets = compiler.sets;
    const n = this.op.length;
    this.current = new Int32Array(n + 1); // [0] = thread count, then program counters
    this.next = new Int32Array(n + 1);
    this.mark = new Int32Array(n);
    this.stack = new Int32Array(2 * n + 2);
  }

  /** Whether the program matches anywhere in `input`. */
  test(input: string): boolean {
    const length = input.length;
    // generations: one per position, so `mark` tells which instructions a list already holds at it
    if (this.generation > GENERATION_RESET) {
      this.mark.fill(0);
      this.generation = 0;
    }
    this.generation++;
    this.current[0] = 0;
    for (let pos = 0; ; pos++) {
      // a new thread starts at every position (the search is unanchored), after the ones already running
      if (this.follow(this.current, 0, input, pos)) return true;
      if (pos === length) return false;
      const threads = this.current;
      const count = threads[0]!;
      this.next[0] = 0;
      this.generation++;
      if (count > 0) {
        const c = input.charCodeAt(pos);
        const folded = this.ignoreCase ? canonical(c) : c;
        for (let i = 1; i <= count; i++) {
          const pc = threads[i]!;
          if (this.consumes(pc, c, folded) && this.follow(this.next, pc + 1, input, pos + 1)) return true;
        }
      }
      this.current = this.next;
      this.next = threads;
    }
  }

  private consumes(pc: number, c: number, folded: number): boolean {
    const op = this.op[pc]!;
    if (op === OP_CHAR) return this.arg1[pc] === folded;
    // OP_SET (arg2 = 1 when negated): is some member the input, or with ignoreCase the same canonical form?
    const ranges = this.sets[this.arg1[pc]!]!;
    let member = inRanges(ranges, c);
    if (!member && this.ignoreCase) {
      if (folded !== c) member = inRanges(ranges, folded);
      if (!member) {
        const lower = c < 0x80 ? (c >= 0x41 && c <= 0x5a ? c + 0x20 : c) : lowerUnit(c);
        member = lower !== c && canonical(lower) === folded && inRanges(ranges, lower);
      }
    }
    return member !== (this.arg2[pc] === 1);
  }

  /**
   * Adds the thread at `start` to `list` for position `pos`, following jumps, splits and assertions (the
   * epsilon closure) with an explicit stack. True when MATCH is reached.
   */
  private follow(list: Int32Array, start: number, input: string, pos: number): boolean {
    const op = this.op;
    const mark = this.mark;
    const stack = this.stack;
    const generation = this.generation;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const pc = stack[--top]!;
      if (mark[pc] === generation) continue;
      mark[pc] = generation;
      switch (op[pc]) {
        case OP_MATCH:
          return true;
        case OP_JUMP:
          stack[top++] = this.arg1[pc]!;
          break;
        case OP_SPLIT:
          stack[top++] = this.arg2[pc]!;
          stack[top++] = this.arg1[pc]!;
          break;
        case OP_BOL:
          if (pos === 0) stack[top++] = pc + 1;
          break;
        case OP_EOL:
          if (pos === input.length) stack[top++] = pc + 1;
          break;
        case OP_WORD:
        case OP_NONWORD: {
          const before = pos > 0 && isWordUnit(input.charCodeAt(pos - 1));
          const after = pos < input.length && isWordUnit(input.charCodeAt(pos));
          if ((before !== after) === (op[pc] === OP_WORD)) stack[top++] = pc + 1;
          break;
        }
        default:
          list[++list[0]!] = pc;
      }
    }
    return false;
  }
}

function lowerUnit(c: number): number {
  const lower = String.fromCharCode(c).toLowerCase();
  return lower.length === 1 ? lower.charCodeAt(0) : c;
}

/** A matcher for a user-supplied pattern; throws RegexError (callers answer 400 with its message). */
export function compileUserRegex(pattern: string, options: LinearRegexOptions = {}): LinearRegex {
  return new LinearRegex(pattern, options);
}
