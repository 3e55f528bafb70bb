/**
 * Typed errors. Every error says what was expected, what was given and, where it helps, how
 * to fix it, so a user never has to read engine internals to understand a failure.
 */

/** Base class of every error the library throws on purpose. */
export class Ec2tError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit an op (mismatched dims, bad broadcast, channels not divisible by groups). */
export class ShapeError extends Ec2tError {
  /**
   * @param op the op that rejected its input, e.g. `conv2d`
   * @param detail what was expected and what was given
   */
  constructor(
    public readonly op: string,
    detail: string,
  ) {
    super(`${op}: ${detail}`);
  }
}

/** An argument value outside its valid range (negative size, unknown enum value, label out of range). */
export class ValueError extends Ec2tError {
  constructor(
    public readonly op: string,
    detail: string,
  ) {
    super(`${op}: ${detail}`);
  }
}

/** A file that is missing, truncated, corrupt or not in the expected format. */
export class FormatError extends Ec2tError {
  constructor(
    public readonly file: string,
    detail: string,
  ) {
    // One line whatever the detail quotes (a JSON parser's message echoes the file's own lines).
    super(`${file}: ${detail.replace(/\s*[\r\n]+\s*/g, ' ')}`);
  }
}

/**
 * A file that could not be read or written for a reason outside the file's content: permissions,
 * a read-only file system, a full disk, the file-size limit, a folder where a file was expected.
 */
export class IoError extends Ec2tError {
  constructor(
    public readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Kernel registry problems: duplicate registration, no kernel for an op on the requested backend. */
export class KernelError extends Ec2tError {}

/** Autodiff misuse: backward from a non-scalar without a gradient, backward twice through a released graph. */
export class GradError extends Ec2tError {}

/** Formats a shape as `[2, 3, 4]` for error messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A usage mistake in the options of a command or recipe: an unknown flag, a bad value, a missing
 * required option, an output that would overwrite something. The CLI prints it alone and exits 2.
 */
export class UsageError extends Ec2tError {}
