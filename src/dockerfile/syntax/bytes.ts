/**
 * A cursor over the UTF-8 bytes of a string, for the two places where BuildKit's parser walks a line
 * byte by byte and treats each byte as a rune (`extractBuilderFlags`, `parseHealthConfig`): there a
 * byte 0x85 or 0xA0 inside a multi-byte character counts as a space, and a byte ≥ 0x80 written back
 * becomes the character U+0080–U+00FF. ASCII input (the common case) costs nothing extra.
 */
import { codePointAt, utf8Bytes } from './go-text.js';

export class ByteCursor {
  /** Index in the string of the next code point not yet split into bytes. */
  private index: number;
  private pending: number[] = [];
  private pendingAt = 0;
  /** Index in the string of the character `pending` holds. */
  private pendingStart = 0;

  constructor(private readonly text: string, start = 0) {
    this.index = start;
  }

  atEnd(): boolean {
    return this.pendingAt >= this.pending.length && this.index >= this.text.length;
  }

  /** The next byte without consuming it; -1 at the end. */
  peek(): number {
    if (this.pendingAt < this.pending.length) return this.pending[this.pendingAt] ?? -1;
    if (this.index >= this.text.length) return -1;
    const unit = this.text.charCodeAt(this.index);
    if (unit < 0x80) return unit;
    const cp = codePointAt(this.text, this.index);
    this.pending = utf8Bytes(cp);
    this.pendingAt = 0;
    this.pendingStart = this.index;
    this.index += cp > 0xffff ? 2 : 1;
    return this.pending[0] ?? -1;
  }

  /** Consumes and returns the next byte; -1 at the end. */
  next(): number {
    const b = this.peek();
    if (b === -1) return -1;
    if (this.pendingAt < this.pending.length) this.pendingAt++;
    else this.index++;
    return b;
  }

  /** True when the next byte is `-` and so is the one after it. */
  isSecondDash(): boolean {
    if (this.peek() !== 0x2d) return false;
    // A `-` is ASCII, so the cursor is on the string itself, not inside a split character.
    return this.text.charCodeAt(this.index + 1) === 0x2d;
  }

  /** True when exactly one byte is left. */
  isLast(): boolean {
    this.peek();
    if (this.pendingAt < this.pending.length) {
      return this.pendingAt === this.pending.length - 1 && this.index >= this.text.length;
    }
    return this.index === this.text.length - 1;
  }

  /** The text before the current byte (`line[:pos]`); a split character's leading bytes become U+FFFD. */
  consumed(): string {
    if (this.pendingAt < this.pending.length) {
      const head = this.text.slice(0, this.pendingStart);
      return this.pendingAt === 0 ? head : head + '\ufffd'.repeat(this.pendingAt);
    }
    return this.text.slice(0, this.index);
  }

  /**
   * The rest of the string from the current byte (Go's `line[pos:]`). If the cursor is inside a
   * multi-byte character, the leftover bytes are not valid UTF-8; each becomes U+FFFD.
   */
  rest(): string {
    const partial = this.pending.length - this.pendingAt;
    if (partial > 0 && this.pendingAt === 0) return this.text.slice(this.pendingStart);
    const tail = this.text.slice(this.index);
    return partial > 0 ? '\ufffd'.repeat(partial) + tail : tail;
  }
}

/** A byte value written back with Go's `WriteRune(rune(b))`. */
export function byteAsRune(b: number): string {
  return String.fromCharCode(b);
}
