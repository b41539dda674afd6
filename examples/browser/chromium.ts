/**
 * Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
 * messages ended by a NUL byte on file descriptors 3 and 4), with no dependency: no port to find, no
 * WebSocket (Node 20 has none without a flag), no browser download. What the browser demo's test and
 * its screenshot need: open a page, evaluate in it (awaiting promises), move the mouse, take a
 * screenshot. Every wait is on an answer or an event, never on a clock; a deadline only bounds a hung
 * browser.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Debian's package, then other usual names. */
const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The Chromium to run: $CHROMIUM, else the first of BROWSERS on the PATH; undefined when none. */
export function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  return BROWSERS.find((name) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0);
}

/** The browser's version line (`Chromium 156.0.8078.114 built on Debian ...`). */
export function chromiumVersion(binary: string): string {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.stdout.trim().split('\n').at(-1) ?? '';
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export interface ChromiumOptions {
  /** The viewport, CSS pixels. */
  readonly width?: number;
  readonly height?: number;
  /** How long any one answer may take before the browser is taken for hung (default 120 s). */
  readonly timeoutMs?: number;
}

export class Chromium {
  private readonly waiting = new Map<number, { resolve(m: Message): void; reject(e: Error): void }>();
  private readonly listeners: ((m: Message) => void)[] = [];
  private nextId = 0;
  private exited?: Error;
  /** Rejects once the browser has exited (or failed to start). */
  private readonly gone: Promise<never>;
  private rejectGone!: (error: Error) => void;
  /** What the page threw or logged as an error, for failure messages. */
  readonly pageErrors: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
    private readonly timeoutMs: number,
    private session = '',
  ) {
    this.gone = new Promise<never>((_, reject) => (this.rejectGone = reject));
    this.gone.catch(() => undefined); // awaited by whoever waits on the browser, not by itself
  }

  /** Starts a headless Chromium with one blank page of the given viewport. */
  static async launch(binary: string, options: ChromiumOptions = {}): Promise<Chromium> {
    const { width = 1000, height = 800, timeoutMs = 120_000 } = options;
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fewshot-chromium-'));
    const child = spawn(
      binary,
      [
        '--headless',
        '--remote-debugging-pipe',
        `--user-data-dir=${profile}`,
        '--disable-gpu',
        // As root (CI, containers) Chromium refuses to start sandboxed; the page is our own file.
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--hide-scrollbars',
        '--mute-audio',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    const browser = new Chromium(child, profile, timeoutMs);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', (err) => browser.fail(new Error(`${binary}: cannot start (${err.message})`)));
    child.on('exit', (code, signal) =>
      browser.fail(
        new Error(`${binary} exited (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`),
      ),
    );
    let buffer = '';
    (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let end = buffer.indexOf('\0'); end >= 0; end = buffer.indexOf('\0')) {
        browser.receive(JSON.parse(buffer.slice(0, end)) as Message);
        buffer = buffer.slice(end + 1);
      }
    });
    try {
      const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' }, '');
      const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true }, '');
      browser.session = sessionId as string;
      for (const domain of ['Page', 'Runtime']) await browser.send(`${domain}.enable`);
      await browser.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    } catch (err) {
      await browser.close();
      throw err;
    }
    return browser;
  }

  /** Opens a file (or URL) and waits for its load event; the page's scripts have run by then. */
  async open(fileOrUrl: string): Promise<void> {
    const url = /^[a-z]+:/.test(fileOrUrl) ? fileOrUrl : `file://${path.resolve(fileOrUrl)}`;
    const loaded = this.event('Page.loadEventFired');
    const { errorText } = await this.send('Page.navigate', { url });
    if (errorText) throw new Error(`${url}: ${errorText as string}`);
    await loaded;
  }

  /**
   * The value of a JavaScript expression in the page, awaited when it is a promise; a throw or a
   * rejection in the page throws here with its message.
   */
  async evaluate<T>(expression: string): Promise<T> {
    const answer = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    const thrown = answer.exceptionDetails as { exception?: { description?: string }; text: string } | undefined;
    if (thrown) {
      const what = expression.length > 100 ? `${expression.slice(0, 100)}...` : expression;
      throw new Error(`in the page, ${what}: ${thrown.exception?.description ?? thrown.text}`);
    }
    return (answer.result as { value: T }).value;
  }

  /** A press, moves through `points` (CSS pixels of the viewport) and a release, as a mouse drag. */
  async drag(points: readonly (readonly [number, number])[]): Promise<void> {
    const mouse = (type: string, [x, y]: readonly [number, number], buttons: number) =>
      this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', buttons, clickCount: 1 });
    await mouse('mousePressed', points[0], 1);
    for (const p of points.slice(1)) await mouse('mouseMoved', p, 1);
    await mouse('mouseReleased', points.at(-1)!, 0);
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Buffer> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(data as string, 'base64');
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((resolve) => this.child.once('exit', resolve));
      this.send('Browser.close', {}, '').catch(() => this.child.kill());
      await gone;
    }
    fs.rmSync(this.profile, { recursive: true, force: true });
  }

  /** Sends a command (to the page's session unless `session` says otherwise) and returns its result. */
  send(method: string, params: Record<string, unknown> = {}, session = this.session): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.nextId;
    return this.within(
      `${method}`,
      new Promise<Message>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        const message = { id, method, params, ...(session ? { sessionId: session } : {}) };
        (this.child.stdio[3] as Writable).write(JSON.stringify(message) + '\0');
      }),
    ).then((m) => {
      if (m.error) throw new Error(`${method}: ${m.error.message}`);
      return m.result ?? {};
    });
  }

  /** The next event of this name on the page's session. */
  private event(method: string): Promise<Message> {
    return this.within(
      method,
      new Promise<Message>((resolve) => {
        const listener = (m: Message) => {
          if (m.method !== method || m.sessionId !== this.session) return;
          this.listeners.splice(this.listeners.indexOf(listener), 1);
          resolve(m);
        };
        this.listeners.push(listener);
      }),
    );
  }

  /** `promise`, or a rejection once the browser exits or takes longer than the timeout. */
  private within<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Chromium did not answer ${what} within ${this.timeoutMs / 1000} s`)),
        this.timeoutMs,
      );
    });
    return Promise.race([promise, limit, this.gone]).finally(() => clearTimeout(timer));
  }

  private receive(m: Message): void {
    if (m.id !== undefined) {
      this.waiting.get(m.id)?.resolve(m);
      this.waiting.delete(m.id);
      return;
    }
    if (m.method === 'Runtime.exceptionThrown') {
      const details = m.params?.exceptionDetails as { exception?: { description?: string }; text: string };
      this.pageErrors.push(details.exception?.description ?? details.text);
    } else if (m.method === 'Runtime.consoleAPICalled' && m.params?.type === 'error') {
      this.pageErrors.push(
        (m.params.args as { value?: unknown; description?: string }[])
          .map((a) => a.description ?? String(a.value))
          .join(' '),
      );
    }
    for (const listener of [...this.listeners]) listener(m);
  }

  private fail(error: Error): void {
    this.exited ??= error;
    this.rejectGone(this.exited);
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }
}
