import { format } from 'node:util';
import { hashUser } from '../../src/log.js';

/** One line the service wrote, from the local host's log hook (service and InvocationContext) or the console. */
export interface CapturedLine {
  source: 'host' | 'console' | 'stdout' | 'stderr';
  level: string;
  line: string;
}

/** A secret that was found in a log line; `excerpt` never repeats the secret itself. */
export interface Leak {
  kind: string;
  source: CapturedLine['source'];
  excerpt: string;
}

/** A user the suite acted as: the raw values that may never reach a log line, and the key its hash is made from. */
export interface TrackedUser {
  issuer: string;
  userId: string;
  /** Other raw identifiers of the same person (name, sub, oid). */
  aliases: readonly string[];
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
/** Patterns that give a secret away even when the suite did not create it. */
const SECRET_SHAPES: readonly { kind: string; pattern: RegExp }[] = [
  { kind: 'JWT-shaped string', pattern: JWT_SHAPE },
  { kind: 'connection string access key', pattern: /accesskey\s*=\s*[A-Za-z0-9+/]{8,}/i },
  { kind: 'storage account key', pattern: /accountkey\s*=\s*[A-Za-z0-9+/]{8,}/i },
  { kind: 'shared access signature', pattern: /[?&]sig=[A-Za-z0-9%+/=]{16,}/i },
  { kind: 'bearer credential', pattern: /\bbearer\s+[A-Za-z0-9._~+/-]{16,}/i },
];
/** Shorter fragments than this are too likely to occur by chance to prove a leak. */
const MIN_FRAGMENT_LENGTH = 16;
const HASHED_USER = /^(?:[0-9a-f]{16}|anonymous)$/;

/**
 * Collects every log line the service writes while a test file runs and scans them for the secrets the suite
 * created (registered here as they are made) and for anything shaped like a credential.
 */
export class LogCapture {
  readonly lines: CapturedLine[] = [];
  private readonly adopted: {
    source: CapturedLine['source'];
    records: readonly { level: string; line: string }[];
  }[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly users: TrackedUser[] = [];
  private restoreConsole?: () => void;

  /** A `log` option for startLocalHost. */
  readonly hostLog = (level: string, line: string): void => {
    this.lines.push({ source: 'host', level, line });
  };

  /** Reads a live array of log records (e.g. RunningService.logs) at scan time. */
  adopt(records: readonly { level: string; line: string }[]): void {
    this.adopted.push({ source: 'host', records });
  }

  /** Records a secret under a kind ('ACS token', 'caller JWT'...); returns it for chaining. */
  secret<T extends string | undefined>(kind: string, value: T): T {
    if (value !== undefined && value.length >= MIN_FRAGMENT_LENGTH) this.secrets.set(value, kind);
    return value;
  }

  /** Records a user whose raw identifiers must not appear in logs. */
  user(user: TrackedUser): void {
    this.users.push(user);
  }

  get secretCount(): number {
    return this.secrets.size;
  }

  /**
   * Captures console output and process stdout/stderr writes until release(). Console calls are kept out of the
   * test output (the service's own lines are noise there) unless SECURITY_LOGS=1; stream writes still pass through.
   */
  captureConsole(): void {
    if (this.restoreConsole) return;
    const forward = process.env.SECURITY_LOGS === '1';
    const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
    const originals = methods.map((method) => [method, console[method]] as const);
    for (const [method, original] of originals) {
      console[method] = (...args: unknown[]) => {
        this.lines.push({ source: 'console', level: method, line: format(...args) });
        if (forward) original.apply(console, args);
      };
    }
    const streams = [
      ['stdout', process.stdout],
      ['stderr', process.stderr],
    ] as const;
    const writes = streams.map(([source, stream]) => {
      const write = stream.write;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.lines.push({
          source,
          level: source,
          line: typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(),
        });
        return (write as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      }) as typeof stream.write;
      return () => {
        stream.write = write;
      };
    });
    this.restoreConsole = () => {
      for (const [method, original] of originals) console[method] = original;
      for (const restore of writes) restore();
      this.restoreConsole = undefined;
    };
  }

  release(): void {
    this.restoreConsole?.();
  }

  /** Every line captured so far, adopted ones included. */
  allLines(): CapturedLine[] {
    return [
      ...this.lines,
      ...this.adopted.flatMap(({ source, records }) =>
        records.map(({ level, line }) => ({ source, level, line })),
      ),
    ];
  }

  /** Every secret, credential-shaped string and raw user identifier found in the captured lines. */
  scan(): Leak[] {
    const leaks: Leak[] = [];
    const needles = [...this.secrets].flatMap(([value, kind]) =>
      fragmentsOf(value).map((fragment) => ({ fragment, kind })),
    );
    const userNeedles = this.users.flatMap((user) =>
      [user.userId, ...user.aliases]
        .filter((value) => value.length >= 6)
        .map((fragment) => ({ fragment, kind: 'raw user identifier' })),
    );
    for (const captured of this.allLines()) {
      const found = new Set<string>();
      for (const { fragment, kind } of [...needles, ...userNeedles]) {
        if (captured.line.includes(fragment)) found.add(kind);
      }
      for (const { kind, pattern } of SECRET_SHAPES) {
        if (pattern.test(captured.line)) found.add(kind);
      }
      for (const kind of unhashedUsers(captured.line)) found.add(kind);
      for (const kind of found)
        leaks.push({ kind, source: captured.source, excerpt: redact(captured.line, needles) });
    }
    return leaks;
  }

  /** The hash a user must appear as. */
  static hashOf(user: Pick<TrackedUser, 'issuer' | 'userId'>): string {
    return hashUser(user);
  }
}

/** A secret and the parts of it that identify it on their own (a JWT's signature, a key's first characters). */
function fragmentsOf(secret: string): string[] {
  const fragments = [secret];
  const parts = secret.split('.');
  if (parts.length === 3)
    fragments.push(...parts.slice(1).filter((part) => part.length >= MIN_FRAGMENT_LENGTH));
  if (secret.length > 2 * MIN_FRAGMENT_LENGTH) fragments.push(secret.slice(0, 2 * MIN_FRAGMENT_LENGTH));
  const accessKey = /accesskey=([^;]+)/i.exec(secret)?.[1] ?? /accountkey=([^;]+)/i.exec(secret)?.[1];
  if (accessKey && accessKey.length >= MIN_FRAGMENT_LENGTH) fragments.push(accessKey);
  return fragments;
}

/** A JSON log line's `user` field must be a hash (or `anonymous`); anything else names a user in clear. */
function unhashedUsers(line: string): string[] {
  const start = line.indexOf('{');
  if (start < 0) return [];
  let event: unknown;
  try {
    event = JSON.parse(line.slice(start));
  } catch {
    return [];
  }
  if (event === null || typeof event !== 'object') return [];
  const fields = ['user', 'caller', 'actor', 'target', 'subject'] as const;
  return fields.flatMap((field) => {
    const value = (event as Record<string, unknown>)[field];
    return typeof value === 'string' && !HASHED_USER.test(value) ? [`unhashed user in "${field}"`] : [];
  });
}

function redact(line: string, needles: readonly { fragment: string }[]): string {
  let text = line;
  for (const { fragment } of needles) text = text.split(fragment).join('<secret>');
  return text.replace(new RegExp(JWT_SHAPE, 'g'), '<jwt>').slice(0, 300);
}
